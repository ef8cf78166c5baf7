using static IrpLab.NtStatus;
using static IrpLab.Wdm;
using SampleDriver = IrpLab.Samples.StartIo.Driver;

namespace IrpLab.Tests.StartIo;

/// <summary>
/// The startio sample's driver with the StartIo-versus-cancel handling broken in the classic ways (§9.4), for the
/// race tests: the same device, queue, timer and DPC, other routines.
/// </summary>
internal static class BuggyStartIoDrivers
{
    /// <summary>
    /// A cancel routine that completes whatever IRP it is given, CurrentIrp included, and a StartIo that clears the
    /// cancel routine without the cancel spin lock and without looking at IoSetCancelRoutine's result, Irp->Cancel or
    /// CurrentIrp. A cancel landing between IoStartNextPacket and StartIo completes the IRP, and then the timer's DPC
    /// completes it again: MULTIPLE_IRP_COMPLETE_REQUESTS.
    /// </summary>
    public static NtStatus UncheckedStartIo(DriverObject DriverObject, UnicodeString RegistryPath)
    {
        NtStatus status = SampleDriver.DriverEntry(DriverObject, RegistryPath);
        DriverObject.MajorFunction[IRP_MJ_READ] = ReadWithNaiveCancel;
        DriverObject.DriverStartIo = StartIoWithoutChecks;
        return status;
    }

    /// <summary>
    /// The seed's OnCancelIRP exactly as written: in the CurrentIrp branch it releases the cancel spin lock with
    /// Irp->CancelIrql (PASSIVE_LEVEL when CancelIoEx cancelled the read) and then calls IoStartNextPacket, which must
    /// be called at DISPATCH_LEVEL.
    /// </summary>
    public static NtStatus SeedCancelRoutine(DriverObject DriverObject, UnicodeString RegistryPath)
    {
        NtStatus status = SampleDriver.DriverEntry(DriverObject, RegistryPath);
        DriverObject.MajorFunction[IRP_MJ_READ] = ReadWithSeedCancel;
        return status;
    }

    private static NtStatus ReadWithNaiveCancel(DeviceObject pDevObj, Irp pIrp)
    {
        IoMarkIrpPending(pIrp);
        IoStartPacket(pDevObj, pIrp, null, NaiveCancel);
        return STATUS_PENDING;
    }

    private static void NaiveCancel(DeviceObject DeviceObject, Irp Irp)
    {
        KeRemoveEntryDeviceQueue(DeviceObject.DeviceQueue, Irp.Tail.Overlay.DeviceQueueEntry);
        IoReleaseCancelSpinLock(Irp.CancelIrql);
        Irp.IoStatus.Status = STATUS_CANCELLED;
        Irp.IoStatus.Information = 0;
        IoCompleteRequest(Irp, IO_NO_INCREMENT);
    }

    private static void StartIoWithoutChecks(DeviceObject DeviceObject, Irp Irp)
    {
        IoSetCancelRoutine(Irp, null);
        var pdx = (SampleDriver.DEVICE_EXTENSION)DeviceObject.DeviceExtension!;
        KeSetTimer(pdx.ReadTimer, RELATIVE(SECONDS(3)), pdx.ReadDoneDpc);
    }

    private static NtStatus ReadWithSeedCancel(DeviceObject pDevObj, Irp pIrp)
    {
        IoMarkIrpPending(pIrp);
        IoStartPacket(pDevObj, pIrp, null, SeedOnCancelIRP);
        return STATUS_PENDING;
    }

    private static void SeedOnCancelIRP(DeviceObject DeviceObject, Irp Irp)
    {
        if (Irp == DeviceObject.CurrentIrp)
        {
            byte oldirql = Irp.CancelIrql;
            IoReleaseCancelSpinLock(Irp.CancelIrql);
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
}
