namespace IrpLab;

public static partial class Wdm
{
    public const uint IO_TYPE_CSQ_IRP_CONTEXT = 1;
    public const uint IO_TYPE_CSQ = 2;
    public const uint IO_TYPE_CSQ_EX = 3;

    private const int CsqContextSlot = 3;

    /// <summary>IoCsqInitialize.</summary>
    public static NtStatus IoCsqInitialize(IoCsq Csq, CsqInsertIrp CsqInsertIrp, CsqRemoveIrp CsqRemoveIrp, CsqPeekNextIrp CsqPeekNextIrp, CsqAcquireLock CsqAcquireLock, CsqReleaseLock CsqReleaseLock, CsqCompleteCanceledIrp CsqCompleteCanceledIrp)
    {
        ArgumentNullException.ThrowIfNull(Csq);
        Csq.Type = IO_TYPE_CSQ;
        Csq.Insert = CsqInsertIrp;
        Csq.InsertEx = null;
        SetCommonCallbacks(Csq, CsqRemoveIrp, CsqPeekNextIrp, CsqAcquireLock, CsqReleaseLock, CsqCompleteCanceledIrp);
        return NtStatus.STATUS_SUCCESS;
    }

    /// <summary>IoCsqInitializeEx: with an InsertEx callback that may refuse an IRP.</summary>
    public static NtStatus IoCsqInitializeEx(IoCsq Csq, CsqInsertIrpEx CsqInsertIrp, CsqRemoveIrp CsqRemoveIrp, CsqPeekNextIrp CsqPeekNextIrp, CsqAcquireLock CsqAcquireLock, CsqReleaseLock CsqReleaseLock, CsqCompleteCanceledIrp CsqCompleteCanceledIrp)
    {
        ArgumentNullException.ThrowIfNull(Csq);
        Csq.Type = IO_TYPE_CSQ_EX;
        Csq.Insert = null;
        Csq.InsertEx = CsqInsertIrp;
        SetCommonCallbacks(Csq, CsqRemoveIrp, CsqPeekNextIrp, CsqAcquireLock, CsqReleaseLock, CsqCompleteCanceledIrp);
        return NtStatus.STATUS_SUCCESS;
    }

    private static void SetCommonCallbacks(IoCsq csq, CsqRemoveIrp remove, CsqPeekNextIrp peek, CsqAcquireLock acquire, CsqReleaseLock release, CsqCompleteCanceledIrp complete)
    {
        csq.Remove = remove ?? throw new ArgumentNullException(nameof(remove));
        csq.PeekNext = peek ?? throw new ArgumentNullException(nameof(peek));
        csq.AcquireLock = acquire ?? throw new ArgumentNullException(nameof(acquire));
        csq.ReleaseLock = release ?? throw new ArgumentNullException(nameof(release));
        csq.CompleteCanceled = complete ?? throw new ArgumentNullException(nameof(complete));
    }

    /// <summary>IoCsqInsertIrp: queues the IRP cancelably and marks it pending. The caller then returns STATUS_PENDING.</summary>
    public static void IoCsqInsertIrp(IoCsq Csq, Irp Irp, IoCsqIrpContext? Context)
        => IoCsqInsertIrpEx(Csq, Irp, Context, null);

