namespace IrpLab;

public static partial class Wdm
{
    public const byte IRP_MJ_CREATE = 0x00;
    public const byte IRP_MJ_CREATE_NAMED_PIPE = 0x01;
    public const byte IRP_MJ_CLOSE = 0x02;
    public const byte IRP_MJ_READ = 0x03;
    public const byte IRP_MJ_WRITE = 0x04;
    public const byte IRP_MJ_QUERY_INFORMATION = 0x05;
    public const byte IRP_MJ_SET_INFORMATION = 0x06;
    public const byte IRP_MJ_FLUSH_BUFFERS = 0x09;
    public const byte IRP_MJ_FILE_SYSTEM_CONTROL = 0x0D;
    public const byte IRP_MJ_DEVICE_CONTROL = 0x0E;
    public const byte IRP_MJ_INTERNAL_DEVICE_CONTROL = 0x0F;
    public const byte IRP_MJ_SHUTDOWN = 0x10;
    public const byte IRP_MJ_CLEANUP = 0x12;
    public const byte IRP_MJ_POWER = 0x16;
    public const byte IRP_MJ_SYSTEM_CONTROL = 0x17;
    public const byte IRP_MJ_PNP = 0x1B;
    public const byte IRP_MJ_MAXIMUM_FUNCTION = 0x1B;

    public const uint IRP_NOCACHE = IoManager.IRP_NOCACHE;
    public const uint IRP_PAGING_IO = IoManager.IRP_PAGING_IO;
    public const uint IRP_SYNCHRONOUS_API = IoManager.IRP_SYNCHRONOUS_API;
    public const uint IRP_ASSOCIATED_IRP = IoManager.IRP_ASSOCIATED_IRP;
    public const uint IRP_BUFFERED_IO = IoManager.IRP_BUFFERED_IO;
    public const uint IRP_DEALLOCATE_BUFFER = IoManager.IRP_DEALLOCATE_BUFFER;
    public const uint IRP_INPUT_OPERATION = IoManager.IRP_INPUT_OPERATION;
    public const uint IRP_CREATE_OPERATION = IoManager.IRP_CREATE_OPERATION;
    public const uint IRP_READ_OPERATION = IoManager.IRP_READ_OPERATION;
    public const uint IRP_WRITE_OPERATION = IoManager.IRP_WRITE_OPERATION;
    public const uint IRP_CLOSE_OPERATION = IoManager.IRP_CLOSE_OPERATION;
    public const uint IRP_DEFER_IO_COMPLETION = IoManager.IRP_DEFER_IO_COMPLETION;

    public const byte SL_PENDING_RETURNED = IoManager.SL_PENDING_RETURNED;
    public const byte SL_ERROR_RETURNED = IoManager.SL_ERROR_RETURNED;
    public const byte SL_INVOKE_ON_CANCEL = IoManager.SL_INVOKE_ON_CANCEL;
    public const byte SL_INVOKE_ON_SUCCESS = IoManager.SL_INVOKE_ON_SUCCESS;
    public const byte SL_INVOKE_ON_ERROR = IoManager.SL_INVOKE_ON_ERROR;

    public const byte IRP_ALLOCATED_FIXED_SIZE = IoManager.IRP_ALLOCATED_FIXED_SIZE;

    public const sbyte IO_NO_INCREMENT = 0;
    public const sbyte IO_CD_ROM_INCREMENT = 1;
    public const sbyte IO_DISK_INCREMENT = 1;
    public const sbyte IO_PARALLEL_INCREMENT = 1;
    public const sbyte IO_VIDEO_INCREMENT = 1;
    public const sbyte IO_MAILSLOT_INCREMENT = 2;
    public const sbyte IO_NAMED_PIPE_INCREMENT = 2;
    public const sbyte IO_NETWORK_INCREMENT = 2;
    public const sbyte IO_SERIAL_INCREMENT = 2;
    public const sbyte IO_KEYBOARD_INCREMENT = 6;
    public const sbyte IO_MOUSE_INCREMENT = 6;
    public const sbyte IO_SOUND_INCREMENT = 8;



    public const ulong FILE_SUPERSEDED = 0;
    public const ulong FILE_OPENED = 1;
    public const ulong FILE_CREATED = 2;
    public const ulong FILE_OVERWRITTEN = 3;
    public const ulong FILE_EXISTS = 4;
    public const ulong FILE_DOES_NOT_EXIST = 5;

    // ---------------------------------------------------------------- stack locations

