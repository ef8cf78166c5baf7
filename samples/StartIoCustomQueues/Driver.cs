using static IrpLab.NtStatus;
using static IrpLab.Wdm;

namespace IrpLab.Samples.StartIoCustomQueues;

/// <summary>
/// Seed 002, "自定义的StartIO": the system's StartIo has one queue per device, so reads and writes would be
/// serialised together. This driver keeps two KDEVICE_QUEUEs of its own in the device extension, one for reads and
/// one for writes, each with its own StartIo-like routine: reads are serialised among themselves, writes among
/// themselves, and a read and a write run side by side. A read takes three seconds, a write two; each is a timer
/// whose DPC completes the request and takes the next one from its queue with KeRemoveDeviceQueue.
/// <para>
/// The queued IRPs are not cancelable here (the seed's custom queue has no cancel routine either); cancelling would
/// need a cancel routine that takes the IRP out with KeRemoveEntryDeviceQueue, and a dequeue done holding the cancel
/// spin lock that clears the cancel routine, as IoStartNextPacket(DeviceObject, TRUE) does for the system queue.
/// </para>
/// </summary>
public static class Driver
{
    public const string NT_DEVICE_NAME = "\\Device\\HelloDDK";
    public const string DOS_DEVICE_NAME = "\\DosDevices\\HelloDDK";

    /// <summary>One serialised stream of requests: its queue, the request in progress, and the timer that ends it.</summary>
    public sealed class MY_QUEUE
    {
        /// <summary>Busy while a request of this kind is in progress; the others wait in it.</summary>
        public readonly KDeviceQueue device_queue = new();

        /// <summary>The request in progress (this queue's CurrentIrp). Touched only at DISPATCH_LEVEL, by the
        /// routine that started it and by the timer DPC that ends it.</summary>
        public Irp? CurrentIrp;

        public readonly KTimer Timer = new();
        public readonly KDpc Dpc = new();
    }

    public sealed class DEVICE_EXTENSION
    {
        public readonly MY_QUEUE ReadQueue = new();
        public readonly MY_QUEUE WriteQueue = new();
    }

    public static NtStatus DriverEntry(DriverObject pDriverObject, UnicodeString pRegistryPath)
    {
        var pDevExt = new DEVICE_EXTENSION();
        NtStatus status = IoCreateDevice(pDriverObject, pDevExt, NT_DEVICE_NAME, FILE_DEVICE_UNKNOWN, 0, FALSE, out DeviceObject pDevObj);
        if (!NT_SUCCESS(status))
        {
            return status;
        }

        pDevObj.Flags |= DO_BUFFERED_IO;
        KeInitializeDeviceQueue(pDevExt.ReadQueue.device_queue);
        KeInitializeDeviceQueue(pDevExt.WriteQueue.device_queue);
        KeInitializeTimer(pDevExt.ReadQueue.Timer);
        KeInitializeTimer(pDevExt.WriteQueue.Timer);
        KeInitializeDpc(pDevExt.ReadQueue.Dpc, ReadDone, pDevObj);
        KeInitializeDpc(pDevExt.WriteQueue.Dpc, WriteDone, pDevObj);
        pDriverObject.MajorFunction[IRP_MJ_CREATE] = HelloDdk.Driver.HelloDDKDispatchRoutine;
        pDriverObject.MajorFunction[IRP_MJ_CLOSE] = HelloDdk.Driver.HelloDDKDispatchRoutine;
        pDriverObject.MajorFunction[IRP_MJ_CLEANUP] = HelloDdk.Driver.HelloDDKDispatchRoutine;
        pDriverObject.MajorFunction[IRP_MJ_READ] = HelloDDKRead;
        pDriverObject.MajorFunction[IRP_MJ_WRITE] = HelloDDKWrite;
        pDriverObject.DriverUnload = HelloDDKUnload;
        status = IoCreateSymbolicLink(DOS_DEVICE_NAME, NT_DEVICE_NAME);
        if (!NT_SUCCESS(status))
        {
            IoDeleteDevice(pDevObj);
        }

        return status;
    }

    public static void HelloDDKUnload(DriverObject pDriverObject)
    {
        DeviceObject pDevObj = pDriverObject.DeviceObject!;
        var pDevExt = (DEVICE_EXTENSION)pDevObj.DeviceExtension!;
        KeCancelTimer(pDevExt.ReadQueue.Timer);
        KeCancelTimer(pDevExt.WriteQueue.Timer);
        KeFlushQueuedDpcs();
        IoDeleteSymbolicLink(DOS_DEVICE_NAME);
        IoDeleteDevice(pDevObj);
    }

