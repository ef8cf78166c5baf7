using IrpLab.Scheduling;

namespace IrpLab.Testing;

/// <summary>
/// Rotates its strategies round-robin across iterations (iteration i uses strategy i mod n), each keeping what it
/// learned from its own earlier runs. No single strategy is best at every bug; a portfolio is rarely far from the
/// best one. Coyote's default portfolio: random, PCT, probabilistic and delay-bounding.
/// </summary>
public sealed class PortfolioStrategy : ExplorationStrategy
{
    private readonly ExplorationStrategy[] _strategies;
    private ExplorationStrategy _current;

    public PortfolioStrategy(IReadOnlyList<ExplorationStrategy> strategies)
    {
        ArgumentNullException.ThrowIfNull(strategies);
        if (strategies.Count == 0)
        {
            throw new ArgumentException("A portfolio needs at least one strategy.", nameof(strategies));
        }

        _strategies = [.. strategies];
        _current = _strategies[0];
    }

    public IReadOnlyList<ExplorationStrategy> Strategies => _strategies;

    /// <summary>The strategy of the current iteration.</summary>
    public ExplorationStrategy Current => _current;

    public override string Name => "portfolio";

    public override string Description => "portfolio:" + _current.Description;

    public override bool IsFair => _current.IsFair;

    public override void BeginIteration(int iteration, ulong seed)
    {
        _current = _strategies[iteration % _strategies.Length];
        _current.BeginIteration(iteration / _strategies.Length, seed);
    }

    public override void EndIteration(long decisions) => _current.EndIteration(decisions);

    public override int NextThread(ReadOnlySpan<int> candidates, int current, SchedulingPointKind kind)
        => _current.NextThread(candidates, current, kind);

    public override int NextInteger(int maxExclusive, SchedulingPointKind kind) => _current.NextInteger(maxExclusive, kind);
}
