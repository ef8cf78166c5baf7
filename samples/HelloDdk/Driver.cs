using static IrpLab.NtStatus;
using static IrpLab.Wdm;

namespace IrpLab.Samples.HelloDdk;

/// <summary>
/// The HelloDDK device of seed 002, as the synchronous and overlapped ReadFile examples use it: a buffered-I/O
/// device whose read takes one second. The dispatch routine marks the read pending and a system thread fills
/// the buffer and completes it.
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
        pDriverObject.MajorFunction[IRP_MJ_CREATE] = HelloDDKDispatchRoutine;
        pDriverObject.MajorFunction[IRP_MJ_CLOSE] = HelloDDKDispatchRoutine;
        pDriverObject.MajorFunction[IRP_MJ_CLEANUP] = HelloDDKDispatchRoutine;
        pDriverObject.MajorFunction[IRP_MJ_READ] = HelloDDKRead;
        pDriverObject.DriverUnload = HelloDDKUnload;
        return IoCreateSymbolicLink(DOS_DEVICE_NAME, NT_DEVICE_NAME);
    }

    public static void HelloDDKUnload(DriverObject pDriverObject)
    {
        IoDeleteSymbolicLink(DOS_DEVICE_NAME);
        IoDeleteDevice(pDriverObject.DeviceObject!);
    }

    public static NtStatus HelloDDKDispatchRoutine(DeviceObject pDevObj, Irp pIrp)
    {
        pIrp.IoStatus.Status = STATUS_SUCCESS;
        pIrp.IoStatus.Information = 0;
        IoCompleteRequest(pIrp, IO_NO_INCREMENT);
        return STATUS_SUCCESS;
    }

    public static NtStatus HelloDDKRead(DeviceObject pDevObj, Irp pIrp)
    {
        KdPrint("Enter HelloDDKRead\n");
        IoMarkIrpPending(pIrp);
        PsCreateSystemThread(out Handle thread, THREAD_ALL_ACCESS, null, null, null, ReadWorker, pIrp);
        ZwClose(thread);
        KdPrint("Leave HelloDDKRead\n");
        return STATUS_PENDING;
    }

    /// <summary>One second of "device time", then the data: 0xAA in every byte asked for.</summary>
    public static void ReadWorker(Irp pIrp)
    {
        KeDelayExecutionThread(KernelMode, FALSE, RELATIVE(SECONDS(1)));
        uint length = IoGetCurrentIrpStackLocation(pIrp).Parameters.Read.Length;
        if (length > 0)
        {
            RtlFillMemory(pIrp.AssociatedIrp.SystemBuffer!, (int)length, 0xAA);
        }

        KdPrint(("HelloDDK: read of %u bytes done\n", length));
        pIrp.IoStatus.Status = STATUS_SUCCESS;
        pIrp.IoStatus.Information = length;
        IoCompleteRequest(pIrp, IO_NO_INCREMENT);
    }
}
