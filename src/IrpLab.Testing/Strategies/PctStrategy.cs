using System.Globalization;
using IrpLab.Scheduling;

namespace IrpLab.Testing;

/// <summary>
/// Probabilistic concurrency testing (Burckhardt, Kothari, Musuvathi, Nagarakatte, ASPLOS 2010), in the variant
/// Coyote uses. Every thread gets a random distinct priority when first seen; the highest-priority enabled thread
/// always runs. At <c>d - 1</c> change points, drawn uniformly among the first <c>k</c> decisions, the thread
/// that would run drops below every other. A bug of depth <c>d</c> among <c>n</c> threads is then found in one
/// run with probability at least <c>1 / (n · k^(d-1))</c>.
/// </summary>
/// <remarks>
/// The paper needs <c>k</c> up front; here it is learned: the largest number of decisions any earlier iteration
/// made. The first iteration therefore has no change point (a pure priority schedule, itself worth running).
/// The time pseudo-candidate (<see cref="SchedulingCandidate.AdvanceTime"/>) is prioritised like a thread.
/// </remarks>
public sealed class PctStrategy : ExplorationStrategy
{
    private readonly List<int> _priorities = [];   // thread ids, highest priority first
    private readonly List<int> _changePoints = [];
    private readonly List<int> _scratch = [];
    private SplitMix64 _random = new(0);
    private int _step;
    private int _nextChange;
    private int _k;

    /// <param name="priorityChanges">Change points per run (<c>d - 1</c>: 2 finds bugs of depth up to 3).</param>
    public PctStrategy(int priorityChanges = 2)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(priorityChanges);
        PriorityChanges = priorityChanges;
    }

    public int PriorityChanges { get; }

    /// <summary>The estimated run length <c>k</c> (decisions), learned from earlier iterations.</summary>
    public int EstimatedLength => _k;

    public override string Name => "pct";

    public override string Description => string.Create(CultureInfo.InvariantCulture, $"pct(changes={PriorityChanges},k={_k})");

    public override void BeginIteration(int iteration, ulong seed)
    {
        _random = new SplitMix64(seed);
        _priorities.Clear();
        _step = 0;
        _nextChange = 0;
        PickPoints(_random, _k, PriorityChanges, _changePoints, _scratch);
    }

    public override void EndIteration(long decisions) => _k = (int)Math.Max(_k, Math.Min(decisions, int.MaxValue));

    public override int NextThread(ReadOnlySpan<int> candidates, int current, SchedulingPointKind kind)
    {
        if (_priorities.Count == 0 && current != 0)
        {
            _priorities.Add(current);
        }

        // New threads get a random place among the known ones.
        foreach (int id in candidates)
        {
            if (!_priorities.Contains(id))
            {
                _priorities.Insert(_random.NextInt(_priorities.Count + 1), id);
            }
        }

        int best = HighestEnabled(candidates);
        if (_nextChange < _changePoints.Count && _changePoints[_nextChange] == _step)
        {
            // A change point: the thread about to run drops to the lowest priority.
            _nextChange++;
            int id = candidates[best];
            _priorities.Remove(id);
            _priorities.Add(id);
            best = HighestEnabled(candidates);
        }

        _step++;
        return best;
    }

    public override int NextInteger(int maxExclusive, SchedulingPointKind kind) => _random.NextInt(maxExclusive);

    private int HighestEnabled(ReadOnlySpan<int> candidates)
    {
        foreach (int id in _priorities)
        {
            int index = candidates.IndexOf(id);
            if (index >= 0)
            {
                return index;
            }
        }

        return 0;
    }
}
