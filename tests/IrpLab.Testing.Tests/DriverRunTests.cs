using IrpLab.Samples;
using static IrpLab.NtStatus;

namespace IrpLab.Testing.Tests;

/// <summary>The public test helpers: <see cref="TestMachines"/> and <see cref="DriverRun"/> on real samples.</summary>
public sealed class DriverRunTests
{
    [Fact]
    public void Run_CorrectDriver_ReturnsExitCodeAndNoBugCheck()
    {
        using Machine machine = TestMachines.Deterministic(seed: 3);
        DriverRunResult run = DriverRun.Run(machine, "Surprise", Samples.SyncCompletionSurprise.Driver.DriverEntry, Samples.SyncCompletionSurprise.App.Main);

        Assert.True(run.Succeeded, run.ToString());
        Assert.Equal(0, run.ExitCode);
        Assert.Null(run.BugCheck);
        Assert.Equal(MachineStopReason.None, run.StopReason);
        Assert.Equal(STATUS_SUCCESS, run.DriverEntryStatus);
        run.ThrowIfFailed();
    }

    [Fact]
    public void Run_DoubleCompletion_ReturnsBugCheck44AndThrowIfFailedRethrowsIt()
    {
        using Machine machine = TestMachines.Deterministic(seed: 1);
        DriverRunResult run = DriverRun.Run(machine, "Records", Samples.DoubleCompletion.Driver.DriverEntry, Samples.DoubleCompletion.App.Main);

        Assert.False(run.Succeeded);
        Assert.Null(run.ExitCode);
        Assert.Equal(MachineStopReason.BugCheck, run.StopReason);
        Assert.Equal(0x44u, run.BugCheck!.Code);
        BugCheckException thrown = Assert.Throws<BugCheckException>(run.ThrowIfFailed);
        Assert.Same(run.BugCheck, thrown.BugCheck);
    }

    [Fact]
    public void Run_DriverEntryFails_AppDoesNotRun()
    {
        bool appRan = false;
        using Machine machine = TestMachines.Deterministic();
        DriverRunResult run = DriverRun.Run(machine, "Broken", (_, _) => STATUS_INSUFFICIENT_RESOURCES, () =>
        {
            appRan = true;
            return 0;
        });

        Assert.False(appRan);
        Assert.Equal(STATUS_INSUFFICIENT_RESOURCES, run.DriverEntryStatus);
        Assert.Null(run.ExitCode);
        Assert.Contains("STATUS_INSUFFICIENT_RESOURCES", Assert.Throws<InvalidOperationException>(run.ThrowIfFailed).Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Run_AppExitsNonZero_ThrowIfFailedNamesTheExitCode()
    {
        using Machine machine = TestMachines.Deterministic();
        DriverRunResult run = DriverRun.Run(machine, "Surprise", Samples.SyncCompletionSurprise.Driver.DriverEntry, () => 3);

        Assert.Equal(3, run.ExitCode);
        Assert.False(run.Succeeded);
        Assert.Contains("exited with 3", Assert.Throws<InvalidOperationException>(run.ThrowIfFailed).Message, StringComparison.Ordinal);
    }

    [Fact]
    public void TestMachines_Deterministic_StepBoundStopsAHang()
    {
        using Machine machine = TestMachines.Deterministic(maxSteps: 1_000);
        Assert.True(machine.IsDeterministic);
        Assert.Equal(1_000, machine.Options.MaxSteps);
        DriverRunResult run = DriverRun.Run(machine, "Surprise", Samples.SyncCompletionSurprise.Driver.DriverEntry, SleepForever);

        Assert.Equal(MachineStopReason.StepBound, run.StopReason);
        Assert.Throws<StepBoundExceededException>(run.ThrowIfFailed);

        static int SleepForever()
        {
            while (true)
            {
                Kernel32.SleepEx(1, FALSE);
            }
        }
    }

    [Fact]
    public void AssertNoBug_DriverRunOfDoubleCompletion_ReportsTheBugCheck()
    {
        ExplorationFailedException ex = Assert.Throws<ExplorationFailedException>(() => Explorer.AssertNoBug(
            m => DriverRun.Run(m, "Records", Samples.DoubleCompletion.Driver.DriverEntry, Samples.DoubleCompletion.App.Main).ThrowIfFailed(),
            new ExplorationOptions { Iterations = 5, ScheduleDirectory = Path.Combine(Path.GetTempPath(), "irplab-driverrun-tests") }));
        Assert.Contains("0x00000044", ex.Message, StringComparison.Ordinal);
    }
}
