using static IrpLab.NtStatus;
using static IrpLab.Wdm;

namespace IrpLab.Tests.StartIo;

/// <summary>IoSetStartIoAttributes (nt-io-semantics §9.3), and the IRQL StartIo runs at (§10.1).</summary>
public sealed class StartIoAttributesTests
{
    private const int Irps = 50;

    /// <summary>Queues <see cref="Irps"/> requests behind a held first one, then lets StartIo complete each synchronously.</summary>
    private static (StartIoTestDriver Driver, Request[] Requests) RunSynchronousStartIo(bool deferred)
    {
        using Machine m = KmTest.Machine();
        var drv = new StartIoTestDriver { CompleteInStartIo = true, Hold = true, Attributes = (deferred, false) };
        drv.Load(m);
        var requests = new Request[Irps];
        m.Kernel(() =>
        {
            for (int i = 0; i < Irps; i++)
            {
                requests[i] = Request.Send(drv.Device, (uint)i);
            }

            Assert.Equal(Irps - 1, drv.Device.DeviceQueue.Count);
            drv.Hold = false;

            // The first IRP's "DPC": completes it and starts the next; every later StartIo completes its IRP at once
            // and calls IoStartNextPacket from inside StartIo.
            drv.FinishCurrent();
        });

        return (drv, requests);
    }

    [Fact]
    public void DeferredStartIo_StartIoCompletesSynchronouslyAndStartsTheNext_DoesNotRecurseAndAllComplete()
    {
        (StartIoTestDriver drv, Request[] requests) = RunSynchronousStartIo(deferred: true);

        // §9.3: IoStartNextPacket inside StartIo is recorded and carried out after StartIo returns.
        Assert.Equal(Irps, drv.Calls.Count);
        Assert.Equal(1, drv.MaxDepth);
        Assert.Equal(Enumerable.Range(0, Irps).Select(i => (uint)i), drv.Calls.Select(c => c.Key));
        Assert.All(drv.Calls, c => Assert.True(c.IsCurrentIrp));
        Assert.All(requests, r => Assert.Equal(STATUS_SUCCESS, r.Iosb.Status));
        Assert.False(drv.Device.DeviceQueue.Busy);
        Assert.Null(drv.Device.CurrentIrp);
    }

    [Fact]
    public void WithoutDeferredStartIo_StartIoCompletesSynchronouslyAndStartsTheNext_RecursesOncePerQueuedIrp()
    {
        (StartIoTestDriver drv, Request[] requests) = RunSynchronousStartIo(deferred: false);

        // The unbounded recursion DeferredStartIo exists to prevent: StartIo → IoStartNextPacket → StartIo → ...
        Assert.Equal(Irps, drv.Calls.Count);
        Assert.Equal(Irps - 1, drv.MaxDepth);
        Assert.All(requests, r => Assert.Equal(STATUS_SUCCESS, r.Iosb.Status));
        Assert.False(drv.Device.DeviceQueue.Busy);
    }

