namespace IrpLab;

/// <summary>
/// The I/O manager: drivers and their device objects, symbolic links, and (in its other facets) IRPs, dispatch
/// and completion. Driver routines are called through <see cref="CallDriverRoutine"/> so that an exception a
/// driver throws stops the machine with the bug check Windows would raise instead of harming the host.
/// </summary>
internal sealed partial class IoManager
{
    public const uint DO_BUFFERED_IO = 0x4;
    public const uint DO_EXCLUSIVE = 0x8;
    public const uint DO_DIRECT_IO = 0x10;
    public const uint DO_DEVICE_INITIALIZING = 0x80;

    private readonly Machine _machine;
    private readonly Dictionary<string, DriverObject> _drivers = new(StringComparer.OrdinalIgnoreCase);

    public IoManager(Machine machine)
    {
        _machine = machine;
    }

    public DriverObject? FindDriver(string name)
    {
        lock (_drivers)
        {
            return _drivers.GetValueOrDefault(name);
        }
    }

    /// <summary>Runs DriverEntry in the calling (system) thread; on success clears DO_DEVICE_INITIALIZING.</summary>
    public NtStatus LoadDriver(string name, DriverInitialize entry)
    {
        var driver = new DriverObject(_machine, name);
        lock (_drivers)
        {
            if (!_drivers.TryAdd(name, driver))
            {
                return NtStatus.STATUS_OBJECT_NAME_COLLISION;
            }
        }

        _machine.Objects.Insert(driver.DriverName, driver);
        NtStatus status = CallDriverRoutine(driver, "DriverEntry", () => entry(driver, "\\Registry\\Machine\\System\\CurrentControlSet\\Services\\" + name));
        if (!NtStatusClass.IsSuccess(status))
        {
            lock (_drivers)
            {
                _drivers.Remove(name);
            }

            _machine.Objects.RemoveName(driver);
            return status;
        }

        // Legacy drivers: the I/O manager clears the flag on devices created in DriverEntry
        // (ReactOS driver.c; long-standing Windows behaviour, UNCONFIRMED in current MS Learn pages).
        for (DeviceObject? d = driver.DeviceObject; d is not null; d = d.NextDevice)
        {
            d.Flags &= ~DO_DEVICE_INITIALIZING;
        }

        if (_machine.Trace.IsEnabled(TraceEventKind.DriverLoaded))
        {
            _machine.Trace.Record(TraceEventKind.DriverLoaded, "driver " + name + " loaded: " + NtStatusClass.Format(status));
        }

        return status;
    }

    /// <summary>
    /// Unloads a legacy driver (§8.3). Its devices are marked unload-pending, so new opens fail with
    /// STATUS_NO_SUCH_DEVICE. If none of them is referenced by a file object, the unload routine runs now, in the
    /// calling system thread, and the result is STATUS_SUCCESS. Otherwise the unload is deferred: the routine runs on a
    /// system thread when the last reference goes, and the result is STATUS_PENDING. (ReactOS's IopUnloadDriver returns
    /// STATUS_SUCCESS for a deferred unload, so its caller cannot tell; the hosting API returns STATUS_PENDING so that a
    /// host can.)
    /// </summary>
    public NtStatus UnloadDriver(string name)
    {
        DriverObject? driver = FindDriver(name);
        if (driver is null)
        {
            return NtStatus.STATUS_OBJECT_NAME_NOT_FOUND;
        }

        if (driver.DriverUnload is null)
        {
            // A legacy driver without an unload routine cannot be stopped.
            return NtStatus.STATUS_INVALID_DEVICE_REQUEST;
        }

        if (!BeginUnload(driver))
        {
            return NtStatus.STATUS_PENDING;
        }

        RunUnloadRoutine(driver);
        return NtStatus.STATUS_SUCCESS;
    }

    public NtStatus CreateDevice(DriverObject driver, object? extension, string? name, uint deviceType, uint characteristics, bool exclusive, out DeviceObject? device)
    {
        var d = new DeviceObject(driver, deviceType, characteristics, extension)
        {
            Flags = DO_DEVICE_INITIALIZING | (exclusive ? DO_EXCLUSIVE : 0),
        };
        if (name is not null)
        {
            NtStatus status = _machine.Objects.Insert(name, d);
            if (status != NtStatus.STATUS_SUCCESS)
            {
                device = null;
                return status;
            }
        }

        lock (_drivers)
        {
            d.NextDevice = driver.DeviceObject;
            driver.DeviceObject = d;
        }

        device = d;
        return NtStatus.STATUS_SUCCESS;
    }

    public void DeleteDevice(DeviceObject device)
    {
        _machine.Objects.RemoveName(device);
        lock (_drivers)
        {
            DriverObject driver = device.DriverObject;
            if (driver.DeviceObject == device)
            {
                driver.DeviceObject = device.NextDevice;
            }
            else
            {
                for (DeviceObject? d = driver.DeviceObject; d is not null; d = d.NextDevice)
                {
                    if (d.NextDevice == device)
                    {
                        d.NextDevice = device.NextDevice;
                        break;
                    }
                }
            }

            device.NextDevice = null;
            if (device.ReferenceCount > 0)
            {
                device.DeletePending = true;
            }
            else
            {
                device.Deleted = true;
            }
        }
    }

    public NtStatus CreateSymbolicLink(string linkName, string target)
        => _machine.Objects.Insert(linkName, new SymbolicLinkObject(target) { IsManaged = false });

    public NtStatus DeleteSymbolicLink(string linkName)
    {
        SymbolicLinkObject? link = _machine.Objects.FindLink(linkName);
        if (link is null)
        {
            return NtStatus.STATUS_OBJECT_NAME_NOT_FOUND;
        }

        _machine.Objects.RemoveName(link);
        return NtStatus.STATUS_SUCCESS;
    }

    /// <summary>
    /// Calls a driver routine on the current thread, recording it for crash attribution. An exception that escapes
    /// the driver is KMODE_EXCEPTION_NOT_HANDLED (0x1E) on a thread that entered the kernel from user mode, and
    /// SYSTEM_THREAD_EXCEPTION_NOT_HANDLED (0x7E) on a system thread.
    /// </summary>
    public NtStatus CallDriverRoutine(DriverObject driver, string routine, Func<NtStatus> call)
    {
        KThread thread = KThread.Current;
        using var scope = new DriverCallScope(thread, driver.Name, null, routine);
        try
        {
            return call();
        }
        catch (Exception ex) when (Machine.IsDriverFault(ex))
        {
            throw _machine.RaiseDriverException(thread, ex);
        }
    }
}
