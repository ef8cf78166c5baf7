using static IrpLab.NtStatus;
using static IrpLab.Wdm;

namespace IrpLab.Samples.StartIoSeedWait;

/// <summary>
/// Seed 002's HelloDDKStartIO exactly as written: it simulates a three-second read by waiting on a local event with
/// a three-second timeout. StartIo runs at DISPATCH_LEVEL, where a thread cannot wait, so the first read stops the
/// machine: DRIVER_VERIFIER_DETECTED_VIOLATION (0xC4, 0x122) with Driver Verifier, IRQL_NOT_LESS_OR_EQUAL (0x0A)
/// without. The rest of the driver is the startio sample's.
/// </summary>
public static class Driver
{
    public static NtStatus DriverEntry(DriverObject pDriverObject, UnicodeString pRegistryPath)
    {
        NtStatus status = StartIo.Driver.DriverEntry(pDriverObject, pRegistryPath);
        if (NT_SUCCESS(status))
        {
            // Set the StartIo routine: the seed's.
            pDriverObject.DriverStartIo = HelloDDKStartIO;
        }

        return status;
    }

    public static void HelloDDKStartIO(DeviceObject DeviceObject, Irp Irp)
    {
        KdPrint("Enter HelloDDKStartIO\n");

        // Take the cancel spin lock.
        IoAcquireCancelSpinLock(out byte oldirql);
        if (Irp != DeviceObject.CurrentIrp || Irp.Cancel)
        {
            // If an IRP is being processed, it was simply queued; the system did the queueing, StartIo has nothing to do.
            IoReleaseCancelSpinLock(oldirql);
            KdPrint("Leave HelloDDKStartIO\n");
            return;
        }
        else
        {
            // This IRP is being processed, so its cancel routine must not be called: set it to NULL.
            IoSetCancelRoutine(Irp, null);
            IoReleaseCancelSpinLock(oldirql);
        }

        var @event = new KEvent();
        KeInitializeEvent(@event, NotificationEvent, FALSE);

        // Wait three seconds.
        LargeInteger timeout;
        timeout.QuadPart = -3 * 1000 * 1000 * 10;

        // A three-second delay, to simulate an operation that takes about three seconds. At DISPATCH_LEVEL.
        KeWaitForSingleObject(@event, Executive, KernelMode, FALSE, timeout);

        Irp.IoStatus.Status = STATUS_SUCCESS;
        Irp.IoStatus.Information = 0;
        IoCompleteRequest(Irp, IO_NO_INCREMENT);

        // Take the next IRP from the queue and StartIo it.
        IoStartNextPacket(DeviceObject, TRUE);

        KdPrint("Leave HelloDDKStartIO\n");
    }
}
