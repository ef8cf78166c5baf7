namespace IrpLab;

/// <summary>The life cycle of an IRP as the I/O manager sees it. Transitions are checked.</summary>
internal enum IrpState
{
    Invalid = 0,
    Allocated = 1,
    Dispatched = 2,
    Completing = 3,
    Completed = 4,
    Freed = 5,
}

/// <summary>
/// IRP: an I/O request packet. Members keep the DDK names (Irp.IoStatus.Information,
/// Irp.AssociatedIrp.SystemBuffer, Irp.Tail.Overlay.OriginalFileObject). Stack locations are numbered as on
/// Windows: CurrentLocation is 1-based and counts down as the IRP goes down; the top driver owns location
/// StackCount. IRPs come from a pool: after IoCompleteRequest (or IoFreeIrp) the object may serve another request.
/// </summary>
public sealed class Irp : KernelObject
{
    internal Irp(Machine machine, int stackSize)
    {
        Machine = machine;
        Stack = new IoStackLocation[stackSize];
        for (int i = 0; i < stackSize; i++)
        {
            Stack[i] = new IoStackLocation();
        }

        Tail = new IrpTail(this);
    }

    public IoStatus IoStatus;

    /// <summary>IRP_* flags.</summary>
    public uint Flags;

    public Mdl? MdlAddress;

    public KProcessorMode RequestorMode;

    /// <summary>During completion: the pending bit of the location being completed.</summary>
    public bool PendingReturned;

    public bool Cancel;

    public byte CancelIrql;

    /// <summary>IRP_ALLOCATED_* flags.</summary>
    public byte AllocationFlags;

    /// <summary>The caller's output buffer (buffered copy-back target), or the raw buffer for METHOD_NEITHER.</summary>
    public UserBuffer? UserBuffer;

    /// <summary>The caller's status block, written at completion.</summary>
    public IoStatusBlock? UserIosb;

    /// <summary>The caller's event, set at completion.</summary>
    public KEvent? UserEvent;

    public IrpAssociatedIrp AssociatedIrp { get; } = new();

    public IrpOverlay Overlay { get; } = new();

    public IrpTail Tail { get; }

    /// <summary>The cancel routine; set it with IoSetCancelRoutine (an atomic exchange).</summary>
    public DriverCancel? CancelRoutine => Volatile.Read(ref CancelRoutineField);

    public sbyte StackCount => (sbyte)Stack.Length;

    public sbyte CurrentLocation { get; internal set; }

    internal DriverCancel? CancelRoutineField;

    internal IoStackLocation[] Stack { get; }

    internal Machine Machine { get; }

    internal IrpState State;

    /// <summary>Who still holds the packet: the completion path and, for a request in flight, the issuing service.</summary>
    internal int Holds;

    /// <summary>The request is on its thread's IRP list.</summary>
    internal bool OnThreadList;

    /// <summary>The buffer the caller passed for output, for buffered copy-back.</summary>
    internal byte[]? CallerOutput;

    internal int CallerOutputLength;

    /// <summary>A packet that is one of the I/O manager's own (create, cleanup, close).</summary>
    internal bool IsInternal;

    /// <summary>The verifier's record of this IRP's life (when the verifier is on).</summary>
    internal IrpHistory? History;

    /// <summary>The driver that called IoCompleteRequest (recorded by the verifier for its copy-back check).</summary>
    internal string? CompletingDriver;

    /// <summary>Links of the requesting thread's IRP list (guarded by the I/O manager's thread-list lock).</summary>
    internal Irp? ThreadNext;

    internal Irp? ThreadPrevious;

    /// <summary>IoMarkIrpPending was called at location i (1-based index i+1); kept through the completion walk for the verifier.</summary>
    internal ulong MarkedPendingLocations;

    /// <summary>
    /// Locations whose dispatch routine returned STATUS_PENDING unmarked while the IRP was still below them: the mark
    /// may still come from a completion routine or the I/O manager's propagation, so the verifier decides when the
    /// completion walk reaches the location.
    /// </summary>
    internal ulong PendingUnmarkedLocations;

    /// <summary>Whether the packet came from the pool and may return to it.</summary>
    internal bool Pooled;

    /// <summary>The requesting thread exited and gave up waiting for this IRP (§7.7): it completes silently.</summary>
    internal bool Disassociated;

    internal override ObjectType Type => ObjectType.Irp;

