using static IrpLab.NtStatus;
using static IrpLab.Wdm;

namespace IrpLab.Tests.StartIo;

/// <summary>IoStartPacket, IoStartNextPacket(ByKey), CurrentIrp and the device queue's Busy flag (nt-io-semantics §9.1, §9.2).</summary>
public sealed class StartPacketTests
{
    [Fact]
    public void IoStartPacket_IdleDevice_CallsStartIoAtDispatchLevelWithCurrentIrpSet()
    {
        using Machine m = KmTest.Machine();
        var drv = new StartIoTestDriver();
        drv.Load(m);
        int threadId = 0;
        Request? request = null;
        byte irqlAfter = 0xFF;
        m.Kernel(() =>
        {
            threadId = PsGetCurrentThread().Id;
            request = Request.Send(drv.Device);
            irqlAfter = KeGetCurrentIrql();
        });

        // §9.2 step 3: not inserted (idle) ⇒ CurrentIrp = Irp, StartIo now, at DISPATCH_LEVEL, in the caller's thread;
        // IoStartPacket restores the caller's IRQL.
        StartIoCall call = Assert.Single(drv.Calls);
        Assert.Same(request!.Irp, call.Irp);
        Assert.Equal(DISPATCH_LEVEL, call.Irql);
        Assert.True(call.IsCurrentIrp);
        Assert.True(call.DeviceBusy);
        Assert.Equal(threadId, call.ThreadId);
        Assert.Equal(PASSIVE_LEVEL, irqlAfter);
        Assert.Same(request.Irp, drv.Device.CurrentIrp);
        Assert.Equal(0, drv.Device.DeviceQueue.Count);
        Assert.False(request.Completed);
    }

    [Fact]
    public void IoStartPacket_BusyDevice_QueuesTheIrpWithoutCallingStartIo()
    {
        using Machine m = KmTest.Machine();
        var drv = new StartIoTestDriver();
        drv.Load(m);
        Request[] requests = [];
        m.Kernel(() => requests = [Request.Send(drv.Device, 1), Request.Send(drv.Device, 2), Request.Send(drv.Device, 3)]);

        // §9.2 step 4: inserted behind the busy device; CurrentIrp stays the first.
        Assert.Single(drv.Calls);
        Assert.Same(requests[0].Irp, drv.Device.CurrentIrp);
        Assert.True(drv.Device.DeviceQueue.Busy);
        Assert.Equal([requests[1].Irp, requests[2].Irp], drv.Device.DeviceQueue.Entries.Select(e => e.Container));
        Assert.All(drv.Device.DeviceQueue.Entries, e => Assert.True(e.Inserted));
        Assert.All(requests, r => Assert.False(r.Completed));
    }

    [Fact]
    public void IoStartNextPacket_AfterEachCompletion_StartsTheQueuedIrpsInOrderThenTheDeviceGoesIdle()
    {
        using Machine m = KmTest.Machine();
        var drv = new StartIoTestDriver();
        drv.Load(m);
        Request[] requests = [];
        bool busyAtEnd = true;
        Irp? currentAtEnd = null;
        int callsBeforeRestart = 0;
        m.Kernel(() =>
        {
            requests = [Request.Send(drv.Device, 1), Request.Send(drv.Device, 2), Request.Send(drv.Device, 3)];
            for (int i = 0; i < requests.Length; i++)
            {
                Assert.Same(requests[i].Irp, drv.FinishCurrent());
                Assert.Equal(STATUS_SUCCESS, KeWaitForSingleObject(requests[i].Done, Executive, KernelMode, FALSE, null));
            }

            // §9.2: IoStartNextPacket on an empty queue: CurrentIrp NULL, the queue not busy.
            busyAtEnd = drv.Device.DeviceQueue.Busy;
            currentAtEnd = drv.Device.CurrentIrp;
            callsBeforeRestart = drv.Calls.Count;

            // An idle device starts the next packet straight away again.
            Request.Send(drv.Device, 4);
        });

        Assert.Equal([1u, 2u, 3u, 4u], drv.Calls.Select(c => c.Key));
        Assert.All(drv.Calls, c => Assert.True(c.IsCurrentIrp));
        Assert.All(drv.Calls, c => Assert.Equal(DISPATCH_LEVEL, c.Irql));
        Assert.All(requests, r => Assert.Equal(STATUS_SUCCESS, r.Iosb.Status));
        Assert.False(busyAtEnd);
        Assert.Null(currentAtEnd);
        Assert.Equal(3, callsBeforeRestart);
        Assert.True(drv.Device.DeviceQueue.Busy);
    }

    [Fact]
    public void IoStartNextPacket_EmptyQueue_DeviceNotBusyAndCurrentIrpNull()
    {
        using Machine m = KmTest.Machine();
        var drv = new StartIoTestDriver();
        drv.Load(m);
        bool busyWhileWorking = false;
        m.Kernel(() =>
        {
            Request r = Request.Send(drv.Device);
            busyWhileWorking = drv.Device.DeviceQueue.Busy;
            drv.FinishCurrent();
            Assert.True(r.Completed);
        });

        Assert.True(busyWhileWorking);
        Assert.False(drv.Device.DeviceQueue.Busy);
        Assert.Null(drv.Device.CurrentIrp);
    }