    /// <summary>IoGetCurrentIrpStackLocation.</summary>
    public static IoStackLocation IoGetCurrentIrpStackLocation(Irp Irp)
        => Irp.CurrentStackLocation ?? throw new InvalidOperationException(Irp + " has no current stack location (it has not been sent to a driver).");

    /// <summary>
    /// IoGetNextIrpStackLocation: the location the next driver will own. On an IRP at its last location there is none:
    /// Windows hands back memory before the stack array, the write corrupts the IRP and the IoCallDriver that follows
    /// is bug check 0x35; the model stops at the first touch with that bug check.
    /// </summary>
    public static IoStackLocation IoGetNextIrpStackLocation(Irp Irp)
    {
        ArgumentNullException.ThrowIfNull(Irp);
        if (Irp.CurrentLocation <= 1)
        {
            Machine m = Irp.Machine;
            throw m.RaiseBugCheck(BugCheckCatalogue.NO_MORE_IRP_STACK_LOCATIONS, Irp.DebugAddress(m), 0, 0, 0,
                $"The next stack location of {Irp} was used, but the IRP is at its last location ({Irp.StackCount} allocated): it was allocated with too small a StackSize. Allocate IRPs with the StackSize of the top of the target's stack (IoGetAttachedDevice).");
        }

        return Irp.NextStackLocation ?? throw new InvalidOperationException(Irp + " has no next stack location.");
    }

    /// <summary>IoSetNextIrpStackLocation: gives the IRP's creator a location of its own.</summary>
    public static void IoSetNextIrpStackLocation(Irp Irp) => Irp.CurrentLocation--;

    /// <summary>IoSkipCurrentIrpStackLocation: the next driver reuses this location as it is.</summary>
    public static void IoSkipCurrentIrpStackLocation(Irp Irp) => Irp.CurrentLocation++;

    /// <summary>IoCopyCurrentIrpStackLocationToNext: everything but the completion routine and context; Control cleared.</summary>
    public static void IoCopyCurrentIrpStackLocationToNext(Irp Irp)
    {
        IoStackLocation next = IoGetNextIrpStackLocation(Irp);
        next.CopyFrom(IoGetCurrentIrpStackLocation(Irp));
        next.CompletionRoutine = null;
        next.Context = null;
        next.Control = 0;
    }

    /// <summary>
    /// IoSetCompletionRoutine: writes into the next location (so call it after IoCopyCurrentIrpStackLocationToNext,
    /// never with IoSkipCurrentIrpStackLocation).
    /// </summary>
    public static void IoSetCompletionRoutine(Irp Irp, IoCompletionRoutine? CompletionRoutine, object? Context, bool InvokeOnSuccess, bool InvokeOnError, bool InvokeOnCancel)
    {
        IoStackLocation next = IoGetNextIrpStackLocation(Irp);
        next.CompletionRoutine = CompletionRoutine;
        next.Context = Context;
        next.Control = 0;
        if (InvokeOnSuccess)
        {
            next.Control |= SL_INVOKE_ON_SUCCESS;
        }

        if (InvokeOnError)
        {
            next.Control |= SL_INVOKE_ON_ERROR;
        }

        if (InvokeOnCancel)
        {
            next.Control |= SL_INVOKE_ON_CANCEL;
        }
    }

    /// <summary>IoMarkIrpPending: sets SL_PENDING_RETURNED in the current location (any IRQL).</summary>
    public static void IoMarkIrpPending(Irp Irp)
    {
        IoStackLocation location = IoGetCurrentIrpStackLocation(Irp);
        location.Control |= SL_PENDING_RETURNED;
        Irp.MarkedPendingLocations |= 1UL << (Irp.CurrentLocation - 1);
        Irp.History?.Add(Irp.Machine, IrpHistoryKind.MarkedPending, null);
        if (Irp.Machine.Trace.IsEnabled(TraceEventKind.IrpPended))
        {
            Irp.Machine.Trace.Record(TraceEventKind.IrpPended, Irp + " marked pending");
        }
    }

    // ---------------------------------------------------------------- calling and completing

    /// <summary>IoCallDriver: sends the IRP to the driver of DeviceObject; returns its dispatch routine's status.</summary>
    public static NtStatus IoCallDriver(DeviceObject DeviceObject, Irp Irp)
    {
        ArgumentNullException.ThrowIfNull(DeviceObject);
        ArgumentNullException.ThrowIfNull(Irp);
        return Irp.Machine.Io.CallDriver(DeviceObject, Irp);
    }