    private static void Ignore(DeviceObject device, Irp irp) => IoReleaseCancelSpinLock(irp.CancelIrql);

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void NonCancelable_StartedIrp_HasNoCancelRoutineWhileQueuedOnesKeepTheirs(bool nonCancelable)
    {
        using Machine m = KmTest.Machine();
        var drv = new StartIoTestDriver { CancelFunction = Ignore, Attributes = (false, nonCancelable) };
        drv.Load(m);
        DriverCancel? queuedRoutine = null;
        bool cancelCalledRoutine = true;
        m.Kernel(() =>
        {
            Request.Send(drv.Device);
            Request second = Request.Send(drv.Device);
            queuedRoutine = second.Irp.CancelRoutine;
            drv.FinishCurrent();

            // The started IRP: with NonCancelable the I/O manager cleared its routine, so IoCancelIrp only sets Cancel.
            Irp started = drv.Device.CurrentIrp!;
            if (nonCancelable)
            {
                cancelCalledRoutine = IoCancelIrp(started);
                Assert.True(started.Cancel);
            }

            drv.FinishCurrent();
        });

        Assert.Equal(Ignore, queuedRoutine);
        Assert.Equal(2, drv.Calls.Count);
        Assert.All(drv.Calls, c => Assert.Equal(nonCancelable ? null : Ignore, c.CancelRoutine));
        if (nonCancelable)
        {
            Assert.False(cancelCalledRoutine);
        }
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void StartIo_WaitsWithATimeout_StopsTheMachine(bool verifier)
    {
        // The seed's HelloDDKStartIO, as written: KeWaitForSingleObject with a three-second timeout at DISPATCH_LEVEL.
        using Machine m = KmTest.Machine(verifier: verifier);
        BugCheckInfo bc = KmTest.BugCheck(() => IrpLab.Samples.StartIoSeedWait.Host.Run(m));

        Assert.Equal("HelloDDK", bc.FaultingDriver);
        Assert.Equal(nameof(IrpLab.Samples.StartIoSeedWait.Driver.HelloDDKStartIO), bc.FaultingRoutine);
        if (verifier)
        {
            Assert.Equal(BugCheckCatalogue.DRIVER_VERIFIER_DETECTED_VIOLATION, bc.Code);
            Assert.Equal(0x122UL, bc.Parameter1);
            Assert.Equal((ulong)DISPATCH_LEVEL, bc.Parameter2);
            Assert.Equal(unchecked((ulong)RELATIVE(SECONDS(3))), bc.Parameter4);
        }
        else
        {
            Assert.Equal(BugCheckCatalogue.IRQL_NOT_LESS_OR_EQUAL, bc.Code);
            Assert.Equal((ulong)DISPATCH_LEVEL, bc.Parameter2);
        }
    }

    [Theory]
    [InlineData(true, BugCheckCatalogue.DRIVER_VERIFIER_DETECTED_VIOLATION)]
    [InlineData(false, BugCheckCatalogue.ATTEMPTED_SWITCH_FROM_DPC)]
    public void StartIo_CalledFromADpcWaits_StopsTheMachine(bool verifier, uint code)
    {
        // The second packet's StartIo runs inside the DPC that started it with IoStartNextPacket.
        using Machine m = KmTest.Machine(verifier: verifier);
        var dpc = new KDpc();
        DeviceObject? device = null;
        int started = 0;
        void WaitingStartIo(DeviceObject d, Irp irp)
        {
            if (++started == 2)
            {
                var ev = new KEvent();
                KeInitializeEvent(ev, NotificationEvent, FALSE);
                KeWaitForSingleObject(ev, Executive, KernelMode, FALSE, RELATIVE(SECONDS(3)));
            }
        }

        KmTest.RunAsDriver(m, "WaitDrv", driver =>
        {
            Assert.Equal(STATUS_SUCCESS, IoCreateDevice(driver, null, null, FILE_DEVICE_UNKNOWN, 0, FALSE, out device));
            device.Flags |= DO_BUFFERED_IO;
            driver.MajorFunction[IRP_MJ_DEVICE_CONTROL] = (d, irp) =>
            {
                IoMarkIrpPending(irp);
                IoStartPacket(d, irp, null, null);
                return STATUS_PENDING;
            };
            driver.DriverStartIo = WaitingStartIo;
            KeInitializeDpc(dpc, (k, context, a1, a2) =>
            {
                var d = (DeviceObject)context!;
                Irp done = d.CurrentIrp!;
                IoStartNextPacket(d, FALSE);
                IoCompleteRequest(done, IO_NO_INCREMENT);
            }, device);
        });

        BugCheckInfo bc = KmTest.BugCheck(() => m.RunKernel("test", () =>
        {
            Request first = Request.Send(device!);
            Request.Send(device!);
            KeInsertQueueDpc(dpc, null, null);
            KeWaitForSingleObject(first.Done, Executive, KernelMode, FALSE, null);
        }));

        Assert.Equal(code, bc.Code);
        Assert.Equal("WaitDrv", bc.FaultingDriver);
        Assert.Contains(nameof(WaitingStartIo), bc.FaultingRoutine, StringComparison.Ordinal);
        if (verifier)
        {
            Assert.Equal(0x122UL, bc.Parameter1);
        }
    }
}
