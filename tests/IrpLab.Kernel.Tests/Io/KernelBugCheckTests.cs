using static IrpLab.Kernel32;

namespace IrpLab.Tests.Io;

/// <summary>The I/O manager's own bug checks, raised with or without the verifier (nt-io-semantics §3.2, §12.4).</summary>
public sealed class KernelBugCheckTests
{
    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void IoCompleteRequest_TwiceInTheDispatchRoutine_MultipleIrpCompleteRequests(bool verifier)
    {
        using Machine m = TestMachines.Deterministic(verifier);
        ulong irpAddress = 0;
        var driver = new TestDriver("Twice").On(Wdm.IRP_MJ_DEVICE_CONTROL, (d, irp) =>
        {
            irpAddress = irp.DebugAddress(m);
            TestDriver.Complete(irp, NtStatus.STATUS_SUCCESS);
            return TestDriver.Complete(irp, NtStatus.STATUS_SUCCESS);
        });
        driver.Load(m);
        BugCheckException e = Assert.Throws<BugCheckException>(() => m.Run("app", () =>
        {
            Handle h = OpenTests.Open(driver.Win32Name);
            DeviceIoControl(h, TestIoctls.Buffered, null, 0, null, 0, null);
        }));

        // MULTIPLE_IRP_COMPLETE_REQUESTS (0x44) is a kernel check: P1 = the IRP.
        Assert.Equal(BugCheckCatalogue.MULTIPLE_IRP_COMPLETE_REQUESTS, e.BugCheck.Code);
        Assert.Equal(irpAddress, e.BugCheck.Parameter1);
        Assert.Equal("Twice", e.BugCheck.FaultingDriver);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void IoCompleteRequest_TwiceFromSystemThreadAfterTheCallerWasNotified_MultipleIrpCompleteRequests(bool verifier)
    {
        using Machine m = TestMachines.Deterministic(verifier);
        var driver = new TestDriver("Late").On(Wdm.IRP_MJ_DEVICE_CONTROL, (d, irp) =>
        {
            Wdm.IoMarkIrpPending(irp);
            Wdm.PsCreateSystemThread(out Handle thread, Wdm.THREAD_ALL_ACCESS, null, null, null, (Irp pending) =>
            {
                Wdm.KeDelayExecutionThread(Wdm.KernelMode, false, Wdm.RELATIVE(Wdm.MILLISECONDS(5)));
                TestDriver.Complete(pending, NtStatus.STATUS_SUCCESS);

                // The packet is freed by now; nothing has reused it, so the second completion is recognised.
                TestDriver.Complete(pending, NtStatus.STATUS_SUCCESS);
            }, irp);
            Wdm.ZwClose(thread);
            return NtStatus.STATUS_PENDING;
        });
        driver.Load(m);
        BugCheckException e = Assert.Throws<BugCheckException>(() => m.Run("app", () =>
        {
            Handle h = OpenTests.Open(driver.Win32Name, flags: FILE_FLAG_OVERLAPPED);
            var ov = new OVERLAPPED();
            DeviceIoControl(h, TestIoctls.Buffered, null, 0, null, 0, ov);
            uint n = 0;
            GetOverlappedResult(h, ov, ref n, true);
            Sleep(10);
        }));

        Assert.Equal(BugCheckCatalogue.MULTIPLE_IRP_COMPLETE_REQUESTS, e.BugCheck.Code);
        Assert.Equal("Late", e.BugCheck.FaultingDriver);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void IoCallDriver_CreatorTookTheOnlyLocation_NoMoreIrpStackLocations(bool verifier)
    {
        using Machine m = TestMachines.Deterministic(verifier);
        var driver = new TestDriver("Target").On(Wdm.IRP_MJ_DEVICE_CONTROL, TestDriver.CompleteSuccess);
        driver.Load(m);
        ulong irpAddress = 0;
        BugCheckException e = Assert.Throws<BugCheckException>(() => m.RunKernel("client", () =>
        {
            // The bug: the creator gives itself the only location, leaving none for the target (§3.2).
            Irp irp = Wdm.IoAllocateIrp(driver.Device.StackSize, false);
            irpAddress = irp.DebugAddress(m);
            Wdm.IoSetNextIrpStackLocation(irp);
            Wdm.IoCallDriver(driver.Device, irp);
        }));

        // NO_MORE_IRP_STACK_LOCATIONS (0x35): P1 = the IRP.
        Assert.Equal(BugCheckCatalogue.NO_MORE_IRP_STACK_LOCATIONS, e.BugCheck.Code);
        Assert.Equal(irpAddress, e.BugCheck.Parameter1);
        Assert.Empty(driver.Of(Wdm.IRP_MJ_DEVICE_CONTROL));
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void IoCallDriver_IrpSizedForTheDeviceBelowAFilter_NoMoreIrpStackLocations(bool verifier)
    {
        using Machine m = TestMachines.Deterministic(verifier);
        var lower = new TestDriver("Bottom").On(Wdm.IRP_MJ_DEVICE_CONTROL, TestDriver.CompleteSuccess);
        lower.Load(m);
        var filter = new FilterDriver("Copier", lower.Device);
        filter.Dispatch = (d, irp) =>
        {
            Wdm.IoCopyCurrentIrpStackLocationToNext(irp);
            Wdm.IoSetCompletionRoutine(irp, (device, completed, context) =>
            {
                if (completed.PendingReturned)
                {
                    Wdm.IoMarkIrpPending(completed);
                }

                return NtStatus.STATUS_CONTINUE_COMPLETION;
            }, null, true, true, true);
            return Wdm.IoCallDriver(filter.Lower, irp);
        };
        filter.Load(m);
        BugCheckException e = Assert.Throws<BugCheckException>(() => m.RunKernel("client", () =>
        {
            // The bug: the IRP is allocated with the named device's StackSize, not the top of its stack's (§1.1).
            Irp irp = Wdm.IoAllocateIrp(lower.Device.StackSize, false);
            Wdm.IoGetNextIrpStackLocation(irp).MajorFunction = Wdm.IRP_MJ_DEVICE_CONTROL;
            Wdm.IoSetCompletionRoutine(irp, (device, completed, context) =>
            {
                Wdm.IoFreeIrp(completed);
                return NtStatus.STATUS_MORE_PROCESSING_REQUIRED;
            }, null, true, true, true);
            Wdm.IoCallDriver(Wdm.IoGetAttachedDevice(lower.Device), irp);
        }));

        Assert.Equal(BugCheckCatalogue.NO_MORE_IRP_STACK_LOCATIONS, e.BugCheck.Code);
        Assert.Equal("Copier", e.BugCheck.FaultingDriver);
        Assert.Single(filter.Log);
        Assert.Empty(lower.Of(Wdm.IRP_MJ_DEVICE_CONTROL));
    }
}
