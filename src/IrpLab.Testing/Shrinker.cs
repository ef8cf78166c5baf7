using IrpLab.Scheduling;

namespace IrpLab.Testing;

/// <summary>What shrinking did.</summary>
public sealed class ShrinkResult
{
    internal ShrinkResult()
    {
    }

    public Schedule Original { get; internal init; } = new();

    /// <summary>The smallest failing schedule found (the original when nothing smaller failed the same way).</summary>
    public Schedule Shrunk { get; internal init; } = new();

    public int OriginalDecisions => Original.Decisions.Count;

    public int ShrunkDecisions => Shrunk.Decisions.Count;

    public int OriginalDeviations => Original.Deviations;

    public int ShrunkDeviations => Shrunk.Deviations;

    /// <summary>Candidate runs tried.</summary>
    public int Attempts { get; internal init; }

    /// <summary>True when the time budget ran out before no smaller candidate was left to try.</summary>
    public bool TimedOut { get; internal init; }

    public TimeSpan Elapsed { get; internal init; }
}

/// <summary>
/// Shrinks a failing schedule, delta-debugging style, to one with fewer deviations (preemptions, forced timer
/// firings, non-zero data choices) and fewer decisions that still fails the same way (same
/// <see cref="RunFailure.Signature"/>). A schedule is treated as a plan: a list of decisions where each entry is a
/// value or "default" (keep running the current thread; 0 for data choices), and past its end everything is
/// default. Passes, repeated while they make progress and time remains:
/// <list type="number">
/// <item>cut the tail: keep a shorter prefix and run the rest by default (halving, then shorter cuts);</item>
/// <item>drop deviations: ddmin over the remaining deviations, turning chunks of them into defaults.</item>
/// </list>
/// Dropping a deviation shifts the meaning of the later ones (the run takes another path), so ddmin can get stuck
/// above the minimum. Last, when more than one deviation is left, every schedule with a single deviation is tried:
/// such a run follows the all-default run up to its one deviation, so they are enumerated exactly from that run.
/// Each accepted candidate is replaced by the decisions its run actually took, so the result replays exactly with
/// <see cref="ReplayStrategy"/>.
/// </summary>
public static class Shrinker
{
    private const int Default = -1;

    public static ShrinkResult Shrink(Schedule schedule, Action<Machine> scenario, TimeSpan timeLimit)
    {
        ArgumentNullException.ThrowIfNull(schedule);
        ArgumentNullException.ThrowIfNull(scenario);
        RunFailure target = schedule.Failure ?? throw new ArgumentException("Only a failing schedule can be shrunk.", nameof(schedule));
        long start = WallClock.Now;
        var state = new ShrinkState(schedule, scenario, target, start, timeLimit);

        // The recorded schedule, as a plan (its own run tells which decisions were defaults).
        if (!state.TryPlan(PlanOf(schedule.Decisions, null), force: true))
        {
            // The schedule does not fail as recorded when replayed leniently: nothing to shrink.
            return new ShrinkResult { Original = schedule, Shrunk = schedule, Attempts = state.Attempts, Elapsed = WallClock.Since(start) };
        }

        bool progress = true;
        while (progress && !state.OutOfTime)
        {
            progress = CutTail(state) | DropDeviations(state);
        }

        if (!state.OutOfTime && state.BestDeviations > 1)
        {
            SingleDeviation(state);
        }

        // Record the best candidate with its trace, as an exact schedule.
        Schedule best = schedule with
        {
            Strategy = schedule.Strategy + " shrunk",
            Decisions = state.BestDecisions,
            Deviations = state.BestDeviations,
            Trace = [],
        };
        ReplayResult replay = Explorer.Replay(best, scenario);
        best = best with { Failure = replay.Failure ?? target, Trace = replay.Trace };
        if (!replay.Reproduced || best.Decisions.Count > schedule.Decisions.Count && best.Deviations >= schedule.Deviations)
        {
            best = schedule;
        }

        return new ShrinkResult
        {
            Original = schedule,
            Shrunk = best,
            Attempts = state.Attempts,
            TimedOut = state.OutOfTime,
            Elapsed = WallClock.Since(start),
        };
    }

    private static bool CutTail(ShrinkState state)
    {
        bool any = false;
        int cut = Math.Max(1, state.BestPlan.Length / 2);
        while (cut >= 1 && !state.OutOfTime)
        {
            int[] plan = state.BestPlan;
            if (plan.Length - cut < 0)
            {
                cut /= 2;
                continue;
            }

            if (state.TryPlan(plan.AsSpan(0, plan.Length - cut).ToArray(), force: false))
            {
                any = true;
                continue;
            }

            cut /= 2;
        }

        return any;
    }

