using static IrpLab.Kernel32;
using static IrpLab.Tests.Cancel.LabHost;
using static IrpLab.Wdm;

namespace IrpLab.Tests.Cancel;

/// <summary>
/// Cancel-safe queues (nt-io-semantics §7.5): IoCsqInsertIrp(Ex), IoCsqRemoveNextIrp with a PeekContext, IoCsqRemoveIrp
/// with an IO_CSQ_IRP_CONTEXT, and cancellation through the queue's own cancel routine — including an IRP cancelled
/// before it was queued.
/// </summary>
public sealed class CsqTests
{
    private static readonly NtStatus Cancelled = NtStatus.STATUS_CANCELLED;

    [Fact]
    public void IoCsqInsertIrp_Request_QueuedCancelableAndMarkedPending()
    {
        var lab = new LabDriver();
        using Machine machine = NewMachine(lab);
        machine.Run("app", () =>
        {
            Handle h = Open();
            OVERLAPPED ov = Read(h, LabMode.Queue, NtStatus.STATUS_SUCCESS, 2); // the verifier checks the pending mark
            Irp[] queued = [];
            RunInDriver(lab, h, () => queued = lab.Queued());
            Irp irp = Assert.Single(queued);
            Assert.NotNull(irp.CancelRoutine);
            Assert.Same(lab.Csq, irp.Tail.Overlay.DriverContext[3]);
            Assert.Equal((byte)SL_PENDING_RETURNED, (byte)(IoGetCurrentIrpStackLocation(irp).Control & SL_PENDING_RETURNED));
            Assert.Equal(1, lab.InsertCalls);
            Assert.Equal(IO_TYPE_CSQ, lab.Csq.Type);

            CompleteQueued(h, NtStatus.STATUS_SUCCESS);
            Assert.Equal(NtStatus.STATUS_SUCCESS, ov.Status);
            Assert.Equal((nuint)2, ov.InternalHigh);
            Assert.Equal(1, lab.RemoveCalls);
            CloseHandle(h);
        });
    }

    /// <summary>IoCsqRemoveNextIrp: the first queued IRP matching the PeekContext, returned non-cancelable; NULL when none match.</summary>
    [Fact]
    public void IoCsqRemoveNextIrp_PeekContextFileObject_RemovesFirstMatchOnly()
    {
        var lab = new LabDriver();
        using Machine machine = NewMachine(lab);
        machine.Run("app", () =>
        {
            Handle h1 = Open();
            Handle h2 = Open();
            OVERLAPPED a = Read(h1, LabMode.Queue, NtStatus.STATUS_SUCCESS);
            OVERLAPPED b = Read(h2, LabMode.Queue, NtStatus.STATUS_SUCCESS);
            OVERLAPPED c = Read(h1, LabMode.Queue, NtStatus.STATUS_SUCCESS);
            var order = new List<string>();
            RunInDriver(lab, h1, () =>
            {
                Assert.Equal(NtStatus.STATUS_SUCCESS, ObReferenceObjectByHandle(h1, 0, IoFileObjectType, KernelMode, out FileObject f1, null));
                Assert.Equal(NtStatus.STATUS_SUCCESS, ObReferenceObjectByHandle(h2, 0, IoFileObjectType, KernelMode, out FileObject f2, null));
                Irp[] all = lab.Queued();
                Assert.Equal(3, all.Length);

                Irp? fromF2 = IoCsqRemoveNextIrp(lab.Csq, f2);
                Assert.Same(all[1], fromF2);
                Assert.Null(fromF2!.CancelRoutine);
                Assert.Null(fromF2.Tail.Overlay.DriverContext[3]);
                Assert.Null(IoCsqRemoveNextIrp(lab.Csq, f2));

                // An IRP whose cancel routine was already taken (its cancellation is under way) is skipped.
                DriverCancel? csqRoutine = IoSetCancelRoutine(all[0], null);
                Assert.NotNull(csqRoutine);
                Assert.Same(all[2], IoCsqRemoveNextIrp(lab.Csq, f1));
                Assert.Null(IoCsqRemoveNextIrp(lab.Csq, null));
                IoSetCancelRoutine(all[0], csqRoutine);

                Irp? first = IoCsqRemoveNextIrp(lab.Csq, f1);
                Assert.Same(all[0], first);
                Assert.Empty(lab.Queued());
                foreach (Irp irp in new[] { first!, fromF2, all[2] })
                {
                    order.Add(LabDriver.NameOf(irp.Tail.Overlay.OriginalFileObject));
                    irp.IoStatus.Status = NtStatus.STATUS_SUCCESS;
                    IoCompleteRequest(irp, IO_NO_INCREMENT);
                }

                ObDereferenceObject(f1);
                ObDereferenceObject(f2);
            });
            Assert.Equal(["F1", "F2", "F1"], order);
            Assert.All(new[] { a, b, c }, ov => Assert.Equal(NtStatus.STATUS_SUCCESS, ov.Status));
            Assert.Equal(3, lab.RemoveCalls);
            CloseHandle(h1);
            CloseHandle(h2);
        });
    }

