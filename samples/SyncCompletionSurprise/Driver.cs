using static IrpLab.NtStatus;
using static IrpLab.Wdm;

namespace IrpLab.Samples.SyncCompletionSurprise;

/// <summary>
/// Seed 000's puzzle: a driver that finishes the IOCTL inside its dispatch routine. No IoMarkIrpPending, no
/// STATUS_PENDING: the request is complete before DeviceIoControl returns.
/// </summary>
public static class Driver
{
    public const string NT_DEVICE_NAME = "\\Device\\Surprise";
    public const string DOS_DEVICE_NAME = "\\DosDevices\\Surprise";

    public static readonly uint IOCTL_FILTER_SEND_MYOWN_PACKET = CTL_CODE(FILE_DEVICE_UNKNOWN, 0x800, METHOD_BUFFERED, FILE_ANY_ACCESS);

    public static NtStatus DriverEntry(DriverObject DriverObject, UnicodeString RegistryPath)
    {
        NtStatus status = IoCreateDevice(DriverObject, null, NT_DEVICE_NAME, FILE_DEVICE_UNKNOWN, 0, FALSE, out DeviceObject device);
        if (!NT_SUCCESS(status))
        {
            return status;
        }

        device.Flags |= DO_BUFFERED_IO;
        DriverObject.MajorFunction[IRP_MJ_CREATE] = AsyncIoctl.Driver.DispatchCreateClose;
        DriverObject.MajorFunction[IRP_MJ_CLOSE] = AsyncIoctl.Driver.DispatchCreateClose;
        DriverObject.MajorFunction[IRP_MJ_DEVICE_CONTROL] = DispatchDeviceControl;
        DriverObject.DriverUnload = d =>
        {
            IoDeleteSymbolicLink(DOS_DEVICE_NAME);
            IoDeleteDevice(d.DeviceObject!);
        };
        return IoCreateSymbolicLink(DOS_DEVICE_NAME, NT_DEVICE_NAME);
    }

    public static NtStatus DispatchDeviceControl(DeviceObject DeviceObject, Irp Irp)
    {
        KdPrint("Surprise: completing the IOCTL right here in the dispatch routine\n");
        byte[] reply = Ansi.Bytes("done at once");
        uint outLength = IoGetCurrentIrpStackLocation(Irp).Parameters.DeviceIoControl.OutputBufferLength;
        uint n = Math.Min(outLength, (uint)reply.Length);
        RtlCopyMemory(Irp.AssociatedIrp.SystemBuffer!, reply, (int)n);
        Irp.IoStatus.Information = n;
        Irp.IoStatus.Status = STATUS_SUCCESS;
        IoCompleteRequest(Irp, IO_NO_INCREMENT);
        return STATUS_SUCCESS;
    }
}
