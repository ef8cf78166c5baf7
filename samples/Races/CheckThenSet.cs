using static IrpLab.NtStatus;
using static IrpLab.Wdm;

namespace IrpLab.Samples.Races;

/// <summary>
/// "Setting the cancel routine after checking Irp->Cancel." The buggy read routine tests Irp->Cancel, then takes its
/// queue lock and sets the cancel routine. A cancel that lands in between finds no routine (IoCancelIrp returns
/// FALSE) and is lost: the read is never completed and the application waits forever — a deadlock. The fixed
/// routine sets the cancel routine first and then tests Irp->Cancel, taking the routine back with
/// IoSetCancelRoutine(Irp, NULL) (MS Learn, "Synchronizing IRP Cancellation").
/// </summary>
public static class CheckThenSet
{
    private sealed class Extension
    {
        public readonly KSpinLock Lock = new();
        public readonly ListEntry Queue = new();
        public bool Fixed;
    }

    public static Func<Machine, int> Host(bool fixedDriver) => machine =>
    {
        machine.LoadDriver("RaceSet", (driver, path) => DriverEntry(driver, fixedDriver));
        int exit = machine.Run("app", RaceApp.ReadWhileAnotherThreadCancels("RaceSet"));
        machine.UnloadDriver("RaceSet");
        return exit;
    };

    private static NtStatus DriverEntry(DriverObject driver, bool fixedDriver)
    {
        var ext = new Extension { Fixed = fixedDriver };
        NtStatus status = IoCreateDevice(driver, ext, "\\Device\\RaceSet", FILE_DEVICE_UNKNOWN, 0, FALSE, out DeviceObject device);
        if (!NT_SUCCESS(status))
        {
            return status;
        }

        device.Flags |= DO_BUFFERED_IO;
        KeInitializeSpinLock(ext.Lock);
        InitializeListHead(ext.Queue);
        RaceDriver.InstallCreateClose(driver);
        driver.MajorFunction[IRP_MJ_READ] = Read;
        driver.DriverUnload = d =>
        {
            IoDeleteSymbolicLink("\\DosDevices\\RaceSet");
            IoDeleteDevice(d.DeviceObject!);
        };
        return IoCreateSymbolicLink("\\DosDevices\\RaceSet", "\\Device\\RaceSet");
    }

    private static NtStatus Read(DeviceObject device, Irp irp)
    {
        var ext = (Extension)device.DeviceExtension!;
        if (!ext.Fixed)
        {
            // The bug: the test comes before the routine is in place, outside any lock IoCancelIrp respects.
            if (irp.Cancel)
            {
                irp.IoStatus.Status = STATUS_CANCELLED;
                IoCompleteRequest(irp, IO_NO_INCREMENT);
                return STATUS_CANCELLED;
            }

            IoMarkIrpPending(irp);
            KeAcquireSpinLock(ext.Lock, out byte irql);
            IoSetCancelRoutine(irp, Cancel);
            InsertTailList(ext.Queue, irp.Tail.Overlay.ListEntry);
            KeReleaseSpinLock(ext.Lock, irql);
            return STATUS_PENDING;
        }

        IoMarkIrpPending(irp);
        KeAcquireSpinLock(ext.Lock, out byte lockIrql);
        IoSetCancelRoutine(irp, Cancel);
        if (irp.Cancel && IoSetCancelRoutine(irp, null) is not null)
        {
            // Cancelled before the routine was in place, and we took it back: we complete it.
            KeReleaseSpinLock(ext.Lock, lockIrql);
            irp.IoStatus.Status = STATUS_CANCELLED;
            IoCompleteRequest(irp, IO_NO_INCREMENT);
            return STATUS_PENDING;
        }

        // Otherwise it is queued; if the cancel routine is already on its way it will find it here.
        InsertTailList(ext.Queue, irp.Tail.Overlay.ListEntry);
        KeReleaseSpinLock(ext.Lock, lockIrql);
        return STATUS_PENDING;
    }

    private static void Cancel(DeviceObject device, Irp irp)
    {
        var ext = (Extension)device.DeviceExtension!;
        IoReleaseCancelSpinLock(irp.CancelIrql);
        KeAcquireSpinLock(ext.Lock, out byte irql);
        RemoveEntryList(irp.Tail.Overlay.ListEntry);
        KeReleaseSpinLock(ext.Lock, irql);
        irp.IoStatus.Status = STATUS_CANCELLED;
        irp.IoStatus.Information = 0;
        IoCompleteRequest(irp, IO_NO_INCREMENT);
    }
}
