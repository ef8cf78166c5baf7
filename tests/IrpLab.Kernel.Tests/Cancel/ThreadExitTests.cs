using static IrpLab.Kernel32;
using static IrpLab.Tests.Cancel.LabHost;

namespace IrpLab.Tests.Cancel;

/// <summary>
/// A thread's exit and the I/O it leaves behind (nt-io-semantics §7.7, §5.2 step 8): its requests are cancelled and
/// waited for; a driver that ignores cancellation holds the exit for five minutes, then the requests are disassociated
/// (IO_DRIVER_CANCEL_TIMEOUT) and complete later without any notification. Requests on a file associated with a
/// completion port are not tied to the thread.
/// </summary>
public sealed class ThreadExitTests
{
    private const uint FiveMinutes = 5 * 60 * 1000;

    [Fact]
    public void ThreadExit_OverlappedReadOnCancelAwareDriver_CancelledAndCompletedPromptly()
    {
        var lab = new LabDriver();
        using Machine machine = NewMachine(lab);
        machine.Run("app", () =>
        {
            Handle h = Open();
            OVERLAPPED? ov = null;
            Handle worker = StartThread(() => ov = Read(h, LabMode.Queue, NtStatus.STATUS_SUCCESS, 4));
            Assert.Equal(WAIT_OBJECT_0, WaitForSingleObject(worker, INFINITE));
            Assert.Equal(0u, GetTickCount());
            Assert.True(IsSignaled(ov!.hEvent));
            uint bytes = 1;
            Assert.False(GetOverlappedResult(h, ov, ref bytes, FALSE));
            Assert.Equal(ERROR_OPERATION_ABORTED, GetLastError());
            Assert.Equal(1, lab.CompleteCanceledCalls);
            CloseHandle(worker);
            CloseHandle(h);
        });
    }

    /// <summary>A ReadFileEx request: cancelled at exit too; its routine is discarded with the thread.</summary>
    [Fact]
    public void ThreadExit_ReadFileExPending_CancelledRoutineNeverRuns()
    {
        var lab = new LabDriver();
        using Machine machine = NewMachine(lab);
        machine.Run("app", () =>
        {
            Handle h = Open();
            var ov = new OVERLAPPED();
            int ran = 0;
            Handle worker = StartThread(() =>
            {
                LabDriver.Configure(ov, LabMode.Queue, NtStatus.STATUS_SUCCESS);
                Assert.True(ReadFileEx(h, new byte[4], 4, ov, (e, b, o) => ran++));
            });
            Assert.Equal(WAIT_OBJECT_0, WaitForSingleObject(worker, INFINITE));
            Assert.Equal(NtStatus.STATUS_CANCELLED, ov.Status);
            Assert.Equal(0u, SleepEx(0, TRUE));
            Assert.Equal(0, ran);
            CloseHandle(worker);
            CloseHandle(h);
        });
    }

    /// <summary>
    /// §7.7: a driver that ignores cancellation holds the exiting thread for five minutes (virtual time); then the IRP
    /// is disassociated with an IO_DRIVER_CANCEL_TIMEOUT entry, the thread finishes exiting, and the IRP's later
    /// completion notifies nobody: no status block, no event, no packet.
    /// </summary>
    [Fact]
    public void ThreadExit_DriverIgnoresCancel_DisassociatedAfterFiveMinutesCompletionSilent()
    {
        var lab = new LabDriver();
        using Machine machine = NewMachine(lab);
        machine.Run("app", () =>
        {
            Handle h = Open();
            Handle h2 = Open();
            OVERLAPPED? ov = null;
            uint exitStarted = 0;
            Handle worker = StartThread(() =>
            {
                ov = Read(h, LabMode.Hold, NtStatus.STATUS_SUCCESS, 4);
                exitStarted = GetTickCount();
            });
            Assert.Equal(WAIT_TIMEOUT, WaitForSingleObject(worker, FiveMinutes - 1000));
            Assert.Equal(WAIT_OBJECT_0, WaitForSingleObject(worker, INFINITE));
            uint exited = GetTickCount();
            Assert.InRange(exited - exitStarted, FiveMinutes, FiveMinutes + 100);
            Assert.False(HasOverlappedIoCompleted(ov!));

            // Cancelling it again finds nothing: it belongs to no thread now.
            Assert.False(CancelIoEx(h, ov));
            Assert.Equal(ERROR_NOT_FOUND, GetLastError());

            ReleaseHeld(h2, NtStatus.STATUS_SUCCESS);
            Assert.Empty(lab.Held);
            Assert.Equal(NtStatus.STATUS_PENDING, ov!.Status);
            Assert.False(IsSignaled(ov.hEvent));
            Assert.False(IsSignaled(h));

            // The silent cleanup released the file object: closing the handle now closes it.
            CloseHandle(h);
            Assert.Contains("close F1", lab.Log);
            CloseHandle(h2);
            CloseHandle(worker);
        });

        TraceEvent[] warnings = [.. machine.Trace.Recent(256).Where(e => e.Kind == TraceEventKind.VerifierWarning)];
        TraceEvent warning = Assert.Single(warnings, e => e.Text.Contains("IO_DRIVER_CANCEL_TIMEOUT", StringComparison.Ordinal));
        Assert.Contains("IO_DRIVER_CANCEL_TIMEOUT", warning.Text, StringComparison.Ordinal);
        Assert.Equal((long)FiveMinutes * MachineClock.TicksPerMillisecond, warning.Time);
    }

