using static IrpLab.Kernel32;

namespace IrpLab.Tests.Io;

/// <summary>Completion routines, PendingReturned and STATUS_MORE_PROCESSING_REQUIRED (nt-io-semantics §3.3, §3.4, §6).</summary>
public sealed class CompletionRoutineTests
{
    /// <summary>A lower driver whose IOCTL is completed by <paramref name="dispatch"/>.</summary>
    private static TestDriver LoadLower(Machine m, DriverDispatch dispatch)
    {
        var lower = new TestDriver("Lower").On(Wdm.IRP_MJ_DEVICE_CONTROL, dispatch);
        lower.Load(m);
        return lower;
    }

    /// <summary>
    /// A filter that forwards IOCTLs with IoCopyCurrentIrpStackLocationToNext + IoSetCompletionRoutine (the flags
    /// given), the routine recording each call and propagating the pending bit as MS Learn's pattern does.
    /// </summary>
    private static FilterDriver LoadRoutineFilter(Machine m, DeviceObject target, bool onSuccess, bool onError, bool onCancel, List<(NtStatus Status, bool PendingReturned, bool Cancel)> calls)
    {
        var filter = new FilterDriver("Filter", target);
        filter.Dispatch = (d, irp) =>
        {
            if (Wdm.IoGetCurrentIrpStackLocation(irp).MajorFunction != Wdm.IRP_MJ_DEVICE_CONTROL)
            {
                return filter.PassThrough(d, irp);
            }

            Wdm.IoCopyCurrentIrpStackLocationToNext(irp);
            Wdm.IoSetCompletionRoutine(irp, (device, completed, context) =>
            {
                calls.Add((completed.IoStatus.Status, completed.PendingReturned, completed.Cancel));
                if (completed.PendingReturned)
                {
                    Wdm.IoMarkIrpPending(completed);
                }

                return NtStatus.STATUS_CONTINUE_COMPLETION;
            }, null, onSuccess, onError, onCancel);
            return Wdm.IoCallDriver(filter.Lower, irp);
        };
        filter.Load(m);
        return filter;
    }

    private static (bool Ok, uint Error) Ioctl(TestDriver lower, uint flags = 0)
    {
        Handle h = OpenTests.Open(lower.Win32Name, flags: flags);
        bool ok;
        if (flags == 0)
        {
            ok = DeviceIoControl(h, TestIoctls.Buffered, null, 0, null, 0, null);
        }
        else
        {
            Handle ev = CreateEvent(null, true, false, null);
            var ov = new OVERLAPPED { hEvent = ev };
            uint n = 0;
            ok = DeviceIoControl(h, TestIoctls.Buffered, null, 0, null, 0, ov) || (GetLastError() == ERROR_IO_PENDING && GetOverlappedResult(h, ov, ref n, true));
            CloseHandle(ev);
        }

        uint error = GetLastError();
        CloseHandle(h);
        return (ok, error);
    }

    [Theory]
    [InlineData(0x00000000u, true, false, true)] // success, InvokeOnSuccess
    [InlineData(0x00000000u, false, true, false)] // success, InvokeOnError only
    [InlineData(0x40000000u, true, false, true)] // informational is NT_SUCCESS
    [InlineData(0x80000005u, true, false, false)] // a warning is not a success...
    [InlineData(0x80000005u, false, true, true)] // ...it counts as an error
    [InlineData(0xC0000001u, true, false, false)] // error, InvokeOnSuccess only
    [InlineData(0xC0000001u, false, true, true)] // error, InvokeOnError
    public void CompletionRoutine_InvokeRule_CalledAsTheFlagsSay(uint status, bool onSuccess, bool onError, bool expectCalled)
    {
        using Machine m = TestMachines.Deterministic();
        TestDriver lower = LoadLower(m, (d, irp) => TestDriver.Complete(irp, (NtStatus)status));
        var calls = new List<(NtStatus, bool, bool)>();
        LoadRoutineFilter(m, lower.Device, onSuccess, onError, onCancel: false, calls);
        (bool ok, _) = m.RunAndReturn(() => Ioctl(lower));

        // §3.3: call if NT_SUCCESS && OnSuccess, or !NT_SUCCESS && OnError, or Cancel && OnCancel.
        Assert.Equal(expectCalled ? 1 : 0, calls.Count);
        Assert.Equal(NtStatusClass.IsSuccess((NtStatus)status), ok);
    }

