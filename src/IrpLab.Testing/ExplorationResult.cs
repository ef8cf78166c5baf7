using System.Globalization;
using System.Text;

namespace IrpLab.Testing;

/// <summary>What an exploration did and found.</summary>
public sealed class ExplorationResult
{
    internal ExplorationResult()
    {
    }

    public string Scenario { get; internal init; } = string.Empty;

    /// <summary>The strategy as configured (e.g. "portfolio").</summary>
    public string Strategy { get; internal init; } = string.Empty;

    /// <summary>The exploration seed.</summary>
    public ulong Seed { get; internal init; }

    /// <summary>Iterations asked for.</summary>
    public int IterationsRequested { get; internal init; }

    /// <summary>Iterations run (fewer than asked when it stopped at a failure or the time limit).</summary>
    public int Iterations { get; internal set; }

    /// <summary>Failing runs seen.</summary>
    public int Failures { get; internal set; }

    /// <summary>True when some run failed.</summary>
    public bool FoundBug => FirstFailure is not null;

    /// <summary>The first failure, or null.</summary>
    public RunFailure? FirstFailure { get; internal set; }

    /// <summary>The iteration (from 0) of the first failure, or -1.</summary>
    public int FirstFailingIteration { get; internal set; } = -1;

    /// <summary>The seed of the first failing run (exploration seed + iteration).</summary>
    public ulong? FirstFailingSeed { get; internal set; }

    /// <summary>The first failing run's schedule: every decision, the failure and the trace (shrunk when asked).</summary>
    public Schedule? Schedule { get; internal set; }

    /// <summary>The schedule as found, before shrinking (the same object when not shrunk).</summary>
    public Schedule? OriginalSchedule { get; internal set; }

    /// <summary>The shrinker's report, when shrinking was asked for.</summary>
    public ShrinkResult? Shrink { get; internal set; }

    /// <summary>Where the schedule was saved, or null.</summary>
    public string? ScheduleFile { get; internal set; }

    /// <summary>How to replay the saved schedule.</summary>
    public string? ReplayCommand { get; internal set; }

    /// <summary>
    /// Whether replaying the failing schedule reproduced the failure (same failure, no divergence). False points at
    /// nondeterminism outside the machine: static state shared between runs, wall-clock time, unmodelled threads.
    /// </summary>
    public bool Reproduced { get; internal set; }

    /// <summary>Scheduling points over all runs.</summary>
    public long Steps { get; internal set; }

    /// <summary>Scheduling decisions (the strategy chose among two or more options) over all runs.</summary>
    public long Decisions { get; internal set; }

    /// <summary>Context switches over all runs.</summary>
    public long Switches { get; internal set; }

    public long MinDecisionsPerRun { get; internal set; }

    public long MaxDecisionsPerRun { get; internal set; }

    /// <summary>Runs stopped by the step bound.</summary>
    public int StepBoundHits { get; internal set; }

    /// <summary>Wall time of the exploration (not of the confirming replay or the shrinker).</summary>
    public TimeSpan Elapsed { get; internal set; }

    public double RunsPerSecond => Iterations / Seconds;

    public double StepsPerSecond => Steps / Seconds;

    public double DecisionsPerSecond => Decisions / Seconds;

    public double SwitchesPerSecond => Switches / Seconds;

    public double AverageDecisionsPerRun => Iterations == 0 ? 0 : (double)Decisions / Iterations;

    private double Seconds => Math.Max(Elapsed.TotalSeconds, 1e-9);

