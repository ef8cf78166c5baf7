using IrpLab.Tests.Io;
using static IrpLab.NtStatus;
using static IrpLab.Wdm;
using K32 = IrpLab.Kernel32;

namespace IrpLab.Tests.Verifier;

/// <summary>
/// Driver Verifier's per-driver selection (MachineOptions.VerifiedDrivers): a check applies when the driver at fault
/// is verified; the kernel's own checks apply to every driver, with the kernel's codes.
/// </summary>
public sealed class VerifierSelectionTests
{
    private static Machine NewMachine(IReadOnlyCollection<string>? verified, bool verifier = true)
        => new(new MachineOptions { Deterministic = true, Seed = 1, Verifier = verifier, VerifiedDrivers = verified, MaxSteps = 500_000, CaptureTrace = true });

    private static BugCheckInfo? Catch(Action run)
    {
        try
        {
            run();
            return null;
        }
        catch (BugCheckException e)
        {
            return e.BugCheck;
        }
    }

    /// <summary>Driver "Bad" completes IOCTLs with STATUS_SUCCESS and returns STATUS_UNSUCCESSFUL (0xC9/0x224 when verified).</summary>
    private static (BugCheckInfo? Stop, bool Result) WrongReturn(Machine m)
    {
        using (m)
        {
            var driver = new TestDriver("Bad").On(IRP_MJ_DEVICE_CONTROL, (d, irp) =>
            {
                TestDriver.Complete(irp, STATUS_SUCCESS);
                return STATUS_UNSUCCESSFUL;
            });
            driver.Load(m);
            bool result = true;
            BugCheckInfo? stop = Catch(() => m.Run("app", () =>
            {
                Handle h = OpenTests.Open(driver.Win32Name);
                result = K32.DeviceIoControl(h, TestIoctls.Buffered, null, 0, null, 0, null);
                K32.CloseHandle(h);
            }));
            return (stop, result);
        }
    }

    [Fact]
    public void VerifiedDrivers_DriverNotListed_ItsIrpProtocolIsNotChecked()
    {
        (BugCheckInfo? stop, bool result) = WrongReturn(NewMachine(["Other"]));
        Assert.Null(stop);

        // Unchecked, the bug reaches the application: the returned status wins on a synchronous handle (§2.3).
        Assert.False(result);
    }

    [Theory]
    [InlineData("Bad")]
    [InlineData("bad")]
    public void VerifiedDrivers_DriverListed_ItsIrpProtocolIsChecked(string name)
    {
        (BugCheckInfo? stop, _) = WrongReturn(NewMachine(["Other", name]));
        Assert.NotNull(stop);
        Assert.Equal(BugCheckCatalogue.DRIVER_VERIFIER_IOMANAGER_VIOLATION, stop.Code);
        Assert.Equal(0x224UL, stop.Parameter1);
    }

    [Theory]
    [InlineData(true, BugCheckCatalogue.DRIVER_VERIFIER_DETECTED_VIOLATION)]
    [InlineData(false, BugCheckCatalogue.IRQL_NOT_LESS_OR_EQUAL)]
    public void VerifiedDrivers_WaitAtDispatchLevel_VerifierCodeOnlyForAListedDriver(bool listed, uint expected)
    {
        using Machine m = NewMachine(listed ? ["Waiter"] : ["Other"]);
        var driver = new TestDriver("Waiter").On(IRP_MJ_DEVICE_CONTROL, (d, irp) =>
        {
            KeRaiseIrql(DISPATCH_LEVEL, out byte old);
            KeWaitForSingleObject(K.Event(NotificationEvent), Executive, KernelMode, FALSE, RELATIVE(MILLISECONDS(1)));
            KeLowerIrql(old);
            return TestDriver.Complete(irp, STATUS_SUCCESS);
        });
        driver.Load(m);
        BugCheckInfo? stop = Catch(() => m.Run("app", () => K32.DeviceIoControl(OpenTests.Open(driver.Win32Name), TestIoctls.Buffered, null, 0, null, 0, null)));

        Assert.NotNull(stop);
        Assert.Equal(expected, stop.Code);
        Assert.Equal("Waiter", stop.FaultingDriver);
    }

