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
}
