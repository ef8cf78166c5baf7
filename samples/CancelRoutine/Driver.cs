using static IrpLab.NtStatus;
using static IrpLab.Wdm;

namespace IrpLab.Samples.CancelRoutine;

/// <summary>
/// Seed 002, "取消IRP": HelloDDKRead sets a cancel routine and returns STATUS_PENDING; nothing else will ever
/// complete the read, so only cancellation (CancelIo from the application) ends it. CancelReadIRP is ported as the
/// seed wrote it. Two things in it are worth knowing: it completes the IRP while still holding the cancel spin lock,
/// and it reads Irp->CancelIrql after IoCompleteRequest, when the IRP may already be gone. Release the lock first,
/// from a local copy of CancelIrql, as <see cref="CancelReadIRPCorrected"/> does.
/// </summary>
public static class Driver
{
    public const string NT_DEVICE_NAME = "\\Device\\HelloDDK";
    public const string DOS_DEVICE_NAME = "\\DosDevices\\HelloDDK";

    public static NtStatus DriverEntry(DriverObject pDriverObject, UnicodeString pRegistryPath)
    {
        NtStatus status = IoCreateDevice(pDriverObject, null, NT_DEVICE_NAME, FILE_DEVICE_UNKNOWN, 0, FALSE, out DeviceObject pDevObj);
        if (!NT_SUCCESS(status))
        {
            return status;
        }

        pDevObj.Flags |= DO_BUFFERED_IO;
        pDriverObject.MajorFunction[IRP_MJ_CREATE] = HelloDdk.Driver.HelloDDKDispatchRoutine;
        pDriverObject.MajorFunction[IRP_MJ_CLOSE] = HelloDdk.Driver.HelloDDKDispatchRoutine;
        pDriverObject.MajorFunction[IRP_MJ_CLEANUP] = HelloDdk.Driver.HelloDDKDispatchRoutine;
        pDriverObject.MajorFunction[IRP_MJ_READ] = HelloDDKRead;
        pDriverObject.DriverUnload = HelloDdk.Driver.HelloDDKUnload;
        return IoCreateSymbolicLink(DOS_DEVICE_NAME, NT_DEVICE_NAME);
    }

    public static void CancelReadIRP(DeviceObject DeviceObject, Irp Irp)
    {
        KdPrint("Enter CancelReadIRP\n");

        // Set the completion status to STATUS_CANCELLED.
        Irp.IoStatus.Status = STATUS_CANCELLED;
        Irp.IoStatus.Information = 0;
        IoCompleteRequest(Irp, IO_NO_INCREMENT);

        // Release the cancel spin lock.
        IoReleaseCancelSpinLock(Irp.CancelIrql);
        KdPrint("Leave CancelReadIRP\n");
    }

    public static void CancelReadIRPCorrected(DeviceObject DeviceObject, Irp Irp)
    {
        byte irql = Irp.CancelIrql;
        IoReleaseCancelSpinLock(irql);
        Irp.IoStatus.Status = STATUS_CANCELLED;
        Irp.IoStatus.Information = 0;
        IoCompleteRequest(Irp, IO_NO_INCREMENT);
    }

    public static NtStatus HelloDDKRead(DeviceObject pDevObj, Irp pIrp)
    {
        KdPrint("Enter HelloDDKRead\n");
        IoSetCancelRoutine(pIrp, CancelReadIRP);

        // Mark the IRP pending.
        IoMarkIrpPending(pIrp);
        KdPrint("Leave HelloDDKRead\n");
        return STATUS_PENDING;
    }
}
