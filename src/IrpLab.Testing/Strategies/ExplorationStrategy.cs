using IrpLab.Scheduling;

namespace IrpLab.Testing;

/// <summary>The exploration strategies <see cref="Explorer"/> knows by name.</summary>
public enum StrategyKind
{
    Invalid = 0,

    /// <summary>Uniform choice at every decision (<see cref="RandomStrategy"/>).</summary>
    Random = 1,

    /// <summary>Probabilistic concurrency testing: random thread priorities and a few priority change points.</summary>
    Pct = 2,

    /// <summary>Keeps running the current thread; switches with probability 1/2^level.</summary>
    Probabilistic = 3,

    /// <summary>Round-robin with a few random delays.</summary>
    DelayBounding = 4,

    /// <summary>Rotates random, PCT, probabilistic and delay-bounding across iterations.</summary>
    Portfolio = 5,
}

/// <summary>
/// A scheduling strategy that lives across the iterations of an exploration: before each run it is reseeded (and
/// may use what it learned from earlier runs, such as their length); the machine then asks it for every decision.
/// Strategies see thread ids only, so the decisions a run took can be recorded and replayed.
/// </summary>
public abstract class ExplorationStrategy : ISchedulingStrategy
{
    /// <summary>The short name used on the command line and in schedule files.</summary>
    public abstract string Name { get; }

    /// <summary>The name with the parameters of the current iteration (what a schedule file records).</summary>
    public virtual string Description => Name;

    /// <summary>
    /// True when every enabled thread keeps a chance to run at every decision (uniform random). Strategies that are not
    /// (priorities, round robin) can starve a thread forever, which would look like a livelock; the explorer follows
    /// them only for <see cref="ExplorationOptions.FairAfterDecisions"/> decisions per run, then chooses uniformly.
    /// </summary>
    public virtual bool IsFair => false;

    /// <summary>Prepares one run. <paramref name="iteration"/> counts from 0; <paramref name="seed"/> drives every random choice.</summary>
    public abstract void BeginIteration(int iteration, ulong seed);

    /// <summary>Called after the run with the number of decisions it made.</summary>
    public virtual void EndIteration(long decisions)
    {
    }

    public abstract int NextThread(ReadOnlySpan<int> candidates, int current, SchedulingPointKind kind);

    public abstract int NextInteger(int maxExclusive, SchedulingPointKind kind);

    /// <summary>Creates the strategy an exploration with these options uses.</summary>
    public static ExplorationStrategy Create(StrategyKind kind, ExplorationOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        return kind switch
        {
            StrategyKind.Random => new RandomExplorationStrategy(),
            StrategyKind.Pct => new PctStrategy(options.PriorityChanges),
            StrategyKind.Probabilistic => new ProbabilisticStrategy(options.ProbabilisticLevel),
            StrategyKind.DelayBounding => new DelayBoundingStrategy(options.DelayBound),
            StrategyKind.Portfolio => new PortfolioStrategy(
            [
                new RandomExplorationStrategy(),
                new PctStrategy(options.PriorityChanges),
                new ProbabilisticStrategy(options.ProbabilisticLevel),
                new DelayBoundingStrategy(options.DelayBound),
            ]),
            _ => throw new ArgumentOutOfRangeException(nameof(kind), kind, "Unknown strategy."),
        };
    }

    /// <summary>Parses a strategy name as the command line spells it (random, pct, probabilistic, delay-bounding, portfolio).</summary>
    public static StrategyKind Parse(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        return name.ToUpperInvariant() switch
        {
            "RANDOM" => StrategyKind.Random,
            "PCT" => StrategyKind.Pct,
            "PROBABILISTIC" => StrategyKind.Probabilistic,
            "DELAY-BOUNDING" or "DELAYBOUNDING" => StrategyKind.DelayBounding,
            "PORTFOLIO" => StrategyKind.Portfolio,
            _ => throw new ArgumentException($"Unknown strategy '{name}': use random, pct, probabilistic, delay-bounding or portfolio.", nameof(name)),
        };
    }

    /// <summary>Picks <paramref name="count"/> distinct points in [0, range) (a partial Fisher-Yates shuffle).</summary>
    private protected static void PickPoints(SplitMix64 random, int range, int count, List<int> into, List<int> scratch)
    {
        into.Clear();
        if (range <= 0 || count <= 0)
        {
            return;
        }

        scratch.Clear();
        for (int i = 0; i < range; i++)
        {
            scratch.Add(i);
        }

        int take = Math.Min(count, range);
        for (int i = 0; i < take; i++)
        {
            int j = i + random.NextInt(range - i);
            (scratch[i], scratch[j]) = (scratch[j], scratch[i]);
            into.Add(scratch[i]);
        }

        into.Sort();
    }
}

/// <summary>The seeded uniform strategy of the kernel, reseeded per iteration.</summary>
public sealed class RandomExplorationStrategy : ExplorationStrategy
{
    private RandomStrategy _random = new(0);

    public override string Name => "random";

    public override bool IsFair => true;

    public override void BeginIteration(int iteration, ulong seed) => _random = new RandomStrategy(seed);

    public override int NextThread(ReadOnlySpan<int> candidates, int current, SchedulingPointKind kind)
        => _random.NextThread(candidates, current, kind);

    public override int NextInteger(int maxExclusive, SchedulingPointKind kind) => _random.NextInteger(maxExclusive, kind);
}
