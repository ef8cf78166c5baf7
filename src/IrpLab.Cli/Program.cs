using System.CommandLine;
using Stopwatch = System.Diagnostics.Stopwatch;
using System.Globalization;
using IrpLab;
using IrpLab.Samples;
using IrpLab.Testing;

var root = new RootCommand("IrpLab: a runnable model of the Windows NT asynchronous I/O system.");

var samplesCommand = new Command("samples", "List the samples.");
samplesCommand.SetAction(_ =>
{
    foreach (Sample s in SampleCatalog.All)
    {
        Console.WriteLine($"{s.Name,-28} {s.Title}  [seed {s.Seed}]");
    }

    return 0;
});
root.Subcommands.Add(samplesCommand);

var sampleArgument = new Argument<string>("sample") { Description = "The sample to run (see 'irplab samples')." };
var deterministicOption = new Option<bool>("--deterministic") { Description = "One thread at a time, virtual time, seeded schedule." };
var seedOption = new Option<ulong>("--seed") { Description = "Seed of the deterministic schedule.", DefaultValueFactory = _ => 1 };
var processorsOption = new Option<int>("--processors") { Description = "Simulated processors.", DefaultValueFactory = _ => 2 };
var verboseOption = new Option<bool>("--verbose") { Description = "Trace threads, waits and IRPs as well as prints." };
var statsOption = new Option<bool>("--stats") { Description = "Print wall time and scheduling statistics at the end." };
var verifierOption = new Option<string>("--verifier") { Description = "Driver Verifier checks: on or off.", DefaultValueFactory = _ => "on" };
verifierOption.AcceptOnlyFromAmong("on", "off");

var runCommand = new Command("run", "Run a sample and print its log (DebugView style: sequence, seconds since boot, text).")
{
    sampleArgument, deterministicOption, seedOption, processorsOption, verboseOption, statsOption, verifierOption,
};
runCommand.SetAction(parse =>
{
    string name = parse.GetValue(sampleArgument)!;
    Sample? sample = SampleCatalog.Find(name);
    if (sample is null)
    {
        Console.Error.WriteLine($"irplab: no sample named '{name}'. Try 'irplab samples'.");
        return 2;
    }

    var options = new MachineOptions
    {
        Deterministic = parse.GetValue(deterministicOption),
        Seed = parse.GetValue(seedOption),
        Processors = parse.GetValue(processorsOption),
        Verifier = parse.GetValue(verifierOption) != "off",
        TraceLevel = parse.GetValue(verboseOption) ? TraceLevel.Verbose : TraceLevel.Normal,
    };
    var stopwatch = Stopwatch.StartNew(); // determinism-ok: the host's wall time for --stats, outside the machine
    using var machine = new Machine(options);
    bool verbose = parse.GetValue(verboseOption);
    machine.Trace.Subscribe(e =>
    {
        if (e.Kind == TraceEventKind.DebugPrint)
        {
            Console.WriteLine(e.ToDebugViewString());
        }
        else if (e.Kind == TraceEventKind.ConsoleOutput)
        {
            Console.WriteLine(FormatApp(e));
        }
        else if (e.Kind == TraceEventKind.VerifierWarning)
        {
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{e.Sequence:D8}\t{e.Seconds:F8}\t[verifier warning] {e.Text}"));
        }
        else if (verbose && e.Kind is not TraceEventKind.BugCheck and not TraceEventKind.Deadlock)
        {
            Console.WriteLine(e.ToString());
        }
    });

    int exitCode = 0;
    try
    {
        int appExit = sample.Run(machine);
        if (appExit != 0)
        {
            Console.WriteLine($"-- the application exited with {appExit}: it did not observe what the sample promises");
            exitCode = 1;
        }
    }
    catch (BugCheckException ex)
    {
        Console.WriteLine();
        Console.WriteLine(ex.BugCheck.Analyze());
        exitCode = 3;
    }
    catch (DeadlockException ex)
    {
        Console.WriteLine();
        Console.WriteLine(ex.Message);
        exitCode = 4;
    }
    catch (StepBoundExceededException ex)
    {
        Console.WriteLine();
        Console.WriteLine(ex.Message);
        exitCode = 5;
    }

    stopwatch.Stop();
    if (parse.GetValue(statsOption))
    {
        double seconds = stopwatch.Elapsed.TotalSeconds;
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"-- wall {seconds:F3} s, {(machine.IsDeterministic ? "virtual" : "machine")} time {machine.Clock.InterruptTime / 1e7:F3} s, {machine.SchedulingSteps} scheduling points, {machine.SchedulingChoices} choices, {machine.ContextSwitches} switches, {machine.SchedulingSteps / Math.Max(seconds, 1e-9):F0} points/s"));
    }

    return exitCode;
});
root.Subcommands.Add(runCommand);

// ---------------------------------------------------------------- explore

