namespace IrpLab;

/// <summary>DRIVER_INITIALIZE: DriverEntry.</summary>
public delegate NtStatus DriverInitialize(DriverObject DriverObject, UnicodeString RegistryPath);

/// <summary>DRIVER_DISPATCH: a dispatch routine.</summary>
public delegate NtStatus DriverDispatch(DeviceObject DeviceObject, Irp Irp);

/// <summary>DRIVER_UNLOAD.</summary>
public delegate void DriverUnload(DriverObject DriverObject);

/// <summary>DRIVER_STARTIO.</summary>
public delegate void DriverStartIo(DeviceObject DeviceObject, Irp Irp);

/// <summary>DRIVER_CANCEL.</summary>
public delegate void DriverCancel(DeviceObject DeviceObject, Irp Irp);

/// <summary>IO_COMPLETION_ROUTINE.</summary>
public delegate NtStatus IoCompletionRoutine(DeviceObject? DeviceObject, Irp Irp, object? Context);

/// <summary>KSTART_ROUTINE: a system thread's body.</summary>
public delegate void KStartRoutine(object? StartContext);
