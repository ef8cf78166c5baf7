using static IrpLab.Kernel32;
using static IrpLab.Tests.Cancel.LabHost;
using static IrpLab.Wdm;

namespace IrpLab.Tests.Cancel;

/// <summary>
/// Cancellation (nt-io-semantics §7.1-§7.4 and §7.6): what IoCancelIrp does and in which state it calls the cancel
/// routine, the IoSetCancelRoutine ownership rule, and the scope of CancelIo, CancelIoEx and CancelSynchronousIo.
/// A cancelled request still completes through the normal path: event, APC or packet with ERROR_OPERATION_ABORTED.
/// </summary>
public sealed class CancelSemanticsTests
{
    private sealed class CancelCall
    {
        public byte Irql;
        public bool Cancel;
        public DriverCancel? RoutineInIrp;
        public bool LockHeld;
        public byte CancelIrql;
        public DeviceObject? Device;
    }

    private static NtStatus Abort => NtStatus.STATUS_CANCELLED;

    /// <summary>
    /// §7.1/§7.2 (Windows-validated): the routine runs at DISPATCH_LEVEL holding the cancel spin lock, with Irp.Cancel
    /// true, Irp.CancelRoutine already NULL and CancelIrql = the caller's IRQL; IoCancelIrp returns true; a second
    /// IoCancelIrp finds no routine and returns false.
    /// </summary>
    [Theory]
    [InlineData(PASSIVE_LEVEL)]
    [InlineData(DISPATCH_LEVEL)]
    public void IoCancelIrp_RoutineSet_CalledAtDispatchHoldingCancelLockWithRoutineCleared(byte callerIrql)
    {
        var lab = new LabDriver();
        using Machine machine = NewMachine(lab);
        machine.Run("app", () =>
        {
            Handle h = Open();
            OVERLAPPED ov = Read(h, LabMode.Hold, NtStatus.STATUS_SUCCESS);
            Irp irp = Assert.Single(lab.Held);
            var calls = new List<CancelCall>();
            bool first = false, second = false;
            RunInDriver(lab, h, () =>
            {
                void Routine(DeviceObject device, Irp cancelled)
                {
                    calls.Add(new CancelCall
                    {
                        Irql = KeGetCurrentIrql(),
                        Cancel = cancelled.Cancel,
                        RoutineInIrp = cancelled.CancelRoutine,
                        LockHeld = machine.Io.CancelSpinLock.Owner == KeGetCurrentThread(),
                        CancelIrql = cancelled.CancelIrql,
                        Device = device,
                    });

                    // Release the lock; leave the completion to the driver's later IOCTL_RELEASE_HELD.
                    IoReleaseCancelSpinLock(cancelled.CancelIrql);
                }

                Assert.Null(IoSetCancelRoutine(irp, Routine));
                KeRaiseIrql(callerIrql, out byte old);
                first = IoCancelIrp(irp);
                second = IoCancelIrp(irp);
                KeLowerIrql(old);
            });

            Assert.True(first);
            Assert.False(second);
            CancelCall call = Assert.Single(calls);
            Assert.Equal(DISPATCH_LEVEL, call.Irql);
            Assert.True(call.Cancel);
            Assert.Null(call.RoutineInIrp);
            Assert.True(call.LockHeld);
            Assert.Equal(callerIrql, call.CancelIrql);
            Assert.Same(lab.Device, call.Device);

            // The routine did not complete it: still pending until the driver does.
            Assert.False(HasOverlappedIoCompleted(ov));
            ReleaseHeld(h, Abort);
            uint bytes = 0;
            Assert.False(GetOverlappedResult(h, ov, ref bytes, true));
            Assert.Equal(ERROR_OPERATION_ABORTED, GetLastError());
            CloseHandle(h);
        });
    }

