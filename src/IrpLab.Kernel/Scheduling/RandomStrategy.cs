namespace IrpLab.Scheduling;

/// <summary>Uniform choice among the enabled threads at every decision, from a seed.</summary>
public sealed class RandomStrategy : ISchedulingStrategy
{
    private readonly SplitMix64 _random;

    public RandomStrategy(ulong seed)
    {
        _random = new SplitMix64(seed);
    }

    public int NextThread(ReadOnlySpan<int> candidates, int current, SchedulingPointKind kind) => _random.NextInt(candidates.Length);

    public int NextInteger(int maxExclusive, SchedulingPointKind kind) => _random.NextInt(maxExclusive);
}

/// <summary>Replays a recorded decision sequence; past its end it falls back to the first option.</summary>
public sealed class ReplayStrategy : ISchedulingStrategy
{
    private readonly IReadOnlyList<ScheduleDecision> _decisions;
    private int _next;

    public ReplayStrategy(IReadOnlyList<ScheduleDecision> decisions)
    {
        _decisions = decisions;
    }

    /// <summary>True when the run asked for a different kind or number of options than the recording had.</summary>
    public bool Diverged { get; private set; }

    public int Position => _next;

    public int NextThread(ReadOnlySpan<int> candidates, int current, SchedulingPointKind kind) => Take(true, candidates.Length);

    public int NextInteger(int maxExclusive, SchedulingPointKind kind) => Take(false, maxExclusive);

    private int Take(bool isThread, int options)
    {
        if (_next >= _decisions.Count)
        {
            return 0;
        }

        ScheduleDecision d = _decisions[_next++];
        if (d.IsThreadChoice != isThread || d.Options != options || d.Value >= options)
        {
            Diverged = true;
            return Math.Min(d.Value, options - 1);
        }

        return d.Value;
    }
}

/// <summary>Wraps a strategy and records every decision it makes, for replay.</summary>
public sealed class RecordingStrategy : ISchedulingStrategy
{
    private readonly ISchedulingStrategy _inner;
    private readonly List<ScheduleDecision> _decisions = [];

    public RecordingStrategy(ISchedulingStrategy inner)
    {
        _inner = inner;
    }

    public IReadOnlyList<ScheduleDecision> Decisions => _decisions;

    public int NextThread(ReadOnlySpan<int> candidates, int current, SchedulingPointKind kind)
    {
        int value = _inner.NextThread(candidates, current, kind);
        _decisions.Add(new ScheduleDecision(true, value, candidates.Length));
        return value;
    }

    public int NextInteger(int maxExclusive, SchedulingPointKind kind)
    {
        int value = _inner.NextInteger(maxExclusive, kind);
        _decisions.Add(new ScheduleDecision(false, value, maxExclusive));
        return value;
    }
}
