namespace IrpLab.Testing;

/// <summary>Machines for tests: deterministic (one seeded schedule, virtual time), the verifier on, a step bound.</summary>
/// <example>
/// <code>
/// using Machine machine = TestMachines.Deterministic(seed: 7);
/// DriverRunResult run = DriverRun.Run(machine, "MyDriver", Driver.DriverEntry, App.Main);
/// Assert.Null(run.BugCheck);
/// </code>
/// </example>
public static class TestMachines
{
    /// <summary>
    /// The default step bound: a driver that livelocks or an app that never ends stops the machine
    /// (<see cref="MachineStopReason.StepBound"/>) instead of hanging the test.
    /// </summary>
    public const long DefaultMaxSteps = 1_000_000;

    /// <summary>A deterministic machine: the same <paramref name="seed"/> gives the same interleaving and trace.</summary>
    public static Machine Deterministic(ulong seed = 1, int processors = 2, bool verifier = true, long maxSteps = DefaultMaxSteps)
        => new(new MachineOptions
        {
            Deterministic = true,
            Seed = seed,
            Processors = processors,
            Verifier = verifier,
            MaxSteps = maxSteps,
        });
}