    public static NtStatus HelloDDKRead(DeviceObject pDevObj, Irp pIrp)
    {
        KdPrint("Enter HelloDDKRead\n");
        var pDevExt = (DEVICE_EXTENSION)pDevObj.DeviceExtension!;

        // Mark the IRP pending before another routine can see it.
        IoMarkIrpPending(pIrp);

        // The device queue routines run at DISPATCH_LEVEL.
        KeRaiseIrql(DISPATCH_LEVEL, out byte oldirql);

        // A queue that is not busy does not take the IRP: it becomes busy, and the IRP is ours to start now.
        if (!KeInsertDeviceQueue(pDevExt.ReadQueue.device_queue, pIrp.Tail.Overlay.DeviceQueueEntry))
        {
            MyReadStartIo(pDevObj, pIrp);
        }

        KeLowerIrql(oldirql);
        KdPrint("Leave HelloDDKRead\n");
        return STATUS_PENDING;
    }

    public static NtStatus HelloDDKWrite(DeviceObject pDevObj, Irp pIrp)
    {
        KdPrint("Enter HelloDDKWrite\n");
        var pDevExt = (DEVICE_EXTENSION)pDevObj.DeviceExtension!;
        IoMarkIrpPending(pIrp);
        KeRaiseIrql(DISPATCH_LEVEL, out byte oldirql);
        if (!KeInsertDeviceQueue(pDevExt.WriteQueue.device_queue, pIrp.Tail.Overlay.DeviceQueueEntry))
        {
            MyWriteStartIo(pDevObj, pIrp);
        }

        KeLowerIrql(oldirql);
        KdPrint("Leave HelloDDKWrite\n");
        return STATUS_PENDING;
    }

    /// <summary>The reads' StartIo (DISPATCH_LEVEL): one read at a time; three seconds each.</summary>
    public static void MyReadStartIo(DeviceObject DeviceObject, Irp Irp)
    {
        var pDevExt = (DEVICE_EXTENSION)DeviceObject.DeviceExtension!;
        KdPrint("MyReadStartIo: a read starts\n");
        pDevExt.ReadQueue.CurrentIrp = Irp;
        KeSetTimer(pDevExt.ReadQueue.Timer, RELATIVE(SECONDS(3)), pDevExt.ReadQueue.Dpc);
    }

    /// <summary>The writes' StartIo (DISPATCH_LEVEL): one write at a time; two seconds each.</summary>
    public static void MyWriteStartIo(DeviceObject DeviceObject, Irp Irp)
    {
        var pDevExt = (DEVICE_EXTENSION)DeviceObject.DeviceExtension!;
        KdPrint("MyWriteStartIo: a write starts\n");
        pDevExt.WriteQueue.CurrentIrp = Irp;
        KeSetTimer(pDevExt.WriteQueue.Timer, RELATIVE(SECONDS(2)), pDevExt.WriteQueue.Dpc);
    }

    /// <summary>The read timer's DPC: the current read is done; start the next queued read, or leave the queue idle.</summary>
    public static void ReadDone(KDpc Dpc, object? DeferredContext, object? SystemArgument1, object? SystemArgument2)
    {
        var DeviceObject = (DeviceObject)DeferredContext!;
        var pDevExt = (DEVICE_EXTENSION)DeviceObject.DeviceExtension!;
        Irp Irp = pDevExt.ReadQueue.CurrentIrp!;
        pDevExt.ReadQueue.CurrentIrp = null;
        KdPrint("ReadDone: a read is done\n");
        Irp.IoStatus.Status = STATUS_SUCCESS;
        Irp.IoStatus.Information = 0;

        // An empty queue returns NULL and is no longer busy: the next read starts from the dispatch routine.
        KDeviceQueueEntry? device_entry = KeRemoveDeviceQueue(pDevExt.ReadQueue.device_queue);
        if (device_entry is not null)
        {
            // CONTAINING_RECORD(device_entry, IRP, Tail.Overlay.DeviceQueueEntry)
            MyReadStartIo(DeviceObject, (Irp)device_entry.Container!);
        }

        IoCompleteRequest(Irp, IO_NO_INCREMENT);
    }

    /// <summary>The write timer's DPC: the current write is done (all its bytes "written"); start the next write.</summary>
    public static void WriteDone(KDpc Dpc, object? DeferredContext, object? SystemArgument1, object? SystemArgument2)
    {
        var DeviceObject = (DeviceObject)DeferredContext!;
        var pDevExt = (DEVICE_EXTENSION)DeviceObject.DeviceExtension!;
        Irp Irp = pDevExt.WriteQueue.CurrentIrp!;
        pDevExt.WriteQueue.CurrentIrp = null;
        KdPrint("WriteDone: a write is done\n");
        Irp.IoStatus.Status = STATUS_SUCCESS;
        Irp.IoStatus.Information = IoGetCurrentIrpStackLocation(Irp).Parameters.Write.Length;
        KDeviceQueueEntry? device_entry = KeRemoveDeviceQueue(pDevExt.WriteQueue.device_queue);
        if (device_entry is not null)
        {
            MyWriteStartIo(DeviceObject, (Irp)device_entry.Container!);
        }

        IoCompleteRequest(Irp, IO_NO_INCREMENT);
    }
}
