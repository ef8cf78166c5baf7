namespace IrpLab.Tests.Io;

/// <summary>IRPs drivers build for other drivers: IoBuildDeviceIoControlRequest, IoBuildAsynchronousFsdRequest (§3.3, §5.4).</summary>
public sealed class KernelRequestTests
{
    private static readonly NtStatus Poison = unchecked((NtStatus)0x7EADBEEF);

    /// <summary>A server whose (internal) device control writes "pong" and completes with <paramref name="status"/>, at once or 10 ms later.</summary>
    private static TestDriver LoadServer(Machine m, bool pend, NtStatus status)
    {
        NtStatus Serve(DeviceObject d, Irp irp)
        {
            void Finish(Irp p)
            {
                byte[] pong = "pong"u8.ToArray();
                Wdm.RtlCopyMemory(p.AssociatedIrp.SystemBuffer!, pong, pong.Length);
                p.IoStatus.Status = status;
                p.IoStatus.Information = NtStatusClass.IsError(status) ? 0u : 4u;
            }

            if (pend)
            {
                return TestDriver.PendAndComplete(irp, 10, Finish);
            }

            Finish(irp);
            Wdm.IoCompleteRequest(irp, Wdm.IO_NO_INCREMENT);
            return status;
        }

        var server = new TestDriver("Server").On(Wdm.IRP_MJ_DEVICE_CONTROL, Serve).On(Wdm.IRP_MJ_INTERNAL_DEVICE_CONTROL, Serve);
        server.Load(m);
        return server;
    }

    [Theory]
    [InlineData(false, 0x00000000u, true)]
    [InlineData(true, 0x00000000u, true)]
    [InlineData(false, 0xC0000010u, false)] // an immediate error: the caller has only IoCallDriver's return value
    [InlineData(true, 0xC0000010u, true)] // a pended error still writes the IOSB and sets the event
    public void IoBuildDeviceIoControlRequest_FromSystemThread_IosbWrittenAndEventSet(bool pend, uint status, bool notified)
    {
        using Machine m = TestMachines.Deterministic();
        TestDriver server = LoadServer(m, pend, (NtStatus)status);
        NtStatus called = Poison;
        var iosb = new IoStatusBlock { Status = Poison, Information = 0xBAD };
        int eventState = -1;
        byte[] output = new byte[8];
        bool threaded = false;
        m.RunKernel("client", () =>
        {
            Assert.Equal(NtStatus.STATUS_SUCCESS, Wdm.IoGetDeviceObjectPointer(server.DeviceName, WinNt.FILE_READ_DATA, out FileObject fo, out DeviceObject target));
            var ev = new KEvent();
            Wdm.KeInitializeEvent(ev, Wdm.NotificationEvent, false);
            Irp irp = Wdm.IoBuildDeviceIoControlRequest(TestIoctls.Buffered, target, "ping"u8.ToArray(), 4, output, 8, false, ev, iosb);
            threaded = irp.Tail.Overlay.Thread == Wdm.PsGetCurrentThread();
            called = Wdm.IoCallDriver(target, irp);
            if (called == NtStatus.STATUS_PENDING)
            {
                Wdm.KeWaitForSingleObject(ev, Wdm.Executive, Wdm.KernelMode, false, null);
            }

            eventState = Wdm.KeReadStateEvent(ev);
            Wdm.ObDereferenceObject(fo);
        });

        // §5.4: a threaded IRP; at completion the I/O manager writes the caller's IOSB and sets its event, when a
        // notification is due (not an error, or pended: IRP_SYNCHRONOUS_API).
        Assert.True(threaded);
        Assert.Equal(pend ? NtStatus.STATUS_PENDING : (NtStatus)status, called);
        Assert.Equal(notified ? 1 : 0, eventState);
        Assert.Equal(notified ? (NtStatus)status : Poison, iosb.Status);
        Assert.Equal(notified ? (NtStatusClass.IsError((NtStatus)status) ? 0u : 4u) : 0xBADu, iosb.Information);
        Assert.Equal(NtStatusClass.IsError((NtStatus)status) ? "\0\0\0\0" : "pong", System.Text.Encoding.ASCII.GetString(output, 0, 4));
        Assert.Equal(KProcessorMode.KernelMode, Assert.Single(server.Of(Wdm.IRP_MJ_DEVICE_CONTROL)).Irp.RequestorMode);
    }

