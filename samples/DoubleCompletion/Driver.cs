using static IrpLab.NtStatus;
using static IrpLab.Wdm;

namespace IrpLab.Samples.DoubleCompletion;

/// <summary>
/// A record device with a bug: every read is queued for the worker thread, which reads the slow medium (a second per
/// request) and completes it; record 0 is also cached, and RecordsRead serves it from the cache at once. It forgets
/// that the read is already in the worker's queue, so a second later the worker completes the same IRP again.
/// </summary>
public static class Driver
{
    public const string NT_DEVICE_NAME = "\\Device\\Records";
    public const string DOS_DEVICE_NAME = "\\DosDevices\\Records";
    public const int RECORD_SIZE = 512;
    public const int RECORD_COUNT = 4;

    /// <summary>A read handed to the worker: what to read and where to put it, captured in the dispatch routine.</summary>
    public sealed class READ_REQUEST
    {
        public readonly ListEntry ListEntry;
        public Irp? pIrp;
        public byte[]? SystemBuffer;
        public long Offset;
        public uint Length;

        public READ_REQUEST()
        {
            ListEntry = new ListEntry(this);
        }
    }

    public sealed class DEVICE_EXTENSION
    {
        public readonly KSpinLock QueueLock = new();
        public readonly ListEntry Queue = new();
        public readonly KEvent WorkReady = new();
        public readonly KEvent Stop = new();
        public KThread? Worker;
        public readonly byte[] Medium = new byte[RECORD_SIZE * RECORD_COUNT];
        public readonly byte[] Record0Cache = new byte[RECORD_SIZE];
    }

    public static NtStatus DriverEntry(DriverObject pDriverObject, UnicodeString pRegistryPath)
    {
        var pdx = new DEVICE_EXTENSION();
        NtStatus status = IoCreateDevice(pDriverObject, pdx, NT_DEVICE_NAME, FILE_DEVICE_UNKNOWN, 0, FALSE, out DeviceObject pDevObj);
        if (!NT_SUCCESS(status))
        {
            return status;
        }

        pDevObj.Flags |= DO_BUFFERED_IO;

        // Record k holds the letter 'A' + k; record 0 is cached.
        for (int i = 0; i < pdx.Medium.Length; i++)
        {
            pdx.Medium[i] = (byte)('A' + (i / RECORD_SIZE));
        }

        RtlCopyMemory(pdx.Record0Cache, pdx.Medium, RECORD_SIZE);
        InitializeListHead(pdx.Queue);
        KeInitializeEvent(pdx.WorkReady, SynchronizationEvent, FALSE);
        KeInitializeEvent(pdx.Stop, NotificationEvent, FALSE);
        status = PsCreateSystemThread(out Handle hThread, THREAD_ALL_ACCESS, null, null, null, RecordsWorker, pdx);
        if (!NT_SUCCESS(status))
        {
            IoDeleteDevice(pDevObj);
            return status;
        }

        ObReferenceObjectByHandle(hThread, THREAD_ALL_ACCESS, null, KernelMode, out pdx.Worker, null);
        ZwClose(hThread);

        pDriverObject.MajorFunction[IRP_MJ_CREATE] = RecordsCreateClose;
        pDriverObject.MajorFunction[IRP_MJ_CLOSE] = RecordsCreateClose;
        pDriverObject.MajorFunction[IRP_MJ_READ] = RecordsRead;
        pDriverObject.DriverUnload = RecordsUnload;
        return IoCreateSymbolicLink(DOS_DEVICE_NAME, NT_DEVICE_NAME);
    }

    public static NtStatus RecordsCreateClose(DeviceObject pDevObj, Irp pIrp)
    {
        pIrp.IoStatus.Status = STATUS_SUCCESS;
        pIrp.IoStatus.Information = 0;
        IoCompleteRequest(pIrp, IO_NO_INCREMENT);
        return STATUS_SUCCESS;
    }