    /// <summary>IofCallDriver.</summary>
    public static NtStatus IofCallDriver(DeviceObject DeviceObject, Irp Irp) => IoCallDriver(DeviceObject, Irp);

    /// <summary>
    /// IoCompleteRequest: set IoStatus first; the cancel routine must be cleared; do not touch the IRP afterwards.
    /// Completing an IRP twice is bug check 0x44.
    /// </summary>
    public static void IoCompleteRequest(Irp Irp, sbyte PriorityBoost)
    {
        ArgumentNullException.ThrowIfNull(Irp);
        Irp.Machine.Io.CompleteRequest(Irp);
    }

    /// <summary>IofCompleteRequest.</summary>
    public static void IofCompleteRequest(Irp Irp, sbyte PriorityBoost) => IoCompleteRequest(Irp, PriorityBoost);

    // ---------------------------------------------------------------- allocating

    /// <summary>IoAllocateIrp: StackCount = StackSize, CurrentLocation = StackSize + 1. Reclaim it in a completion routine.</summary>
    public static Irp IoAllocateIrp(sbyte StackSize, bool ChargeQuota)
    {
        KThread t = KThread.Current;
        KernelChecks.RequireIrql(t, IrqlLevel.Dispatch, "IoAllocateIrp");
        return t.Machine.Io.AllocateIrp(StackSize);
    }

    /// <summary>IoFreeIrp: frees an IRP the driver allocated.</summary>
    public static void IoFreeIrp(Irp Irp)
    {
        ArgumentNullException.ThrowIfNull(Irp);
        Irp.Machine.Io.ReleaseIrp(Irp);
    }

    /// <summary>IoReuseIrp: reinitialises an IRP the driver allocated, with the given status.</summary>
    public static void IoReuseIrp(Irp Irp, NtStatus Status)
    {
        ArgumentNullException.ThrowIfNull(Irp);
        IrpHistory? history = Irp.History;
        Irp.Reset();
        Irp.History = history;
        Irp.Holds = 1;
        Irp.AllocationFlags = IRP_ALLOCATED_FIXED_SIZE;
        Irp.IoStatus.Status = Status;
    }

    /// <summary>
    /// IoBuildDeviceIoControlRequest: a threaded IRP; at completion the I/O manager writes IoStatusBlock and sets
    /// Event. Wait on Event only if IoCallDriver returned STATUS_PENDING. IRQL ≤ APC_LEVEL.
    /// </summary>
    public static Irp IoBuildDeviceIoControlRequest(uint IoControlCode, DeviceObject DeviceObject, byte[]? InputBuffer, uint InputBufferLength, byte[]? OutputBuffer, uint OutputBufferLength, bool InternalDeviceIoControl, KEvent Event, IoStatusBlock IoStatusBlock)
    {
        KThread t = KThread.Current;
        KernelChecks.RequireIrql(t, IrqlLevel.Apc, "IoBuildDeviceIoControlRequest");
        return t.Machine.Io.BuildDeviceIoControlRequest(t, IoControlCode, DeviceObject, InputBuffer, InputBufferLength, OutputBuffer, OutputBufferLength, InternalDeviceIoControl, Event, IoStatusBlock);
    }

    /// <summary>
    /// IoBuildSynchronousFsdRequest (IRP_MJ_READ, IRP_MJ_WRITE, IRP_MJ_FLUSH_BUFFERS, IRP_MJ_SHUTDOWN): a threaded IRP
    /// whose completion writes IoStatusBlock and sets Event. IRQL ≤ APC_LEVEL.
    /// </summary>
    public static Irp IoBuildSynchronousFsdRequest(byte MajorFunction, DeviceObject DeviceObject, byte[]? Buffer, uint Length, LargeInteger? StartingOffset, KEvent Event, IoStatusBlock IoStatusBlock)
    {
        KThread t = KThread.Current;
        KernelChecks.RequireIrql(t, IrqlLevel.Apc, "IoBuildSynchronousFsdRequest");
        return t.Machine.Io.BuildFsdRequest(t, MajorFunction, DeviceObject, Buffer, Length, StartingOffset, Event, IoStatusBlock, synchronous: true);
    }

    /// <summary>IoBuildAsynchronousFsdRequest: not threaded; reclaim it in a completion routine (STATUS_MORE_PROCESSING_REQUIRED + IoFreeIrp).</summary>
    public static Irp IoBuildAsynchronousFsdRequest(byte MajorFunction, DeviceObject DeviceObject, byte[]? Buffer, uint Length, LargeInteger? StartingOffset, IoStatusBlock? IoStatusBlock)
    {
        KThread t = KThread.Current;
        KernelChecks.RequireIrql(t, IrqlLevel.Dispatch, "IoBuildAsynchronousFsdRequest");
        return t.Machine.Io.BuildFsdRequest(t, MajorFunction, DeviceObject, Buffer, Length, StartingOffset, null, IoStatusBlock, synchronous: false);
    }

