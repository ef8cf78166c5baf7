using System.CommandLine;
using System.CommandLine.Parsing;
using System.Globalization;
using System.Runtime.CompilerServices;
using IrpLab;
using IrpLab.Samples;
using IrpLab.Testing;
using Stopwatch = System.Diagnostics.Stopwatch;

[assembly: InternalsVisibleTo("IrpLab.Cli.Tests")]

namespace IrpLab.Cli;

/// <summary>
/// The irplab command. Exit codes (docs/cli.md): 0 ok, 1 usage (bad arguments, unknown sample, unreadable
/// schedule file or --out path), 2 a bug check or another failure found (run, explore, replay), 3 an internal
/// error. Every error is one line on stderr that starts with "irplab: ".
/// </summary>
internal static class Program
{
    public const int ExitOk = 0;
    public const int ExitUsage = 1;
    public const int ExitFailureFound = 2;
    public const int ExitInternalError = 3;

    /// <summary>Setting this environment variable to 1 prints the stack trace of an internal error.</summary>
    public const string StackTraceVariable = "IRPLAB_STACKTRACE";

    public static int Main(string[] args) => Run(args, Console.Out, Console.Error);

    public static int Run(string[] args, TextWriter stdout, TextWriter stderr)
    {
        ArgumentNullException.ThrowIfNull(args);
        ArgumentNullException.ThrowIfNull(stdout);
        ArgumentNullException.ThrowIfNull(stderr);
        bool interactiveStderr = ReferenceEquals(stderr, Console.Error) && !Console.IsErrorRedirected;
        var root = new RootCommand("IrpLab: a runnable model of the Windows NT asynchronous I/O system.");

        var samplesCommand = new Command("samples", "List the samples.");
        samplesCommand.SetAction(_ =>
        {
            foreach (Sample s in SampleCatalog.All)
            {
                stdout.WriteLine($"{s.Name,-28} {s.Title}  [seed {s.Seed}]");
            }

            return 0;
        });
        root.Subcommands.Add(samplesCommand);

        var sampleArgument = new Argument<string>("sample") { Description = "The sample to run (see 'irplab samples')." };
        var deterministicOption = new Option<bool>("--deterministic") { Description = "One thread at a time, virtual time, seeded schedule." };
        var seedOption = new Option<ulong>("--seed") { Description = "Seed of the deterministic schedule (needs --deterministic).", DefaultValueFactory = _ => 1 };
        var processorsOption = new Option<int>("--processors") { Description = "Simulated processors, 1 to 64.", DefaultValueFactory = _ => 2 };
        var verboseOption = new Option<bool>("--verbose") { Description = "Trace threads, waits and IRPs as well as prints." };
        var statsOption = new Option<bool>("--stats") { Description = "Print wall time and scheduling statistics at the end." };
        processorsOption.Validators.Add(Range(1, 64));
        var verifierOption = new Option<string>("--verifier") { Description = "Driver Verifier checks: on or off.", DefaultValueFactory = _ => "on" };
        verifierOption.AcceptOnlyFromAmong("on", "off");

        var runCommand = new Command("run", "Run a sample and print its log (DebugView style: sequence, seconds since boot, text).")
        {
            sampleArgument, deterministicOption, seedOption, processorsOption, verboseOption, statsOption, verifierOption,
        };
        runCommand.Validators.Add(command =>
        {
            // --seed only chooses a deterministic schedule; a real-mode run has none to choose.
            if (command.GetResult(seedOption) is OptionResult { Implicit: false } && !command.GetValue(deterministicOption))
            {
                command.AddError("--seed needs --deterministic (a seed chooses the deterministic schedule; real mode has none)");
            }
        });
        runCommand.SetAction(parse =>
        {
            string name = parse.GetValue(sampleArgument)!;
            Sample? sample = SampleCatalog.Find(name);
            if (sample is null)
            {
                stderr.WriteLine($"irplab: no sample named '{name}' (see 'irplab samples')");
                return ExitUsage;
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
                    stdout.WriteLine(e.ToDebugViewString());
                }
                else if (e.Kind == TraceEventKind.ConsoleOutput)
                {
                    stdout.WriteLine(FormatApp(e));
                }
                else if (e.Kind == TraceEventKind.VerifierWarning)
                {
                    stdout.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{e.Sequence:D8}\t{e.Seconds:F8}\t[verifier warning] {e.Text}"));
                }
                else if (verbose && e.Kind is not TraceEventKind.BugCheck and not TraceEventKind.Deadlock)
                {
                    stdout.WriteLine(e.ToString());
                }
            });

            int exitCode = 0;
            try
            {
                int appExit = sample.Run(machine);
                if (appExit != 0)
                {
                    stdout.WriteLine($"-- the application exited with {appExit}: it did not observe what the sample promises");
                    exitCode = ExitFailureFound;
                }
            }
            catch (BugCheckException ex)
            {
                stdout.WriteLine();
                stdout.WriteLine(ex.BugCheck.Analyze());
                exitCode = ExitFailureFound;
            }
            catch (DeadlockException ex)
            {
                stdout.WriteLine();
                stdout.WriteLine(ex.Message);
                exitCode = ExitFailureFound;
            }
            catch (StepBoundExceededException ex)
            {
                stdout.WriteLine();
                stdout.WriteLine(ex.Message);
                exitCode = ExitFailureFound;
            }

            stopwatch.Stop();
            if (parse.GetValue(statsOption))
            {
                double seconds = stopwatch.Elapsed.TotalSeconds;
                stdout.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"-- wall {seconds:F3} s, {(machine.IsDeterministic ? "virtual" : "machine")} time {machine.Clock.InterruptTime / 1e7:F3} s, {machine.SchedulingSteps} scheduling points, {machine.SchedulingChoices} choices, {machine.ContextSwitches} switches, {machine.SchedulingSteps / Math.Max(seconds, 1e-9):F0} points/s"));
            }

            return exitCode;
        });
        root.Subcommands.Add(runCommand);

        // ---------------------------------------------------------------- explore

        var exploreSampleArgument = new Argument<string>("sample") { Description = "The sample to explore (see 'irplab samples')." };
        var iterationsOption = new Option<int>("--iterations") { Description = "Runs to try, each under a new schedule (at least 1).", DefaultValueFactory = _ => 1000 };
        var strategyOption = new Option<string>("--strategy") { Description = "random, pct, probabilistic, delay-bounding or portfolio.", DefaultValueFactory = _ => "portfolio" };
        strategyOption.AcceptOnlyFromAmong("random", "pct", "probabilistic", "delay-bounding", "portfolio");
        var exploreSeedOption = new Option<ulong>("--seed") { Description = "Exploration seed: run i uses seed S + i.", DefaultValueFactory = _ => 1 };
        var maxStepsOption = new Option<long>("--max-steps") { Description = "Scheduling points per run before it counts as a livelock or hang (at least 1).", DefaultValueFactory = _ => 10_000 };
        var outOption = new Option<string?>("--out") { Description = "Where to save the failing schedule (default: a generated name in the current directory)." };
        var exploreProcessorsOption = new Option<int>("--processors") { Description = "Simulated processors, 1 to 64.", DefaultValueFactory = _ => 2 };
        iterationsOption.Validators.Add(Range(1, int.MaxValue));
        maxStepsOption.Validators.Add(Range(1L, long.MaxValue));
        exploreProcessorsOption.Validators.Add(Range(1, 64));
        outOption.Validators.Add(result =>
        {
            string? path = result.GetValueOrDefault<string?>();
            if (OutPathProblem(path) is string problem)
            {
                result.AddError($"--out '{path}': {problem}");
            }
        });
        var exploreVerifierOption = new Option<string>("--verifier") { Description = "Driver Verifier checks: on or off.", DefaultValueFactory = _ => "on" };
        exploreVerifierOption.AcceptOnlyFromAmong("on", "off");
        var timeoutsOption = new Option<bool>("--explore-timeouts") { Description = "Let timers fire early so that waits race their timeouts." };
        var shrinkOption = new Option<bool>("--shrink") { Description = "Shrink the failing schedule before saving it." };
        var exploreVerboseOption = new Option<bool>("--verbose") { Description = "Record threads, waits and IRPs in the saved trace as well as prints." };
        var repeatOption = new Option<int>("--repeat") { Description = "Measure: run the whole exploration N times (1 to 1000) and report the median speed.", DefaultValueFactory = _ => 1 };

        repeatOption.Validators.Add(Range(1, 1000));
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
                stderr.WriteLine($"irplab: no sample named '{name}' (see 'irplab samples')");
                return ExitUsage;
            }

            bool interactive = interactiveStderr;
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
                        stderr.Write(ProgressLine(p, interactive));
                    }
                },
            };

            int repeat = parse.GetValue(repeatOption);
            var results = new List<ExplorationResult>();
            for (int i = 0; i < repeat; i++)
            {
                try
                {
                    results.Add(Explorer.Run(sample.Scenario, options));
                }
                catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
                {
                    // Saving the failing schedule is the exploration's only file access.
                    stderr.WriteLine($"irplab: cannot save the schedule: {FirstLine(ex.Message)}");
                    return ExitUsage;
                }

                if (interactive)
                {
                    stderr.WriteLine();
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

                stdout.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"Median of {repeat} explorations: {Median(results.Select(r => r.RunsPerSecond)):F0} runs/s, {Median(results.Select(r => r.DecisionsPerSecond)):F0} decisions/s, {Median(results.Select(r => r.StepsPerSecond)):F0} scheduling points/s, {Median(results.Select(r => r.SwitchesPerSecond)):F0} switches/s (first: {results[0].RunsPerSecond:F0} runs/s, with warm-up)."));
            }

            stdout.WriteLine(result.Report());
            if (result.FirstFailure is RunFailure failure)
            {
                stdout.WriteLine(failure.Description);
            }

            bool expected = Matches(sample, result.FirstFailure);
            if (sample.Expectation != SampleExpectation.NoFailure)
            {
                stdout.WriteLine(expected
                    ? $"This sample is expected to fail that way ({sample.Expectation})."
                    : $"This sample is expected to fail ({sample.Expectation}{(sample.ExpectedBugCheck is uint code ? $" 0x{code:X}" : string.Empty)}); no such failure was found.");
            }

            return result.FirstFailure is null ? ExitOk : ExitFailureFound;
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
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or FormatException or System.Text.Json.JsonException or KeyNotFoundException or InvalidOperationException or ArgumentException)
            {
                stderr.WriteLine($"irplab: cannot read schedule '{path}': {FirstLine(ex.Message)}");
                return ExitUsage;
            }

            if (ScheduleProblem(schedule) is string problem)
            {
                stderr.WriteLine($"irplab: cannot read schedule '{path}': {problem}");
                return ExitUsage;
            }

            Sample? sample = SampleCatalog.Find(schedule.Scenario);
            if (sample is null)
            {
                stderr.WriteLine($"irplab: the schedule is for '{schedule.Scenario}', which is not a sample (replay it with Explorer.Replay in its test)");
                return ExitUsage;
            }

            stdout.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"-- replaying {sample.Name}: {schedule.Decisions.Count} decisions ({schedule.Deviations} deviations), seed {schedule.Seed}, {schedule.Strategy}, {schedule.Processors} processor(s), verifier {(schedule.Verifier ? "on" : "off")}{(schedule.ExploreTimeouts ? ", timeouts explored" : string.Empty)}"));
            ReplayResult replay = Explorer.Replay(schedule, sample.Scenario);
            bool verbose = parse.GetValue(replayVerboseOption);
            foreach (TraceEvent e in replay.Events)
            {
                if (e.Kind == TraceEventKind.DebugPrint)
                {
                    stdout.WriteLine(e.ToDebugViewString());
                }
                else if (e.Kind == TraceEventKind.ConsoleOutput)
                {
                    stdout.WriteLine(FormatApp(e));
                }
                else if (verbose && e.Kind is not TraceEventKind.BugCheck and not TraceEventKind.Deadlock)
                {
                    stdout.WriteLine(e.ToString());
                }
            }

            if (replay.Failure is RunFailure failure)
            {
                stdout.WriteLine();
                stdout.WriteLine(failure.Description);
            }
            else
            {
                stdout.WriteLine("-- the run passed");
            }

            if (replay.Reproduced)
            {
                stdout.WriteLine("-- replay reproduced the recorded run exactly (same decisions, same failure, same trace)");
            }
            else
            {
                stdout.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"-- WARNING: the replay did not reproduce the recording: diverged {replay.Diverged}, same failure {replay.SameFailure}, trace difference: {replay.DescribeTraceDifference()}"));
                stderr.WriteLine("irplab: internal error: the replay did not reproduce the recorded run (please report it, with the schedule file)");
                return ExitInternalError;
            }

            return replay.Failure is null ? ExitOk : ExitFailureFound;
        });
        root.Subcommands.Add(replayCommand);


        ParseResult parsed = root.Parse(args);
        if (parsed.Errors.Count > 0)
        {
            // The most specific error first: a token the parser did not know explains the rest.
            ParseError error = parsed.Errors.FirstOrDefault(e => e.Message.StartsWith("Unrecognized", StringComparison.Ordinal)) ?? parsed.Errors[0];
            string message = string.Join(' ', error.Message.Split(['\r', '\n', '\t'], StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));
            stderr.WriteLine($"irplab: {message} (see 'irplab {CommandPath(parsed)}--help')");
            return ExitUsage;
        }

        try
        {
            return parsed.Invoke(new InvocationConfiguration { Output = stdout, Error = stderr, EnableDefaultExceptionHandler = false });
        }
        catch (Exception ex)
        {
            stderr.WriteLine($"irplab: internal error: {ex.GetType().Name}: {FirstLine(ex.Message)} (please report it, with the command line; --verbose or {StackTraceVariable}=1 shows the stack trace)");
            if (args.Contains("--verbose") || Environment.GetEnvironmentVariable(StackTraceVariable) == "1")
            {
                stderr.WriteLine(ex.ToString());
            }

            return ExitInternalError;
        }
    }


    private static string ProgressLine(ExplorationProgress p, bool interactive)
    {
        const int width = 30;
        int filled = p.Iterations == 0 ? width : (int)((long)p.IterationsDone * width / p.Iterations);
        string bar = new string('#', filled) + new string('-', width - filled);
        string line = string.Create(CultureInfo.InvariantCulture,
            $"[{bar}] {p.IterationsDone}/{p.Iterations} runs, {p.Failures} failure(s), {p.RunsPerSecond:F0} runs/s");
        return interactive ? "\r" + line : line + Environment.NewLine;
    }

    private static bool Matches(Sample sample, RunFailure? failure) => sample.Expectation switch
    {
        SampleExpectation.NoFailure => failure is null,
        SampleExpectation.BugCheck => failure?.Kind == FailureKind.BugCheck
            && (sample.ExpectedBugCheck is null || failure.BugCheck?.Code == sample.ExpectedBugCheck),
        SampleExpectation.Deadlock => failure?.Kind == FailureKind.Deadlock,
        SampleExpectation.Hang => failure?.Kind == FailureKind.StepBound,
        _ => false,
    };

    private static string FormatApp(TraceEvent e)
    {
        string text = e.Text.TrimEnd('\n', '\r');
        return string.Create(CultureInfo.InvariantCulture, $"{e.Sequence:D8}\t{e.Seconds:F8}\t[app] {text}");
    }

    /// <summary>A validator: the option's value must lie in [min, max].</summary>
    private static Action<OptionResult> Range<T>(T min, T max)
        where T : struct, IComparable<T>
        => result =>
        {
            T value;
            try
            {
                value = result.GetValueOrDefault<T>();
            }
            catch (InvalidOperationException)
            {
                return; // not a number: the parser reports that error itself
            }

            if (value.CompareTo(min) < 0 || value.CompareTo(max) > 0)
            {
                string bound = max.Equals(MaxOf<T>()) ? $"at least {min}" : $"between {min} and {max}";
                result.AddError(string.Create(CultureInfo.InvariantCulture, $"{result.IdentifierToken?.Value ?? result.Option.Name} must be {bound} (got {value})"));
            }
        };

    private static T MaxOf<T>() where T : struct => (T)typeof(T).GetField("MaxValue")!.GetValue(null)!;

    /// <summary>Why the schedule cannot be saved at <paramref name="path"/>, or null when it can be.</summary>
    private static string? OutPathProblem(string? path)
    {
        if (path is null)
        {
            return null;
        }

        if (path.Length == 0)
        {
            return "the path is empty";
        }

        string full;
        try
        {
            full = Path.GetFullPath(path);
        }
        catch (Exception ex) when (ex is ArgumentException or NotSupportedException or PathTooLongException)
        {
            return FirstLine(ex.Message);
        }

        if (Directory.Exists(full))
        {
            return "is a directory; give a file name";
        }

        // Walk up to the first ancestor that exists: it must be a directory, not a file.
        for (string? dir = Path.GetDirectoryName(full); !string.IsNullOrEmpty(dir); dir = Path.GetDirectoryName(dir))
        {
            if (File.Exists(dir))
            {
                return $"'{dir}' is a file, not a directory";
            }

            if (Directory.Exists(dir))
            {
                return dir == Path.GetDirectoryName(full) ? null : $"directory '{Path.GetDirectoryName(full)}' does not exist";
            }
        }

        return null;
    }

    /// <summary>What a loaded schedule holds that no machine can run, or null.</summary>
    private static string? ScheduleProblem(Schedule schedule)
    {
        if (schedule.Processors is < 1 or > 64)
        {
            return string.Create(CultureInfo.InvariantCulture, $"processors must be between 1 and 64 (got {schedule.Processors})");
        }

        if (schedule.MaxSteps < 1)
        {
            return string.Create(CultureInfo.InvariantCulture, $"maxSteps must be at least 1 (got {schedule.MaxSteps})");
        }

        return null;
    }

    private static string CommandPath(ParseResult parsed)
    {
        var names = new List<string>();
        for (SymbolResult? r = parsed.CommandResult; r is CommandResult c && c.Parent is not null; r = c.Parent)
        {
            names.Insert(0, c.Command.Name);
        }

        return names.Count == 0 ? string.Empty : string.Join(' ', names) + " ";
    }

    private static string FirstLine(string text)
    {
        int newline = text.IndexOfAny(['\r', '\n']);
        return newline < 0 ? text : text[..newline];
    }
}
