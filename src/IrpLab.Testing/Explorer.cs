using System.Globalization;
using System.Runtime.CompilerServices;
using IrpLab.Scheduling;

namespace IrpLab.Testing;

/// <summary>
/// Systematic concurrency testing: runs a scenario many times, each time in a fresh deterministic machine under a
/// different schedule chosen by a strategy, until a run fails (a bug check, a deadlock, a hang, or an exception such
/// as a failed assertion). The failing run's schedule — every decision — replays it exactly, byte for byte.
/// </summary>
/// <example>
/// <code>
/// [Fact]
/// public void Counter_TwoThreads_NoLostUpdate()
///     => Explorer.AssertNoBug(machine => Scenario(machine), new ExplorationOptions { Iterations = 2000 });
/// </code>
/// </example>
public static class Explorer
{
    /// <summary>The environment variable that makes <see cref="AssertNoBug"/> replay a saved schedule instead of exploring.</summary>
    public const string ReplayVariable = "IRPLAB_REPLAY";

    /// <summary>Explores <paramref name="scenario"/>: one fresh machine per iteration. Never throws for a failing run.</summary>
    public static ExplorationResult Run(Action<Machine> scenario, ExplorationOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(scenario);
        options ??= new ExplorationOptions();
        Validate(options);
        ExplorationStrategy strategy = options.CustomStrategy ?? ExplorationStrategy.Create(options.Strategy, options);
        var fairness = new FairnessGuard(strategy, options.FairAfterDecisions);
        var recorder = new ScheduleRecorder(fairness);
        var result = new ExplorationResult
        {
            Scenario = options.ScenarioName ?? "scenario",
            Strategy = strategy.Name,
            Seed = options.Seed,
            IterationsRequested = options.Iterations,
            MinDecisionsPerRun = long.MaxValue,
        };

        long start = WallClock.Now;
        long lastProgress = start;
        TimeSpan progressInterval = TimeSpan.FromMilliseconds(100);
        for (int i = 0; i < options.Iterations; i++)
        {
            if (options.TimeLimit is TimeSpan limit && WallClock.Since(start) >= limit)
            {
                break;
            }

            ulong seed = unchecked(options.Seed + (ulong)i);
            strategy.BeginIteration(i, seed);
            fairness.Reset(seed);
            string description = strategy.Description;
            recorder.Reset();
            RunOutcome outcome = RunOnce(scenario, MachineOptionsFor(options, seed, recorder, captureTrace: false));
            strategy.EndIteration(fairness.UnfairDecisions);

            result.Iterations++;
            result.Steps += outcome.Steps;
            result.Decisions += outcome.Choices;
            result.Switches += outcome.Switches;
            result.MinDecisionsPerRun = Math.Min(result.MinDecisionsPerRun, outcome.Choices);
            result.MaxDecisionsPerRun = Math.Max(result.MaxDecisionsPerRun, outcome.Choices);
            if (outcome.Failure is RunFailure failure)
            {
                result.Failures++;
                if (failure.Kind == FailureKind.StepBound)
                {
                    result.StepBoundHits++;
                }

                if (result.FirstFailure is null)
                {
                    result.FirstFailure = failure;
                    result.FirstFailingIteration = i;
                    result.FirstFailingSeed = seed;
                    result.Schedule = new Schedule
                    {
                        Scenario = result.Scenario,
                        Strategy = description,
                        ExplorationSeed = options.Seed,
                        Iteration = i,
                        Seed = seed,
                        Processors = options.Processors,
                        Verifier = options.Verifier,
                        ExploreTimeouts = options.ExploreTimeouts,
                        MaxSteps = options.MaxSteps,
                        TraceLevel = options.TraceLevel,
                        Decisions = recorder.ToArray(),
                        Deviations = recorder.Deviations,
                        Failure = failure,
                    };
                }

                if (options.StopAtFirstFailure)
                {
                    break;
                }
            }

            if (options.Progress is not null && WallClock.Since(lastProgress) >= progressInterval)
            {
                lastProgress = WallClock.Now;
                options.Progress(new ExplorationProgress(result.Iterations, options.Iterations, result.Failures, WallClock.Since(start)));
            }
        }

        result.Elapsed = WallClock.Since(start);
        if (result.Iterations == 0)
        {
            result.MinDecisionsPerRun = 0;
        }

        options.Progress?.Invoke(new ExplorationProgress(result.Iterations, options.Iterations, result.Failures, result.Elapsed));
        if (result.Schedule is Schedule found)
        {
            Conclude(result, found, scenario, options);
        }

        return result;
    }