    // ---------------------------------------------------------------- cancellation

    /// <summary>IoSetCancelRoutine: an atomic exchange; returns the previous routine (NULL means the cancel path owns the IRP).</summary>
    public static DriverCancel? IoSetCancelRoutine(Irp Irp, DriverCancel? CancelRoutine)
    {
        ArgumentNullException.ThrowIfNull(Irp);

        // A scheduling point: ownership races (cancel against completion) turn on which side exchanges first.
        if (KThread.CurrentOrNull is KThread t)
        {
            t.Machine.Scheduler.Yield(t, Scheduling.SchedulingPointKind.CancelRoutine);
        }

        return Irp.Machine.Io.SetCancelRoutine(Irp, CancelRoutine);
    }

    /// <summary>IoCancelIrp: TRUE if the cancel routine was called (not that the IRP is complete).</summary>
    public static bool IoCancelIrp(Irp Irp)
    {
        ArgumentNullException.ThrowIfNull(Irp);
        return Irp.Machine.Io.CancelIrp(Irp);
    }

    /// <summary>IoAcquireCancelSpinLock: the system-wide cancel lock; raises to DISPATCH_LEVEL.</summary>
    public static void IoAcquireCancelSpinLock(out byte Irql)
    {
        KThread t = KThread.Current;
        KernelChecks.AcquireSpinLock(t, t.Machine.Io.CancelSpinLock, out Irql);
    }

    /// <summary>IoReleaseCancelSpinLock: releases the cancel lock and lowers to Irql.</summary>
    public static void IoReleaseCancelSpinLock(byte Irql)
    {
        KThread t = KThread.Current;
        KernelChecks.ReleaseSpinLock(t, t.Machine.Io.CancelSpinLock, Irql, fromDpcLevelApi: false);
    }

    // ---------------------------------------------------------------- buffers

    /// <summary>MmGetSystemAddressForMdlSafe: the caller's buffer, mapped; writes land in it at once.</summary>
    public static byte[] MmGetSystemAddressForMdlSafe(Mdl Mdl, uint Priority)
    {
        ArgumentNullException.ThrowIfNull(Mdl);
        return Mdl.Buffer;
    }

    /// <summary>MmGetMdlByteCount.</summary>
    public static uint MmGetMdlByteCount(Mdl Mdl)
    {
        ArgumentNullException.ThrowIfNull(Mdl);
        return (uint)Mdl.ByteCount;
    }

    public const uint NormalPagePriority = 16;
    public const uint LowPagePriority = 0;
    public const uint HighPagePriority = 32;

    /// <summary>
    /// ProbeForRead: validates a user buffer for reading; raises STATUS_ACCESS_VIOLATION (catch it) for an invalid
    /// one, STATUS_DATATYPE_MISALIGNMENT is not modelled. A zero length probes nothing.
    /// </summary>
    public static void ProbeForRead(UserBuffer? Address, uint Length, uint Alignment)
    {
        if (Length == 0)
        {
            return;
        }

        if (Address is null || Length > (uint)Address.Memory.Length)
        {
            throw new NtStatusException(NtStatus.STATUS_ACCESS_VIOLATION);
        }

        Address.ProbedForRead = true;
    }

    /// <summary>ProbeForWrite: as ProbeForRead, for writing.</summary>
    public static void ProbeForWrite(UserBuffer? Address, uint Length, uint Alignment)
    {
        if (Length == 0)
        {
            return;
        }

        if (Address is null || Length > (uint)Address.Memory.Length)
        {
            throw new NtStatusException(NtStatus.STATUS_ACCESS_VIOLATION);
        }

        Address.ProbedForWrite = true;
        Address.ProbedForRead = true;
    }

    /// <summary>RtlCopyMemory / memcpy.</summary>
    public static void RtlCopyMemory(byte[] Destination, byte[] Source, int Length) => Buffer.BlockCopy(Source, 0, Destination, 0, Length);

    /// <summary>RtlCopyMemory with offsets.</summary>
    public static void RtlCopyMemory(byte[] Destination, int DestinationOffset, byte[] Source, int SourceOffset, int Length)
        => Buffer.BlockCopy(Source, SourceOffset, Destination, DestinationOffset, Length);