    public static NtStatus RecordsRead(DeviceObject pDevObj, Irp pIrp)
    {
        var pdx = (DEVICE_EXTENSION)pDevObj.DeviceExtension!;
        IoStackLocation stack = IoGetCurrentIrpStackLocation(pIrp);
        long offset = stack.Parameters.Read.ByteOffset;
        uint length = stack.Parameters.Read.Length;
        if (offset < 0 || offset + length > pdx.Medium.Length)
        {
            pIrp.IoStatus.Status = STATUS_INVALID_PARAMETER;
            pIrp.IoStatus.Information = 0;
            IoCompleteRequest(pIrp, IO_NO_INCREMENT);
            return STATUS_INVALID_PARAMETER;
        }

        KdPrint(("RecordsRead: %u bytes at offset %u\n", length, (uint)offset));

        // Every read goes to the worker, which reads the medium.
        var request = new READ_REQUEST { pIrp = pIrp, SystemBuffer = pIrp.AssociatedIrp.SystemBuffer, Offset = offset, Length = length };
        IoMarkIrpPending(pIrp);
        KeAcquireSpinLock(pdx.QueueLock, out byte oldIrql);
        InsertTailList(pdx.Queue, request.ListEntry);
        KeReleaseSpinLock(pdx.QueueLock, oldIrql);
        KeSetEvent(pdx.WorkReady, IO_NO_INCREMENT, FALSE);

        // Record 0 is in the cache: serve it at once.
        // BUG: the request is still in the worker's queue, and the worker will complete this IRP a second time.
        // The cache lookup belongs before the IRP is queued, and a hit must not queue it at all.
        if (offset == 0 && length <= RECORD_SIZE)
        {
            RtlCopyMemory(pIrp.AssociatedIrp.SystemBuffer!, pdx.Record0Cache, (int)length);
            pIrp.IoStatus.Status = STATUS_SUCCESS;
            pIrp.IoStatus.Information = length;
            KdPrint("RecordsRead: record 0 served from the cache\n");
            IoCompleteRequest(pIrp, IO_NO_INCREMENT);
        }

        return STATUS_PENDING;
    }

    public static void RecordsWorker(DEVICE_EXTENSION pdx)
    {
        DispatcherObject[] objects = [pdx.WorkReady, pdx.Stop];
        while (true)
        {
            // Finish what is queued, then wait for more work or the stop request.
            while (true)
            {
                KeAcquireSpinLock(pdx.QueueLock, out byte oldIrql);
                ListEntry? entry = IsListEmpty(pdx.Queue) ? null : RemoveHeadList(pdx.Queue);
                KeReleaseSpinLock(pdx.QueueLock, oldIrql);
                if (entry is null)
                {
                    break;
                }

                READ_REQUEST request = CONTAINING_RECORD<READ_REQUEST>(entry);
                KdPrint(("RecordsWorker: reading %u bytes at offset %u\n", request.Length, (uint)request.Offset));
                KeDelayExecutionThread(KernelMode, FALSE, RELATIVE(SECONDS(1)));   // the medium is slow
                RtlCopyMemory(request.SystemBuffer!, 0, pdx.Medium, (int)request.Offset, (int)request.Length);
                request.pIrp!.IoStatus.Status = STATUS_SUCCESS;
                request.pIrp.IoStatus.Information = request.Length;
                KdPrint(("RecordsWorker: completing the read at offset %u\n", (uint)request.Offset));
                IoCompleteRequest(request.pIrp, IO_NO_INCREMENT);
            }

            if (KeWaitForMultipleObjects(2, objects, WaitAny, Executive, KernelMode, FALSE, null, null) == STATUS_WAIT_1)
            {
                break;
            }
        }

        PsTerminateSystemThread(STATUS_SUCCESS);
    }

    public static void RecordsUnload(DriverObject pDriverObject)
    {
        DeviceObject pDevObj = pDriverObject.DeviceObject!;
        var pdx = (DEVICE_EXTENSION)pDevObj.DeviceExtension!;
        KeSetEvent(pdx.Stop, IO_NO_INCREMENT, FALSE);
        KeWaitForSingleObject(pdx.Worker!, Executive, KernelMode, FALSE, null);
        ObDereferenceObject(pdx.Worker!);
        IoDeleteSymbolicLink(DOS_DEVICE_NAME);
        IoDeleteDevice(pDevObj);
        KdPrint("RecordsUnload: done\n");
    }
}