    [Fact]
    public void IoBuildDeviceIoControlRequest_Internal_ArrivesAsInternalDeviceControl()
    {
        using Machine m = TestMachines.Deterministic();
        TestDriver server = LoadServer(m, pend: false, NtStatus.STATUS_SUCCESS);
        NtStatus called = Poison;
        m.RunKernel("client", () =>
        {
            var ev = new KEvent();
            Wdm.KeInitializeEvent(ev, Wdm.NotificationEvent, false);
            var iosb = new IoStatusBlock();
            Irp irp = Wdm.IoBuildDeviceIoControlRequest(TestIoctls.Buffered, server.Device, null, 0, new byte[4], 4, true, ev, iosb);
            called = Wdm.IoCallDriver(server.Device, irp);
        });

        // §1.6: internal IOCTLs come only from kernel components, as IRP_MJ_INTERNAL_DEVICE_CONTROL.
        Assert.Equal(NtStatus.STATUS_SUCCESS, called);
        Assert.Single(server.Of(Wdm.IRP_MJ_INTERNAL_DEVICE_CONTROL));
        Assert.Empty(server.Of(Wdm.IRP_MJ_DEVICE_CONTROL));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void IoBuildAsynchronousFsdRequest_ReclaimedInCompletionRoutine_IoFreeIrpAndMoreProcessingRequired(bool pend)
    {
        using Machine m = TestMachines.Deterministic();
        var server = new TestDriver("Disk") { DeviceFlags = Wdm.DO_DIRECT_IO }.On(Wdm.IRP_MJ_READ, (d, irp) =>
        {
            void Finish(Irp p)
            {
                byte[] data = "fsd"u8.ToArray();
                Wdm.RtlCopyMemory(Wdm.MmGetSystemAddressForMdlSafe(p.MdlAddress!, Wdm.NormalPagePriority), data, data.Length);
                p.IoStatus.Status = NtStatus.STATUS_SUCCESS;
                p.IoStatus.Information = 3;
            }

            if (pend)
            {
                return TestDriver.PendAndComplete(irp, 10, Finish);
            }

            Finish(irp);
            Wdm.IoCompleteRequest(irp, Wdm.IO_NO_INCREMENT);
            return NtStatus.STATUS_SUCCESS;
        });
        server.Load(m);
        byte[] buffer = new byte[8];
        var calls = new List<(DeviceObject? Device, NtStatus Status, nuint Information)>();
        Irp? built = null;
        m.RunKernel("client", () =>
        {
            var done = new KEvent();
            Wdm.KeInitializeEvent(done, Wdm.NotificationEvent, false);
            Irp irp = Wdm.IoBuildAsynchronousFsdRequest(Wdm.IRP_MJ_READ, server.Device, buffer, 8, new LargeInteger(0), null);
            built = irp;
            Wdm.IoSetCompletionRoutine(irp, (device, completed, context) =>
            {
                calls.Add((device, completed.IoStatus.Status, completed.IoStatus.Information));

                // §3.3: the creator reclaims its IRP: free it and stop the walk.
                Wdm.IoFreeIrp(completed);
                Wdm.KeSetEvent((KEvent)context!, Wdm.IO_NO_INCREMENT, false);
                return NtStatus.STATUS_MORE_PROCESSING_REQUIRED;
            }, done, true, true, true);
            Wdm.IoCallDriver(server.Device, irp);
            Wdm.KeWaitForSingleObject(done, Wdm.Executive, Wdm.KernelMode, false, null);
        });

        // §3.3: the creator gave itself no location, so its routine gets a NULL DeviceObject.
        (DeviceObject? device, NtStatus status, nuint information) = Assert.Single(calls);
        Assert.Null(device);
        Assert.Equal(NtStatus.STATUS_SUCCESS, status);
        Assert.Equal(3u, information);
        Assert.Equal("fsd", System.Text.Encoding.ASCII.GetString(buffer, 0, 3));

        // Freed in its routine, the packet stays freed (so any later use of it is caught).
        Assert.Equal(IrpState.Freed, built!.State);
    }

    [Fact]
    public void IoCallDriver_IrpFreedInItsCompletionRoutine_VerifierReportsTheReuse()
    {
        using Machine m = TestMachines.Deterministic();
        var server = new TestDriver("Reused").On(Wdm.IRP_MJ_DEVICE_CONTROL, TestDriver.CompleteSuccess);
        server.Load(m);
        BugCheckException e = Assert.Throws<BugCheckException>(() => m.RunKernel("client", () =>
        {
            Irp irp = Wdm.IoAllocateIrp(server.Device.StackSize, false);
            Wdm.IoGetNextIrpStackLocation(irp).MajorFunction = Wdm.IRP_MJ_DEVICE_CONTROL;
            Wdm.IoSetCompletionRoutine(irp, (device, completed, context) =>
            {
                Wdm.IoFreeIrp(completed);
                return NtStatus.STATUS_MORE_PROCESSING_REQUIRED;
            }, null, true, true, true);
            Wdm.IoCallDriver(server.Device, irp);

            // The bug: sending the packet again after freeing it.
            Wdm.IoCallDriver(server.Device, irp);
        }));

        Assert.Equal(BugCheckCatalogue.DRIVER_VERIFIER_IOMANAGER_VIOLATION, e.BugCheck.Code);
        Assert.Equal(0x03UL, e.BugCheck.Parameter1);
        Assert.Single(server.Of(Wdm.IRP_MJ_DEVICE_CONTROL));
    }
    [Fact]
    public void IoBuildSynchronousFsdRequest_BufferedRead_DataCopiedBackIosbWrittenEventSet()
    {
        using Machine m = TestMachines.Deterministic();
        TestDriver server = DeviceStackTests.LoadLower(m, "Buffered");
        byte[] buffer = new byte[8];
        var iosb = new IoStatusBlock { Status = Poison };
        int eventState = -1;
        m.RunKernel("client", () =>
        {
            var ev = new KEvent();
            Wdm.KeInitializeEvent(ev, Wdm.NotificationEvent, false);
            Irp irp = Wdm.IoBuildSynchronousFsdRequest(Wdm.IRP_MJ_READ, server.Device, buffer, 8, new LargeInteger(0), ev, iosb);
            if (Wdm.IoCallDriver(server.Device, irp) == NtStatus.STATUS_PENDING)
            {
                Wdm.KeWaitForSingleObject(ev, Wdm.Executive, Wdm.KernelMode, false, null);
            }

            eventState = Wdm.KeReadStateEvent(ev);
        });

        // §5.4: the I/O manager copies the system buffer back, writes the IOSB and sets the event.
        Assert.Equal("lower", System.Text.Encoding.ASCII.GetString(buffer, 0, 5));
        Assert.Equal(NtStatus.STATUS_SUCCESS, iosb.Status);
        Assert.Equal(5u, iosb.Information);
        Assert.Equal(1, eventState);
    }

    [Fact]
    public void IoBuildAsynchronousFsdRequest_NoCompletionRoutine_IosbStillWritten()
    {
        using Machine m = TestMachines.Deterministic();
        TestDriver server = DeviceStackTests.LoadLower(m, "NoRoutine");
        byte[] buffer = new byte[8];
        var iosb = new IoStatusBlock { Status = Poison };
        m.RunKernel("client", () =>
        {
            Irp irp = Wdm.IoBuildAsynchronousFsdRequest(Wdm.IRP_MJ_READ, server.Device, buffer, 8, new LargeInteger(0), iosb);
            Wdm.IoCallDriver(server.Device, irp);
        });

        // §3.3 (Windows-validated): completed without a routine, the packet still gets its UserIosb written.
        Assert.Equal(NtStatus.STATUS_SUCCESS, iosb.Status);
        Assert.Equal(5u, iosb.Information);
    }
}