    [Theory]
    [InlineData(true, true)]
    [InlineData(false, false)]
    public void CompletionRoutine_CancelledIrp_InvokeOnCancelDecides(bool onCancel, bool expectCalled)
    {
        using Machine m = TestMachines.Deterministic();

        // The lower driver queues the IOCTL with a cancel routine; a system thread cancels it 5 ms later.
        TestDriver lower = LoadLower(m, (d, irp) =>
        {
            Wdm.IoMarkIrpPending(irp);
            Wdm.IoSetCancelRoutine(irp, (device, cancelled) =>
            {
                Wdm.IoReleaseCancelSpinLock(cancelled.CancelIrql);
                TestDriver.Complete(cancelled, NtStatus.STATUS_CANCELLED);
            });
            Wdm.PsCreateSystemThread(out Handle thread, Wdm.THREAD_ALL_ACCESS, null, null, null, (Irp pending) =>
            {
                Wdm.KeDelayExecutionThread(Wdm.KernelMode, false, Wdm.RELATIVE(Wdm.MILLISECONDS(5)));
                Wdm.IoCancelIrp(pending);
            }, irp);
            Wdm.ZwClose(thread);
            return NtStatus.STATUS_PENDING;
        });
        var calls = new List<(NtStatus Status, bool PendingReturned, bool Cancel)>();
        LoadRoutineFilter(m, lower.Device, onSuccess: true, onError: false, onCancel, calls);
        (bool ok, uint error) = m.RunAndReturn(() => Ioctl(lower, FILE_FLAG_OVERLAPPED));

        // §3.3 (Windows-validated): (Success, no Error, Cancel) is called for a cancelled IRP although
        // STATUS_CANCELLED is an error; (Success, no Error, no Cancel) is not.
        Assert.False(ok);
        Assert.Equal(ERROR_OPERATION_ABORTED, error);
        Assert.Equal(expectCalled ? 1 : 0, calls.Count);
        if (expectCalled)
        {
            Assert.Equal((NtStatus.STATUS_CANCELLED, true, true), calls[0]);
        }
    }

    [Theory]
    [InlineData(false, 0u)]
    [InlineData(true, 0u)]
    [InlineData(true, FILE_FLAG_OVERLAPPED)]
    public void CompletionRoutine_PendingReturned_IsTheLowerDriversMark(bool lowerPends, uint flags)
    {
        using Machine m = TestMachines.Deterministic();
        TestDriver lower = LoadLower(m, (d, irp) => lowerPends
            ? TestDriver.PendAndComplete(irp, 10, p => p.IoStatus.Status = NtStatus.STATUS_SUCCESS)
            : TestDriver.Complete(irp, NtStatus.STATUS_SUCCESS));
        var calls = new List<(NtStatus Status, bool PendingReturned, bool Cancel)>();
        LoadRoutineFilter(m, lower.Device, true, true, true, calls);
        (bool ok, _) = m.RunAndReturn(() => Ioctl(lower, flags));

        // §3.3: the routine sees PendingReturned = the pending bit of the location below it.
        Assert.True(ok);
        Assert.Equal(lowerPends, Assert.Single(calls).PendingReturned);
    }

    [Fact]
    public void CompletionWalk_MiddleDriverWithoutRoutine_PendingBitPropagatesAutomatically()
    {
        using Machine m = TestMachines.Deterministic();
        TestDriver bottom = LoadLower(m, (d, irp) => TestDriver.PendAndComplete(irp, 10, p => p.IoStatus.Status = NtStatus.STATUS_SUCCESS));

        // The middle driver copies its location down without a routine and returns what IoCallDriver returned.
        var middle = new FilterDriver("Middle", bottom.Device);
        middle.Dispatch = (d, irp) =>
        {
            Wdm.IoCopyCurrentIrpStackLocationToNext(irp);
            return Wdm.IoCallDriver(middle.Lower, irp);
        };
        middle.Load(m);
        var calls = new List<(NtStatus Status, bool PendingReturned, bool Cancel)>();
        FilterDriver top = LoadRoutineFilter(m, middle.Device, true, true, true, calls);
        (bool ok, _) = m.RunAndReturn(() => Ioctl(bottom, FILE_FLAG_OVERLAPPED));

        // §3.4: where no routine runs, the I/O manager marks the location above pending itself, so the top's routine
        // sees PendingReturned although the middle driver never called IoMarkIrpPending.
        Assert.True(ok);
        Assert.Equal(3, top.Device.StackSize);
        Assert.True(Assert.Single(calls).PendingReturned);
    }

