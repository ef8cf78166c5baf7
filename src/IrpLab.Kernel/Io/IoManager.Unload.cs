namespace IrpLab;

/// <summary>Driver unload (§8.3): the deferred unload of a legacy driver whose devices are still open, and the IRPs a driver still holds.</summary>
internal sealed partial class IoManager
{
    /// <summary>
    /// Marks the driver unload-pending. True when its unload routine may run now (no device referenced); false when
    /// the unload is deferred to the last reference, or already pending.
    /// </summary>
    private bool BeginUnload(DriverObject driver)
    {
        int references;
        lock (_drivers)
        {
            if (driver.UnloadPending)
            {
                return false;
            }

            driver.UnloadPending = true;
            references = ReferenceCount(driver);
            if (references == 0)
            {
                driver.UnloadStarted = true;
                return true;
            }
        }

        if (_machine.Trace.IsEnabled(TraceEventKind.DriverUnloaded))
        {
            _machine.Trace.Record(TraceEventKind.DriverUnloaded,
                "driver " + driver.Name + " unload pending: its devices are referenced by " + references + " file object(s); the unload routine runs when the last goes");
        }

        return false;
    }

    /// <summary>A file object of one of the driver's devices went away: a deferred unload whose last reference that was starts now.</summary>
    private void UnloadIfLastReference(DriverObject driver)
    {
        if (!Volatile.Read(ref driver.UnloadPending))
        {
            return;
        }

        lock (_drivers)
        {
            if (!driver.UnloadPending || driver.UnloadStarted || ReferenceCount(driver) != 0 || _machine.IsHalted)
            {
                return;
            }

            driver.UnloadStarted = true;
        }

        // MS Learn (Unload Routine Environment): the unload routine runs in a system thread at PASSIVE_LEVEL, not in
        // the context of whoever dropped the last reference.
        _machine.CreateThread(_machine.SystemProcess, "DriverUnload:" + driver.Name, () => RunUnloadRoutine(driver), isService: false);
    }

    /// <summary>Runs the unload routine in the calling system thread, checks what it left behind, and forgets the driver.</summary>
    private void RunUnloadRoutine(DriverObject driver)
    {
        DriverUnload unload = driver.DriverUnload!;

        // The routine deletes its devices; their queues are still checked afterwards.
        var devices = new List<DeviceObject>();
        lock (_drivers)
        {
            for (DeviceObject? d = driver.DeviceObject; d is not null; d = d.NextDevice)
            {
                devices.Add(d);
            }
        }

        CallDriverRoutine(driver, "DriverUnload", () =>
        {
            unload(driver);
            return NtStatus.STATUS_SUCCESS;
        });
        DriverUnloadChecks.AfterUnloadRoutine(_machine, driver, devices);
        driver.Unloaded = true;
        lock (_drivers)
        {
            _drivers.Remove(driver.Name);
        }

        _machine.Objects.RemoveName(driver);
        if (_machine.Trace.IsEnabled(TraceEventKind.DriverUnloaded))
        {
            _machine.Trace.Record(TraceEventKind.DriverUnloaded, "driver " + driver.Name + " unloaded");
        }
    }

    /// <summary>Open file objects on the driver's devices. Called holding the driver list's lock.</summary>
    private static int ReferenceCount(DriverObject driver)
    {
        int references = 0;
        for (DeviceObject? d = driver.DeviceObject; d is not null; d = d.NextDevice)
        {
            references += d.ReferenceCount;
        }

        return references;
    }

    /// <summary>
    /// The IRPs <paramref name="driver"/> still holds, for the unload check: requests (on their threads' IRP lists)
    /// whose current stack location is one of its devices or that carry a completion routine it registered, and IRPs
    /// in the queues of <paramref name="devices"/> (the driver's devices before its unload routine deleted them) or
    /// being started there (CurrentIrp). Packets on no thread's list and in no device queue (IoAllocateIrp packets the
    /// driver keeps in a list of its own) are not found.
    /// </summary>
    public void CollectHeldIrps(DriverObject driver, List<DeviceObject> devices, List<(Irp Irp, string Where)> into)
    {
        foreach (KThread thread in _machine.LiveThreads())
        {
            lock (_threadListLock)
            {
                for (Irp? irp = thread.IrpListHead; irp is not null; irp = irp.ThreadNext)
                {
                    if (irp.State == IrpState.Dispatched && HeldBy(driver, irp) is string where)
                    {
                        into.Add((irp, where + " (requested by " + thread + ")"));
                    }
                }
            }
        }

        foreach (DeviceObject d in devices)
        {
            if (d.CurrentIrp is Irp current && current.State == IrpState.Dispatched && !Contains(into, current))
            {
                into.Add((current, "the current IRP of " + d + " (StartIo)"));
            }

            foreach (KDeviceQueueEntry entry in d.DeviceQueue.Entries)
            {
                if (entry.Container is Irp queued && !Contains(into, queued))
                {
                    into.Add((queued, "queued in the device queue of " + d));
                }
            }
        }

        static bool Contains(List<(Irp Irp, string Where)> list, Irp irp)
        {
            foreach ((Irp held, _) in list)
            {
                if (held == irp)
                {
                    return true;
                }
            }

            return false;
        }
    }

    private static string? HeldBy(DriverObject driver, Irp irp)
    {
        if (irp.CurrentStackLocation?.DeviceObject is DeviceObject current && current.DriverObject == driver)
        {
            return "pending in " + current;
        }

        // A completion routine of the driver's is stored in the location below its own.
        for (int i = irp.CurrentLocation - 1; i >= 0 && i < irp.StackCount - 1; i++)
        {
            if (irp.Stack[i].CompletionRoutine is not null && irp.Stack[i + 1].DeviceObject is DeviceObject registrant && registrant.DriverObject == driver)
            {
                return "passed down by " + registrant + " with its completion routine " + irp.Stack[i].CompletionRoutine!.Method.Name;
            }
        }

        return null;
    }
}
