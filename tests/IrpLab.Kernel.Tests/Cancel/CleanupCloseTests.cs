using static IrpLab.Kernel32;
using static IrpLab.Tests.Cancel.LabHost;

namespace IrpLab.Tests.Cancel;

/// <summary>
/// IRP_MJ_CLEANUP and IRP_MJ_CLOSE with requests pending (nt-io-semantics §8.1, §8.2): the last handle's cleanup is
/// where the driver completes the queued requests of that file object — and only those — (IoCsqRemoveNextIrp with
/// the file object as PeekContext); IRP_MJ_CLOSE comes only once every request holding the file object has finished.
/// </summary>
public sealed class CleanupCloseTests
{
    [Fact]
    public void CloseHandle_QueuedReadsOnTwoFileObjects_CleanupCompletesOnlyItsOwnThenClose()
    {
        var lab = new LabDriver();
        using Machine machine = NewMachine(lab);
        machine.Run("app", () =>
        {
            Handle h1 = Open();
            Handle h2 = Open();
            OVERLAPPED a = Read(h1, LabMode.Queue, NtStatus.STATUS_SUCCESS, 3);
            OVERLAPPED other = Read(h2, LabMode.Queue, NtStatus.STATUS_SUCCESS, 3);
            OVERLAPPED b = Read(h1, LabMode.Queue, NtStatus.STATUS_SUCCESS, 3);

            Assert.True(CloseHandle(h1));
            Assert.Equal(["create F1", "create F2", "cleanup F1", "cancelled F1", "cancelled F1", "close F1"], lab.Log);
            foreach (OVERLAPPED ov in new[] { a, b })
            {
                Assert.True(IsSignaled(ov.hEvent));
                Assert.Equal(NtStatus.STATUS_CANCELLED, ov.Status);
                uint bytes = 9;
                Assert.False(GetOverlappedResult(h2, ov, ref bytes, FALSE));
                Assert.Equal(ERROR_OPERATION_ABORTED, GetLastError());
                Assert.Equal(0u, bytes);
            }

            // The other handle's request stays pending; its file object stays open.
            Assert.False(HasOverlappedIoCompleted(other));
            Assert.False(IsSignaled(other.hEvent));
            Irp[] left = [];
            RunInDriver(lab, h2, () => left = lab.Queued());
            Irp remaining = Assert.Single(left);
            Assert.Equal("F2", LabDriver.NameOf(remaining.Tail.Overlay.OriginalFileObject));
            Assert.Equal(0, lab.CompleteCanceledCalls);

            Assert.True(CloseHandle(h2));
            Assert.Equal(NtStatus.STATUS_CANCELLED, other.Status);
            Assert.Equal(["cleanup F2", "cancelled F2", "close F2"], lab.Log[6..]);
            Assert.Equal(3, lab.CleanedUp);
        });
    }

    /// <summary>§8.2: a request the driver keeps through cleanup holds the file object; IRP_MJ_CLOSE follows its completion.</summary>
    [Fact]
    public void CloseHandle_HeldRequestOutlivesCleanup_CloseSentWhenItCompletes()
    {
        var lab = new LabDriver();
        using Machine machine = NewMachine(lab);
        machine.Run("app", () =>
        {
            Handle h1 = Open();
            Handle h2 = Open();
            OVERLAPPED held = Read(h1, LabMode.Hold, NtStatus.STATUS_SUCCESS, 2);
            Assert.True(CloseHandle(h1));
            Assert.Equal(["create F1", "create F2", "cleanup F1"], lab.Log);

            // CloseHandle did not cancel it (§8.1); it completes normally later, and only then is F1 closed.
            Assert.False(HasOverlappedIoCompleted(held));
            ReleaseHeld(h2, NtStatus.STATUS_SUCCESS);
            Assert.Equal(NtStatus.STATUS_SUCCESS, held.Status);
            Assert.Equal((nuint)2, held.InternalHigh);
            Assert.True(IsSignaled(held.hEvent));
            Assert.Equal(["create F1", "create F2", "cleanup F1", "close F1"], lab.Log);
            CloseHandle(h2);
        });
    }

