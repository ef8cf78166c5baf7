using static IrpLab.NtStatus;
using static IrpLab.Wdm;

namespace IrpLab.Benchmarks;

/// <summary>
/// The benchmark device (performance.md workload: METHOD_BUFFERED, 16 bytes in and out). IOCTL_ECHO completes in
/// the dispatch routine; IOCTL_PENDED (and IRP_MJ_READ) is marked pending and handed to a driver-owned system thread
/// that completes it. IOCTL_HOLD is marked pending and kept until IOCTL_RELEASE hands every held request to that
/// thread at once (T4). IOCTL_CANCELABLE is marked pending with a cancel routine and nothing else ever completes
/// it: only a cancel ends it (T7).
/// </summary>
internal static class BenchDriver
{
    public static readonly uint IOCTL_ECHO = CTL_CODE(FILE_DEVICE_UNKNOWN, 0x800, METHOD_BUFFERED, FILE_ANY_ACCESS);
    public static readonly uint IOCTL_PENDED = CTL_CODE(FILE_DEVICE_UNKNOWN, 0x801, METHOD_BUFFERED, FILE_ANY_ACCESS);
    public static readonly uint IOCTL_HOLD = CTL_CODE(FILE_DEVICE_UNKNOWN, 0x802, METHOD_BUFFERED, FILE_ANY_ACCESS);
    public static readonly uint IOCTL_RELEASE = CTL_CODE(FILE_DEVICE_UNKNOWN, 0x803, METHOD_BUFFERED, FILE_ANY_ACCESS);
    public static readonly uint IOCTL_CANCELABLE = CTL_CODE(FILE_DEVICE_UNKNOWN, 0x804, METHOD_BUFFERED, FILE_ANY_ACCESS);

    private sealed class Extension
    {
        public readonly KSpinLock Lock = new();
        public readonly Queue<Irp> Pending = new();
        public readonly Queue<Irp> Held = new();
        public readonly KEvent Work = new();
        public readonly KEvent Stop = new();
        public KThread? Worker;
    }

    public static NtStatus DriverEntry(DriverObject driver, UnicodeString registryPath)
    {
        var ext = new Extension();
        NtStatus status = IoCreateDevice(driver, ext, "\\Device\\Bench", FILE_DEVICE_UNKNOWN, 0, FALSE, out DeviceObject device);
        if (!NT_SUCCESS(status))
        {
            return status;
        }

        device.Flags |= DO_BUFFERED_IO;
        driver.MajorFunction[IRP_MJ_CREATE] = Succeed;
        driver.MajorFunction[IRP_MJ_CLOSE] = Succeed;
        driver.MajorFunction[IRP_MJ_CLEANUP] = Succeed;
        driver.MajorFunction[IRP_MJ_DEVICE_CONTROL] = DeviceControl;
        driver.MajorFunction[IRP_MJ_READ] = Read;
        driver.DriverUnload = Unload;
        KeInitializeSpinLock(ext.Lock);
        KeInitializeEvent(ext.Work, SynchronizationEvent, FALSE);
        KeInitializeEvent(ext.Stop, NotificationEvent, FALSE);
        PsCreateSystemThread(out Handle thread, THREAD_ALL_ACCESS, null, null, null, Worker, ext);
        ObReferenceObjectByHandle(thread, THREAD_ALL_ACCESS, PsThreadType, KernelMode, out ext.Worker, null);
        ZwClose(thread);
        return IoCreateSymbolicLink("\\DosDevices\\Bench", "\\Device\\Bench");
    }

    private static void Unload(DriverObject driver)
    {
        var ext = (Extension)driver.DeviceObject!.DeviceExtension!;
        KeSetEvent(ext.Stop, 0, FALSE);
        KeWaitForSingleObject(ext.Worker!, Executive, KernelMode, FALSE, null);
        ObDereferenceObject(ext.Worker!);
        IoDeleteSymbolicLink("\\DosDevices\\Bench");
        IoDeleteDevice(driver.DeviceObject!);
    }

