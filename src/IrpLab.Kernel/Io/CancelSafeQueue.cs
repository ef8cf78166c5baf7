namespace IrpLab;

/// <summary>CSQ_INSERT_IRP.</summary>
public delegate void CsqInsertIrp(IoCsq Csq, Irp Irp);

/// <summary>CSQ_INSERT_IRP_EX: a failure status leaves the IRP unqueued.</summary>
public delegate NtStatus CsqInsertIrpEx(IoCsq Csq, Irp Irp, object? InsertContext);

/// <summary>CSQ_REMOVE_IRP.</summary>
public delegate void CsqRemoveIrp(IoCsq Csq, Irp Irp);

/// <summary>CSQ_PEEK_NEXT_IRP: the entry after Irp (from the head when Irp is NULL) matching PeekContext, or NULL.</summary>
public delegate Irp? CsqPeekNextIrp(IoCsq Csq, Irp? Irp, object? PeekContext);

/// <summary>CSQ_ACQUIRE_LOCK.</summary>
public delegate void CsqAcquireLock(IoCsq Csq, out byte Irql);

/// <summary>CSQ_RELEASE_LOCK.</summary>
public delegate void CsqReleaseLock(IoCsq Csq, byte Irql);

/// <summary>CSQ_COMPLETE_CANCELED_IRP.</summary>
public delegate void CsqCompleteCanceledIrp(IoCsq Csq, Irp Irp);

/// <summary>
/// IO_CSQ: a cancel-safe queue. The driver owns the list and the lock (through its callbacks); the I/O manager's
/// routines make insertion, removal and cancellation race-free. The queue's pointer is kept in
/// Irp.Tail.Overlay.DriverContext[3], as on Windows; DriverContext[0..2] stay the driver's.
/// </summary>
public sealed class IoCsq
{
    /// <summary>IO_TYPE_CSQ (2), or IO_TYPE_CSQ_EX (3) when initialised with an InsertEx callback.</summary>
    public uint Type { get; internal set; }

    internal CsqInsertIrp? Insert;
    internal CsqInsertIrpEx? InsertEx;
    internal CsqRemoveIrp Remove = null!;
    internal CsqPeekNextIrp PeekNext = null!;
    internal CsqAcquireLock AcquireLock = null!;
    internal CsqReleaseLock ReleaseLock = null!;
    internal CsqCompleteCanceledIrp CompleteCanceled = null!;

    /// <summary>The driver's state, for callbacks that need to find their queue (CONTAINING_RECORD's role).</summary>
    public object? Context { get; set; }
}

/// <summary>IO_CSQ_IRP_CONTEXT: ties an IRP to a context so that IoCsqRemoveIrp can find that one IRP later.</summary>
public sealed class IoCsqIrpContext
{
    /// <summary>IO_TYPE_CSQ_IRP_CONTEXT.</summary>
    public uint Type { get; } = 1;

    public Irp? Irp { get; internal set; }

    public IoCsq? Csq { get; internal set; }
}
