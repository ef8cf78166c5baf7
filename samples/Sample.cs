namespace IrpLab.Samples;

/// <summary>
/// A runnable example: a driver, an application, and the host steps that tie them together. Run returns the
/// application's exit code: 0 when everything the story promises was observed.
/// </summary>
/// <param name="ExpectedBugCheck">
/// For a sample that demonstrates a driver bug on every schedule: the stop code it ends with (with the verifier on).
/// </param>
public sealed record Sample(string Name, string Title, string Seed, Func<Machine, int> Run, uint? ExpectedBugCheck = null)
{
    /// <summary>
    /// What exploring the sample's schedules (<c>irplab explore</c>) should find: nothing for a correct sample; for a
    /// sample written to show a bug, the failure it shows (some schedules only, unless ExpectedBugCheck is set).
    /// </summary>
    public SampleExpectation Expectation { get; init; } = ExpectedBugCheck is null ? SampleExpectation.NoFailure : SampleExpectation.BugCheck;

    /// <summary>The sample as an exploration scenario: an application that did not observe what it should fails the run.</summary>
    public void Scenario(Machine machine)
    {
        int exit = Run(machine);
        if (exit != 0)
        {
            throw new InvalidOperationException($"The application of sample '{Name}' exited with {exit}: it did not observe what the sample promises.");
        }
    }
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
        new("async-ioctl", "Overlapped DeviceIoControl pended and completed by a system thread 5 s later; then a 2 s timeout and CancelIo", "000", AsyncIoctl.Host.Run),
        new("sync-completion-surprise", "The driver completes in dispatch: DeviceIoControl on an overlapped handle returns TRUE", "000", SyncCompletionSurprise.Host.Run),
        new("sync-read", "ReadFile on a synchronous handle blocks until the driver completes", "002 §2", SyncRead.Host.Run),
        new("overlapped-read", "ReadFile with an OVERLAPPED and an event on an overlapped handle", "002 §3", OverlappedRead.Host.Run),
        new("readfileex-apc", "ReadFileEx: the completion routine runs as an APC in an alertable SleepEx", "002 §4", ReadFileExApc.Host.Run),
        new("pending-irp-queue", "Reads queued in the driver's own list, all completed at IRP_MJ_CLEANUP", "002 IRP的异步完成", PendingIrpQueue.Host.Run),
        new("cancel-routine", "IoSetCancelRoutine, then CancelIo from the app: the seed's CancelReadIRP", "002 取消IRP", CancelRoutine.Host.Run),
        new("startio", "IoStartPacket and StartIo: reads served one at a time, 3 s each; a queued read cancelled", "002 StartIO例程", StartIo.Host.Run),
        new("startio-seed-wait", "The seed's StartIo as written: a 3-second KeWaitForSingleObject at DISPATCH_LEVEL stops the machine", "002 StartIO例程", StartIoSeedWait.Host.Run,
            ExpectedBugCheck: 0xC4),
        new("startio-custom-queues", "Custom StartIo: reads and writes in two KDEVICE_QUEUEs, each serialised, the two in parallel", "002 自定义的StartIO", StartIoCustomQueues.Host.Run),
        new("interrupt-dpc", "A simulated device: StartIo programs it, the ISR acknowledges it, the DpcForIsr completes and starts the next", "002 中断服务例程, DPC例程", InterruptDpc.Host.Run),
        new("race-startio-cancel", "Race: StartIo without the cancel-lock check; some schedule completes an IRP twice", "002 StartIO", Races.StartIoCancel.Host(fixedDriver: false)) { Expectation = SampleExpectation.BugCheck },
        new("race-startio-cancel-fixed", "The seed's StartIo check under the cancel spin lock: no schedule fails", "002 StartIO", Races.StartIoCancel.Host(fixedDriver: true)),
        new("race-cancel-check-then-set", "Race: Irp->Cancel tested before the cancel routine is set; some schedule loses the cancel", "002 取消IRP", Races.CheckThenSet.Host(fixedDriver: false)) { Expectation = SampleExpectation.Deadlock },
        new("race-cancel-check-then-set-fixed", "Set the cancel routine, then test Irp->Cancel: no schedule fails", "002 取消IRP", Races.CheckThenSet.Host(fixedDriver: true)),
        new("race-cancel-vs-dpc", "Race: the DPC and the cancel routine both complete the IRP under some schedule", "002 取消IRP + DPC", Races.CancelVsDpc.Host(fixedDriver: false)) { Expectation = SampleExpectation.BugCheck },
        new("race-cancel-vs-dpc-fixed", "Ownership through a slot under a spin lock: no schedule fails", "002 取消IRP + DPC", Races.CancelVsDpc.Host(fixedDriver: true)),
        new("double-completion", "A driver completes a read in its dispatch routine and again from its worker a second later", "-", DoubleCompletion.Host.Run, ExpectedBugCheck: 0x44),
    ];

    public static Sample? Find(string name) => All.FirstOrDefault(s => string.Equals(s.Name, name, StringComparison.OrdinalIgnoreCase));
}