    /// <summary>The current stack location, or null when the IRP has none (before the first IoCallDriver, after completion).</summary>
    internal IoStackLocation? CurrentStackLocation
        => CurrentLocation >= 1 && CurrentLocation <= Stack.Length ? Stack[CurrentLocation - 1] : null;

    /// <summary>The location the next driver will own.</summary>
    internal IoStackLocation? NextStackLocation
        => CurrentLocation >= 2 && CurrentLocation - 1 <= Stack.Length ? Stack[CurrentLocation - 2] : null;

    internal void Reset()
    {
        IoStatus = default;
        Flags = 0;
        MdlAddress = null;
        RequestorMode = KProcessorMode.KernelMode;
        PendingReturned = false;
        Cancel = false;
        CancelIrql = 0;
        AllocationFlags = 0;
        UserBuffer = null;
        UserIosb = null;
        UserEvent = null;
        CancelRoutineField = null;
        AssociatedIrp.SystemBuffer = null;
        AssociatedIrp.MasterIrp = null;
        AssociatedIrp.IrpCount = 0;
        Overlay.AsynchronousParameters.UserApcRoutine = null;
        Overlay.AsynchronousParameters.UserApcContext = null;
        Tail.Reset();
        foreach (IoStackLocation location in Stack)
        {
            location.Clear();
        }

        CurrentLocation = (sbyte)(Stack.Length + 1);
        State = IrpState.Allocated;
        Holds = 0;
        OnThreadList = false;
        CallerOutput = null;
        CallerOutputLength = 0;
        IsInternal = false;
        History = null;
        CompletingDriver = null;
        ThreadNext = null;
        ThreadPrevious = null;
        MarkedPendingLocations = 0;
        PendingUnmarkedLocations = 0;
        Disassociated = false;
    }

    public override string ToString() => "IRP " + DebugAddress(Machine).ToString("X", System.Globalization.CultureInfo.InvariantCulture);
}

/// <summary>Irp.AssociatedIrp: the system buffer of buffered I/O (or the master IRP of an associated IRP).</summary>
public sealed class IrpAssociatedIrp
{
    /// <summary>Buffered I/O: the I/O manager's copy of the caller's data (exactly the request's length).</summary>
    public byte[]? SystemBuffer;

    public Irp? MasterIrp;

    public int IrpCount;
}

/// <summary>Irp.Overlay.</summary>
public sealed class IrpOverlay
{
    public IrpAsynchronousParameters AsynchronousParameters { get; } = new();

    public long AllocationSize;
}

/// <summary>Irp.Overlay.AsynchronousParameters: the native APC of NtReadFile &amp; co.</summary>
public sealed class IrpAsynchronousParameters
{
    public IoApcRoutine? UserApcRoutine;

    public object? UserApcContext;
}

/// <summary>Irp.Tail.</summary>
public sealed class IrpTail
{
    internal IrpTail(Irp irp)
    {
        Overlay = new IrpTailOverlay(irp);
    }

    public IrpTailOverlay Overlay { get; }

    /// <summary>The completion key of a port packet.</summary>
    public nuint CompletionKey;

    internal void Reset()
    {
        Overlay.Reset();
        CompletionKey = 0;
    }
}

/// <summary>Irp.Tail.Overlay.</summary>
public sealed class IrpTailOverlay
{
    internal IrpTailOverlay(Irp irp)
    {
        ListEntry = new ListEntry(irp);
        DeviceQueueEntry = new KDeviceQueueEntry(irp);
    }

    /// <summary>The entry IoStartPacket queues the IRP with (overlays DriverContext on Windows).</summary>
    public KDeviceQueueEntry DeviceQueueEntry { get; }

    /// <summary>Four pointers a driver that owns the IRP may use.</summary>
    public object?[] DriverContext { get; } = new object?[4];

    /// <summary>The requesting thread (null for IoAllocateIrp packets and after disassociation).</summary>
    public KThread? Thread;

    /// <summary>A list entry the driver that owns the IRP may use to queue it (CONTAINING_RECORD gives the IRP).</summary>
    public ListEntry ListEntry { get; }

    public FileObject? OriginalFileObject;

    internal void Reset()
    {
        Array.Clear(DriverContext);
        Thread = null;
        OriginalFileObject = null;
        ListEntry.Flink = ListEntry;
        ListEntry.Blink = ListEntry;
    }
}