    /// <summary>
    /// §7.1/§7.3: without a routine IoCancelIrp returns false and leaves Cancel true, so a driver that makes the IRP
    /// cancelable afterwards must check Irp.Cancel and take its routine back (getting it back means it owns the IRP).
    /// </summary>
    [Fact]
    public void IoCancelIrp_NoRoutine_ReturnsFalseAndLeavesCancelSetForTheDriverToSee()
    {
        var lab = new LabDriver();
        using Machine machine = NewMachine(lab);
        machine.Run("app", () =>
        {
            Handle h = Open();
            OVERLAPPED ov = Read(h, LabMode.Hold, NtStatus.STATUS_SUCCESS);
            Irp irp = Assert.Single(lab.Held);
            int routineCalls = 0;
            RunInDriver(lab, h, () =>
            {
                Assert.False(irp.Cancel);
                Assert.False(IoCancelIrp(irp));
                Assert.True(irp.Cancel);
                Assert.False(IoCancelIrp(irp));
                Assert.True(irp.Cancel);

                // The driver's queueing pattern: set the routine, then look at Cancel.
                DriverCancel routine = (d, i) => routineCalls++;
                Assert.Null(IoSetCancelRoutine(irp, routine));
                Assert.True(irp.Cancel);
                Assert.Same(routine, IoSetCancelRoutine(irp, null)); // got it back: the driver owns the IRP
            });

            Assert.Equal(0, routineCalls);
            ReleaseHeld(h, Abort);
            Assert.Equal(Abort, ov.Status);
            CloseHandle(h);
        });
    }

    /// <summary>§7.3: whoever swaps the routine to NULL and gets non-NULL back owns the IRP; after IoCancelIrp took it, NULL.</summary>
    [Fact]
    public void IoSetCancelRoutine_ClearedBeforeOrAfterCancel_ReturnsPreviousRoutineOrNull()
    {
        var lab = new LabDriver();
        using Machine machine = NewMachine(lab);
        machine.Run("app", () =>
        {
            Handle h = Open();
            OVERLAPPED ov = Read(h, LabMode.Hold, NtStatus.STATUS_SUCCESS);
            Irp irp = Assert.Single(lab.Held);
            int calls = 0;
            RunInDriver(lab, h, () =>
            {
                DriverCancel routine = (d, i) =>
                {
                    calls++;
                    IoReleaseCancelSpinLock(i.CancelIrql);
                };
                Assert.Null(IoSetCancelRoutine(irp, routine));
                Assert.Same(routine, irp.CancelRoutine);
                Assert.Same(routine, IoSetCancelRoutine(irp, null)); // the driver owns it
                Assert.Null(irp.CancelRoutine);
                Assert.False(IoCancelIrp(irp));                     // nothing to call now
                Assert.Equal(0, calls);

                Assert.Null(IoSetCancelRoutine(irp, routine));
                Assert.True(IoCancelIrp(irp));
                Assert.Equal(1, calls);
                Assert.Null(IoSetCancelRoutine(irp, null));           // the cancel path owns it: do not complete
            });

            ReleaseHeld(h, Abort);
            Assert.Equal(Abort, ov.Status);
            CloseHandle(h);
        });
    }

    /// <summary>
    /// Completing an IRP with its cancel routine still set: the verifier stops at IoCompleteRequest (0xC9/0x07);
    /// without it, a later IoCancelIrp finds the routine on a completed IRP: CANCEL_STATE_IN_COMPLETED_IRP (0x48).
    /// </summary>
    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void IoCompleteRequest_CancelRoutineStillSet_VerifierC9OrLaterCancel48(bool verifier)
    {
        var lab = new LabDriver();
        using Machine machine = NewMachine(lab, verifier: verifier);
        BugCheckException e = Assert.Throws<BugCheckException>(() => machine.Run("app", () =>
        {
            Handle h = Open();
            Read(h, LabMode.Hold, NtStatus.STATUS_SUCCESS);
            Irp irp = Assert.Single(lab.Held);
            RunInDriver(lab, h, () =>
            {
                IoSetCancelRoutine(irp, (d, i) => IoReleaseCancelSpinLock(i.CancelIrql));
                irp.IoStatus.Status = NtStatus.STATUS_SUCCESS;
                IoCompleteRequest(irp, IO_NO_INCREMENT);
                IoCancelIrp(irp);
            });
        }));
        if (verifier)
        {
            Assert.Equal(BugCheckCatalogue.DRIVER_VERIFIER_IOMANAGER_VIOLATION, e.BugCheck.Code);
            Assert.Equal(0x07ul, e.BugCheck.Parameter1);
        }
        else
        {
            Assert.Equal(BugCheckCatalogue.CANCEL_STATE_IN_COMPLETED_IRP, e.BugCheck.Code);
        }
    }