    /// <summary>IoCsqRemoveIrp: the IRP tied to the context; the context is unlinked; NULL once the IRP was cancelled.</summary>
    [Fact]
    public void IoCsqRemoveIrp_Context_RemovesThatIrpOrNullAfterCancel()
    {
        var lab = new LabDriver();
        using Machine machine = NewMachine(lab);
        machine.Run("app", () =>
        {
            Handle h = Open();
            OVERLAPPED x = Read(h, LabMode.QueueWithContext, NtStatus.STATUS_SUCCESS, 1);
            OVERLAPPED y = Read(h, LabMode.QueueWithContext, NtStatus.STATUS_SUCCESS, 1);
            IoCsqIrpContext cx = lab.Contexts[0];
            IoCsqIrpContext cy = lab.Contexts[1];
            Assert.Equal(IO_TYPE_CSQ_IRP_CONTEXT, cx.Type);
            Assert.Same(lab.Csq, cy.Csq);
            Irp? irpY = cy.Irp;
            Assert.NotNull(irpY);
            Assert.Same(cy, irpY!.Tail.Overlay.DriverContext[3]);

            RunInDriver(lab, h, () =>
            {
                Irp? removed = IoCsqRemoveIrp(lab.Csq, cy);
                Assert.Same(irpY, removed);
                Assert.Null(cy.Irp);
                Assert.Null(removed!.CancelRoutine);
                Assert.Null(IoCsqRemoveIrp(lab.Csq, cy));
                removed.IoStatus.Status = NtStatus.STATUS_SUCCESS;
                IoCompleteRequest(removed, IO_NO_INCREMENT);
            });
            Assert.Equal(NtStatus.STATUS_SUCCESS, y.Status);

            Assert.True(CancelIoEx(h, x));
            Assert.Equal(Cancelled, x.Status);
            Assert.Null(cx.Irp);
            RunInDriver(lab, h, () => Assert.Null(IoCsqRemoveIrp(lab.Csq, cx)));
            CloseHandle(h);
        });
    }

    /// <summary>Cancelling a queued IRP: the queue's cancel routine removes it (CsqRemoveIrp) and calls CsqCompleteCanceledIrp.</summary>
    [Fact]
    public void CancelIo_QueuedIrp_QueueRemovesItAndCallsCompleteCanceled()
    {
        var lab = new LabDriver();
        using Machine machine = NewMachine(lab);
        machine.Run("app", () =>
        {
            Handle h = Open();
            OVERLAPPED ov = Read(h, LabMode.Queue, NtStatus.STATUS_SUCCESS, 3);
            Assert.True(CancelIo(h));
            Assert.Equal(1, lab.CompleteCanceledCalls);
            Assert.Equal(1, lab.RemoveCalls);
            Assert.Equal(Cancelled, ov.Status);
            Assert.Equal((nuint)0, ov.InternalHigh);
            RunInDriver(lab, h, () => Assert.Empty(lab.Queued()));
            CloseHandle(h);
        });
    }

