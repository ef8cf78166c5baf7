using static IrpLab.NtStatus;
using static IrpLab.Wdm;

namespace IrpLab.Tests.Cancel;

/// <summary>The mistakes a <see cref="RaceDriver"/> can be told to make.</summary>
public enum RaceBug
{
    /// <summary>The textbook driver.</summary>
    None = 0,

    /// <summary>The worker completes what it dequeues without checking IoSetCancelRoutine's return: cancel and completion can both complete it (0x44).</summary>
    IgnoreCancelRoutineReturn = 1,

    /// <summary>The dispatch routine sets the cancel routine without then looking at Irp.Cancel: a cancel that came first is lost.</summary>
    NoCancelCheckAfterSet = 2,
}

/// <summary>
/// A driver that queues every read in its own LIST_ENTRY list under its own spin lock, cancelable through its own cancel
/// routine (not a cancel-safe queue), and a system thread that dequeues and completes them — the classic setting of
/// the cancel-versus-completion race (verifier-and-exploration.md B.4, items 1 and 2). The worker takes an IRP only if
/// IoSetCancelRoutine(Irp, NULL) gives the routine back; otherwise the cancel routine owns it and will complete it.
/// IRP_MJ_CLEANUP completes the file object's queued requests. Counts every completion.
/// </summary>
public sealed class RaceDriver
{
    public const string Win32Name = @"\\.\Race";

    private readonly KSpinLock _lock = new();
    private readonly ListEntry _queue = new();
    private readonly KEvent _work = new();
    private readonly KEvent _stop = new();
    private KThread? _worker;
    private int _completedByWorker;
    private int _completedByCancel;
    private int _completedByCleanup;

    public RaceBug Bug { get; init; }

    /// <summary>False: the worker never completes anything, so only cancellation ends a request.</summary>
    public bool WorkerCompletes { get; init; } = true;

    public int CompletedByWorker => Volatile.Read(ref _completedByWorker);

    public int CompletedByCancel => Volatile.Read(ref _completedByCancel);

    public int CompletedByCleanup => Volatile.Read(ref _completedByCleanup);

    public int Completed => CompletedByWorker + CompletedByCancel + CompletedByCleanup;

    public NtStatus DriverEntry(DriverObject driver, UnicodeString registryPath)
    {
        NtStatus status = IoCreateDevice(driver, this, @"\Device\Race", FILE_DEVICE_UNKNOWN, 0, FALSE, out DeviceObject device);
        if (!NT_SUCCESS(status))
        {
            return status;
        }

        device.Flags |= DO_BUFFERED_IO;
        KeInitializeSpinLock(_lock);
        InitializeListHead(_queue);
        KeInitializeEvent(_work, SynchronizationEvent, FALSE);
        KeInitializeEvent(_stop, NotificationEvent, FALSE);
        driver.MajorFunction[IRP_MJ_CREATE] = Succeed;
        driver.MajorFunction[IRP_MJ_CLOSE] = Succeed;
        driver.MajorFunction[IRP_MJ_CLEANUP] = Cleanup;
        driver.MajorFunction[IRP_MJ_READ] = Read;
        driver.DriverUnload = Unload;
        PsCreateSystemThread(out Handle thread, THREAD_ALL_ACCESS, null, null, null, Worker, this);
        ObReferenceObjectByHandle(thread, THREAD_ALL_ACCESS, PsThreadType, KernelMode, out _worker, null);
        ZwClose(thread);
        return IoCreateSymbolicLink(@"\DosDevices\Race", @"\Device\Race");
    }

    private void Unload(DriverObject driver)
    {
        KeSetEvent(_stop, 0, FALSE);
        KeWaitForSingleObject(_worker!, Executive, KernelMode, FALSE, null);
        ObDereferenceObject(_worker!);
        IoDeleteSymbolicLink(@"\DosDevices\Race");
        IoDeleteDevice(driver.DeviceObject!);
    }

    private static NtStatus Succeed(DeviceObject device, Irp irp)
    {
        irp.IoStatus.Status = STATUS_SUCCESS;
        irp.IoStatus.Information = 0;
        IoCompleteRequest(irp, IO_NO_INCREMENT);
        return STATUS_SUCCESS;
    }

