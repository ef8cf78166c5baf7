namespace IrpLab;

/// <summary>
/// DEVICE_OBJECT. Created by IoCreateDevice with DO_DEVICE_INITIALIZING set (cleared by the I/O manager when
/// DriverEntry returns), StackSize 1 and an idle device queue. <see cref="ReferenceCount"/> counts open file objects.
/// </summary>
public sealed partial class DeviceObject : KernelObject
{
    internal DeviceObject(DriverObject driver, uint deviceType, uint characteristics, object? extension)
    {
        DriverObject = driver;
        DeviceType = deviceType;
        Characteristics = characteristics;
        DeviceExtension = extension;
    }

    public DriverObject DriverObject { get; }

    /// <summary>The next device object of the same driver.</summary>
    public DeviceObject? NextDevice { get; internal set; }

    /// <summary>The device attached on top of this one, if any.</summary>
    public DeviceObject? AttachedDevice { get; internal set; }

    /// <summary>The driver's per-device state (what the C code reaches through DeviceExtension).</summary>
    public object? DeviceExtension { get; }

    /// <summary>DO_* flags.</summary>
    public uint Flags { get; set; }

    public uint Characteristics { get; set; }

    public uint DeviceType { get; }

    /// <summary>Stack locations an IRP for this device needs: 1 + the stack below it.</summary>
    public sbyte StackSize { get; set; } = 1;

    /// <summary>The IRP StartIo is working on (IoStartPacket / IoStartNextPacket).</summary>
    public Irp? CurrentIrp { get; internal set; }

    /// <summary>Open file objects on this device.</summary>
    public int ReferenceCount { get; internal set; }

    /// <summary>The device this one is attached on top of (DEVOBJ_EXTENSION.AttachedTo).</summary>
    internal DeviceObject? AttachedTo;

    internal bool DeletePending;

    internal bool Deleted;

    internal override ObjectType Type => ObjectType.Device;

    public override string ToString() => ObjectName is null ? "device of " + DriverObject.Name : "\\Device\\" + ObjectName;
}
