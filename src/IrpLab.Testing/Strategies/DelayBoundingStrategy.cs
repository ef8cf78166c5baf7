using System.Globalization;
using IrpLab.Scheduling;

namespace IrpLab.Testing;

/// <summary>
/// Delay-bounded scheduling (Emmi, Qadeer, Rakamarić, POPL 2011): a deterministic round-robin scheduler (the
/// running thread continues; when it cannot, the next thread id after it does) that is made to skip ahead at
/// <c>bound</c> random decisions among the first <c>k</c>, with <c>k</c> learned from earlier iterations as in
/// <see cref="PctStrategy"/>. Few delays reach many interleavings that differ from the default order.
/// </summary>
public sealed class DelayBoundingStrategy : ExplorationStrategy
{
    private readonly List<int> _delayPoints = [];
    private readonly List<int> _scratch = [];
    private SplitMix64 _random = new(0);
    private int _step;
    private int _nextDelay;
    private int _last;
    private int _k;

    public DelayBoundingStrategy(int bound = 2)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(bound);
        Bound = bound;
    }

    public int Bound { get; }

    public override string Name => "delay-bounding";

    public override string Description => string.Create(CultureInfo.InvariantCulture, $"delay-bounding(delays={Bound},k={_k})");

    public override void BeginIteration(int iteration, ulong seed)
    {
        _random = new SplitMix64(seed);
        _step = 0;
        _nextDelay = 0;
        _last = 0;
        PickPoints(_random, _k, Bound, _delayPoints, _scratch);
    }

    public override void EndIteration(long decisions) => _k = (int)Math.Max(_k, Math.Min(decisions, int.MaxValue));

    public override int NextThread(ReadOnlySpan<int> candidates, int current, SchedulingPointKind kind)
    {
        int index = candidates.IndexOf(current);
        if (index < 0)
        {
            // Round robin: the first candidate after the thread that ran last.
            index = 0;
            for (int i = 0; i < candidates.Length; i++)
            {
                if (candidates[i] > _last)
                {
                    index = i;
                    break;
                }
            }
        }

        while (_nextDelay < _delayPoints.Count && _delayPoints[_nextDelay] == _step)
        {
            // A delay: skip the thread the round robin would run.
            _nextDelay++;
            index = (index + 1) % candidates.Length;
        }

        _step++;
        _last = candidates[index];
        return index;
    }

    public override int NextInteger(int maxExclusive, SchedulingPointKind kind) => _random.NextInt(maxExclusive);
}
