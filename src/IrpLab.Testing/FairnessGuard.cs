using IrpLab.Scheduling;

namespace IrpLab.Testing;

/// <summary>
/// Follows an unfair strategy for the first decisions of a run, then chooses uniformly (Coyote's "fair" strategies
/// do the same). A priority or round-robin strategy can otherwise starve a thread forever, for example keep a
/// polling loop or a periodic timer ahead of the thread that would end it, and the run would hit the step bound:
/// a livelock that no real scheduler would produce. A real livelock still reaches the bound under the fair tail.
/// </summary>
internal sealed class FairnessGuard : ISchedulingStrategy
{
    private readonly ExplorationStrategy _inner;
    private readonly int _unfairDecisions;
    private SplitMix64 _random = new(0);
    private bool _fair;
    private int _decisions;

    public FairnessGuard(ExplorationStrategy inner, int unfairDecisions)
    {
        _inner = inner;
        _unfairDecisions = unfairDecisions;
    }

    /// <summary>Decisions taken by the inner strategy in this run (what it may learn from).</summary>
    public int UnfairDecisions => Math.Min(_decisions, _unfairDecisions);

    /// <summary>Starts a run (after the inner strategy's BeginIteration).</summary>
    public void Reset(ulong seed)
    {
        _fair = _inner.IsFair;
        _decisions = 0;
        _random = new SplitMix64(seed ^ 0x6A09E667F3BCC909UL);
    }

    public int NextThread(ReadOnlySpan<int> candidates, int current, SchedulingPointKind kind)
        => _fair || _decisions++ < _unfairDecisions
            ? _inner.NextThread(candidates, current, kind)
            : _random.NextInt(candidates.Length);

    public int NextInteger(int maxExclusive, SchedulingPointKind kind)
        => _fair || _decisions++ < _unfairDecisions
            ? _inner.NextInteger(maxExclusive, kind)
            : _random.NextInt(maxExclusive);
}
