namespace IrpLab;

public static partial class Wdm
{
    /// <summary>
    /// IoStartPacket: the dispatch routine's "queue it for StartIo" (after IoMarkIrpPending; then return
    /// STATUS_PENDING). Key null queues FIFO, else by ascending key. CancelFunction makes the queued IRP cancelable.
    /// </summary>
    public static void IoStartPacket(DeviceObject DeviceObject, Irp Irp, uint? Key, DriverCancel? CancelFunction)
    {
        ArgumentNullException.ThrowIfNull(DeviceObject);
        ArgumentNullException.ThrowIfNull(Irp);
        KThread t = KThread.Current;
        t.Machine.Io.StartPacket(t, DeviceObject, Irp, Key, CancelFunction);
    }

    /// <summary>IoStartNextPacket (DISPATCH_LEVEL): start the next queued IRP; Cancelable if IoStartPacket was given a cancel function.</summary>
    public static void IoStartNextPacket(DeviceObject DeviceObject, bool Cancelable)
    {
        ArgumentNullException.ThrowIfNull(DeviceObject);
        KThread t = KThread.Current;
        t.Machine.Io.StartNextPacket(t, DeviceObject, Cancelable, null);
    }

    /// <summary>IoStartNextPacketByKey (DISPATCH_LEVEL): the first queued IRP whose key is at least Key.</summary>
    public static void IoStartNextPacketByKey(DeviceObject DeviceObject, bool Cancelable, uint Key)
    {
        ArgumentNullException.ThrowIfNull(DeviceObject);
        KThread t = KThread.Current;
        t.Machine.Io.StartNextPacket(t, DeviceObject, Cancelable, Key);
    }

    /// <summary>
    /// IoSetStartIoAttributes: DeferredStartIo (IoStartNextPacket inside StartIo does not recurse; StartIo is called
    /// again when it returns) and NonCancelable (the I/O manager clears the cancel routine of the IRP it starts).
    /// </summary>
    public static void IoSetStartIoAttributes(DeviceObject DeviceObject, bool DeferredStartIo, bool NonCancelable)
    {
        ArgumentNullException.ThrowIfNull(DeviceObject);
        DeviceObject.DeferredStartIo = DeferredStartIo;
        DeviceObject.NonCancelableStartIo = NonCancelable;
    }
}