    /// <summary>§7.6: CancelIo cancels only the calling thread's requests on that handle; another thread's read survives.</summary>
    [Fact]
    public void CancelIo_AnotherThreadsReadOnSameHandle_OnlyCallersRequestsCancelled()
    {
        var lab = new LabDriver();
        using Machine machine = NewMachine(lab);
        machine.Run("app", () =>
        {
            Handle h = Open();
            Handle h2 = Open();
            Handle done = CreateEvent(null, true, false, null);
            OVERLAPPED mine = Read(h, LabMode.Queue, NtStatus.STATUS_SUCCESS);
            OVERLAPPED otherHandle = Read(h2, LabMode.Queue, NtStatus.STATUS_SUCCESS);
            OVERLAPPED? theirs = null;
            Handle worker = StartThread(() =>
            {
                theirs = Read(h, LabMode.Queue, NtStatus.STATUS_SUCCESS);
                Assert.Equal(WAIT_OBJECT_0, WaitForSingleObject(done, INFINITE));
            });
            Sleep(10);
            Assert.NotNull(theirs);

            Assert.True(CancelIo(h));
            Assert.Equal(WAIT_OBJECT_0, WaitForSingleObject(mine.hEvent, 0));
            uint bytes = 7;
            Assert.False(GetOverlappedResult(h, mine, ref bytes, false));
            Assert.Equal(ERROR_OPERATION_ABORTED, GetLastError());
            Assert.Equal(0u, bytes);

            // The worker's read on the same handle, and this thread's read on another handle, are untouched.
            Assert.False(HasOverlappedIoCompleted(theirs!));
            Assert.False(IsSignaled(theirs!.hEvent));
            Assert.False(HasOverlappedIoCompleted(otherHandle));
            Assert.Equal(1, lab.CompleteCanceledCalls);

            // CancelIo with nothing of this thread's left to cancel still succeeds.
            Assert.True(CancelIo(h));
            Assert.False(HasOverlappedIoCompleted(theirs!));

            // CancelIoEx reaches the other thread's request.
            Assert.True(CancelIoEx(h, null));
            Assert.Equal(WAIT_OBJECT_0, WaitForSingleObject(theirs!.hEvent, 0));
            Assert.Equal(Abort, theirs.Status);
            Assert.False(HasOverlappedIoCompleted(otherHandle));
            Assert.True(SetEvent(done));
            Assert.Equal(WAIT_OBJECT_0, WaitForSingleObject(worker, INFINITE));
            CloseHandle(worker);
            CloseHandle(h);
            CloseHandle(h2); // cleanup completes the last one
            Assert.Equal(Abort, otherHandle.Status);
        });
    }

    /// <summary>§7.6: CancelIoEx from another thread cancels every request on the handle, or only lpOverlapped's.</summary>
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void CancelIoEx_FromAnotherThread_CancelsAllOrOnlyTheGivenOverlapped(bool onlySecond)
    {
        var lab = new LabDriver();
        using Machine machine = NewMachine(lab);
        machine.Run("app", () =>
        {
            Handle h = Open();
            OVERLAPPED first = Read(h, LabMode.Queue, NtStatus.STATUS_SUCCESS, 4);
            OVERLAPPED second = Read(h, LabMode.Queue, NtStatus.STATUS_SUCCESS, 4);
            bool result = false;
            uint error = 0;
            Handle worker = StartThread(() =>
            {
                SetLastError(0x1234);
                result = CancelIoEx(h, onlySecond ? second : null);
                error = GetLastError();
            });
            Assert.Equal(WAIT_OBJECT_0, WaitForSingleObject(worker, INFINITE));
            Assert.True(result);
            Assert.Equal(0x1234u, error);
            Assert.Equal(Abort, second.Status);
            Assert.Equal(onlySecond ? NtStatus.STATUS_PENDING : Abort, first.Status);
            Assert.Equal(onlySecond ? 1 : 2, lab.CompleteCanceledCalls);

            // Completing the rest normally still works.
            CompleteQueued(h, NtStatus.STATUS_SUCCESS);
            Assert.Equal(onlySecond ? NtStatus.STATUS_SUCCESS : Abort, first.Status);
            Assert.Equal(onlySecond ? 4u : 0u, (uint)first.InternalHigh);
            CloseHandle(worker);
            CloseHandle(h);
        });
    }

