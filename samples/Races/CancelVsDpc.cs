using static IrpLab.NtStatus;
using static IrpLab.Wdm;

namespace IrpLab.Samples.Races;

/// <summary>
/// "Completing from both the cancel routine and the DPC." A read is pended with a cancel routine and a one-second
/// timer whose DPC completes it. The buggy DPC reads the IRP from the driver's slot without emptying it and completes
/// it without asking whether the cancel routine got there first; when the application's CancelIo lands at the same moment, both
/// complete it: MULTIPLE_IRP_COMPLETE_REQUESTS (0x44). The fixed driver keeps the pending IRP in a slot guarded by a
/// spin lock: whoever takes it out of the slot (the DPC or the cancel routine) completes it, and nobody else.
/// </summary>
public static class CancelVsDpc
{
    private sealed class Extension
    {
        public readonly KSpinLock Lock = new();
        public readonly KTimer Timer = new();
        public readonly KDpc Dpc = new();
        public Irp? Pending;
        public bool Fixed;
    }

    public static Func<Machine, int> Host(bool fixedDriver) => machine =>
    {
        machine.LoadDriver("RaceDpc", (driver, path) => DriverEntry(driver, fixedDriver));
        int exit = machine.Run("app", RaceApp.ReadThenCancelAtOneSecond("RaceDpc"));
        machine.UnloadDriver("RaceDpc");
        return exit;
    };

    private static NtStatus DriverEntry(DriverObject driver, bool fixedDriver)
    {
        var ext = new Extension { Fixed = fixedDriver };
        NtStatus status = IoCreateDevice(driver, ext, "\\Device\\RaceDpc", FILE_DEVICE_UNKNOWN, 0, FALSE, out DeviceObject device);
        if (!NT_SUCCESS(status))
        {
            return status;
        }

        device.Flags |= DO_BUFFERED_IO;
        KeInitializeSpinLock(ext.Lock);
        KeInitializeTimer(ext.Timer);
        KeInitializeDpc(ext.Dpc, TimerDpc, ext);
        RaceDriver.InstallCreateClose(driver);
        driver.MajorFunction[IRP_MJ_READ] = Read;
        driver.DriverUnload = d =>
        {
            KeCancelTimer(ext.Timer);
            KeFlushQueuedDpcs();
            IoDeleteSymbolicLink("\\DosDevices\\RaceDpc");
            IoDeleteDevice(d.DeviceObject!);
        };
        return IoCreateSymbolicLink("\\DosDevices\\RaceDpc", "\\Device\\RaceDpc");
    }

    private static NtStatus Read(DeviceObject device, Irp irp)
    {
        var ext = (Extension)device.DeviceExtension!;
        IoMarkIrpPending(irp);
        KeAcquireSpinLock(ext.Lock, out byte irql);
        ext.Pending = irp;
        IoSetCancelRoutine(irp, Cancel);
        KeReleaseSpinLock(ext.Lock, irql);

        // One second of "device time"; the DPC finds the IRP in ext.Pending.
        KeSetTimer(ext.Timer, RELATIVE(SECONDS(1)), ext.Dpc);
        return STATUS_PENDING;
    }

    private static void TimerDpc(KDpc dpc, object? context, object? argument1, object? argument2)
    {
        var ext = (Extension)context!;
        Irp? irp;
        KeAcquireSpinLockAtDpcLevel(ext.Lock);
        irp = ext.Pending;
        if (ext.Fixed)
        {
            // Whoever takes the IRP out of the slot owns it.
            ext.Pending = null;
        }

        KeReleaseSpinLockFromDpcLevel(ext.Lock);
        if (irp is null)
        {
            return;
        }

        // The bug: the return value is ignored, so a cancel routine that already took the IRP is not noticed.
        IoSetCancelRoutine(irp, null);
        irp.IoStatus.Status = STATUS_SUCCESS;
        irp.IoStatus.Information = 0;
        IoCompleteRequest(irp, IO_NO_INCREMENT);
    }

    private static void Cancel(DeviceObject device, Irp irp)
    {
        var ext = (Extension)device.DeviceExtension!;
        IoReleaseCancelSpinLock(irp.CancelIrql);
        KeAcquireSpinLock(ext.Lock, out byte irql);
        bool mine = ext.Pending == irp || !ext.Fixed;
        if (ext.Pending == irp)
        {
            ext.Pending = null;
        }

        KeReleaseSpinLock(ext.Lock, irql);
        if (mine)
        {
            irp.IoStatus.Status = STATUS_CANCELLED;
            irp.IoStatus.Information = 0;
            IoCompleteRequest(irp, IO_NO_INCREMENT);
        }
    }
}
