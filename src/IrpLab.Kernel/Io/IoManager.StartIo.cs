namespace IrpLab;

/// <summary>
/// StartIo (§9.2, §9.3): IoStartPacket, IoStartNextPacket(ByKey) over the device's KDEVICE_QUEUE, CurrentIrp, and
/// the DeferredStartIo / NonCancelable attributes. StartIo always runs at DISPATCH_LEVEL, one IRP at a time per device.
/// </summary>
internal sealed partial class IoManager
{
    /// <summary>
    /// IoStartPacket: raise to DISPATCH_LEVEL; with a cancel function, take the cancel spin lock and set it; queue
    /// the IRP (by key if given). If the device was idle it becomes CurrentIrp and StartIo runs now. If it was queued
    /// behind a busy device and is already cancelled, the cancel function is called here (with the cancel lock held
    /// and CancelIrql set), as Windows does to close the StartIo-versus-cancel window.
    /// </summary>
    public void StartPacket(KThread t, DeviceObject device, Irp irp, uint? key, DriverCancel? cancelFunction)
    {
        KernelChecks.RequireIrql(t, IrqlLevel.Dispatch, "IoStartPacket");
        KernelChecks.RaiseIrql(t, IrqlLevel.Dispatch, out byte oldIrql);
        byte cancelIrql = 0;
        if (cancelFunction is not null)
        {
            KernelChecks.AcquireSpinLock(t, CancelSpinLock, out cancelIrql);
            SetCancelRoutine(irp, cancelFunction);
        }

        KDeviceQueueEntry entry = irp.Tail.Overlay.DeviceQueueEntry;
        bool inserted = key is uint k ? device.DeviceQueue.Insert(entry, k) : device.DeviceQueue.Insert(entry, null);
        irp.History?.Add(_machine, IrpHistoryKind.Queued, cancelFunction);
        if (!inserted)
        {
            device.CurrentIrp = irp;
            if (device.NonCancelableStartIo)
            {
                SetCancelRoutine(irp, null);
            }

            if (cancelFunction is not null)
            {
                KernelChecks.ReleaseSpinLock(t, CancelSpinLock, cancelIrql, fromDpcLevelApi: false);
            }

            InvokeStartIo(t, device, irp);
        }
        else if (cancelFunction is not null)
        {
            if (irp.Cancel && SetCancelRoutine(irp, null) is DriverCancel routine)
            {
                // Cancelled before it was queued: the cancel routine removes it from the device queue and completes it.
                irp.CancelIrql = cancelIrql;
                CallCancelRoutine(t, device, irp, routine);
            }
            else
            {
                KernelChecks.ReleaseSpinLock(t, CancelSpinLock, cancelIrql, fromDpcLevelApi: false);
            }
        }

        KernelChecks.LowerIrql(t, oldIrql);
    }

    /// <summary>
    /// IoStartNextPacket / IoStartNextPacketByKey (DISPATCH_LEVEL): CurrentIrp = the next queued IRP (by key when
    /// given), and StartIo for it; when the queue is empty the device goes idle. With Cancelable the dequeue is
    /// serialised with cancellation by the cancel spin lock. With DeferredStartIo, a call made while StartIo runs is
    /// recorded and carried out when StartIo returns (no recursion).
    /// </summary>
    public void StartNextPacket(KThread t, DeviceObject device, bool cancelable, uint? key)
    {
        IrqlRules.RequireDispatchLevel(t, key is null ? "IoStartNextPacket" : "IoStartNextPacketByKey");
        if (device.DeferredStartIo && device.StartIoDepth > 0)
        {
            device.StartNextRequested = true;
            device.StartNextCancelable = cancelable;
            device.StartNextKey = key;
            return;
        }

        StartNextPacketNow(t, device, cancelable, key);
    }

    private void StartNextPacketNow(KThread t, DeviceObject device, bool cancelable, uint? key)
    {
        byte cancelIrql = 0;
        if (cancelable)
        {
            KernelChecks.AcquireSpinLock(t, CancelSpinLock, out cancelIrql);
        }

        device.CurrentIrp = null;
        KDeviceQueueEntry? entry = key is uint k ? device.DeviceQueue.RemoveByKey(k, onlyIfBusy: false) : device.DeviceQueue.RemoveHead();
        if (entry?.Container is Irp irp)
        {
            device.CurrentIrp = irp;
            if (device.NonCancelableStartIo)
            {
                SetCancelRoutine(irp, null);
            }

            if (cancelable)
            {
                KernelChecks.ReleaseSpinLock(t, CancelSpinLock, cancelIrql, fromDpcLevelApi: false);
            }

            InvokeStartIo(t, device, irp);
        }
        else if (cancelable)
        {
            KernelChecks.ReleaseSpinLock(t, CancelSpinLock, cancelIrql, fromDpcLevelApi: false);
        }
    }

    private void InvokeStartIo(KThread t, DeviceObject device, Irp irp)
    {
        DriverObject driver = device.DriverObject;
        DriverStartIo startIo = driver.DriverStartIo
            ?? throw _machine.RaiseBugCheck(BugCheckCatalogue.DRIVER_VERIFIER_DETECTED_VIOLATION, KernelChecks.VerifierGenericIrql, t.Irql, 0, 0,
                $"IoStartPacket on a device of {driver.Name}, which has no DriverStartIo routine.");
        byte irql = t.Irql;
        device.StartIoDepth++;
        using (new DriverCallScope(t, driver.Name, startIo))
        {
            try
            {
                startIo(device, irp);
            }
            catch (Exception ex) when (Machine.IsDriverFault(ex))
            {
                throw _machine.RaiseDriverException(t, ex);
            }
            finally
            {
                device.StartIoDepth--;
            }
        }

        if (t.Irql != irql && _machine.Verifies(driver.Name))
        {
            throw _machine.RaiseBugCheck(BugCheckCatalogue.IRQL_UNEXPECTED_VALUE, ((ulong)t.Irql << 16) | ((ulong)irql << 8) | 2, 0, 0, 0,
                $"{driver.Name}!{startIo.Method.Name} (StartIo) returned at {IrqlLevel.Name(t.Irql)} but was called at {IrqlLevel.Name(irql)}.");
        }

        // DeferredStartIo: the IoStartNextPacket call StartIo made is carried out now, iteratively.
        while (device.DeferredStartIo && device.StartIoDepth == 0 && device.StartNextRequested)
        {
            device.StartNextRequested = false;
            StartNextPacketNow(t, device, device.StartNextCancelable, device.StartNextKey);
        }
    }

    /// <summary>Calls a cancel routine with the cancel spin lock held (the routine releases it).</summary>
    private void CallCancelRoutine(KThread t, DeviceObject device, Irp irp, DriverCancel routine)
    {
        using var scope = new DriverCallScope(t, device.DriverObject.Name, routine);
        try
        {
            routine(device, irp);
        }
        catch (Exception ex) when (Machine.IsDriverFault(ex))
        {
            throw _machine.RaiseDriverException(t, ex);
        }
    }
}