var exploreSampleArgument = new Argument<string>("sample") { Description = "The sample to explore (see 'irplab samples')." };
var iterationsOption = new Option<int>("--iterations") { Description = "Runs to try, each under a new schedule.", DefaultValueFactory = _ => 1000 };
var strategyOption = new Option<string>("--strategy") { Description = "random, pct, probabilistic, delay-bounding or portfolio.", DefaultValueFactory = _ => "portfolio" };
strategyOption.AcceptOnlyFromAmong("random", "pct", "probabilistic", "delay-bounding", "portfolio");
var exploreSeedOption = new Option<ulong>("--seed") { Description = "Exploration seed: run i uses seed S + i.", DefaultValueFactory = _ => 1 };
var maxStepsOption = new Option<long>("--max-steps") { Description = "Scheduling points per run before it counts as a livelock or hang.", DefaultValueFactory = _ => 10_000 };
var outOption = new Option<string?>("--out") { Description = "Where to save the failing schedule (default: a generated name in the current directory)." };
var exploreProcessorsOption = new Option<int>("--processors") { Description = "Simulated processors.", DefaultValueFactory = _ => 2 };
var exploreVerifierOption = new Option<string>("--verifier") { Description = "Driver Verifier checks: on or off.", DefaultValueFactory = _ => "on" };
exploreVerifierOption.AcceptOnlyFromAmong("on", "off");
var timeoutsOption = new Option<bool>("--explore-timeouts") { Description = "Let timers fire early so that waits race their timeouts." };
var shrinkOption = new Option<bool>("--shrink") { Description = "Shrink the failing schedule before saving it." };
var exploreVerboseOption = new Option<bool>("--verbose") { Description = "Record threads, waits and IRPs in the saved trace as well as prints." };
var repeatOption = new Option<int>("--repeat") { Description = "Measure: run the whole exploration N times and report the median speed.", DefaultValueFactory = _ => 1 };

var exploreCommand = new Command("explore", "Run a sample under many schedules until one fails; save that schedule for 'irplab replay'.")
{
    exploreSampleArgument, iterationsOption, strategyOption, exploreSeedOption, maxStepsOption, outOption,
    exploreProcessorsOption, exploreVerifierOption, timeoutsOption, shrinkOption, exploreVerboseOption, repeatOption,
};
exploreCommand.SetAction(parse =>
{
    string name = parse.GetValue(exploreSampleArgument)!;
    Sample? sample = SampleCatalog.Find(name);
    if (sample is null)
    {
        Console.Error.WriteLine($"irplab: no sample named '{name}'. Try 'irplab samples'.");
        return 2;
    }

    bool interactive = !Console.IsErrorRedirected;
    TimeSpan lastProgressLine = TimeSpan.Zero;
    int iterations = parse.GetValue(iterationsOption);
    ulong seed = parse.GetValue(exploreSeedOption);
    var options = new ExplorationOptions
    {
        Iterations = iterations,
        Strategy = ExplorationStrategy.Parse(parse.GetValue(strategyOption)!),
        Seed = seed,
        MaxSteps = parse.GetValue(maxStepsOption),
        Processors = parse.GetValue(exploreProcessorsOption),
        Verifier = parse.GetValue(exploreVerifierOption) != "off",
        ExploreTimeouts = parse.GetValue(timeoutsOption),
        Shrink = parse.GetValue(shrinkOption),
        TraceLevel = parse.GetValue(exploreVerboseOption) ? TraceLevel.Verbose : TraceLevel.Normal,
        ScenarioName = sample.Name,
        ScheduleFile = parse.GetValue(outOption),
        ScheduleDirectory = Environment.CurrentDirectory,
        ReplayCommand = "irplab replay \"{0}\"",
        Progress = p =>
        {
            // A redirected stderr (CI) gets a line a second, a terminal a bar redrawn in place.
            if (interactive || p.Elapsed - lastProgressLine >= TimeSpan.FromSeconds(1))
            {
                lastProgressLine = p.Elapsed;
                Console.Error.Write(ProgressLine(p, interactive));
            }
        },
    };

    int repeat = Math.Max(1, parse.GetValue(repeatOption));
    var results = new List<ExplorationResult>();
    for (int i = 0; i < repeat; i++)
    {
        results.Add(Explorer.Run(sample.Scenario, options));
        if (interactive)
        {
            Console.Error.WriteLine();
        }
    }

    ExplorationResult result = results[^1];
    if (repeat > 1)
    {
        static double Median(IEnumerable<double> values)
        {
            double[] sorted = [.. values.Order()];
            return sorted[sorted.Length / 2];
        }

        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"Median of {repeat} explorations: {Median(results.Select(r => r.RunsPerSecond)):F0} runs/s, {Median(results.Select(r => r.DecisionsPerSecond)):F0} decisions/s, {Median(results.Select(r => r.StepsPerSecond)):F0} scheduling points/s, {Median(results.Select(r => r.SwitchesPerSecond)):F0} switches/s (first: {results[0].RunsPerSecond:F0} runs/s, with warm-up)."));
    }

    Console.WriteLine(result.Report());
    if (result.FirstFailure is RunFailure failure)
    {
        Console.WriteLine(failure.Description);
    }

    bool expected = Matches(sample, result.FirstFailure);
    if (sample.Expectation != SampleExpectation.NoFailure)
    {
        Console.WriteLine(expected
            ? $"This sample is expected to fail that way ({sample.Expectation})."
            : $"This sample is expected to fail ({sample.Expectation}{(sample.ExpectedBugCheck is uint code ? $" 0x{code:X}" : string.Empty)}); no such failure was found.");
    }

    return expected ? 0 : 1;
});
root.Subcommands.Add(exploreCommand);