    [Theory]
    [InlineData(true, BugCheckCatalogue.DRIVER_VERIFIER_DETECTED_VIOLATION)]
    [InlineData(false, BugCheckCatalogue.IRQL_NOT_GREATER_OR_EQUAL)]
    public void VerifiedDrivers_CodeOutsideAnyDriver_VerifiedOnlyWhenEveryDriverIs(bool everyDriver, uint expected)
    {
        using Machine m = NewMachine(everyDriver ? null : ["Other"]);
        BugCheckInfo? stop = Catch(() => m.RunKernel("test", () =>
        {
            KeRaiseIrql(DISPATCH_LEVEL, out _);
            KeRaiseIrql(PASSIVE_LEVEL, out _);
        }));

        Assert.NotNull(stop);
        Assert.Equal(expected, stop.Code);
    }

    [Theory]
    [InlineData("Filter", 0x203UL)]
    [InlineData("Drv", 0x07UL)]
    [InlineData("Other", 0UL)]
    public void VerifiedDrivers_CancelRoutineLeftOnAForwardedIrp_ChargedByPosition(string listed, ulong subcode)
    {
        using Machine m = NewMachine([listed]);
        var lower = new TestDriver("Drv").On(IRP_MJ_DEVICE_CONTROL, TestDriver.CompleteSuccess);
        lower.Load(m);
        var filter = new FilterDriver("Filter", lower.Device);
        filter.Dispatch = (d, irp) =>
        {
            if (IoGetCurrentIrpStackLocation(irp).MajorFunction == IRP_MJ_DEVICE_CONTROL)
            {
                // The bug: a cancel routine left on the IRP it forwards.
                IoSetCancelRoutine(irp, (device, cancelled) => IoReleaseCancelSpinLock(cancelled.CancelIrql));
            }

            IoSkipCurrentIrpStackLocation(irp);
            return IoCallDriver(filter.Lower, irp);
        };
        filter.Load(m);
        BugCheckInfo? stop = Catch(() => m.Run("app", () => K32.DeviceIoControl(OpenTests.Open(lower.Win32Name), TestIoctls.Buffered, null, 0, null, 0, null)));

        if (subcode == 0)
        {
            Assert.Null(stop);
            return;
        }

        // The forwarding driver is charged for forwarding it (0x203), the completing driver for completing it (0x07).
        Assert.NotNull(stop);
        Assert.Equal(BugCheckCatalogue.DRIVER_VERIFIER_IOMANAGER_VIOLATION, stop.Code);
        Assert.Equal(subcode, stop.Parameter1);
        Assert.Equal(listed, stop.FaultingDriver);
    }

    [Fact]
    public void VerifierOff_ApplicationMisuse_RecordsNoWarnings()
    {
        using Machine m = NewMachine(null, verifier: false);
        var driver = new TestDriver("Slow").On(IRP_MJ_READ, (d, irp) => TestDriver.PendAndComplete(irp, 10, p => p.IoStatus.Status = STATUS_SUCCESS));
        driver.Load(m);
        m.Run("app", () =>
        {
            Handle h = OpenTests.Open(driver.Win32Name, flags: K32.FILE_FLAG_OVERLAPPED);
            var ov = new OVERLAPPED { hEvent = K32.CreateEvent(null, FALSE, FALSE, null) };
            uint n = 0;
            K32.ReadFile(h, new byte[8], 8, ov);
            K32.ReadFile(h, new byte[8], 8, ov);
            K32.ReadFile(h, new byte[8], 8, ref n, null);
            K32.GetOverlappedResult(h, ov, ref n, TRUE);
            K32.Sleep(100);
            K32.CloseHandle(h);
        });

        Assert.DoesNotContain(m.Trace.Events, e => e.Kind == TraceEventKind.VerifierWarning);
    }
}