    /// <summary>§7.6: nothing to cancel — false with ERROR_NOT_FOUND (1168), also for a request that already completed.</summary>
    [Fact]
    public void CancelIoEx_NothingToCancel_FalseWithErrorNotFound()
    {
        var lab = new LabDriver();
        using Machine machine = NewMachine(lab);
        machine.Run("app", () =>
        {
            Handle h = Open();
            Handle h2 = Open();
            Assert.False(CancelIoEx(h, null));
            Assert.Equal(ERROR_NOT_FOUND, GetLastError());
            Assert.Equal(1168u, ERROR_NOT_FOUND);

            OVERLAPPED done = Read(h, LabMode.Immediate, NtStatus.STATUS_SUCCESS, 1);
            Assert.Equal(NtStatus.STATUS_SUCCESS, done.Status);
            Assert.False(CancelIoEx(h, done));
            Assert.Equal(ERROR_NOT_FOUND, GetLastError());

            // A request on another handle is not this handle's.
            OVERLAPPED elsewhere = Read(h2, LabMode.Queue, NtStatus.STATUS_SUCCESS);
            Assert.False(CancelIoEx(h, elsewhere));
            Assert.Equal(ERROR_NOT_FOUND, GetLastError());
            Assert.False(CancelIoEx(h, null));
            Assert.Equal(ERROR_NOT_FOUND, GetLastError());
            Assert.True(CancelIoEx(h2, elsewhere));
            Assert.Equal(Abort, elsewhere.Status);
            Assert.False(CancelIoEx(h2, elsewhere));
            Assert.Equal(ERROR_NOT_FOUND, GetLastError());
            CloseHandle(h);
            CloseHandle(h2);
        });
    }

    /// <summary>
    /// §7.6: CancelSynchronousIo from thread B cancels the synchronous read thread A is blocked in: A's ReadFile fails
    /// with ERROR_OPERATION_ABORTED. With nothing to cancel: false, ERROR_NOT_FOUND.
    /// </summary>
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void CancelSynchronousIo_ThreadBlockedInSynchronousRead_ReadFailsWithOperationAborted(bool withOverlapped)
    {
        var lab = new LabDriver { InitialFilePointer = LabDriver.Offset(LabMode.Queue, NtStatus.STATUS_SUCCESS) };
        using Machine machine = NewMachine(lab);
        machine.Run("app", () =>
        {
            Handle h = Open(overlapped: false);
            bool readResult = true;
            uint readError = 0;
            uint readBytes = 0xFFFF;
            Handle a = StartThread(() =>
            {
                var ov = new OVERLAPPED();
                LabDriver.Configure(ov, LabMode.Queue, NtStatus.STATUS_SUCCESS, 3);
                readResult = ReadFile(h, new byte[8], 8, ref readBytes, withOverlapped ? ov : null);
                readError = GetLastError();
            });

            Sleep(10); // A is now blocked inside ReadFile
            Assert.Equal(WAIT_TIMEOUT, WaitForSingleObject(a, 0));
            Assert.True(CancelSynchronousIo(a));
            Assert.Equal(WAIT_OBJECT_0, WaitForSingleObject(a, INFINITE));
            Assert.False(readResult);
            Assert.Equal(ERROR_OPERATION_ABORTED, readError);
            Assert.Equal(withOverlapped ? 0xFFFFu : 0u, readBytes);
            Assert.Equal(1, lab.CompleteCanceledCalls);

            // Nothing left: the thread has exited.
            Assert.False(CancelSynchronousIo(a));
            Assert.Equal(ERROR_NOT_FOUND, GetLastError());
            CloseHandle(a);
            CloseHandle(h);
        });
    }

