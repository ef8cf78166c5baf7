using static IrpLab.NtStatus;
using static IrpLab.Wdm;

namespace IrpLab.Samples.Races;

/// <summary>
/// "StartIo versus cancel without the cancel-lock check" (nt-io-semantics §9.4). Reads are queued with
/// IoStartPacket and the seed's OnCancelIRP; each takes one virtual second (a timer DPC completes the IRP StartIo
/// started and starts the next). The buggy StartIo just clears the cancel routine and starts the device. A cancel
/// that arrives after IoStartNextPacket made the IRP current but before StartIo cleared the routine runs
/// OnCancelIRP's CurrentIrp branch, which completes the IRP — and the DPC completes it again a second later: 0x44.
/// The fixed StartIo is the seed's: under the cancel spin lock it returns if the IRP is no longer current or has
/// been cancelled, and only then clears the routine.
/// </summary>
public static class StartIoCancel
{
    private sealed class Extension
    {
        public readonly KTimer Timer = new();
        public readonly KDpc Dpc = new();
        public Irp? Processing;
        public bool Fixed;
    }

    public static Func<Machine, int> Host(bool fixedDriver) => machine =>
    {
        machine.LoadDriver("RaceStartIo", (driver, path) => DriverEntry(driver, fixedDriver));
        int exit = machine.Run("app", RaceApp.TwoReadsCancelSecondAtOneSecond("RaceStartIo"));
        machine.UnloadDriver("RaceStartIo");
        return exit;
    };

    private static NtStatus DriverEntry(DriverObject driver, bool fixedDriver)
    {
        var ext = new Extension { Fixed = fixedDriver };
        NtStatus status = IoCreateDevice(driver, ext, "\\Device\\RaceStartIo", FILE_DEVICE_UNKNOWN, 0, FALSE, out DeviceObject device);
        if (!NT_SUCCESS(status))
        {
            return status;
        }

        device.Flags |= DO_BUFFERED_IO;
        KeInitializeTimer(ext.Timer);
        KeInitializeDpc(ext.Dpc, DeviceDone, device);
        RaceDriver.InstallCreateClose(driver);
        driver.MajorFunction[IRP_MJ_READ] = HelloDDKRead;
        driver.DriverStartIo = HelloDDKStartIO;
        driver.DriverUnload = d =>
        {
            KeCancelTimer(ext.Timer);
            KeFlushQueuedDpcs();
            IoDeleteSymbolicLink("\\DosDevices\\RaceStartIo");
            IoDeleteDevice(d.DeviceObject!);
        };
        return IoCreateSymbolicLink("\\DosDevices\\RaceStartIo", "\\Device\\RaceStartIo");
    }

    private static NtStatus HelloDDKRead(DeviceObject pDevObj, Irp pIrp)
    {
        IoMarkIrpPending(pIrp);
        IoStartPacket(pDevObj, pIrp, null, OnCancelIRP);
        return STATUS_PENDING;
    }

    /// <summary>The seed's OnCancelIRP (raising to DISPATCH_LEVEL for IoStartNextPacket, as it must be called there).</summary>
    private static void OnCancelIRP(DeviceObject DeviceObject, Irp Irp)
    {
        if (Irp == DeviceObject.CurrentIrp)
        {
            // Being handed to StartIo right now.
            byte cancelIrql = Irp.CancelIrql;
            IoReleaseCancelSpinLock(cancelIrql);
            KeRaiseIrql(DISPATCH_LEVEL, out byte oldirql);
            IoStartNextPacket(DeviceObject, TRUE);
            KeLowerIrql(oldirql);
        }
        else
        {
            KeRemoveEntryDeviceQueue(DeviceObject.DeviceQueue, Irp.Tail.Overlay.DeviceQueueEntry);
            IoReleaseCancelSpinLock(Irp.CancelIrql);
        }

        Irp.IoStatus.Status = STATUS_CANCELLED;
        Irp.IoStatus.Information = 0;
        IoCompleteRequest(Irp, IO_NO_INCREMENT);
    }

    private static void HelloDDKStartIO(DeviceObject DeviceObject, Irp Irp)
    {
        var ext = (Extension)DeviceObject.DeviceExtension!;
        if (ext.Fixed)
        {
            IoAcquireCancelSpinLock(out byte oldirql);
            if (Irp != DeviceObject.CurrentIrp || Irp.Cancel)
            {
                // Cancelled while it was being started: the cancel routine completes it.
                IoReleaseCancelSpinLock(oldirql);
                return;
            }

            IoSetCancelRoutine(Irp, null);
            IoReleaseCancelSpinLock(oldirql);
        }
        else
        {
            // The bug: no check under the cancel lock; the routine's return value is ignored.
            IoSetCancelRoutine(Irp, null);
        }

        // Program the "device": one second, then the DPC.
        ext.Processing = Irp;
        KeSetTimer(ext.Timer, RELATIVE(SECONDS(1)), ext.Dpc);
    }

    private static void DeviceDone(KDpc dpc, object? context, object? argument1, object? argument2)
    {
        var device = (DeviceObject)context!;
        var ext = (Extension)device.DeviceExtension!;
        Irp irp = ext.Processing!;
        ext.Processing = null;
        IoStartNextPacket(device, TRUE);
        irp.IoStatus.Status = STATUS_SUCCESS;
        irp.IoStatus.Information = 0;
        IoCompleteRequest(irp, IO_NO_INCREMENT);
    }
}