    /// <summary>
    /// An IRP cancelled before it was queued (no cancel routine yet, so IoCancelIrp only set Cancel): IoCsqInsertIrp
    /// notices and completes it at once through CsqCompleteCanceledIrp; the dispatch routine still returns STATUS_PENDING.
    /// </summary>
    [Fact]
    public void IoCsqInsertIrp_CancelledBeforeInsert_CompletedAtOnceThroughCompleteCanceled()
    {
        var lab = new LabDriver();
        using Machine machine = NewMachine(lab);
        machine.Run("app", () =>
        {
            Handle h = Open();
            OVERLAPPED? ov = null;
            bool issued = true;
            uint issueError = 0;
            Handle worker = StartThread(() =>
            {
                ov = new OVERLAPPED { hEvent = CreateEvent(null, true, false, null) };
                LabDriver.Configure(ov, LabMode.QueueAfterDelay, NtStatus.STATUS_SUCCESS);
                issued = ReadFile(h, new byte[8], 8, ov);
                issueError = GetLastError();
                Assert.Equal(WAIT_OBJECT_0, WaitForSingleObject(ov.hEvent, INFINITE));
            });
            Sleep(10); // the worker's dispatch routine is waiting before IoCsqInsertIrp
            Assert.Equal(0, lab.InsertCalls);
            Assert.True(CancelIoEx(h, null)); // found it on the worker's list; no cancel routine yet
            Assert.Equal(0, lab.CompleteCanceledCalls);
            Assert.Equal(WAIT_OBJECT_0, WaitForSingleObject(worker, INFINITE));
            Assert.False(issued);
            Assert.Equal(ERROR_IO_PENDING, issueError);
            Assert.Equal(Cancelled, ov!.Status);
            Assert.Equal(1, lab.CompleteCanceledCalls);
            RunInDriver(lab, h, () => Assert.Empty(lab.Queued()));
            CloseHandle(worker);
            CloseHandle(h);
        });
    }

    /// <summary>IoCsqInsertIrpEx with a refusing CsqInsertIrpEx: its status is returned, the IRP is neither queued nor marked pending.</summary>
    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void IoCsqInsertIrpEx_InsertExRefusesOrAccepts_StatusReturnedAndRefusedIrpNotQueuedNorMarked(bool refuse)
    {
        var driver = new CsqExDriver { Refuse = refuse };
        using var machine = new Machine(new MachineOptions { Deterministic = true, Seed = 1 });
        Assert.Equal(NtStatus.STATUS_SUCCESS, machine.LoadDriver("CsqEx", driver.DriverEntry));
        machine.Run("app", () =>
        {
            Handle h = CreateFile(@"\\.\CsqEx", GENERIC_READ, 0, null, OPEN_EXISTING, FILE_FLAG_OVERLAPPED, NULL);
            var ov = new OVERLAPPED { hEvent = CreateEvent(null, true, false, null) };
            bool ok = ReadFile(h, new byte[4], 4, ov);
            Assert.False(ok);
            if (refuse)
            {
                // The driver completed the refused IRP with the InsertEx status and returned it: an immediate error.
                Assert.Equal(ERROR_NO_SYSTEM_RESOURCES, GetLastError());
                Assert.Equal(NtStatus.STATUS_INSUFFICIENT_RESOURCES, driver.InsertResult);
                Assert.False(driver.WasMarked);
                Assert.Null(driver.RoutineAfterInsert);
                Assert.Null(driver.ContextSlotAfterInsert);
                Assert.Null(driver.Context.Irp);
                Assert.Equal(0, driver.QueueLength);
            }
            else
            {
                Assert.Equal(ERROR_IO_PENDING, GetLastError());
                Assert.Equal(NtStatus.STATUS_PENDING, driver.InsertResult); // what InsertEx returned
                Assert.True(driver.WasMarked);
                Assert.NotNull(driver.RoutineAfterInsert);
                Assert.Same(driver.Context, driver.ContextSlotAfterInsert);
                Assert.Equal(1, driver.QueueLength);
                Assert.Same("insert-context", driver.SeenInsertContext);
                Assert.True(CancelIo(h));
                Assert.Equal(NtStatus.STATUS_CANCELLED, ov.Status);
                Assert.Equal(0, driver.QueueLength);
            }

            Assert.Equal(IO_TYPE_CSQ_EX, driver.Csq.Type);
            CloseHandle(ov.hEvent);
            CloseHandle(h);
        });
    }

