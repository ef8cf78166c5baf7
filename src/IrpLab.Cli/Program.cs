using System.CommandLine;
using Stopwatch = System.Diagnostics.Stopwatch;
using System.Globalization;
using IrpLab;
using IrpLab.Samples;

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
    var stopwatch = Stopwatch.StartNew();
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
            $"-- wall {seconds:F3} s, virtual {machine.Clock.InterruptTime / 1e7:F3} s, {machine.SchedulingSteps} scheduling points, {machine.SchedulingChoices} choices, {machine.ContextSwitches} switches, {machine.SchedulingSteps / Math.Max(seconds, 1e-9):F0} points/s"));
    }

    return exitCode;
});
root.Subcommands.Add(runCommand);

return root.Parse(args).Invoke();

static string FormatApp(TraceEvent e)
{
    string text = e.Text.TrimEnd('\n', '\r');
    return string.Create(CultureInfo.InvariantCulture, $"{e.Sequence:D8}\t{e.Seconds:F8}\t[app] {text}");
}