    /// <summary>
    /// Explores <paramref name="scenario"/> and throws <see cref="ExplorationFailedException"/> if any run fails. The
    /// message gives the failure, the seed, the saved schedule and the command that replays it. With the environment
    /// variable <c>IRPLAB_REPLAY</c> naming a schedule of this scenario, replays that schedule instead (to debug it).
    /// </summary>
    public static ExplorationResult AssertNoBug(Action<Machine> scenario, ExplorationOptions? options = null, [CallerMemberName] string scenarioName = "")
    {
        ArgumentNullException.ThrowIfNull(scenario);
        options ??= new ExplorationOptions();
        string name = options.ScenarioName ?? (scenarioName.Length > 0 ? scenarioName : "scenario");
        if (Environment.GetEnvironmentVariable(ReplayVariable) is { Length: > 0 } replayPath && File.Exists(replayPath))
        {
            Schedule saved = Schedule.Load(replayPath);
            if (string.Equals(saved.Scenario, name, StringComparison.Ordinal))
            {
                ReplayResult replay = Replay(saved, scenario);
                if (replay.Failure is RunFailure replayed)
                {
                    throw new ExplorationFailedException(
                        $"Replaying {replayPath} ({saved.Decisions.Count} decisions, seed {saved.Seed}) failed again: {replayed.Summary}"
                            + Environment.NewLine + replayed.Description,
                        null, replay, replayed.Exception);
                }
            }
        }

        options = options with
        {
            ScenarioName = name,
            ScheduleDirectory = options.ScheduleFile is null ? options.ScheduleDirectory ?? DefaultScheduleDirectory : options.ScheduleDirectory,
        };
        ExplorationResult result = Run(scenario, options);
        if (result.FirstFailure is RunFailure failure)
        {
            throw new ExplorationFailedException(FailureMessage(result), result, null, failure.Exception);
        }

        return result;
    }

    /// <summary>Where <see cref="AssertNoBug"/> saves failing schedules unless told otherwise.</summary>
    public static string DefaultScheduleDirectory => Path.Combine(Path.GetTempPath(), "irplab-schedules");

    /// <summary>Replays a saved schedule file.</summary>
    public static ReplayResult Replay(string scheduleFile, Action<Machine> scenario) => Replay(Schedule.Load(scheduleFile), scenario);

    /// <summary>
    /// Runs <paramref name="scenario"/> once in a machine configured as the schedule says, answering every decision
    /// from the schedule. The result says whether the run followed it (no divergence) and ended the same way with
    /// the same trace.
    /// </summary>
    public static ReplayResult Replay(Schedule schedule, Action<Machine> scenario)
    {
        ArgumentNullException.ThrowIfNull(schedule);
        ArgumentNullException.ThrowIfNull(scenario);
        var replay = new ReplayStrategy(schedule.Decisions);
        var recorder = new ScheduleRecorder(replay);
        RunOutcome outcome = RunOnce(scenario, schedule.ToMachineOptions(recorder, captureTrace: true));
        return new ReplayResult
        {
            Schedule = schedule,
            Failure = outcome.Failure,
            Trace = outcome.Trace,
            Events = outcome.Events,
            DecisionsReplayed = recorder.Count,
            Diverged = replay.Diverged || recorder.Count != schedule.Decisions.Count,
        };
    }

    /// <summary>Replays and throws <see cref="ExplorationFailedException"/> unless the run reproduces the schedule exactly.</summary>
    public static ReplayResult AssertReplays(Schedule schedule, Action<Machine> scenario)
    {
        ReplayResult r = Replay(schedule, scenario);
        if (!r.Reproduced)
        {
            throw new ExplorationFailedException(
                string.Create(CultureInfo.InvariantCulture,
                    $"Replay of '{schedule.Scenario}' (seed {schedule.Seed}) did not reproduce the run: diverged {r.Diverged} ({r.DecisionsReplayed} of {schedule.Decisions.Count} decisions); "
                    + $"failure recorded \"{schedule.Failure?.Summary ?? "none"}\", replayed \"{r.Failure?.Summary ?? "none"}\"; trace difference: {r.DescribeTraceDifference()}."),
                null, r, null);
        }

        return r;
    }

    /// <summary>Shrinks a failing schedule (see <see cref="Shrinker"/>).</summary>
    public static ShrinkResult Shrink(Schedule schedule, Action<Machine> scenario, TimeSpan? timeLimit = null)
        => Shrinker.Shrink(schedule, scenario, timeLimit ?? TimeSpan.FromSeconds(5));

    // ------------------------------------------------------------------ internals

    internal static MachineOptions MachineOptionsFor(ExplorationOptions options, ulong seed, ISchedulingStrategy strategy, bool captureTrace) => new()
    {
        Deterministic = true,
        Seed = seed,
        Processors = options.Processors,
        Verifier = options.Verifier,
        ExploreTimeouts = options.ExploreTimeouts,
        MaxSteps = options.MaxSteps,
        Strategy = strategy,
        CaptureTrace = captureTrace,
        TraceLevel = options.TraceLevel,
    };