    private NtStatus Read(DeviceObject device, Irp irp)
    {
        // Marked before it becomes visible to the worker or the cancel routine.
        IoMarkIrpPending(irp);
        KeAcquireSpinLock(_lock, out byte irql);
        IoSetCancelRoutine(irp, OnCancel);
        if (Bug != RaceBug.NoCancelCheckAfterSet && irp.Cancel && IoSetCancelRoutine(irp, null) is not null)
        {
            // Cancelled before the routine was in place: IoCancelIrp found nothing to call, so it is still ours.
            KeReleaseSpinLock(_lock, irql);
            Complete(irp, STATUS_CANCELLED, ref _completedByCancel);
            return STATUS_PENDING;
        }

        InsertTailList(_queue, irp.Tail.Overlay.ListEntry);
        KeReleaseSpinLock(_lock, irql);
        KeSetEvent(_work, 0, FALSE);
        return STATUS_PENDING;
    }

    /// <summary>The cancel routine: drop the cancel lock, unlink under the driver's lock, complete after releasing it.</summary>
    private void OnCancel(DeviceObject device, Irp irp)
    {
        IoReleaseCancelSpinLock(irp.CancelIrql);
        KeAcquireSpinLock(_lock, out byte irql);

        // If the worker already unlinked it, RemoveHeadList left the entry pointing at itself: this is harmless.
        RemoveEntryList(irp.Tail.Overlay.ListEntry);
        KeReleaseSpinLock(_lock, irql);
        Complete(irp, STATUS_CANCELLED, ref _completedByCancel);
    }

    /// <summary>IRP_MJ_CLEANUP: complete the queued requests of this file object whose cancel routine can still be taken back.</summary>
    private NtStatus Cleanup(DeviceObject device, Irp irp)
    {
        FileObject fo = IoGetCurrentIrpStackLocation(irp).FileObject!;
        var mine = new List<Irp>();
        KeAcquireSpinLock(_lock, out byte irql);
        ListEntry e = _queue.Flink;
        while (e != _queue)
        {
            ListEntry next = e.Flink;
            Irp queued = CONTAINING_RECORD<Irp>(e);
            if (IoGetCurrentIrpStackLocation(queued).FileObject == fo && IoSetCancelRoutine(queued, null) is not null)
            {
                RemoveEntryList(e);
                mine.Add(queued);
            }

            e = next;
        }

        KeReleaseSpinLock(_lock, irql);
        foreach (Irp queued in mine)
        {
            Complete(queued, STATUS_CANCELLED, ref _completedByCleanup);
        }

        return Succeed(device, irp);
    }

    private static void Worker(RaceDriver self)
    {
        DispatcherObject[] objects = [self._stop, self._work];
        while (KeWaitForMultipleObjects(2, objects, WaitAny, Executive, KernelMode, FALSE, null, null) != STATUS_WAIT_0)
        {
            while (self.WorkerCompletes && self.TakeNext() is Irp irp)
            {
                irp.IoStatus.Information = IoGetCurrentIrpStackLocation(irp).Parameters.Read.Length;
                Complete(irp, STATUS_SUCCESS, ref self._completedByWorker);
            }
        }
    }

    private Irp? TakeNext()
    {
        KeAcquireSpinLock(_lock, out byte irql);
        try
        {
            while (!IsListEmpty(_queue))
            {
                Irp irp = CONTAINING_RECORD<Irp>(RemoveHeadList(_queue));
                if (Bug == RaceBug.IgnoreCancelRoutineReturn)
                {
                    // The bug: the routine is cleared, but whether the cancel path already took it is not looked at.
                    IoSetCancelRoutine(irp, null);
                    return irp;
                }

                if (IoSetCancelRoutine(irp, null) is not null)
                {
                    return irp;
                }

                // NULL: IoCancelIrp took the routine; the cancel routine owns the IRP now (and finds it unlinked).
            }

            return null;
        }
        finally
        {
            KeReleaseSpinLock(_lock, irql);
        }
    }

    private static void Complete(Irp irp, NtStatus status, ref int counter)
    {
        irp.IoStatus.Status = status;
        if (status != STATUS_SUCCESS)
        {
            irp.IoStatus.Information = 0;
        }

        Interlocked.Increment(ref counter);
        IoCompleteRequest(irp, IO_NO_INCREMENT);
    }
}