    /// <summary>§7.6: CancelSynchronousIo does not touch a thread's overlapped requests.</summary>
    [Fact]
    public void CancelSynchronousIo_ThreadWaitingOnOverlappedRead_ErrorNotFound()
    {
        var lab = new LabDriver();
        using Machine machine = NewMachine(lab);
        machine.Run("app", () =>
        {
            Handle h = Open();
            OVERLAPPED? ov = null;
            Handle a = StartThread(() =>
            {
                ov = Read(h, LabMode.Queue, NtStatus.STATUS_SUCCESS);
                Assert.Equal(WAIT_OBJECT_0, WaitForSingleObject(ov.hEvent, INFINITE));
            });
            Sleep(10);
            Assert.False(CancelSynchronousIo(a));
            Assert.Equal(ERROR_NOT_FOUND, GetLastError());
            Assert.False(HasOverlappedIoCompleted(ov!));
            CompleteQueued(h, NtStatus.STATUS_SUCCESS);
            Assert.Equal(WAIT_OBJECT_0, WaitForSingleObject(a, INFINITE));
            CloseHandle(a);
            CloseHandle(h);
        });
    }

    /// <summary>§7.6: a cancelled request completes through the normal path — here a ReadFileEx routine gets 995 and 0 bytes.</summary>
    [Fact]
    public void CancelIo_ReadFileExRequest_RoutineRunsWithOperationAborted()
    {
        var lab = new LabDriver();
        using Machine machine = NewMachine(lab);
        machine.Run("app", () =>
        {
            Handle h = Open();
            var ov = new OVERLAPPED();
            LabDriver.Configure(ov, LabMode.Queue, NtStatus.STATUS_SUCCESS, 5);
            var calls = new List<(uint Error, uint Bytes, OVERLAPPED Ov)>();
            Assert.True(ReadFileEx(h, new byte[8], 8, ov, (e, b, o) => calls.Add((e, b, o))));
            Assert.True(CancelIo(h));
            Assert.Empty(calls);
            Assert.Equal(WAIT_IO_COMPLETION, SleepEx(INFINITE, true));
            (uint error, uint bytes, OVERLAPPED got) = Assert.Single(calls);
            Assert.Equal(ERROR_OPERATION_ABORTED, error);
            Assert.Equal(0u, bytes);
            Assert.Same(ov, got);
            CloseHandle(h);
        });
    }

    /// <summary>§7.6/§11.4: a cancelled request's packet: GetQueuedCompletionStatus false with lpOverlapped set and 995.</summary>
    [Fact]
    public void CancelIoEx_PortAssociatedRequest_PacketDequeuedAsFailureWithOverlappedSet()
    {
        var lab = new LabDriver();
        using Machine machine = NewMachine(lab);
        machine.Run("app", () =>
        {
            Handle h = Open();
            Handle port = CreateIoCompletionPort(h, NULL, 42, 1);
            var ov = new OVERLAPPED();
            LabDriver.Configure(ov, LabMode.Queue, NtStatus.STATUS_SUCCESS, 5);
            Assert.False(ReadFile(h, new byte[8], 8, ov));
            Assert.Equal(ERROR_IO_PENDING, GetLastError());
            Assert.False(GetQueuedCompletionStatus(port, out _, out _, out OVERLAPPED? none, 0));
            Assert.Null(none);

            Assert.True(CancelIoEx(h, ov));
            SetLastError(0);
            Assert.False(GetQueuedCompletionStatus(port, out uint bytes, out nuint key, out OVERLAPPED? got, INFINITE));
            Assert.Equal(ERROR_OPERATION_ABORTED, GetLastError());
            Assert.Same(ov, got);
            Assert.Equal((nuint)42, key);
            Assert.Equal(0u, bytes);
            Assert.Equal(NtStatus.STATUS_CANCELLED, ov.Status);
            CloseHandle(h);
            CloseHandle(port);
        });
    }
}
