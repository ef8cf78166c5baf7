using static IrpLab.NtStatus;
using static IrpLab.Wdm;

namespace IrpLab.Samples.SystemThread;

/// <summary>
/// SysThread.c from seed 000: DriverEntry creates \Device\SysThread and starts a system thread that prints once a
/// second (a one-second timeout on a kill event) until the unload routine sets the event and waits for the thread.
/// </summary>
public static class Driver
{
    public const string NT_DEVICE_NAME = "\\Device\\SysThread";
    public const string DOS_DEVICE_NAME = "\\DosDevices\\SysThread";

    public sealed class SYSTHREAD_DEVICE_EXTENSION
    {
        public KEvent evKill = new();
        public KThread? thread;
    }

    public static NtStatus DriverEntry(DriverObject pDriverObject, UnicodeString regPath)
    {
        NtStatus ntStatus;
        RtlInitUnicodeString(out UnicodeString uniNtNameString, NT_DEVICE_NAME);
        ntStatus = IoCreateDevice(
            pDriverObject,
            new SYSTHREAD_DEVICE_EXTENSION(),   // DeviceExtensionSize
            uniNtNameString,
            FILE_DEVICE_UNKNOWN,
            0,                                  // No standard device characteristics
            FALSE,                              // not exclusive device
            out DeviceObject pDeviceObject);
        if (!NT_SUCCESS(ntStatus))
        {
            return ntStatus;
        }

        pDriverObject.MajorFunction[IRP_MJ_CREATE] = SysThreadOpen;
        pDriverObject.MajorFunction[IRP_MJ_CLOSE] = SysThreadClose;
        pDriverObject.MajorFunction[IRP_MJ_DEVICE_CONTROL] = SysThreadDeviceIoControl;
        pDriverObject.DriverUnload = SysThreadUnload;

        pDeviceObject.Flags |= DO_BUFFERED_IO;

        RtlInitUnicodeString(out UnicodeString uniWin32NameString, DOS_DEVICE_NAME);
        ntStatus = IoCreateSymbolicLink(uniWin32NameString, uniNtNameString);
        if (!NT_SUCCESS(ntStatus))
        {
            IoDeleteDevice(pDriverObject.DeviceObject!);
            return ntStatus;
        }

        var pdx = (SYSTHREAD_DEVICE_EXTENSION)pDeviceObject.DeviceExtension!;
        return StartThread(pdx);
    }

    public static void SysThreadUnload(DriverObject pDriverObject)
    {
        DeviceObject pDeviceObject = pDriverObject.DeviceObject!;
        var pdx = (SYSTHREAD_DEVICE_EXTENSION)pDeviceObject.DeviceExtension!;
        StopThread(pdx);

        RtlInitUnicodeString(out UnicodeString uniWin32NameString, DOS_DEVICE_NAME);
        IoDeleteSymbolicLink(uniWin32NameString);
        IoDeleteDevice(pDeviceObject);
    }

    public static NtStatus SysThreadOpen(DeviceObject pDeviceObject, Irp pIrp)
    {
        KdPrint(" SysThreadOpen() was Called.... \n");
        pIrp.IoStatus.Status = STATUS_SUCCESS;
        pIrp.IoStatus.Information = 0;
        IoCompleteRequest(pIrp, IO_NO_INCREMENT);
        return STATUS_SUCCESS;
    }

    public static NtStatus SysThreadClose(DeviceObject pDeviceObject, Irp pIrp)
    {
        KdPrint(" SysThreadClose() was Called.... \n");
        pIrp.IoStatus.Status = STATUS_SUCCESS;
        pIrp.IoStatus.Information = 0;
        IoCompleteRequest(pIrp, IO_NO_INCREMENT);
        return STATUS_SUCCESS;
    }

    public static NtStatus SysThreadDeviceIoControl(DeviceObject pDeviceObject, Irp pIrp)
    {
        pIrp.IoStatus.Status = STATUS_SUCCESS;
        pIrp.IoStatus.Information = 0;
        IoCompleteRequest(pIrp, IO_NO_INCREMENT);
        return STATUS_SUCCESS;
    }

    public static NtStatus StartThread(SYSTHREAD_DEVICE_EXTENSION pdx)
    {
        // The event is auto-reset and starts non-signaled.
        KeInitializeEvent(pdx.evKill, SynchronizationEvent, FALSE);

        NtStatus status = PsCreateSystemThread(out Handle hthread, THREAD_ALL_ACCESS, null, null, null, ThreadProc, pdx);
        if (!NT_SUCCESS(status))
        {
            KdPrint("Fail Start ThreadProc()!\n");
            return status;
        }

        ObReferenceObjectByHandle(hthread, THREAD_ALL_ACCESS, null, KernelMode, out pdx.thread, null);
        ZwClose(hthread);
        return STATUS_SUCCESS;
    }

    public static void StopThread(SYSTHREAD_DEVICE_EXTENSION pdx)
    {
        KeSetEvent(pdx.evKill, 0, FALSE);  // the thread sees the event and ends
        KeWaitForSingleObject(pdx.thread!, Executive, KernelMode, FALSE, null);
        ObDereferenceObject(pdx.thread!);
    }

    public static void ThreadProc(SYSTHREAD_DEVICE_EXTENSION pdx)
    {
        NtStatus status;
        int cnt = 1;

        LargeInteger timeout = default;
        timeout.QuadPart = -1 * 10000000; // 1 second

        // A one-second timeout: print once a second.
        while (true)
        {
            status = KeWaitForSingleObject(pdx.evKill, Executive, KernelMode, FALSE, timeout);
            if (status == STATUS_TIMEOUT)
            {
                KdPrint(("^_^ ThreadProc() has run for %d seconds!\n", cnt++));
            }
            else
            {
                break;
            }
        }

        KdPrint("^_^ ThreadProc() stopped!\n");
        PsTerminateSystemThread(STATUS_SUCCESS);
    }
}
