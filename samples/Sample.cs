namespace IrpLab.Samples;

/// <summary>
/// A runnable example: a driver, an application, and the host steps that tie them together. Run returns the
/// application's exit code: 0 when everything the story promises was observed.
/// </summary>
/// <param name="ExpectedBugCheck">For a sample that demonstrates a driver bug: the stop code it ends with (with the verifier on).</param>
public sealed record Sample(string Name, string Title, string Seed, Func<Machine, int> Run, uint? ExpectedBugCheck = null);

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
        new("double-completion", "A driver completes a read in its dispatch routine and again from its worker a second later", "-", DoubleCompletion.Host.Run, ExpectedBugCheck: 0x44),
    ];

    public static Sample? Find(string name) => All.FirstOrDefault(s => string.Equals(s.Name, name, StringComparison.OrdinalIgnoreCase));
}