    /// <summary>One run in a fresh machine: how it ended, its counters and (when captured) its trace.</summary>
    internal static RunOutcome RunOnce(Action<Machine> scenario, MachineOptions options)
    {
        var machine = new Machine(options);
        Exception? error = null;
        try
        {
            scenario(machine);
        }
        catch (Exception ex)
        {
            // Any exception is a finding: a hosting exception, an application's unhandled one, a failed assertion.
            error = ex;
        }

        try
        {
            RunFailure? failure = RunFailure.Classify(error, machine);
            IReadOnlyList<TraceEvent> events = options.CaptureTrace ? machine.Trace.Events : [];
            var lines = new string[events.Count];
            for (int i = 0; i < lines.Length; i++)
            {
                lines[i] = events[i].ToString().TrimEnd('\r', '\n');
            }

            return new RunOutcome(failure, machine.SchedulingSteps, machine.SchedulingChoices, machine.ContextSwitches, lines, events);
        }
        finally
        {
            machine.Dispose();
        }
    }

    private static void Conclude(ExplorationResult result, Schedule found, Action<Machine> scenario, ExplorationOptions options)
    {
        // Replay the failing run with the trace captured: this proves the schedule reproduces it and fills in the trace.
        ReplayResult confirm = Replay(found, scenario);
        result.Reproduced = !confirm.Diverged && confirm.SameFailure;
        Schedule schedule = found with { Trace = confirm.Trace, Failure = confirm.Failure ?? found.Failure };
        result.OriginalSchedule = schedule;
        if (options.Shrink && result.Reproduced)
        {
            ShrinkResult shrunk = Shrinker.Shrink(schedule, scenario, options.ShrinkTimeLimit);
            result.Shrink = shrunk;
            schedule = shrunk.Shrunk;
        }

        result.Schedule = schedule;
        string? path = options.ScheduleFile
            ?? (options.ScheduleDirectory is string dir ? Path.Combine(dir, schedule.SuggestedFileName()) : null);
        if (path is not null)
        {
            schedule.Save(path);
            result.ScheduleFile = Path.GetFullPath(path);
            string format = options.ReplayCommand ?? "IRPLAB_REPLAY=\"{0}\" dotnet test --filter \"FullyQualifiedName~{1}\"";
            result.ReplayCommand = string.Format(CultureInfo.InvariantCulture, format, result.ScheduleFile, schedule.Scenario);
        }
    }

    private static string FailureMessage(ExplorationResult r)
    {
        Schedule s = r.Schedule!;
        RunFailure f = r.FirstFailure!;
        var c = CultureInfo.InvariantCulture;
        var b = new System.Text.StringBuilder();
        b.Append(c, $"Exploration of '{r.Scenario}' failed at iteration {r.FirstFailingIteration} of {r.IterationsRequested} (strategy {s.Strategy}, exploration seed {r.Seed}, run seed {r.FirstFailingSeed}):");
        b.AppendLine();
        b.Append("  ").AppendLine(f.Summary);
        b.Append(c, $"Schedule: {s.Decisions.Count} decisions, {s.Deviations} deviations");
        if (r.Shrink is ShrinkResult shrink)
        {
            b.Append(c, $" (shrunk from {shrink.OriginalDecisions} decisions, {shrink.OriginalDeviations} deviations)");
        }

        b.AppendLine(r.ScheduleFile is null ? "." : ", saved to " + r.ScheduleFile);
        if (r.ReplayCommand is not null)
        {
            b.Append("Replay: ").AppendLine(r.ReplayCommand);
        }

        if (!r.Reproduced)
        {
            b.AppendLine("WARNING: replaying the schedule did not reproduce the failure; the scenario is not deterministic (static state, wall-clock time or threads outside the machine).");
        }

        b.AppendLine();
        b.Append(f.Description);
        return b.ToString();
    }

    private static void Validate(ExplorationOptions o)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(o.Iterations, nameof(o.Iterations));
        ArgumentOutOfRangeException.ThrowIfLessThan(o.MaxSteps, 1, nameof(o.MaxSteps));
        ArgumentOutOfRangeException.ThrowIfNegative(o.FairAfterDecisions, nameof(o.FairAfterDecisions));
        if (o.Processors is < 1 or > 64)
        {
            throw new ArgumentOutOfRangeException(nameof(o), "Processors must be between 1 and 64.");
        }
    }
}

/// <summary>How one run ended.</summary>
internal sealed record RunOutcome(RunFailure? Failure, long Steps, long Choices, long Switches, IReadOnlyList<string> Trace, IReadOnlyList<TraceEvent> Events);
