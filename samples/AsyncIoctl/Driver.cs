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

        // Mark it pending before the IRP becomes visible to another context (the worker, the cancel routine).
        Status = STATUS_PENDING;
        IoMarkIrpPending(Irp);

        // Added to the seed's driver so that CancelIo works: the worker waits on this event instead of sleeping.
        var cancelled = new KEvent();
        KeInitializeEvent(cancelled, NotificationEvent, FALSE);
        Irp.Tail.Overlay.DriverContext[0] = cancelled;
        IoSetCancelRoutine(Irp, OnCancel);
        if (Irp.Cancel && IoSetCancelRoutine(Irp, null) is not null)
        {
            // Cancelled before the cancel routine was in place: we still own it.
            Irp.IoStatus.Status = STATUS_CANCELLED;
            Irp.IoStatus.Information = 0;
            IoCompleteRequest(Irp, IO_NO_INCREMENT);
            return Status;
        }

        NtStatus threadStatus = PsCreateSystemThread(out Handle threadHandle, THREAD_ALL_ACCESS, null, null, null, printSomething, Irp);
        if (!NT_SUCCESS(threadStatus))
        {
            KdPrint("Fail to start a thread!\n");
            if (IoSetCancelRoutine(Irp, null) is not null)
            {
                Irp.IoStatus.Status = threadStatus;
                IoCompleteRequest(Irp, IO_NO_INCREMENT);
            }

            return Status;
        }

        ZwClose(threadHandle);
        return Status;
    }

    /// <summary>
    /// The cancel routine: called with the cancel spin lock held. It completes the IRP as cancelled and wakes the
    /// worker, which then leaves the IRP alone (its IoSetCancelRoutine(Irp, NULL) returns NULL).
    /// </summary>
    public static void OnCancel(DeviceObject DeviceObject, Irp Irp)
    {
        IoReleaseCancelSpinLock(Irp.CancelIrql);
        var cancelled = (KEvent)Irp.Tail.Overlay.DriverContext[0]!;
        KdPrint("NDISLWF: the request was cancelled\n");
        KeSetEvent(cancelled, 0, FALSE);
        Irp.IoStatus.Status = STATUS_CANCELLED;
        Irp.IoStatus.Information = 0;
        IoCompleteRequest(Irp, IO_NO_INCREMENT);
    }

    public static void printSomething(Irp pIrp)
    {
        byte[] pTestBuf = Ansi.Bytes("Hi Mon, I finish your request!\n");
        uint bufSize = (uint)pTestBuf.Length;
        var cancelled = (KEvent)pIrp.Tail.Overlay.DriverContext[0]!;

        // mySleepTimer(5), but a cancel ends the wait early.
        NtStatus waited = KeWaitForSingleObject(cancelled, Executive, KernelMode, FALSE, RELATIVE(SECONDS(5)));
        if (waited == STATUS_TIMEOUT && IoSetCancelRoutine(pIrp, null) is not null)
        {
            KdPrint("NDISLWF: Five seconds,I have finished done something,hahhaha\n");
            pIrp.IoStatus.Status = STATUS_SUCCESS;
            byte[] OutputBuffer = pIrp.AssociatedIrp.SystemBuffer!;
            RtlCopyMemory(OutputBuffer, pTestBuf, (int)bufSize);
            pIrp.IoStatus.Information = bufSize;
            IoCompleteRequest(pIrp, IO_NO_INCREMENT);
        }

        // Otherwise the cancel routine owns the IRP and completes it: do not touch it.
        PsTerminateSystemThread(STATUS_SUCCESS);
    }

    public static void mySleepTimer(uint time)
    {
        LargeInteger my_interval;
        my_interval.QuadPart = RELATIVE(SECONDS(time));
        KeDelayExecutionThread(KernelMode, FALSE, my_interval);
    }
}
