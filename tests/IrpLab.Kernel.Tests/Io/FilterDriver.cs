using static IrpLab.NtStatus;
using static IrpLab.Wdm;

namespace IrpLab.Tests.Io;

/// <summary>
/// A filter driver for the stack tests: in DriverEntry it creates an unnamed device, attaches it on top of
/// <see cref="Target"/>'s stack with IoAttachDeviceToDeviceStack and copies the buffering flags from the device
/// below. Every major function goes to <see cref="Dispatch"/> (pass-through with IoSkipCurrentIrpStackLocation
/// unless a test replaces it); each IRP is logged first.
/// </summary>
internal sealed class FilterDriver
{
    private readonly Lock _lock = new();
    private readonly List<IrpRecord> _log = [];

    public FilterDriver(string name, DeviceObject target)
    {
        Name = name;
        Target = target;
        Dispatch = PassThrough;
    }

    public string Name { get; }

    public DeviceObject Target { get; }

    /// <summary>The filter's own device.</summary>
    public DeviceObject Device { get; private set; } = null!;

    /// <summary>What IoAttachDeviceToDeviceStack returned: the device the filter forwards to.</summary>
    public DeviceObject Lower { get; private set; } = null!;

    public DriverDispatch Dispatch { get; set; }

    public IrpRecord[] Log
    {
        get
        {
            lock (_lock)
            {
                return [.. _log];
            }
        }
    }

    public void Load(Machine machine) => Assert.Equal(STATUS_SUCCESS, machine.LoadDriver(Name, DriverEntry));

    public NtStatus DriverEntry(DriverObject DriverObject, UnicodeString RegistryPath)
    {
        NtStatus status = IoCreateDevice(DriverObject, null, null, FILE_DEVICE_UNKNOWN, 0, FALSE, out DeviceObject device);
        if (!NT_SUCCESS(status))
        {
            return status;
        }

        DeviceObject? lower = IoAttachDeviceToDeviceStack(device, Target);
        if (lower is null)
        {
            IoDeleteDevice(device);
            return STATUS_NO_SUCH_DEVICE;
        }

        Device = device;
        Lower = lower;

        // A filter takes the buffering method of the device below (§4.1).
        device.Flags |= lower.Flags & (DO_BUFFERED_IO | DO_DIRECT_IO);
        device.Flags &= ~DO_DEVICE_INITIALIZING;
        for (int major = 0; major <= IRP_MJ_MAXIMUM_FUNCTION; major++)
        {
            DriverObject.MajorFunction[major] = DispatchAny;
        }

        return STATUS_SUCCESS;
    }

    private NtStatus DispatchAny(DeviceObject DeviceObject, Irp Irp)
    {
        IoStackLocation location = IoGetCurrentIrpStackLocation(Irp);
        lock (_lock)
        {
            _log.Add(new IrpRecord(location.MajorFunction, location.FileObject, PsGetCurrentThread().Id, PsGetCurrentProcess(), (long)KeQueryInterruptTime(), KeGetCurrentIrql(), Irp));
        }

        return Dispatch(DeviceObject, Irp);
    }

    /// <summary>The plain pass-through: the lower driver reuses this location (§3.2).</summary>
    public NtStatus PassThrough(DeviceObject DeviceObject, Irp Irp)
    {
        IoSkipCurrentIrpStackLocation(Irp);
        return IoCallDriver(Lower, Irp);
    }
}