    /// <summary>A report in the manner of Coyote's: schedules explored, buggy ones, decisions per run, speed.</summary>
    public string Report()
    {
        var b = new StringBuilder();
        var c = CultureInfo.InvariantCulture;
        b.Append(c, $"Explored {Iterations} schedule(s) of '{Scenario}' with {Strategy}, seed {Seed}, in {Elapsed.TotalSeconds:F3} s.").AppendLine();
        b.Append(c, $"Found {Failures} failing schedule(s) ({100.0 * Failures / Math.Max(Iterations, 1):F2} %).").AppendLine();
        b.Append(c, $"Decisions per run: min {MinDecisionsPerRun}, avg {AverageDecisionsPerRun:F1}, max {MaxDecisionsPerRun}; {StepBoundHits} run(s) hit the step bound.").AppendLine();
        b.Append(c, $"Speed: {RunsPerSecond:F0} runs/s, {DecisionsPerSecond:F0} decisions/s, {StepsPerSecond:F0} scheduling points/s, {SwitchesPerSecond:F0} switches/s.").AppendLine();
        if (FirstFailure is not null)
        {
            b.Append(c, $"First failure at iteration {FirstFailingIteration} (seed {FirstFailingSeed}, {Schedule?.Strategy}): {FirstFailure.Summary}").AppendLine();
            if (Shrink is not null)
            {
                b.Append(c, $"Schedule shrunk from {Shrink.OriginalDecisions} decisions ({Shrink.OriginalDeviations} deviations) to {Shrink.ShrunkDecisions} ({Shrink.ShrunkDeviations}).").AppendLine();
            }

            if (!Reproduced)
            {
                b.AppendLine("WARNING: replaying the schedule did not reproduce the failure: the scenario is not deterministic.");
            }

            if (ScheduleFile is not null)
            {
                b.Append("Schedule saved to ").AppendLine(ScheduleFile);
            }

            if (ReplayCommand is not null)
            {
                b.Append("Replay: ").AppendLine(ReplayCommand);
            }
        }

        return b.ToString();
    }

    public override string ToString() => Report();
}

/// <summary>What replaying a schedule did.</summary>
public sealed class ReplayResult
{
    internal ReplayResult()
    {
    }

    public Schedule Schedule { get; internal init; } = new();

    /// <summary>How the replayed run failed, or null if it passed.</summary>
    public RunFailure? Failure { get; internal init; }

    /// <summary>The replayed run's trace, one event per line (trailing line breaks of the event text removed).</summary>
    public IReadOnlyList<string> Trace { get; internal init; } = [];

    /// <summary>The replayed run's trace events.</summary>
    public IReadOnlyList<TraceEvent> Events { get; internal init; } = [];

    /// <summary>Decisions the replayed run asked for.</summary>
    public int DecisionsReplayed { get; internal init; }

    /// <summary>The run asked a question the schedule did not answer (another kind, another number of options, or more questions).</summary>
    public bool Diverged { get; internal init; }

    /// <summary>Same failure as recorded, to the bug check parameters or the exception message.</summary>
    public bool SameFailure => (Failure is null && Schedule.Failure is null)
        || (Failure is not null && Schedule.Failure is not null && Failure.ExactSignature == Schedule.Failure.ExactSignature);

    /// <summary>The trace is identical, line for line, to the recorded one (true when none was recorded).</summary>
    public bool SameTrace => Schedule.Trace.Count == 0 || Trace.SequenceEqual(Schedule.Trace, StringComparer.Ordinal);

    /// <summary>The run followed the schedule exactly and ended the same way with the same trace.</summary>
    public bool Reproduced => !Diverged && SameFailure && SameTrace;

    /// <summary>Where the replayed trace first differs from the recorded one, for messages.</summary>
    public string DescribeTraceDifference()
    {
        int n = Math.Min(Trace.Count, Schedule.Trace.Count);
        for (int i = 0; i < n; i++)
        {
            if (!string.Equals(Trace[i], Schedule.Trace[i], StringComparison.Ordinal))
            {
                return string.Create(CultureInfo.InvariantCulture, $"line {i + 1}: recorded \"{Schedule.Trace[i]}\", replayed \"{Trace[i]}\"");
            }
        }

        return Trace.Count == Schedule.Trace.Count
            ? "none"
            : string.Create(CultureInfo.InvariantCulture, $"recorded {Schedule.Trace.Count} lines, replayed {Trace.Count}");
    }
}

/// <summary>Thrown by <see cref="Explorer.AssertNoBug"/> when a run failed, and by <see cref="Explorer.AssertReplays"/>.</summary>
public sealed class ExplorationFailedException : Exception
{
    public ExplorationFailedException()
    {
    }

    public ExplorationFailedException(string message)
        : base(message)
    {
    }

    public ExplorationFailedException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    internal ExplorationFailedException(string message, ExplorationResult? result, ReplayResult? replay, Exception? inner)
        : base(message, inner)
    {
        Result = result;
        Replay = replay;
    }

    public ExplorationResult? Result { get; }

    public ReplayResult? Replay { get; }
}