    private static NtStatus Succeed(DeviceObject device, Irp irp)
    {
        irp.IoStatus.Status = STATUS_SUCCESS;
        irp.IoStatus.Information = 0;
        IoCompleteRequest(irp, IO_NO_INCREMENT);
        return STATUS_SUCCESS;
    }

    private static NtStatus DeviceControl(DeviceObject device, Irp irp)
    {
        var ext = (Extension)device.DeviceExtension!;
        uint code = IoGetCurrentIrpStackLocation(irp).Parameters.DeviceIoControl.IoControlCode;
        if (code == IOCTL_PENDED)
        {
            return PendToWorker(ext, irp);
        }

        if (code == IOCTL_HOLD)
        {
            IoMarkIrpPending(irp);
            KeAcquireSpinLock(ext.Lock, out byte irql);
            ext.Held.Enqueue(irp);
            KeReleaseSpinLock(ext.Lock, irql);
            return STATUS_PENDING;
        }

        if (code == IOCTL_RELEASE)
        {
            KeAcquireSpinLock(ext.Lock, out byte irql);
            while (ext.Held.TryDequeue(out Irp? held))
            {
                ext.Pending.Enqueue(held);
            }

            KeReleaseSpinLock(ext.Lock, irql);
            KeSetEvent(ext.Work, 0, FALSE);
            irp.IoStatus.Status = STATUS_SUCCESS;
            irp.IoStatus.Information = 0;
            IoCompleteRequest(irp, IO_NO_INCREMENT);
            return STATUS_SUCCESS;
        }

        if (code == IOCTL_CANCELABLE)
        {
            IoMarkIrpPending(irp);
            IoSetCancelRoutine(irp, s_cancel);
            if (irp.Cancel && IoSetCancelRoutine(irp, null) is not null)
            {
                irp.IoStatus.Status = STATUS_CANCELLED;
                irp.IoStatus.Information = 0;
                IoCompleteRequest(irp, IO_NO_INCREMENT);
            }

            return STATUS_PENDING;
        }

        Fill(irp);
        IoCompleteRequest(irp, IO_NO_INCREMENT);
        return STATUS_SUCCESS;
    }

    private static NtStatus Read(DeviceObject device, Irp irp) => PendToWorker((Extension)device.DeviceExtension!, irp);

    private static NtStatus PendToWorker(Extension ext, Irp irp)
    {
        IoMarkIrpPending(irp);
        KeAcquireSpinLock(ext.Lock, out byte irql);
        ext.Pending.Enqueue(irp);
        KeReleaseSpinLock(ext.Lock, irql);
        KeSetEvent(ext.Work, 0, FALSE);
        return STATUS_PENDING;
    }

    private static readonly DriverCancel s_cancel = OnCancel;

    /// <summary>IOCTL_CANCELABLE's cancel routine: nothing else holds the IRP, so drop the cancel lock and complete it.</summary>
    private static void OnCancel(DeviceObject device, Irp irp)
    {
        IoReleaseCancelSpinLock(irp.CancelIrql);
        irp.IoStatus.Status = STATUS_CANCELLED;
        irp.IoStatus.Information = 0;
        IoCompleteRequest(irp, IO_NO_INCREMENT);
    }

    private static void Fill(Irp irp)
    {
        byte[] buffer = irp.AssociatedIrp.SystemBuffer!;
        for (int i = 0; i < 16; i++)
        {
            buffer[i] ^= 0x5A;
        }

        irp.IoStatus.Status = STATUS_SUCCESS;
        irp.IoStatus.Information = 16;
    }

    private static void Worker(Extension ext)
    {
        DispatcherObject[] objects = [ext.Stop, ext.Work];
        while (true)
        {
            NtStatus status = KeWaitForMultipleObjects(2, objects, WaitAny, Executive, KernelMode, FALSE, null, null);
            if (status == STATUS_WAIT_0)
            {
                return;
            }

            while (true)
            {
                KeAcquireSpinLock(ext.Lock, out byte irql);
                bool any = ext.Pending.TryDequeue(out Irp? irp);
                KeReleaseSpinLock(ext.Lock, irql);
                if (!any)
                {
                    break;
                }

                Fill(irp!);
                IoCompleteRequest(irp!, IO_NO_INCREMENT);
            }
        }
    }
}