    /// <summary>A device whose reads go through IoCsqInsertIrpEx; its CsqInsertIrpEx can refuse them.</summary>
    private sealed class CsqExDriver
    {
        private readonly KSpinLock _lock = new();
        private readonly Queue<Irp> _queue = new();

        public CsqExDriver()
        {
            IoCsqInitializeEx(Csq, InsertEx, (c, irp) => Dequeue(irp), Peek, (IoCsq c, out byte irql) => KeAcquireSpinLock(_lock, out irql), (c, irql) => KeReleaseSpinLock(_lock, irql), (c, irp) =>
            {
                irp.IoStatus.Status = NtStatus.STATUS_CANCELLED;
                irp.IoStatus.Information = 0;
                IoCompleteRequest(irp, IO_NO_INCREMENT);
            });
        }

        public IoCsq Csq { get; } = new();

        public IoCsqIrpContext Context { get; } = new();

        public bool Refuse { get; init; }

        public NtStatus InsertResult { get; private set; }

        public bool WasMarked { get; private set; }

        public DriverCancel? RoutineAfterInsert { get; private set; }

        public object? ContextSlotAfterInsert { get; private set; }

        public object? SeenInsertContext { get; private set; }

        public int QueueLength => _queue.Count;

        public NtStatus DriverEntry(DriverObject driver, UnicodeString registryPath)
        {
            IoCreateDevice(driver, null, @"\Device\CsqEx", WinNt.FILE_DEVICE_UNKNOWN, 0, false, out DeviceObject device);
            device.Flags |= DO_BUFFERED_IO;
            driver.MajorFunction[IRP_MJ_CREATE] = Succeed;
            driver.MajorFunction[IRP_MJ_CLOSE] = Succeed;
            driver.MajorFunction[IRP_MJ_CLEANUP] = Succeed;
            driver.MajorFunction[IRP_MJ_READ] = Read;
            return IoCreateSymbolicLink(@"\DosDevices\CsqEx", @"\Device\CsqEx");
        }

        private static NtStatus Succeed(DeviceObject device, Irp irp)
        {
            irp.IoStatus.Status = NtStatus.STATUS_SUCCESS;
            IoCompleteRequest(irp, IO_NO_INCREMENT);
            return NtStatus.STATUS_SUCCESS;
        }

        private NtStatus Read(DeviceObject device, Irp irp)
        {
            NtStatus status = IoCsqInsertIrpEx(Csq, irp, Context, "insert-context");
            InsertResult = status;
            WasMarked = (IoGetCurrentIrpStackLocation(irp).Control & SL_PENDING_RETURNED) != 0;
            RoutineAfterInsert = irp.CancelRoutine;
            ContextSlotAfterInsert = irp.Tail.Overlay.DriverContext[3];
            if (!NT_SUCCESS(status))
            {
                irp.IoStatus.Status = status;
                irp.IoStatus.Information = 0;
                IoCompleteRequest(irp, IO_NO_INCREMENT);
                return status;
            }

            return NtStatus.STATUS_PENDING;
        }

        private NtStatus InsertEx(IoCsq csq, Irp irp, object? insertContext)
        {
            SeenInsertContext = insertContext;
            if (Refuse)
            {
                return NtStatus.STATUS_INSUFFICIENT_RESOURCES;
            }

            _queue.Enqueue(irp);
            return NtStatus.STATUS_PENDING;
        }

        private void Dequeue(Irp irp)
        {
            Irp[] rest = [.. _queue.Where(i => i != irp)];
            _queue.Clear();
            foreach (Irp i in rest)
            {
                _queue.Enqueue(i);
            }
        }

        private Irp? Peek(IoCsq csq, Irp? irp, object? peekContext)
        {
            bool after = irp is null;
            foreach (Irp i in _queue)
            {
                if (after && (peekContext is null || IoGetCurrentIrpStackLocation(i).FileObject == peekContext))
                {
                    return i;
                }

                after |= i == irp;
            }

            return null;
        }
    }
}