    /// <summary>
    /// ddmin (Zeller) over the deviations of the best plan: at granularity n, try keeping only one of n chunks, then
    /// dropping one; on success restart coarse, otherwise refine until every chunk is a single deviation.
    /// </summary>
    private static bool DropDeviations(ShrinkState state)
    {
        bool any = false;
        int n = 2;
        while (!state.OutOfTime)
        {
            List<int> deviations = DeviationIndices(state.BestPlan);
            if (deviations.Count == 0)
            {
                break;
            }

            n = Math.Min(n, deviations.Count);
            bool reduced = false;
            for (int mode = 0; mode < 2 && !reduced; mode++)
            {
                // Mode 0 keeps only chunk c (meaningless when n is 1); mode 1 drops chunk c.
                for (int c = mode == 0 && n == 1 ? n : 0; c < n && !state.OutOfTime; c++)
                {
                    int from = c * deviations.Count / n;
                    int to = (c + 1) * deviations.Count / n;
                    int[] plan = (int[])state.BestPlan.Clone();
                    for (int j = 0; j < deviations.Count; j++)
                    {
                        bool inChunk = j >= from && j < to;
                        if (inChunk == (mode == 1))
                        {
                            plan[deviations[j]] = Default;
                        }
                    }

                    if (state.TryPlan(plan, force: false))
                    {
                        reduced = true;
                        any = true;
                        n = mode == 0 ? 2 : Math.Max(n - 1, 2);
                        break;
                    }
                }
            }

            if (!reduced)
            {
                if (n >= deviations.Count)
                {
                    break;
                }

                n = Math.Min(deviations.Count, n * 2);
            }
        }

        return any;
    }

    /// <summary>Tries the all-default run, then every run with exactly one deviation, earliest first.</summary>
    private static bool SingleDeviation(ShrinkState state)
    {
        if (state.TryPlan([], force: false))
        {
            return true;
        }

        ScheduleDecision[] baseline = state.LastDecisions;
        for (int p = 0; p < baseline.Length && !state.OutOfTime; p++)
        {
            ScheduleDecision d = baseline[p];
            for (int v = 0; v < d.Options && !state.OutOfTime; v++)
            {
                if (v == d.Value)
                {
                    continue;
                }

                int[] plan = new int[p + 1];
                Array.Fill(plan, Default, 0, p);
                plan[p] = v;
                if (state.TryPlan(plan, force: false))
                {
                    return true;
                }
            }
        }

        return false;
    }

    private static List<int> DeviationIndices(int[] plan)
    {
        var list = new List<int>();
        for (int i = 0; i < plan.Length; i++)
        {
            if (plan[i] != Default)
            {
                list.Add(i);
            }
        }

        return list;
    }

    /// <summary>A plan from recorded decisions: defaults marked as such, trailing defaults dropped (past the end is default).</summary>
    private static int[] PlanOf(IReadOnlyList<ScheduleDecision> decisions, IReadOnlyList<bool>? isDefault)
    {
        int length = decisions.Count;
        while (isDefault is not null && length > 0 && isDefault[length - 1])
        {
            length--;
        }

        var plan = new int[length];
        for (int i = 0; i < plan.Length; i++)
        {
            plan[i] = isDefault is not null && isDefault[i] ? Default : decisions[i].Value;
        }

        return plan;
    }

    private sealed class ShrinkState
    {
        private readonly Schedule _schedule;
        private readonly Action<Machine> _scenario;
        private readonly RunFailure _target;
        private readonly long _start;
        private readonly TimeSpan _limit;
        private readonly PlanStrategy _plan = new();
        private readonly ScheduleRecorder _recorder;

        public ShrinkState(Schedule schedule, Action<Machine> scenario, RunFailure target, long start, TimeSpan limit)
        {
            _schedule = schedule;
            _scenario = scenario;
            _target = target;
            _start = start;
            _limit = limit;
            _recorder = new ScheduleRecorder(_plan);
        }

        public int[] BestPlan { get; private set; } = [];

        public ScheduleDecision[] BestDecisions { get; private set; } = [];

        public int BestDeviations { get; private set; } = int.MaxValue;

        public int Attempts { get; private set; }

        /// <summary>The decisions of the last run tried, accepted or not.</summary>
        public ScheduleDecision[] LastDecisions { get; private set; } = [];

        public bool OutOfTime => WallClock.Since(_start) >= _limit;

        /// <summary>Runs the plan; keeps it when it fails the same way and is smaller (or when forced).</summary>
        public bool TryPlan(int[] plan, bool force)
        {
            Attempts++;
            _plan.Plan = plan;
            _recorder.Reset();
            RunOutcome outcome = Explorer.RunOnce(_scenario, _schedule.ToMachineOptions(_recorder, captureTrace: false));
            LastDecisions = _recorder.ToArray();
            if (outcome.Failure?.Signature != _target.Signature)
            {
                return false;
            }

            int deviations = _recorder.Deviations;
            int length = _recorder.Count;
            if (!force && (deviations > BestDeviations || (deviations == BestDeviations && length >= BestDecisions.Length)))
            {
                return false;
            }

            BestDecisions = _recorder.ToArray();
            BestDeviations = deviations;
            BestPlan = PlanOf(BestDecisions, _recorder.IsDefault);
            return true;
        }
    }

    /// <summary>Answers from a plan: a value, or the default (no preemption; 0) for <see cref="Default"/> and past the end.</summary>
    private sealed class PlanStrategy : ISchedulingStrategy
    {
        private int _next;
        private int[] _plan = [];

        public int[] Plan
        {
            get => _plan;
            set
            {
                _plan = value;
                _next = 0;
            }
        }

        public int NextThread(ReadOnlySpan<int> candidates, int current, SchedulingPointKind kind)
        {
            int value = Take();
            return value == Default || value >= candidates.Length ? ScheduleRecorder.DefaultThread(candidates, current) : value;
        }

        public int NextInteger(int maxExclusive, SchedulingPointKind kind)
        {
            int value = Take();
            return value == Default || value >= maxExclusive ? 0 : value;
        }

        private int Take() => _next < _plan.Length ? _plan[_next++] : Default;
    }
}
