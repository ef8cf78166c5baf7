namespace IrpLab;

public sealed partial class DeviceObject
{
    /// <summary>
    /// DEVICE_OBJECT.DeviceQueue: the queue IoStartPacket and IoStartNextPacket use; idle (not busy, empty) when the
    /// device is created.
    /// </summary>
    public KDeviceQueue DeviceQueue { get; } = new();

    /// <summary>DEVICE_OBJECT.Dpc: the DpcForIsr's DPC object (IoInitializeDpcRequest, IoRequestDpc).</summary>
    public KDpc Dpc { get; } = new();

    /// <summary>IoSetStartIoAttributes: DeferredStartIo.</summary>
    internal bool DeferredStartIo;

    /// <summary>IoSetStartIoAttributes: NonCancelable.</summary>
    internal bool NonCancelableStartIo;

    /// <summary>StartIo for this device is running (for DeferredStartIo).</summary>
    internal int StartIoDepth;

    /// <summary>IoStartNextPacket was called during StartIo with DeferredStartIo: what to do when StartIo returns.</summary>
    internal bool StartNextRequested;

    internal bool StartNextCancelable;

    internal uint? StartNextKey;
}