    [Fact]
    public void IoStartPacketWithKeys_IoStartNextPacketByKey_TakesTheFirstKeyAtLeastTheKeyElseTheHead()
    {
        using Machine m = KmTest.Machine();
        var drv = new StartIoTestDriver { UseKeys = true };
        drv.Load(m);
        var order = new List<uint>();
        m.Kernel(() =>
        {
            Request.Send(drv.Device, 7); // starts at once: the device was idle, so its key plays no part
            Request[] queued = [Request.Send(drv.Device, 5), Request.Send(drv.Device, 1), Request.Send(drv.Device, 3),
                Request.Send(drv.Device, 9), Request.Send(drv.Device, 3)];

            // KeInsertByKeyDeviceQueue: ascending keys, FIFO among equal keys (§9.1).
            Assert.Equal([1u, 3u, 3u, 5u, 9u], drv.Device.DeviceQueue.Entries.Select(e => e.SortKey));
            Assert.Same(queued[2].Irp, drv.Device.DeviceQueue.Entries[1].Container);
            Assert.Same(queued[4].Irp, drv.Device.DeviceQueue.Entries[2].Container);

            // IoStartNextPacketByKey: the first entry with SortKey ≥ Key, else the head.
            foreach (uint key in new uint[] { 3, 3, 6, 100 })
            {
                drv.FinishCurrent(nextKey: key);
                order.Add(StartIoTestDriver.KeyOf(drv.Device.CurrentIrp!));
            }

            drv.FinishCurrent();
            order.Add(StartIoTestDriver.KeyOf(drv.Device.CurrentIrp!));
            drv.FinishCurrent(nextKey: 0);
            Assert.All(queued, r => Assert.True(r.Completed));
        });

        Assert.Equal([3u, 3u, 9u, 1u, 5u], order);
        Assert.Equal([7u, 3u, 3u, 9u, 1u, 5u], drv.Calls.Select(c => c.Key));
        Assert.False(drv.Device.DeviceQueue.Busy);
    }

    [Fact]
    public void IoStartPacket_CancelFunction_QueuedIrpIsCancelableAndTheCancelFunctionTakesItOut()
    {
        using Machine m = KmTest.Machine();
        int cancelled = 0;
        bool removed = false;
        StartIoTestDriver? drv = null;
        void OnCancel(DeviceObject device, Irp irp)
        {
            cancelled++;
            removed = KeRemoveEntryDeviceQueue(device.DeviceQueue, irp.Tail.Overlay.DeviceQueueEntry);
            IoReleaseCancelSpinLock(irp.CancelIrql);
            irp.IoStatus.Status = STATUS_CANCELLED;
            IoCompleteRequest(irp, IO_NO_INCREMENT);
        }

        drv = new StartIoTestDriver { CancelFunction = OnCancel };
        drv.Load(m);
        Request? second = null;
        DriverCancel? queuedRoutine = null;
        m.Kernel(() =>
        {
            Request.Send(drv.Device);
            second = Request.Send(drv.Device);
            queuedRoutine = second.Irp.CancelRoutine;
            Assert.True(IoCancelIrp(second.Irp));
            drv.FinishCurrent();
        });

        Assert.Equal(OnCancel, queuedRoutine);
        Assert.Equal(1, cancelled);
        Assert.True(removed);
        Assert.Equal(STATUS_CANCELLED, second!.Iosb.Status);
        Assert.Single(drv.Calls);
        Assert.False(drv.Device.DeviceQueue.Busy);
    }

    [Fact]
    public void IoStartPacket_IrpCancelledBeforeItWasQueuedBehindABusyDevice_CallsTheCancelFunctionItself()
    {
        using Machine m = KmTest.Machine();
        var seen = new List<(bool Cancel, DriverCancel? Routine, bool HoldsLock, byte CancelIrql, byte Irql, bool InQueue)>();
        bool insideIoCallDriver = false;
        void OnCancel(DeviceObject device, Irp irp)
        {
            seen.Add((irp.Cancel, irp.CancelRoutine, m.Io.CancelSpinLock.Owner == KeGetCurrentThread(), irp.CancelIrql, KeGetCurrentIrql(),
                irp.Tail.Overlay.DeviceQueueEntry.Inserted));
            Assert.True(insideIoCallDriver);
            Assert.True(KeRemoveEntryDeviceQueue(device.DeviceQueue, irp.Tail.Overlay.DeviceQueueEntry));
            IoReleaseCancelSpinLock(irp.CancelIrql);
            irp.IoStatus.Status = STATUS_CANCELLED;
            IoCompleteRequest(irp, IO_NO_INCREMENT);
        }

        var drv = new StartIoTestDriver { CancelFunction = OnCancel };
        drv.Load(m);
        Request? late = null;
        m.Kernel(() =>
        {
            Request.Send(drv.Device);

            // Cancelled while no cancel routine was set (IoCancelIrp only sets Cancel), then queued by IoStartPacket.
            insideIoCallDriver = true;
            late = Request.Send(drv.Device, beforeCall: irp => Assert.False(IoCancelIrp(irp)));
            insideIoCallDriver = false;
            drv.FinishCurrent();
        });

        // §9.2 step 4: IoStartPacket notices Irp->Cancel after inserting, clears the routine and calls it with the
        // cancel spin lock held and CancelIrql set; the routine removes the IRP from the queue and completes it.
        var call = Assert.Single(seen);
        Assert.True(call.Cancel);
        Assert.Null(call.Routine);
        Assert.True(call.HoldsLock);
        Assert.Equal(DISPATCH_LEVEL, call.CancelIrql);
        Assert.Equal(DISPATCH_LEVEL, call.Irql);
        Assert.True(call.InQueue);
        Assert.True(late!.Completed);
        Assert.Equal(STATUS_CANCELLED, late.Iosb.Status);
        Assert.Equal(0, drv.Device.DeviceQueue.Count);
        Assert.Single(drv.Calls);
        Assert.Null(m.BugCheck);
    }
}
