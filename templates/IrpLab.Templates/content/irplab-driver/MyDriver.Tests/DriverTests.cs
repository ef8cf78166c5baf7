using IrpLab;
using IrpLab.Testing;

namespace MyDriver.Tests;

public sealed class DriverTests
{
    /// <summary>One deterministic schedule: the app sees both replies and the machine does not stop.</summary>
    [Fact]
    public void App_PingAndDelayed_BothComplete()
    {
        using Machine machine = TestMachines.Deterministic(seed: 1);
        DriverRunResult run = DriverRun.Run(machine, "MyDriver", Driver.DriverEntry, App.Main);

        Assert.Null(run.BugCheck);
        Assert.Equal(0, run.ExitCode);
    }

    /// <summary>
    /// Many schedules of the same run. A failure (a bug check such as 0x44 for an IRP completed twice, a deadlock,
    /// a non-zero exit code) fails the test with the seed and a saved schedule that replays it.
    /// </summary>
    [Fact]
    public void App_AnySchedule_NoBugCheck()
        => Explorer.AssertNoBug(
            machine => DriverRun.Run(machine, "MyDriver", Driver.DriverEntry, App.Main).ThrowIfFailed(),
            new ExplorationOptions { Iterations = 200 });
}