    /// <summary>
    /// IoCsqInsertIrpEx: under the queue lock, links the context, calls the insert callback, sets the queue's cancel
    /// routine and marks the IRP pending. An IRP cancelled before it was queued is taken out again and completed
    /// through CsqCompleteCanceledIrp. ReactOS completes it while still holding the queue lock; Windows' placement is
    /// UNCONFIRMED, and we follow the documented rule instead (never complete an IRP while holding a spin lock):
    /// the lock is released first. The InsertEx status is returned; a failing one leaves the IRP neither queued nor marked.
    /// </summary>
    public static NtStatus IoCsqInsertIrpEx(IoCsq Csq, Irp Irp, IoCsqIrpContext? Context, object? InsertContext)
    {
        ArgumentNullException.ThrowIfNull(Csq);
        ArgumentNullException.ThrowIfNull(Irp);
        Csq.AcquireLock(Csq, out byte irql);
        bool completeCancelled = false;
        if (Context is not null)
        {
            Context.Irp = Irp;
            Context.Csq = Csq;
            Irp.Tail.Overlay.DriverContext[CsqContextSlot] = Context;
        }
        else
        {
            Irp.Tail.Overlay.DriverContext[CsqContextSlot] = Csq;
        }

        // MS Learn: with IoCsqInitializeEx, IoCsqInsertIrpEx returns what CsqInsertIrpEx returned; otherwise STATUS_SUCCESS.
        NtStatus status = NtStatus.STATUS_SUCCESS;
        if (Csq.InsertEx is CsqInsertIrpEx insertEx)
        {
            status = insertEx(Csq, Irp, InsertContext);
            if (!NT_SUCCESS(status))
            {
                UnlinkCsqContext(Irp);
                Csq.ReleaseLock(Csq, irql);
                return status;
            }
        }
        else
        {
            Csq.Insert!(Csq, Irp);
        }

        IoSetCancelRoutine(Irp, s_csqCancel);
        IoMarkIrpPending(Irp);
        if (Irp.Cancel && IoSetCancelRoutine(Irp, null) is not null)
        {
            // Cancelled before it was queued: take it out again.
            Csq.Remove(Csq, Irp);
            UnlinkCsqContext(Irp);
            completeCancelled = true;
        }

        Csq.ReleaseLock(Csq, irql);
        if (completeCancelled)
        {
            Csq.CompleteCanceled(Csq, Irp);
        }

        return status;
    }

    /// <summary>
    /// IoCsqRemoveNextIrp: the first queued IRP matching PeekContext whose cancel routine could be taken back, removed
    /// and returned non-cancelable; IRPs already being cancelled are skipped. NULL if none.
    /// </summary>
    public static Irp? IoCsqRemoveNextIrp(IoCsq Csq, object? PeekContext)
    {
        ArgumentNullException.ThrowIfNull(Csq);
        Csq.AcquireLock(Csq, out byte irql);
        try
        {
            Irp? irp = Csq.PeekNext(Csq, null, PeekContext);
            while (irp is not null)
            {
                if (IoSetCancelRoutine(irp, null) is not null)
                {
                    Csq.Remove(Csq, irp);
                    UnlinkCsqContext(irp);
                    return irp;
                }

                // Its cancel routine is running or about to run and will remove it.
                irp = Csq.PeekNext(Csq, irp, PeekContext);
            }

            return null;
        }
        finally
        {
            Csq.ReleaseLock(Csq, irql);
        }
    }

    /// <summary>IoCsqRemoveIrp: removes the IRP tied to Context; NULL if it was already cancelled or removed.</summary>
    public static Irp? IoCsqRemoveIrp(IoCsq Csq, IoCsqIrpContext Context)
    {
        ArgumentNullException.ThrowIfNull(Csq);
        ArgumentNullException.ThrowIfNull(Context);
        Csq.AcquireLock(Csq, out byte irql);
        try
        {
            Irp? irp = Context.Irp;
            if (irp is null || IoSetCancelRoutine(irp, null) is null)
            {
                return null;
            }

            Csq.Remove(Csq, irp);
            UnlinkCsqContext(irp);
            return irp;
        }
        finally
        {
            Csq.ReleaseLock(Csq, irql);
        }
    }

    private static void UnlinkCsqContext(Irp irp)
    {
        if (irp.Tail.Overlay.DriverContext[CsqContextSlot] is IoCsqIrpContext context)
        {
            context.Irp = null;
        }

        irp.Tail.Overlay.DriverContext[CsqContextSlot] = null;
    }

    private static readonly DriverCancel s_csqCancel = IopCsqCancelRoutine;

    /// <summary>The queue's cancel routine: drop the cancel lock, remove under the queue lock, complete as cancelled.</summary>
    private static void IopCsqCancelRoutine(DeviceObject DeviceObject, Irp Irp)
    {
        byte cancelIrql = Irp.CancelIrql;
        IoReleaseCancelSpinLock(cancelIrql);
        object? slot = Irp.Tail.Overlay.DriverContext[CsqContextSlot];
        IoCsq csq = slot as IoCsq ?? ((IoCsqIrpContext)slot!).Csq!;
        csq.AcquireLock(csq, out byte irql);
        csq.Remove(csq, Irp);
        UnlinkCsqContext(Irp);
        csq.ReleaseLock(csq, irql);
        csq.CompleteCanceled(csq, Irp);
    }
}
