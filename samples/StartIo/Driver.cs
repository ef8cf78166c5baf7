using static IrpLab.NtStatus;
using static IrpLab.Wdm;

namespace IrpLab.Samples.StartIo;

/// <summary>
/// Seed 002, "StartIO例程": HelloDDKRead hands every read to the I/O manager's device queue with IoStartPacket, and
/// HelloDDKStartIO serves them one at a time. OnCancelIRP and HelloDDKStartIO keep the seed's structure; three things
/// differ, all explained in the README. The seed simulates a three-second read by waiting inside StartIo, which
/// runs at DISPATCH_LEVEL, where a thread cannot wait: here StartIo arms a timer instead, and the timer's DPC
/// completes the read and starts the next. The seed's cancel routine lowers the IRQL before calling
/// IoStartNextPacket, which must be called at DISPATCH_LEVEL. And StartIo completes a read that was cancelled before
/// IoStartPacket gave it a cancel routine, which the seed would leave pending forever.
/// </summary>
public static class Driver
{
    public const string NT_DEVICE_NAME = "\\Device\\HelloDDK";
    public const string DOS_DEVICE_NAME = "\\DosDevices\\HelloDDK";

    public sealed class DEVICE_EXTENSION
    {
        /// <summary>The "three seconds a read takes": armed by StartIo for the IRP it starts.</summary>
        public readonly KTimer ReadTimer = new();

        /// <summary>The timer's DPC: completes CurrentIrp and starts the next packet.</summary>
        public readonly KDpc ReadDoneDpc = new();

        // Statistics (for the tests and the curious), updated under the cancel spin lock: how often each side of the
        // StartIo-versus-cancel race took an IRP.

        /// <summary>OnCancelIRP found the IRP already CurrentIrp, before StartIo claimed it.</summary>
        public int CancelledAsCurrentIrp;

        /// <summary>StartIo found its IRP no longer CurrentIrp, or cancelled, and left it to the cancel routine.</summary>
        public int StartIoLeftToCancelRoutine;

        /// <summary>StartIo completed an IRP cancelled before it had a cancel routine.</summary>
        public int StartIoCompletedCancelled;
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
        KeInitializeTimer(pDevExt.ReadTimer);
        KeInitializeDpc(pDevExt.ReadDoneDpc, HelloDDKReadDone, pDevObj);
        pDriverObject.MajorFunction[IRP_MJ_CREATE] = HelloDdk.Driver.HelloDDKDispatchRoutine;
        pDriverObject.MajorFunction[IRP_MJ_CLOSE] = HelloDdk.Driver.HelloDDKDispatchRoutine;
        pDriverObject.MajorFunction[IRP_MJ_CLEANUP] = HelloDdk.Driver.HelloDDKDispatchRoutine;
        pDriverObject.MajorFunction[IRP_MJ_READ] = HelloDDKRead;

        // Set the StartIo routine.
        pDriverObject.DriverStartIo = HelloDDKStartIO;
        pDriverObject.DriverUnload = HelloDDKUnload;
        status = IoCreateSymbolicLink(DOS_DEVICE_NAME, NT_DEVICE_NAME);
        if (!NT_SUCCESS(status))
        {
            IoDeleteDevice(pDevObj);
        }

        return status;
    }

    /// <summary>A driver that arms timers cancels them, and waits for their DPCs, before it goes.</summary>
    public static void HelloDDKUnload(DriverObject pDriverObject)
    {
        DeviceObject pDevObj = pDriverObject.DeviceObject!;
        var pDevExt = (DEVICE_EXTENSION)pDevObj.DeviceExtension!;
        KeCancelTimer(pDevExt.ReadTimer);
        KeFlushQueuedDpcs();
        IoDeleteSymbolicLink(DOS_DEVICE_NAME);
        IoDeleteDevice(pDevObj);
    }

    public static NtStatus HelloDDKRead(DeviceObject pDevObj, Irp pIrp)
    {
        KdPrint("Enter HelloDDKRead\n");

        // Mark the IRP pending.
        IoMarkIrpPending(pIrp);

        // Put the IRP in the system's device queue (or straight into StartIo if the device is idle).
        IoStartPacket(pDevObj, pIrp, null, OnCancelIRP);

        KdPrint("Leave HelloDDKRead\n");

        // Return the pending status.
        return STATUS_PENDING;
    }

