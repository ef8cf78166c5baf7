using System.Globalization;
using IrpLab.Scheduling;

namespace IrpLab.Testing;

/// <summary>
/// Keeps the running thread unless <c>level</c> coin flips all say "switch" (probability 1/2^level), then picks
/// uniformly among the others. Long runs of one thread with rare preemptions: good at bugs that need a thread to
/// get far before another interrupts it. Coyote's "probabilistic" strategy; level 3 by default.
/// </summary>
public sealed class ProbabilisticStrategy : ExplorationStrategy
{
    private SplitMix64 _random = new(0);

    public ProbabilisticStrategy(int level = 3)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(level);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(level, 30);
        Level = level;
    }

    public int Level { get; }

    public override string Name => "probabilistic";

    public override string Description => string.Create(CultureInfo.InvariantCulture, $"probabilistic(level={Level})");

    public override void BeginIteration(int iteration, ulong seed) => _random = new SplitMix64(seed);

    public override int NextThread(ReadOnlySpan<int> candidates, int current, SchedulingPointKind kind)
    {
        int stay = candidates.IndexOf(current);
        if (stay < 0)
        {
            return _random.NextInt(candidates.Length);
        }

        if (_random.NextInt(1 << Level) != 0)
        {
            return stay;
        }

        int other = _random.NextInt(candidates.Length - 1);
        return other >= stay ? other + 1 : other;
    }

    public override int NextInteger(int maxExclusive, SchedulingPointKind kind) => _random.NextInt(maxExclusive);
}
