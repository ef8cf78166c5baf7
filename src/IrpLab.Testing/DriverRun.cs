using System.Globalization;
using System.Runtime.ExceptionServices;

namespace IrpLab.Testing;

/// <summary>
/// The usual driver test: load a driver, run an app against it, unload the driver, and report how it ended: the
/// app's exit code, or the bug check (deadlock, step bound) that stopped the machine. A stopped machine is a
/// result here, not an exception; <see cref="DriverRunResult.ThrowIfFailed"/> turns it back into one.
/// </summary>
/// <example>
/// <code>
/// // One schedule:
/// using Machine machine = TestMachines.Deterministic(seed: 1);
/// DriverRunResult run = DriverRun.Run(machine, "MyDriver", Driver.DriverEntry, App.Main);
/// Assert.Equal(0, run.ExitCode);
///
/// // Many schedules: the explorer sees the bug check ThrowIfFailed rethrows.
/// Explorer.AssertNoBug(m => DriverRun.Run(m, "MyDriver", Driver.DriverEntry, App.Main).ThrowIfFailed());
/// </code>
/// </example>
public static class DriverRun
{
    /// <summary>
    /// Loads <paramref name="driverEntry"/> as <paramref name="driverName"/>, runs <paramref name="app"/> as a user
    /// process called "app", then (if the machine is still running and <paramref name="unload"/> is set) unloads the
    /// driver, which is where a driver that leaves IRPs pending is caught. Never throws for a stopped machine.
    /// </summary>
    public static DriverRunResult Run(Machine machine, string driverName, DriverInitialize driverEntry, Func<int> app, bool unload = true)
    {
        ArgumentNullException.ThrowIfNull(app);
        return RunCore(machine, driverName, driverEntry, () => machine.Run("app", app), unload);
    }

    /// <summary>As <see cref="Run(Machine, string, DriverInitialize, Func{int}, bool)"/>, for an app whose main is asynchronous.</summary>
    public static DriverRunResult Run(Machine machine, string driverName, DriverInitialize driverEntry, Func<Task<int>> app, bool unload = true)
    {
        ArgumentNullException.ThrowIfNull(app);
        return RunCore(machine, driverName, driverEntry, () => machine.Run("app", app), unload);
    }

    private static DriverRunResult RunCore(Machine machine, string driverName, DriverInitialize driverEntry, Func<int> runApp, bool unload)
    {
        ArgumentNullException.ThrowIfNull(machine);
        ArgumentException.ThrowIfNullOrEmpty(driverName);
        ArgumentNullException.ThrowIfNull(driverEntry);
        NtStatus entryStatus = NtStatus.STATUS_UNSUCCESSFUL;
        int? exitCode = null;
        Exception? stop = null;
        try
        {
            entryStatus = machine.LoadDriver(driverName, driverEntry);
            if (NtStatusClass.IsSuccess(entryStatus))
            {
                exitCode = runApp();
                if (unload && machine.StopReason == MachineStopReason.None)
                {
                    machine.UnloadDriver(driverName);
                }
            }
        }
        catch (Exception ex) when (ex is BugCheckException or DeadlockException or StepBoundExceededException)
        {
            stop = ex;
        }

        return new DriverRunResult(entryStatus, machine.StopReason == MachineStopReason.None ? exitCode : null, machine, stop);
    }
}

/// <summary>How a <see cref="DriverRun"/> ended.</summary>
public sealed class DriverRunResult
{
    private readonly Exception? _stop;

    internal DriverRunResult(NtStatus driverEntryStatus, int? exitCode, Machine machine, Exception? stop)
    {
        DriverEntryStatus = driverEntryStatus;
        ExitCode = exitCode;
        BugCheck = machine.BugCheck;
        StopReason = machine.StopReason;
        StopReport = machine.StopReport;
        _stop = stop;
    }

    /// <summary>What DriverEntry returned. On a failure status the app did not run.</summary>
    public NtStatus DriverEntryStatus { get; }

    /// <summary>The app's exit code; null if DriverEntry failed or the machine stopped.</summary>
    public int? ExitCode { get; }

    /// <summary>The bug check that stopped the machine, or null.</summary>
    public BugCheckInfo? BugCheck { get; }

    /// <summary>Why the machine stopped (<see cref="MachineStopReason.None"/>: it did not).</summary>
    public MachineStopReason StopReason { get; }

    /// <summary>The machine's report of the stop (the bug check analysis, or who waits on what in a deadlock).</summary>
    public string? StopReport { get; }

    /// <summary>DriverEntry succeeded, the machine did not stop and the app exited with 0.</summary>
    public bool Succeeded => NtStatusClass.IsSuccess(DriverEntryStatus) && StopReason == MachineStopReason.None && ExitCode == 0;

    /// <summary>
    /// Throws unless <see cref="Succeeded"/>: the machine's own exception (<see cref="BugCheckException"/>,
    /// <see cref="DeadlockException"/>, <see cref="StepBoundExceededException"/>) when it stopped, so that the explorer
    /// classifies the failure as such; otherwise an <see cref="InvalidOperationException"/> naming the failed
    /// DriverEntry status or the exit code.
    /// </summary>
    public void ThrowIfFailed()
    {
        if (_stop is not null)
        {
            ExceptionDispatchInfo.Capture(_stop).Throw();
        }

        if (BugCheck is not null)
        {
            throw new BugCheckException(BugCheck);
        }

        if (!NtStatusClass.IsSuccess(DriverEntryStatus))
        {
            throw new InvalidOperationException(string.Create(CultureInfo.InvariantCulture, $"DriverEntry failed with {NtStatusClass.Format(DriverEntryStatus)}."));
        }

        if (StopReason != MachineStopReason.None)
        {
            throw new InvalidOperationException("The machine stopped (" + StopReason + "): " + StopReport);
        }

        if (ExitCode != 0)
        {
            throw new InvalidOperationException(string.Create(CultureInfo.InvariantCulture, $"The app exited with {ExitCode}."));
        }
    }

    public override string ToString()
        => BugCheck is not null ? "bug check " + BugCheck.ToString()
            : StopReason != MachineStopReason.None ? StopReason.ToString()
            : string.Create(CultureInfo.InvariantCulture, $"DriverEntry {NtStatusClass.Format(DriverEntryStatus)}, exit code {ExitCode}");
}
