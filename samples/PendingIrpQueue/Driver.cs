using static IrpLab.NtStatus;
using static IrpLab.Wdm;

namespace IrpLab.Samples.PendingIrpQueue;

/// <summary>
/// Seed 002, "IRP的异步完成": HelloDDKRead queues every read in the driver's own list and returns STATUS_PENDING;
/// HelloDDKCleanUp, sent when the application closes its handle, completes them all.
/// </summary>
public static class Driver
{
    public const string NT_DEVICE_NAME = "\\Device\\HelloDDK";
    public const string DOS_DEVICE_NAME = "\\DosDevices\\HelloDDK";

    public sealed class MY_IRP_ENTRY
    {
        public Irp? pIRP;
        public readonly ListEntry ListEntry;

        public MY_IRP_ENTRY()
        {
            ListEntry = new ListEntry(this);
        }
    }

    public sealed class DEVICE_EXTENSION
    {
        public readonly ListEntry pIRPLinkListHead = new();
    }

    public static NtStatus DriverEntry(DriverObject pDriverObject, UnicodeString pRegistryPath)
    {
        var pDevExt = new DEVICE_EXTENSION();
        NtStatus status = IoCreateDevice(pDriverObject, pDevExt, NT_DEVICE_NAME, FILE_DEVICE_UNKNOWN, 0, FALSE, out DeviceObject pDevObj);
        if (!NT_SUCCESS(status))
        {
            return status;
        }

        pDevObj.Flags |= DO_BUFFERED_IO;
        InitializeListHead(pDevExt.pIRPLinkListHead);
        pDriverObject.MajorFunction[IRP_MJ_CREATE] = HelloDdk.Driver.HelloDDKDispatchRoutine;
        pDriverObject.MajorFunction[IRP_MJ_CLOSE] = HelloDdk.Driver.HelloDDKDispatchRoutine;
        pDriverObject.MajorFunction[IRP_MJ_READ] = HelloDDKRead;
        pDriverObject.MajorFunction[IRP_MJ_CLEANUP] = HelloDDKCleanUp;
        pDriverObject.DriverUnload = HelloDdk.Driver.HelloDDKUnload;
        return IoCreateSymbolicLink(DOS_DEVICE_NAME, NT_DEVICE_NAME);
    }

    public static NtStatus HelloDDKRead(DeviceObject pDevObj, Irp pIrp)
    {
        KdPrint("Enter HelloDDKRead\n");
        var pDevExt = (DEVICE_EXTENSION)pDevObj.DeviceExtension!;

        var pIrp_Entry = new MY_IRP_ENTRY(); // ExAllocatePool(PagedPool, sizeof(MY_IRP_ENTRY))
        pIrp_Entry.pIRP = pIrp;

        // Mark it pending before it becomes visible in the queue.
        IoMarkIrpPending(pIrp);
        InsertHeadList(pDevExt.pIRPLinkListHead, pIrp_Entry.ListEntry);

        KdPrint("Leave HelloDDKRead\n");
        return STATUS_PENDING;
    }

    public static NtStatus HelloDDKCleanUp(DeviceObject pDevObj, Irp pIrp)
    {
        KdPrint("Enter HelloDDKCleanUp\n");
        var pDevExt = (DEVICE_EXTENSION)pDevObj.DeviceExtension!;

        // Take each queued IRP out and complete it.
        while (!IsListEmpty(pDevExt.pIRPLinkListHead))
        {
            ListEntry pEntry = RemoveHeadList(pDevExt.pIRPLinkListHead);
            MY_IRP_ENTRY my_irp_entry = CONTAINING_RECORD<MY_IRP_ENTRY>(pEntry);
            my_irp_entry.pIRP!.IoStatus.Status = STATUS_SUCCESS;
            my_irp_entry.pIRP.IoStatus.Information = 0;
            IoCompleteRequest(my_irp_entry.pIRP, IO_NO_INCREMENT);
            KdPrint("HelloDDKCleanUp: completed a pending read\n");
        }

        // Complete the cleanup IRP itself.
        NtStatus status = STATUS_SUCCESS;
        pIrp.IoStatus.Status = status;
        pIrp.IoStatus.Information = 0;
        IoCompleteRequest(pIrp, IO_NO_INCREMENT);

        KdPrint("Leave HelloDDKCleanUp\n");
        return STATUS_SUCCESS;
    }
}