    /// <summary>§7.7 / §5.6: I/O on a port-associated handle is not cancelled when the issuing thread exits; its packet still arrives.</summary>
    [Fact]
    public void ThreadExit_ReadOnPortAssociatedHandle_NotCancelledPacketArrivesLater()
    {
        var lab = new LabDriver();
        using Machine machine = NewMachine(lab);
        machine.Run("app", () =>
        {
            Handle h = Open();
            Handle port = CreateIoCompletionPort(h, NULL, 5, 0);
            var ov = new OVERLAPPED();
            Handle worker = StartThread(() =>
            {
                LabDriver.Configure(ov, LabMode.Queue, NtStatus.STATUS_SUCCESS, 6);
                Assert.False(ReadFile(h, new byte[8], 8, ov));
                Assert.Equal(ERROR_IO_PENDING, GetLastError());
            });
            Assert.Equal(WAIT_OBJECT_0, WaitForSingleObject(worker, INFINITE));
            Assert.Equal(0u, GetTickCount());
            Assert.False(HasOverlappedIoCompleted(ov));
            Assert.Equal(0, lab.CompleteCanceledCalls);

            CompleteQueued(h, NtStatus.STATUS_SUCCESS);
            Assert.True(GetQueuedCompletionStatus(port, out uint bytes, out nuint key, out OVERLAPPED? got, 0));
            Assert.Same(ov, got);
            Assert.Equal((nuint)5, key);
            Assert.Equal(6u, bytes);

            // It can still be cancelled explicitly while pending: here, a second one.
            var ov2 = new OVERLAPPED();
            Handle worker2 = StartThread(() =>
            {
                LabDriver.Configure(ov2, LabMode.Queue, NtStatus.STATUS_SUCCESS);
                ReadFile(h, new byte[8], 8, ov2);
            });
            Assert.Equal(WAIT_OBJECT_0, WaitForSingleObject(worker2, INFINITE));
            Assert.True(CancelIoEx(h, ov2));
            Assert.False(GetQueuedCompletionStatus(port, out _, out _, out OVERLAPPED? cancelled, 0));
            Assert.Same(ov2, cancelled);
            Assert.Equal(ERROR_OPERATION_ABORTED, GetLastError());
            CloseHandle(worker);
            CloseHandle(worker2);
            CloseHandle(h);
            CloseHandle(port);
        });
    }

    /// <summary>The main thread's exit (ExitProcess) cancels its I/O before the handles are closed.</summary>
    [Fact]
    public void ProcessExit_MainThreadWithQueuedRead_CancelledThenCleanupAndClose()
    {
        var lab = new LabDriver();
        using Machine machine = NewMachine(lab);
        OVERLAPPED? ov = null;
        machine.Run("app", () =>
        {
            Handle h = Open();
            ov = Read(h, LabMode.Queue, NtStatus.STATUS_SUCCESS);
        });
        Assert.Equal(NtStatus.STATUS_CANCELLED, ov!.Status);
        Assert.Equal(1, lab.CompleteCanceledCalls);
        Assert.Equal(["create F1", "cleanup F1", "close F1"], lab.Log);
    }
}
