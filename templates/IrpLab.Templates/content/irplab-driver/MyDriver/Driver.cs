using System.Text;
using IrpLab;
using static IrpLab.NtStatus;
using static IrpLab.Wdm;

namespace MyDriver;

/// <summary>
/// A driver with one device, \Device\MyDriver (\\.\MyDriver for apps), and two control codes: IOCTL_MYDRIVER_PING
/// is completed in the dispatch routine; IOCTL_MYDRIVER_DELAYED is marked pending, handed to a system thread and
/// completed from there one second later. The device uses buffered I/O.
/// </summary>
public static class Driver
{
    public const string NT_DEVICE_NAME = "\\Device\\MyDriver";
    public const string DOS_DEVICE_NAME = "\\DosDevices\\MyDriver";

    public static readonly uint IOCTL_MYDRIVER_PING = CTL_CODE(FILE_DEVICE_UNKNOWN, 0x800, METHOD_BUFFERED, FILE_ANY_ACCESS);
    public static readonly uint IOCTL_MYDRIVER_DELAYED = CTL_CODE(FILE_DEVICE_UNKNOWN, 0x801, METHOD_BUFFERED, FILE_ANY_ACCESS);

    public static NtStatus DriverEntry(DriverObject DriverObject, UnicodeString RegistryPath)
    {
        NtStatus status = IoCreateDevice(DriverObject, null, NT_DEVICE_NAME, FILE_DEVICE_UNKNOWN, 0, FALSE, out DeviceObject device);
        if (!NT_SUCCESS(status))
        {
            return status;
        }

        device.Flags |= DO_BUFFERED_IO;
        DriverObject.MajorFunction[IRP_MJ_CREATE] = DispatchCreateClose;
        DriverObject.MajorFunction[IRP_MJ_CLOSE] = DispatchCreateClose;
        DriverObject.MajorFunction[IRP_MJ_DEVICE_CONTROL] = DispatchDeviceControl;
        DriverObject.DriverUnload = DriverUnload;
        status = IoCreateSymbolicLink(DOS_DEVICE_NAME, NT_DEVICE_NAME);
        if (!NT_SUCCESS(status))
        {
            IoDeleteDevice(device);
        }

        KdPrint("MyDriver: loaded\n");
        return status;
    }

    public static void DriverUnload(DriverObject DriverObject)
    {
        IoDeleteSymbolicLink(DOS_DEVICE_NAME);
        IoDeleteDevice(DriverObject.DeviceObject!);
        KdPrint("MyDriver: unloaded\n");
    }

    public static NtStatus DispatchCreateClose(DeviceObject DeviceObject, Irp Irp)
    {
        Irp.IoStatus.Status = STATUS_SUCCESS;
        Irp.IoStatus.Information = 0;
        IoCompleteRequest(Irp, IO_NO_INCREMENT);
        return STATUS_SUCCESS;
    }

    public static NtStatus DispatchDeviceControl(DeviceObject DeviceObject, Irp Irp)
    {
        IoStackLocation stack = IoGetCurrentIrpStackLocation(Irp);
        uint code = stack.Parameters.DeviceIoControl.IoControlCode;
        if (code == IOCTL_MYDRIVER_PING)
        {
            // Completed in dispatch: the status returned is the status completed with.
            uint written = Reply(Irp, stack, "pong");
            Irp.IoStatus.Status = STATUS_SUCCESS;
            Irp.IoStatus.Information = written;
            IoCompleteRequest(Irp, IO_NO_INCREMENT);
            return STATUS_SUCCESS;
        }

        if (code == IOCTL_MYDRIVER_DELAYED)
        {
            // Pended: IoMarkIrpPending before another context can see the IRP, then STATUS_PENDING whatever happens.
            IoMarkIrpPending(Irp);
            NtStatus status = PsCreateSystemThread(out Handle thread, THREAD_ALL_ACCESS, null, null, null, CompleteLater, Irp);
            if (!NT_SUCCESS(status))
            {
                Irp.IoStatus.Status = status;
                Irp.IoStatus.Information = 0;
                IoCompleteRequest(Irp, IO_NO_INCREMENT);
                return STATUS_PENDING;
            }

            ZwClose(thread);
            return STATUS_PENDING;
        }

        Irp.IoStatus.Status = STATUS_INVALID_DEVICE_REQUEST;
        Irp.IoStatus.Information = 0;
        IoCompleteRequest(Irp, IO_NO_INCREMENT);
        return STATUS_INVALID_DEVICE_REQUEST;
    }

    /// <summary>The system thread: one second of work (virtual time in a deterministic machine), then completion.</summary>
    public static void CompleteLater(Irp Irp)
    {
        KeDelayExecutionThread(KernelMode, FALSE, RELATIVE(SECONDS(1)));
        IoStackLocation stack = IoGetCurrentIrpStackLocation(Irp);
        uint written = Reply(Irp, stack, "done");
        Irp.IoStatus.Status = STATUS_SUCCESS;
        Irp.IoStatus.Information = written;
        KdPrint("MyDriver: completing the delayed request\n");
        IoCompleteRequest(Irp, IO_NO_INCREMENT);
        PsTerminateSystemThread(STATUS_SUCCESS);
    }

    /// <summary>Copies <paramref name="text"/> into the system buffer, truncated to the output length.</summary>
    private static uint Reply(Irp Irp, IoStackLocation stack, string text)
    {
        byte[] bytes = Encoding.ASCII.GetBytes(text);
        int length = (int)Math.Min((uint)bytes.Length, stack.Parameters.DeviceIoControl.OutputBufferLength);
        RtlCopyMemory(Irp.AssociatedIrp.SystemBuffer!, bytes, length);
        return (uint)length;
    }
}
