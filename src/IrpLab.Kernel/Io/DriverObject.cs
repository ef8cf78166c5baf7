namespace IrpLab;

/// <summary>
/// DRIVER_OBJECT. DriverEntry fills <see cref="MajorFunction"/>, <see cref="DriverUnload"/> and
/// <see cref="DriverStartIo"/>. Unset dispatch entries behave as the I/O manager's default routine, which
/// completes the IRP with STATUS_INVALID_DEVICE_REQUEST.
/// </summary>
public sealed class DriverObject : KernelObject
{
    internal DriverObject(Machine machine, string name)
    {
        Machine = machine;
        DriverName = "\\Driver\\" + name;
        Name = name;
    }

    /// <summary>IRP_MJ_CREATE .. IRP_MJ_PNP.</summary>
    public DriverDispatch?[] MajorFunction { get; } = new DriverDispatch?[0x1C];

    public DriverUnload? DriverUnload { get; set; }

    public DriverStartIo? DriverStartIo { get; set; }

    /// <summary>The first of the driver's device objects (linked through NextDevice, newest first).</summary>
    public DeviceObject? DeviceObject { get; internal set; }

    public UnicodeString DriverName { get; }

    /// <summary>The short name the driver was loaded under.</summary>
    public string Name { get; }

    internal Machine Machine { get; }

    internal bool Unloaded;

    /// <summary>UnloadDriver was called: new opens fail; the unload routine runs once no device is referenced.</summary>
    internal bool UnloadPending;

    /// <summary>The unload routine has been called (or a thread to call it has been started).</summary>
    internal bool UnloadStarted;

    internal override ObjectType Type => ObjectType.Driver;

    public override string ToString() => Name;
}
