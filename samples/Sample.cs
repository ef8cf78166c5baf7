namespace IrpLab.Samples;

/// <summary>A runnable example: a driver, an application, and the host steps that tie them together.</summary>
public sealed record Sample(string Name, string Title, string Seed, Action<Machine> Run)
{
    /// <summary>
    /// What exploring the sample's schedules (<c>irplab explore</c>) should find: nothing for a correct sample; for a
    /// sample written to show a bug, the failure it shows.
    /// </summary>
    public SampleExpectation Expectation { get; init; } = SampleExpectation.NoFailure;

    /// <summary>With <see cref="SampleExpectation.BugCheck"/>: the expected stop code (0: any).</summary>
    public uint ExpectedBugCheck { get; init; }
}

/// <summary>How a sample is expected to end under some schedule.</summary>
public enum SampleExpectation
{
    /// <summary>Every schedule passes.</summary>
    NoFailure = 0,

    /// <summary>Some schedule stops the machine with a bug check.</summary>
    BugCheck = 1,

    /// <summary>Some schedule deadlocks.</summary>
    Deadlock = 2,

    /// <summary>Some schedule never finishes (the step bound).</summary>
    Hang = 3,
}

/// <summary>Every sample, by name.</summary>
public static class SampleCatalog
{
    public static IReadOnlyList<Sample> All { get; } =
    [
        new("system-thread", "A system thread that prints once a second until unload", "000 (last part)", SystemThread.Host.Run),
    ];

    public static Sample? Find(string name) => All.FirstOrDefault(s => string.Equals(s.Name, name, StringComparison.OrdinalIgnoreCase));
}