    [Theory]
    [InlineData(0u)]
    [InlineData(FILE_FLAG_OVERLAPPED)]
    public void MoreProcessingRequired_StopsCompletion_LaterIoCompleteRequestResumesAbove(uint flags)
    {
        using Machine m = TestMachines.Deterministic();
        long lowerCompletedAt = 0;
        TestDriver lower = LoadLower(m, (d, irp) =>
        {
            lowerCompletedAt = TestDriver.NowMs();
            return TestDriver.Complete(irp, NtStatus.STATUS_SUCCESS, 0);
        });
        var filter = new FilterDriver("Owner", lower.Device);
        bool resumedPastFilter = false;
        filter.Dispatch = (d, irp) =>
        {
            if (Wdm.IoGetCurrentIrpStackLocation(irp).MajorFunction != Wdm.IRP_MJ_DEVICE_CONTROL)
            {
                return filter.PassThrough(d, irp);
            }

            // The filter takes the IRP back, keeps it for 30 ms, then finishes it with its own status.
            Wdm.IoMarkIrpPending(irp);
            Wdm.IoCopyCurrentIrpStackLocationToNext(irp);
            Wdm.IoSetCompletionRoutine(irp, (device, completed, context) =>
            {
                Wdm.PsCreateSystemThread(out Handle thread, Wdm.THREAD_ALL_ACCESS, null, null, null, (Irp owned) =>
                {
                    Wdm.KeDelayExecutionThread(Wdm.KernelMode, false, Wdm.RELATIVE(Wdm.MILLISECONDS(30)));
                    resumedPastFilter = owned.CurrentLocation == 2;
                    owned.IoStatus.Status = NtStatus.STATUS_SUCCESS;
                    owned.IoStatus.Information = 0;
                    Wdm.IoCompleteRequest(owned, Wdm.IO_NO_INCREMENT);
                }, completed);
                Wdm.ZwClose(thread);
                return NtStatus.STATUS_MORE_PROCESSING_REQUIRED;
            }, null, true, true, true);
            Wdm.IoCallDriver(filter.Lower, irp);
            return NtStatus.STATUS_PENDING;
        };
        filter.Load(m);
        (bool ok, uint doneAt) = m.RunAndReturn(() =>
        {
            (bool r, _) = Ioctl(lower, flags);
            return (r, GetTickCount());
        });

        // §3.3: STATUS_MORE_PROCESSING_REQUIRED stops the walk at the registrant's location; nothing reaches the
        // caller until the owner completes the IRP again, and then the walk goes on above it.
        Assert.True(ok);
        Assert.True(resumedPastFilter);
        Assert.True(doneAt >= lowerCompletedAt + 30, $"the caller saw the completion at {doneAt} ms, lower completed at {lowerCompletedAt} ms");
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void ForwardAndWait_RoutineSignalsEvent_FilterPostProcessesAndCompletesAgain(bool lowerPends)
    {
        using Machine m = TestMachines.Deterministic();
        var lower = new TestDriver("WaitLower").On(Wdm.IRP_MJ_READ, (d, irp) =>
        {
            static void Fill(Irp p)
            {
                p.AssociatedIrp.SystemBuffer![0] = (byte)'x';
                p.IoStatus.Status = NtStatus.STATUS_SUCCESS;
                p.IoStatus.Information = 1;
            }

            if (lowerPends)
            {
                return TestDriver.PendAndComplete(irp, 10, Fill);
            }

            Fill(irp);
            Wdm.IoCompleteRequest(irp, Wdm.IO_NO_INCREMENT);
            return NtStatus.STATUS_SUCCESS;
        });
        lower.Load(m);
        var filter = new FilterDriver("Waiter", lower.Device);
        NtStatus? forwarded = null;
        filter.Dispatch = (d, irp) =>
        {
            if (Wdm.IoGetCurrentIrpStackLocation(irp).MajorFunction != Wdm.IRP_MJ_READ)
            {
                return filter.PassThrough(d, irp);
            }

            // §6.1 rule 6: the synchronous forward-and-wait pattern (what IoForwardIrpSynchronously packages).
            var ev = new KEvent();
            Wdm.KeInitializeEvent(ev, Wdm.NotificationEvent, false);
            Wdm.IoCopyCurrentIrpStackLocationToNext(irp);
            Wdm.IoSetCompletionRoutine(irp, (device, completed, context) =>
            {
                Wdm.KeSetEvent((KEvent)context!, Wdm.IO_NO_INCREMENT, false);
                return NtStatus.STATUS_MORE_PROCESSING_REQUIRED;
            }, ev, true, true, true);
            NtStatus status = Wdm.IoCallDriver(filter.Lower, irp);
            forwarded = status;
            if (status == NtStatus.STATUS_PENDING)
            {
                Wdm.KeWaitForSingleObject(ev, Wdm.Executive, Wdm.KernelMode, false, null);
                status = irp.IoStatus.Status;
            }

            // Post-processing while the filter owns the IRP again: append one byte.
            irp.AssociatedIrp.SystemBuffer![1] = (byte)'y';
            irp.IoStatus.Information = 2;
            Wdm.IoCompleteRequest(irp, Wdm.IO_NO_INCREMENT);
            return status;
        };
        filter.Load(m);
        string text = m.RunAndReturn(() =>
        {
            Handle h = OpenTests.Open(lower.Win32Name);
            string s = DeviceStackTests.ReadText(h, 4);
            CloseHandle(h);
            return s;
        });

        Assert.Equal(lowerPends ? NtStatus.STATUS_PENDING : NtStatus.STATUS_SUCCESS, forwarded);
        Assert.Equal("xy", text);
    }
    [Fact]
    public void Verifier_DispatchKeepsIrpAndReturnsPendingUnmarked_0xC9_23D()
    {
        using Machine m = TestMachines.Deterministic();
        TestDriver lower = LoadLower(m, (d, irp) =>
        {
            // The bug: STATUS_PENDING without IoMarkIrpPending (§6.1 rule 1).
            Wdm.PsCreateSystemThread(out Handle thread, Wdm.THREAD_ALL_ACCESS, null, null, null, (Irp pending) =>
            {
                Wdm.KeDelayExecutionThread(Wdm.KernelMode, false, Wdm.RELATIVE(Wdm.MILLISECONDS(5)));
                TestDriver.Complete(pending, NtStatus.STATUS_SUCCESS);
            }, irp);
            Wdm.ZwClose(thread);
            return NtStatus.STATUS_PENDING;
        });
        BugCheckException e = Assert.Throws<BugCheckException>(() => m.Run("app", () => Ioctl(lower, FILE_FLAG_OVERLAPPED)));

        Assert.Equal(BugCheckCatalogue.DRIVER_VERIFIER_IOMANAGER_VIOLATION, e.BugCheck.Code);
        Assert.Equal(0x23DUL, e.BugCheck.Parameter1);
        Assert.Equal("Lower", e.BugCheck.FaultingDriver);
    }

    [Fact]
    public void Verifier_CompletionRoutineDoesNotPropagatePending_0xC9_23DWhenTheWalkReachesTheFilter()
    {
        using Machine m = TestMachines.Deterministic();
        TestDriver lower = LoadLower(m, (d, irp) => TestDriver.PendAndComplete(irp, 5, p => p.IoStatus.Status = NtStatus.STATUS_SUCCESS));
        var filter = new FilterDriver("Forgetful", lower.Device);
        filter.Dispatch = (d, irp) =>
        {
            if (Wdm.IoGetCurrentIrpStackLocation(irp).MajorFunction != Wdm.IRP_MJ_DEVICE_CONTROL)
            {
                return filter.PassThrough(d, irp);
            }

            // The bug: the routine forgets "if (Irp->PendingReturned) IoMarkIrpPending(Irp)" (§6.1 rule 4), yet the
            // dispatch routine returns the lower driver's STATUS_PENDING.
            Wdm.IoCopyCurrentIrpStackLocationToNext(irp);
            Wdm.IoSetCompletionRoutine(irp, (device, completed, context) => NtStatus.STATUS_CONTINUE_COMPLETION, null, true, true, true);
            return Wdm.IoCallDriver(filter.Lower, irp);
        };
        filter.Load(m);
        BugCheckException e = Assert.Throws<BugCheckException>(() => m.Run("app", () => Ioctl(lower, FILE_FLAG_OVERLAPPED)));

        Assert.Equal(BugCheckCatalogue.DRIVER_VERIFIER_IOMANAGER_VIOLATION, e.BugCheck.Code);
        Assert.Equal(0x23DUL, e.BugCheck.Parameter1);
        Assert.Equal("Forgetful", e.BugCheck.FaultingDriver);
    }
}