// ---------------------------------------------------------------- replay

var scheduleArgument = new Argument<string>("schedule") { Description = "A schedule file saved by 'irplab explore'." };
var replayVerboseOption = new Option<bool>("--verbose") { Description = "Print every trace event, not only the prints." };
var replayCommand = new Command("replay", "Replay a saved schedule exactly: print the log and the failure (the crash analysis for a bug check).")
{
    scheduleArgument, replayVerboseOption,
};
replayCommand.SetAction(parse =>
{
    string path = parse.GetValue(scheduleArgument)!;
    Schedule schedule;
    try
    {
        schedule = Schedule.Load(path);
    }
    catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or FormatException or System.Text.Json.JsonException or KeyNotFoundException or InvalidOperationException)
    {
        Console.Error.WriteLine($"irplab: cannot read schedule '{path}': {ex.Message}");
        return 2;
    }

    Sample? sample = SampleCatalog.Find(schedule.Scenario);
    if (sample is null)
    {
        Console.Error.WriteLine($"irplab: the schedule is for '{schedule.Scenario}', which is not a sample; replay it with Explorer.Replay in its test.");
        return 2;
    }

    Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
        $"-- replaying {sample.Name}: {schedule.Decisions.Count} decisions ({schedule.Deviations} deviations), seed {schedule.Seed}, {schedule.Strategy}, {schedule.Processors} processor(s), verifier {(schedule.Verifier ? "on" : "off")}{(schedule.ExploreTimeouts ? ", timeouts explored" : string.Empty)}"));
    ReplayResult replay = Explorer.Replay(schedule, sample.Scenario);
    bool verbose = parse.GetValue(replayVerboseOption);
    foreach (TraceEvent e in replay.Events)
    {
        if (e.Kind == TraceEventKind.DebugPrint)
        {
            Console.WriteLine(e.ToDebugViewString());
        }
        else if (e.Kind == TraceEventKind.ConsoleOutput)
        {
            Console.WriteLine(FormatApp(e));
        }
        else if (verbose && e.Kind is not TraceEventKind.BugCheck and not TraceEventKind.Deadlock)
        {
            Console.WriteLine(e.ToString());
        }
    }

    if (replay.Failure is RunFailure failure)
    {
        Console.WriteLine();
        Console.WriteLine(failure.Description);
    }
    else
    {
        Console.WriteLine("-- the run passed");
    }

    if (replay.Reproduced)
    {
        Console.WriteLine("-- replay reproduced the recorded run exactly (same decisions, same failure, same trace)");
    }
    else
    {
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"-- WARNING: the replay did not reproduce the recording: diverged {replay.Diverged}, same failure {replay.SameFailure}, trace difference: {replay.DescribeTraceDifference()}"));
        return 1;
    }

    return replay.Failure?.Kind switch
    {
        FailureKind.BugCheck => 3,
        FailureKind.Deadlock => 4,
        FailureKind.StepBound => 5,
        FailureKind.Exception => 6,
        _ => 0,
    };
});
root.Subcommands.Add(replayCommand);

return root.Parse(args).Invoke();

static string ProgressLine(ExplorationProgress p, bool interactive)
{
    const int width = 30;
    int filled = p.Iterations == 0 ? width : (int)((long)p.IterationsDone * width / p.Iterations);
    string bar = new string('#', filled) + new string('-', width - filled);
    string line = string.Create(CultureInfo.InvariantCulture,
        $"[{bar}] {p.IterationsDone}/{p.Iterations} runs, {p.Failures} failure(s), {p.RunsPerSecond:F0} runs/s");
    return interactive ? "\r" + line : line + Environment.NewLine;
}

static bool Matches(Sample sample, RunFailure? failure) => sample.Expectation switch
{
    SampleExpectation.NoFailure => failure is null,
    SampleExpectation.BugCheck => failure?.Kind == FailureKind.BugCheck
        && (sample.ExpectedBugCheck is null || failure.BugCheck?.Code == sample.ExpectedBugCheck),
    SampleExpectation.Deadlock => failure?.Kind == FailureKind.Deadlock,
    SampleExpectation.Hang => failure?.Kind == FailureKind.StepBound,
    _ => false,
};

static string FormatApp(TraceEvent e)
{
    string text = e.Text.TrimEnd('\n', '\r');
    return string.Create(CultureInfo.InvariantCulture, $"{e.Sequence:D8}\t{e.Seconds:F8}\t[app] {text}");
}