    /// <summary>
    /// §8.2: IRP_MJ_CLOSE arrives at PASSIVE_LEVEL even when the last reference goes away in a completion at
    /// DISPATCH_LEVEL (the object manager defers such a deletion to a worker thread).
    /// </summary>
    [Fact]
    public void IoCompleteRequest_AtDispatchLevelDropsLastReference_CloseStillSentAtPassiveLevel()
    {
        var lab = new LabDriver();
        using Machine machine = NewMachine(lab);
        machine.Run("app", () =>
        {
            Handle h1 = Open();
            Handle h2 = Open();
            OVERLAPPED held = Read(h1, LabMode.Hold, NtStatus.STATUS_SUCCESS, 2);
            Assert.True(CloseHandle(h1));
            RunInDriver(lab, h2, () =>
            {
                Irp irp = Assert.Single(lab.Held);
                Wdm.KeRaiseIrql(Wdm.DISPATCH_LEVEL, out byte old);
                irp.IoStatus.Status = NtStatus.STATUS_SUCCESS;
                Wdm.IoCompleteRequest(irp, Wdm.IO_NO_INCREMENT);
                Wdm.KeLowerIrql(old);
            });
            Assert.Equal(NtStatus.STATUS_SUCCESS, held.Status);
            Sleep(10);
            Assert.Contains("close F1", lab.Log);
            Assert.Equal(Wdm.PASSIVE_LEVEL, lab.CloseIrql);
            CloseHandle(h2);
        });
    }

    /// <summary>
    /// A cleanup routine that leaves a cancelable request queued for its file object: the verifier stops the machine
    /// (IrpLab's own stop code, since Windows would only leak the request).
    /// </summary>
    [Fact]
    public void CloseHandle_CleanupLeavesCancelableRequestQueued_VerifierStops()
    {
        var lab = new LabDriver { CleanupCompletesQueued = false };
        using Machine machine = NewMachine(lab);
        BugCheckException e = Assert.Throws<BugCheckException>(() => machine.Run("app", () =>
        {
            Handle h = Open();
            Read(h, LabMode.Queue, NtStatus.STATUS_SUCCESS);
            CloseHandle(h);
        }));
        Assert.Equal(IrpLabBugChecks.IRP_QUEUED_AFTER_CLEANUP, e.BugCheck.Code);
    }

    /// <summary>
    /// Without the verifier the forgotten request stays pending after CloseHandle (§8.1) — nothing cancels it — until
    /// the issuing thread exits, which cancels it; only then is the file object closed.
    /// </summary>
    [Fact]
    public void CloseHandle_CleanupLeavesRequestQueuedNoVerifier_ThreadExitCancelsItThenClose()
    {
        var lab = new LabDriver { CleanupCompletesQueued = false };
        using Machine machine = NewMachine(lab, verifier: false);
        machine.Run("app", () =>
        {
            Handle h = Open();
            OVERLAPPED? ov = null;
            Handle worker = StartThread(() =>
            {
                ov = Read(h, LabMode.Queue, NtStatus.STATUS_SUCCESS);
                Assert.True(CloseHandle(h));
                Assert.False(HasOverlappedIoCompleted(ov));
                Assert.Equal(["create F1", "cleanup F1"], lab.Log);
            });
            Assert.Equal(WAIT_OBJECT_0, WaitForSingleObject(worker, INFINITE));
            Assert.Equal(NtStatus.STATUS_CANCELLED, ov!.Status);
            Assert.Equal(1, lab.CompleteCanceledCalls);
            Assert.Equal(["create F1", "cleanup F1", "close F1"], lab.Log);
            CloseHandle(worker);
        });
    }
}
