using IrpLab.Scheduling;

namespace IrpLab.Testing;

/// <summary>
/// Records every decision the inner strategy makes (as <see cref="RecordingStrategy"/> does, but reusable across
/// runs so the list is not reallocated), and counts deviations: decisions other than "keep running the current
/// thread" (or the first candidate, when the current thread cannot continue) and integer choices other than 0.
/// </summary>
internal sealed class ScheduleRecorder : ISchedulingStrategy
{
    private readonly List<ScheduleDecision> _decisions = [];
    private readonly List<bool> _isDefault = [];

    public ScheduleRecorder(ISchedulingStrategy inner)
    {
        Inner = inner;
    }

    public ISchedulingStrategy Inner { get; set; }

    public IReadOnlyList<ScheduleDecision> Decisions => _decisions;

    public int Count => _decisions.Count;

    public int Deviations { get; private set; }

    /// <summary>Per decision: whether it was the non-preempting default.</summary>
    public IReadOnlyList<bool> IsDefault => _isDefault;

    public void Reset()
    {
        _decisions.Clear();
        _isDefault.Clear();
        Deviations = 0;
    }

    public ScheduleDecision[] ToArray() => [.. _decisions];

    public int NextThread(ReadOnlySpan<int> candidates, int current, SchedulingPointKind kind)
    {
        int value = Inner.NextThread(candidates, current, kind);
        _decisions.Add(new ScheduleDecision(true, value, candidates.Length));
        bool isDefault = value == DefaultThread(candidates, current);
        _isDefault.Add(isDefault);
        if (!isDefault)
        {
            Deviations++;
        }

        return value;
    }

    public int NextInteger(int maxExclusive, SchedulingPointKind kind)
    {
        int value = Inner.NextInteger(maxExclusive, kind);
        _decisions.Add(new ScheduleDecision(false, value, maxExclusive));
        _isDefault.Add(value == 0);
        if (value != 0)
        {
            Deviations++;
        }

        return value;
    }

    /// <summary>The decision that does not preempt: the current thread if it may continue, else the lowest id.</summary>
    public static int DefaultThread(ReadOnlySpan<int> candidates, int current)
    {
        int index = candidates.IndexOf(current);
        return index < 0 ? 0 : index;
    }
}