    /// <summary>
    /// The cancel routine IoStartPacket registered; called with the cancel spin lock held. A queued IRP is taken out
    /// of the device queue and completed. The IRP that is CurrentIrp has been started but StartIo has not yet taken
    /// the cancel spin lock (once it has, the IRP has no cancel routine): this routine completes it and starts the
    /// next, and StartIo, finding that the IRP is no longer CurrentIrp, leaves it alone.
    /// </summary>
    public static void OnCancelIRP(DeviceObject DeviceObject, Irp Irp)
    {
        KdPrint("Enter CancelReadIRP\n");

        if (Irp == DeviceObject.CurrentIrp)
        {
            // StartIo has been (or is about to be) called for this IRP but has not yet taken the cancel spin lock.
            ((DEVICE_EXTENSION)DeviceObject.DeviceExtension!).CancelledAsCurrentIrp++;
            byte oldirql = Irp.CancelIrql;

            // Release the cancel spin lock, staying at DISPATCH_LEVEL for IoStartNextPacket. (The seed passes
            // Irp->CancelIrql here, which drops to the canceller's IRQL, usually PASSIVE_LEVEL, too early.)
            IoReleaseCancelSpinLock(DISPATCH_LEVEL);

            IoStartNextPacket(DeviceObject, TRUE);

            KeLowerIrql(oldirql);
        }
        else
        {
            // Take the IRP out of the device queue.
            KeRemoveEntryDeviceQueue(DeviceObject.DeviceQueue, Irp.Tail.Overlay.DeviceQueueEntry);

            // Release the cancel spin lock.
            IoReleaseCancelSpinLock(Irp.CancelIrql);
        }

        // Complete it with STATUS_CANCELLED.
        Irp.IoStatus.Status = STATUS_CANCELLED;
        Irp.IoStatus.Information = 0;
        IoCompleteRequest(Irp, IO_NO_INCREMENT);

        KdPrint("Leave CancelReadIRP\n");
    }

    /// <summary>
    /// StartIo: called at DISPATCH_LEVEL for one IRP at a time, as CurrentIrp. It claims the IRP from cancellation
    /// under the cancel spin lock, then starts the three-second "operation": a timer whose DPC finishes it.
    /// </summary>
    public static void HelloDDKStartIO(DeviceObject DeviceObject, Irp Irp)
    {
        KdPrint("Enter HelloDDKStartIO\n");

        // Take the cancel spin lock.
        IoAcquireCancelSpinLock(out byte oldirql);
        if (Irp != DeviceObject.CurrentIrp || Irp.Cancel)
        {
            // The cancel routine has this IRP: it completes it and starts the next packet. Not in the seed: an IRP
            // cancelled before IoStartPacket gave it a cancel routine reaches an idle device's StartIo with Cancel
            // set and the routine still in place, and nobody will ever call it. That one is ours to complete.
            var pDevExt = (DEVICE_EXTENSION)DeviceObject.DeviceExtension!;
            bool ours = Irp == DeviceObject.CurrentIrp && IoSetCancelRoutine(Irp, null) is not null;
            if (ours)
            {
                pDevExt.StartIoCompletedCancelled++;
            }
            else
            {
                pDevExt.StartIoLeftToCancelRoutine++;
            }

            IoReleaseCancelSpinLock(oldirql);
            if (ours)
            {
                Irp.IoStatus.Status = STATUS_CANCELLED;
                Irp.IoStatus.Information = 0;
                IoStartNextPacket(DeviceObject, TRUE);
                IoCompleteRequest(Irp, IO_NO_INCREMENT);
            }

            KdPrint("Leave HelloDDKStartIO\n");
            return;
        }
        else
        {
            // The IRP is being processed now, so the cancel routine must not be called for it: clear it.
            IoSetCancelRoutine(Irp, null);
            IoReleaseCancelSpinLock(oldirql);
        }

        // The seed waits three seconds here with KeWaitForSingleObject, "to simulate an operation that takes about
        // three seconds". StartIo runs at DISPATCH_LEVEL, where waiting stops the machine (see the
        // startio-seed-wait sample). The device's time is a timer instead; its DPC finishes the read.
        var pdx = (DEVICE_EXTENSION)DeviceObject.DeviceExtension!;
        KeSetTimer(pdx.ReadTimer, RELATIVE(SECONDS(3)), pdx.ReadDoneDpc);

        KdPrint("Leave HelloDDKStartIO\n");
    }

    /// <summary>
    /// The timer's DPC (DISPATCH_LEVEL): the read that is CurrentIrp is done. Start the next packet first, so the
    /// "device" is busy again at once, then complete the finished IRP, which is not touched afterwards.
    /// </summary>
    public static void HelloDDKReadDone(KDpc Dpc, object? DeferredContext, object? SystemArgument1, object? SystemArgument2)
    {
        var DeviceObject = (DeviceObject)DeferredContext!;
        Irp Irp = DeviceObject.CurrentIrp!;
        KdPrint("HelloDDK: a read is done\n");
        Irp.IoStatus.Status = STATUS_SUCCESS;
        Irp.IoStatus.Information = 0;

        // Take the next IRP from the queue and StartIo it.
        IoStartNextPacket(DeviceObject, TRUE);
        IoCompleteRequest(Irp, IO_NO_INCREMENT);
    }
}
