namespace IrpLab.Scheduling;

/// <summary>
/// Chooses, at each scheduling decision of a deterministic machine, which enabled thread runs next, and answers
/// data choices (the order of timers that fall due together, injected faults). A strategy sees only thread ids
/// and kinds, so a decision sequence recorded from one run replays another run exactly.
/// </summary>
public interface ISchedulingStrategy
{
    /// <summary>
    /// Picks the next thread. <paramref name="candidates"/> holds the ids of the enabled threads in ascending order
    /// (at least two); <paramref name="current"/> is the id of the running thread, or 0 when none is running.
    /// Returns an index into <paramref name="candidates"/>.
    /// </summary>
    int NextThread(ReadOnlySpan<int> candidates, int current, SchedulingPointKind kind);

    /// <summary>Returns a value in [0, maxExclusive) for a nondeterministic data choice (maxExclusive ≥ 2).</summary>
    int NextInteger(int maxExclusive, SchedulingPointKind kind);
}

/// <summary>Candidate ids with a meaning other than a thread.</summary>
public static class SchedulingCandidate
{
    /// <summary>
    /// With <see cref="MachineOptions.ExploreTimeouts"/>, the last candidate at a decision where a timer is armed:
    /// choosing it fires the next due timer before any thread runs on. Larger than every thread id, so the candidate
    /// list stays in ascending order.
    /// </summary>
    public const int AdvanceTime = int.MaxValue;
}

/// <summary>A decision as recorded in a schedule: a thread choice or an integer choice, and the value chosen.</summary>
public readonly record struct ScheduleDecision(bool IsThreadChoice, int Value, int Options);
