namespace IrpLab;

public static partial class Wdm
{

    public const uint FILE_DEVICE_SECURE_OPEN = 0x100;

    public const uint DO_VERIFY_VOLUME = 0x2;
    public const uint DO_BUFFERED_IO = IoManager.DO_BUFFERED_IO;
    public const uint DO_EXCLUSIVE = IoManager.DO_EXCLUSIVE;
    public const uint DO_DIRECT_IO = IoManager.DO_DIRECT_IO;
    public const uint DO_MAP_IO_BUFFER = 0x20;
    public const uint DO_DEVICE_INITIALIZING = IoManager.DO_DEVICE_INITIALIZING;
    public const uint DO_POWER_PAGABLE = 0x2000;

    /// <summary>
    /// IoCreateDevice. The C routine's DeviceExtensionSize becomes the extension object itself: pass
    /// <c>new MY_DEVICE_EXTENSION()</c> (or null). The device starts with DO_DEVICE_INITIALIZING, which the I/O
    /// manager clears when DriverEntry returns. On failure DeviceObject is null.
    /// </summary>
    public static NtStatus IoCreateDevice(DriverObject DriverObject, object? DeviceExtension, UnicodeString? DeviceName, uint DeviceType, uint DeviceCharacteristics, bool Exclusive, out DeviceObject DeviceObject)
    {
        ArgumentNullException.ThrowIfNull(DriverObject);
        KThread t = KThread.Current;
        KernelChecks.RequireIrql(t, IrqlLevel.Apc, "IoCreateDevice");
        NtStatus status = t.Machine.Io.CreateDevice(DriverObject, DeviceExtension, DeviceName?.Buffer, DeviceType, DeviceCharacteristics, Exclusive, out DeviceObject? device);
        DeviceObject = device!;
        return status;
    }

    /// <summary>IoCreateDevice with an extension of type <typeparamref name="TExtension"/> created for the device.</summary>
    public static NtStatus IoCreateDevice<TExtension>(DriverObject DriverObject, UnicodeString? DeviceName, uint DeviceType, uint DeviceCharacteristics, bool Exclusive, out DeviceObject DeviceObject)
        where TExtension : new()
        => IoCreateDevice(DriverObject, new TExtension(), DeviceName, DeviceType, DeviceCharacteristics, Exclusive, out DeviceObject);

    /// <summary>IoDeleteDevice: removes the device (delete-pending while file objects still reference it).</summary>
    public static void IoDeleteDevice(DeviceObject DeviceObject)
    {
        ArgumentNullException.ThrowIfNull(DeviceObject);
        KThread t = KThread.Current;
        KernelChecks.RequireIrql(t, IrqlLevel.Apc, "IoDeleteDevice");
        t.Machine.Io.DeleteDevice(DeviceObject);
    }

    /// <summary>IoCreateSymbolicLink: \DosDevices\Name (= \??\Name) → \Device\Name. PASSIVE_LEVEL.</summary>
    public static NtStatus IoCreateSymbolicLink(UnicodeString SymbolicLinkName, UnicodeString DeviceName)
    {
        KThread t = KThread.Current;
        KernelChecks.RequireIrql(t, IrqlLevel.Passive, "IoCreateSymbolicLink");
        return t.Machine.Io.CreateSymbolicLink(SymbolicLinkName, DeviceName);
    }

    /// <summary>IoDeleteSymbolicLink. PASSIVE_LEVEL.</summary>
    public static NtStatus IoDeleteSymbolicLink(UnicodeString SymbolicLinkName)
    {
        KThread t = KThread.Current;
        KernelChecks.RequireIrql(t, IrqlLevel.Passive, "IoDeleteSymbolicLink");
        return t.Machine.Io.DeleteSymbolicLink(SymbolicLinkName);
    }
}