    /// <summary>RtlMoveMemory.</summary>
    public static void RtlMoveMemory(byte[] Destination, byte[] Source, int Length) => Buffer.BlockCopy(Source, 0, Destination, 0, Length);

    /// <summary>RtlZeroMemory.</summary>
    public static void RtlZeroMemory(byte[] Destination, int Length) => Array.Clear(Destination, 0, Length);

    /// <summary>RtlFillMemory.</summary>
    public static void RtlFillMemory(byte[] Destination, int Length, byte Fill) => Array.Fill(Destination, Fill, 0, Length);

    // ---------------------------------------------------------------- device stacks

    /// <summary>
    /// IoAttachDeviceToDeviceStack: attaches SourceDevice on top of the stack TargetDevice belongs to; the source's
    /// StackSize becomes the old top's + 1. Returns the device it was attached to. A filter copies the buffering flags.
    /// </summary>
    public static DeviceObject? IoAttachDeviceToDeviceStack(DeviceObject SourceDevice, DeviceObject TargetDevice)
    {
        ArgumentNullException.ThrowIfNull(SourceDevice);
        ArgumentNullException.ThrowIfNull(TargetDevice);
        KThread t = KThread.Current;
        return t.Machine.Io.AttachDevice(SourceDevice, TargetDevice);
    }

    /// <summary>IoDetachDevice: detaches the device attached on top of TargetDevice.</summary>
    public static void IoDetachDevice(DeviceObject TargetDevice)
    {
        ArgumentNullException.ThrowIfNull(TargetDevice);
        KThread.Current.Machine.Io.DetachDevice(TargetDevice);
    }

    /// <summary>IoGetAttachedDevice: the top of the stack DeviceObject belongs to.</summary>
    public static DeviceObject IoGetAttachedDevice(DeviceObject DeviceObject) => IoManager.AttachedTop(DeviceObject);

    /// <summary>IoGetAttachedDeviceReference: the top of the stack, referenced.</summary>
    public static DeviceObject IoGetAttachedDeviceReference(DeviceObject DeviceObject)
    {
        DeviceObject top = IoManager.AttachedTop(DeviceObject);
        ObjectManager.Reference(top);
        return top;
    }

    /// <summary>IoGetRelatedDeviceObject: the device a request on FileObject goes to (the top of its stack).</summary>
    public static DeviceObject IoGetRelatedDeviceObject(FileObject FileObject) => IoManager.AttachedTop(FileObject.DeviceObject);

    /// <summary>
    /// IoGetDeviceObjectPointer: opens the named device and returns its file object (referenced) and the top of its
    /// stack. Dereference the file object when done. PASSIVE_LEVEL.
    /// </summary>
    public static NtStatus IoGetDeviceObjectPointer(UnicodeString ObjectName, uint DesiredAccess, out FileObject FileObject, out DeviceObject DeviceObject)
    {
        KThread t = KThread.Current;
        KernelChecks.RequireIrql(t, IrqlLevel.Passive, "IoGetDeviceObjectPointer");
        KProcessorMode saved = t.PreviousMode;
        t.PreviousMode = KProcessorMode.KernelMode;
        try
        {
            NtStatus status = t.Machine.Io.OpenFile(t, ObjectName, DesiredAccess | SYNCHRONIZE, 0, 1, 0, 0, out FileObject? fo, out _);
            FileObject = fo!;
            DeviceObject = fo is null ? null! : IoManager.AttachedTop(fo.DeviceObject);
            return status;
        }
        finally
        {
            t.PreviousMode = saved;
        }
    }

    /// <summary>IoValidateDeviceIoControlAccess: STATUS_ACCESS_DENIED if the requestor's handle lacks RequiredAccess.</summary>
    public static NtStatus IoValidateDeviceIoControlAccess(Irp Irp, uint RequiredAccess)
    {
        ArgumentNullException.ThrowIfNull(Irp);
        if (Irp.RequestorMode == KProcessorMode.KernelMode)
        {
            return NtStatus.STATUS_SUCCESS;
        }

        uint granted = Irp.Tail.Overlay.OriginalFileObject?.GrantedAccess ?? 0;
        uint needed = ((RequiredAccess & FILE_READ_ACCESS) != 0 ? FILE_READ_DATA : 0) | ((RequiredAccess & FILE_WRITE_ACCESS) != 0 ? FILE_WRITE_DATA : 0);
        return (granted & needed) == needed ? NtStatus.STATUS_SUCCESS : NtStatus.STATUS_ACCESS_DENIED;
    }
}
