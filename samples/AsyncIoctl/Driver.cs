using static IrpLab.NtStatus;
using static IrpLab.Wdm;

namespace IrpLab.Samples.AsyncIoctl;

/// <summary>
/// Seed 000: the filter driver's device-control path. IOCTL_FILTER_SEND_MYOWN_PACKET cannot be finished at once, so
/// the dispatch routine marks the IRP pending, hands it to a system thread and returns STATUS_PENDING; five
/// seconds later the thread fills the output buffer, sets Information and completes the IRP.
/// </summary>
public static class Driver
{
    public const string NT_DEVICE_NAME = "\\Device\\AsyncIoctl";
    public const string DOS_DEVICE_NAME = "\\DosDevices\\AsyncIoctl";

    public static readonly uint IOCTL_FILTER_SEND_MYOWN_PACKET = CTL_CODE(FILE_DEVICE_UNKNOWN, 0x800, METHOD_BUFFERED, FILE_ANY_ACCESS);

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

        return status;
    }

    public static void DriverUnload(DriverObject DriverObject)
    {
        IoDeleteSymbolicLink(DOS_DEVICE_NAME);
        IoDeleteDevice(DriverObject.DeviceObject!);
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
        NtStatus Status;
        IoStackLocation IrpSp = IoGetCurrentIrpStackLocation(Irp);
        if (IrpSp.Parameters.DeviceIoControl.IoControlCode != IOCTL_FILTER_SEND_MYOWN_PACKET)
        {
            Irp.IoStatus.Status = STATUS_INVALID_DEVICE_REQUEST;
            Irp.IoStatus.Information = 0;
            IoCompleteRequest(Irp, IO_NO_INCREMENT);
            return STATUS_INVALID_DEVICE_REQUEST;
        }

        byte[] InputBuffer = Irp.AssociatedIrp.SystemBuffer!;
        uint InputBufferLength = IrpSp.Parameters.DeviceIoControl.InputBufferLength;
        KdPrint(("NDISLWF: The input length is %d, and inputdata is %s", InputBufferLength, Ansi.Text(InputBuffer, (int)InputBufferLength)));
        KdPrint("NDISLWF: I am waiting this io dispath\n");

        // Mark it pending before the IRP becomes visible to the worker thread.
        Status = STATUS_PENDING;
        IoMarkIrpPending(Irp);
        NtStatus threadStatus = PsCreateSystemThread(out Handle threadHandle, THREAD_ALL_ACCESS, null, null, null, printSomething, Irp);
        if (!NT_SUCCESS(threadStatus))
        {
            KdPrint("Fail to start a thread!\n");
            Irp.IoStatus.Status = threadStatus;
            IoCompleteRequest(Irp, IO_NO_INCREMENT);
            return STATUS_PENDING;
        }

        ZwClose(threadHandle);
        return Status;
    }

    public static void printSomething(Irp pIrp)
    {
        byte[] pTestBuf = Ansi.Bytes("Hi Mon, I finish your request!\n");
        uint bufSize = (uint)pTestBuf.Length;
        mySleepTimer(5);
        KdPrint("NDISLWF: Five seconds,I have finished done something,hahhaha\n");
        pIrp.IoStatus.Status = STATUS_SUCCESS;
        byte[] OutputBuffer = pIrp.AssociatedIrp.SystemBuffer!;
        RtlCopyMemory(OutputBuffer, pTestBuf, (int)bufSize);
        pIrp.IoStatus.Information = bufSize;
        IoCompleteRequest(pIrp, IO_NO_INCREMENT);
        PsTerminateSystemThread(STATUS_SUCCESS);
    }

    public static void mySleepTimer(uint time)
    {
        LargeInteger my_interval;
        my_interval.QuadPart = RELATIVE(SECONDS(time));
        KeDelayExecutionThread(KernelMode, FALSE, my_interval);
    }
}
