using static IrpLab.Kernel32;

namespace IrpLab.Tests.Io;

/// <summary>
/// Bad input gets a clear answer and loses nothing: wrong handles, unknown requests, bad buffers and misused
/// handles fail with the Windows error, send no IRP where Windows sends none, leak no reference, and never hang.
/// A driver that throws stops the machine with a bug check, not the host.
/// </summary>
public sealed class BadInputTests
{
    private static TestDriver LoadDriver(Machine m, string name = "Target")
    {
        var driver = new TestDriver(name)
            .On(Wdm.IRP_MJ_DEVICE_CONTROL, TestDriver.CompleteSuccess)
            .On(Wdm.IRP_MJ_READ, TestDriver.CompleteSuccess)
            .On(Wdm.IRP_MJ_WRITE, TestDriver.CompleteSuccess);
        driver.Load(m);
        return driver;
    }

    /// <summary>Each of the four calls with the handle; their results and last errors.</summary>
    private static (bool Ok, uint Error)[] TryEverything(Handle h)
    {
        byte[] buffer = new byte[8];
        uint bytes = 0;
        var results = new List<(bool, uint)>();
        SetLastError(0);
        results.Add((DeviceIoControl(h, TestIoctls.Buffered, buffer, 8, buffer, 8, ref bytes, null), GetLastError()));
        SetLastError(0);
        results.Add((ReadFile(h, buffer, 8, ref bytes, null), GetLastError()));
        SetLastError(0);
        results.Add((WriteFile(h, buffer, 8, ref bytes, null), GetLastError()));
        return [.. results];
    }

    [Fact]
    public void IoCalls_InvalidHandleValue_InvalidHandle()
    {
        using Machine m = TestMachines.Deterministic();
        TestDriver driver = LoadDriver(m);
        ((bool, uint)[] io, bool closed, uint closeError) = m.RunAndReturn(() =>
        {
            (bool, uint)[] r = TryEverything(INVALID_HANDLE_VALUE);
            bool c = CloseHandle(INVALID_HANDLE_VALUE);
            return (r, c, GetLastError());
        });

        // §12.2: INVALID_HANDLE_VALUE is the process pseudo handle: STATUS_OBJECT_TYPE_MISMATCH → ERROR_INVALID_HANDLE;
        // a pseudo handle cannot be closed.
        Assert.All(io, r => Assert.Equal((false, ERROR_INVALID_HANDLE), r));
        Assert.False(closed);
        Assert.Equal(ERROR_INVALID_HANDLE, closeError);
        Assert.Empty(driver.Log);
        Assert.Equal(0, m.Clock.InterruptTime);
    }

    [Fact]
    public void IoCalls_ClosedHandle_InvalidHandle()
    {
        using Machine m = TestMachines.Deterministic();
        TestDriver driver = LoadDriver(m);
        ((bool, uint)[] io, bool closedTwice, uint closeError) = m.RunAndReturn(() =>
        {
            Handle h = OpenTests.Open(driver.Win32Name);
            Assert.True(CloseHandle(h));
            (bool, uint)[] r = TryEverything(h);
            bool c = CloseHandle(h);
            return (r, c, GetLastError());
        });

        Assert.All(io, r => Assert.Equal((false, ERROR_INVALID_HANDLE), r));
        Assert.False(closedTwice);
        Assert.Equal(ERROR_INVALID_HANDLE, closeError);
        Assert.Equal([Wdm.IRP_MJ_CREATE, Wdm.IRP_MJ_CLEANUP, Wdm.IRP_MJ_CLOSE], driver.Log.Select(r => r.Major));
        Assert.Equal(0, m.Clock.InterruptTime);
    }

    [Fact]
    public void IoCalls_EventHandleAsFileHandle_InvalidHandle()
    {
        using Machine m = TestMachines.Deterministic();
        TestDriver driver = LoadDriver(m);
        (bool, uint)[] io = m.RunAndReturn(() =>
        {
            Handle ev = CreateEvent(null, true, false, null);
            (bool, uint)[] r = TryEverything(ev);
            CloseHandle(ev);
            return r;
        });

        // §12.2: STATUS_OBJECT_TYPE_MISMATCH maps to ERROR_INVALID_HANDLE (6).
        Assert.All(io, r => Assert.Equal((false, ERROR_INVALID_HANDLE), r));
        Assert.Empty(driver.Log);
    }

    [Theory]
    [InlineData(0u)]
    [InlineData(FILE_FLAG_OVERLAPPED)]
    public void DeviceIoControl_UnknownCode_InvalidFunctionAndNothingLeaks(uint flags)
    {
        using Machine m = TestMachines.Deterministic();
        var driver = new TestDriver("Picky").On(Wdm.IRP_MJ_DEVICE_CONTROL, (d, irp) =>
            Wdm.IoGetCurrentIrpStackLocation(irp).Parameters.DeviceIoControl.IoControlCode == TestIoctls.Buffered
                ? TestDriver.Complete(irp, NtStatus.STATUS_SUCCESS)
                : TestDriver.Complete(irp, NtStatus.STATUS_INVALID_DEVICE_REQUEST));
        driver.Load(m);
        (bool ok, uint error, uint wait, nuint internalStatus, int closesBefore) = m.RunAndReturn(() =>
        {
            Handle h = OpenTests.Open(driver.Win32Name, flags: flags);
            Handle ev = CreateEvent(null, true, false, null);
            var ov = new OVERLAPPED { hEvent = ev };
            bool r = DeviceIoControl(h, TestIoctls.Unknown, null, 0, null, 0, flags == 0 ? null : ov);
            uint e = GetLastError();
            uint w = WaitForSingleObject(ev, 0);
            int closes = driver.Count(Wdm.IRP_MJ_CLOSE);
            CloseHandle(h);
            CloseHandle(ev);
            return (r, e, w, ov.Internal, closes);
        });

        // §12.2: STATUS_INVALID_DEVICE_REQUEST → ERROR_INVALID_FUNCTION; §2.2: an immediate error signals nothing.
        Assert.False(ok);
        Assert.Equal(ERROR_INVALID_FUNCTION, error);
        Assert.Equal(WAIT_TIMEOUT, wait);
        if (flags != 0)
        {
            Assert.Equal((nuint)(uint)NtStatus.STATUS_PENDING, internalStatus);
        }

        // Nothing leaked: the failed IRP dropped its file-object reference, so close follows CloseHandle.
        Assert.Equal(0, closesBefore);
        Assert.Equal(1, driver.Count(Wdm.IRP_MJ_CLOSE));
        Assert.Equal(0, driver.Device.ReferenceCount);
    }

    [Theory]
    [InlineData(0u)]
    [InlineData(FILE_FLAG_OVERLAPPED)]
    public void WriteFile_DriverWithoutWriteRoutine_InvalidFunctionAndNothingLeaks(uint flags)
    {
        using Machine m = TestMachines.Deterministic();
        var driver = new TestDriver("ReadOnlyDriver").On(Wdm.IRP_MJ_READ, TestDriver.CompleteSuccess);
        driver.Load(m);
        (bool ok, uint error) = m.RunAndReturn(() =>
        {
            Handle h = OpenTests.Open(driver.Win32Name, flags: flags);
            bool r = WriteFile(h, [1, 2, 3], 3, flags == 0 ? null : new OVERLAPPED());
            uint e = GetLastError();
            CloseHandle(h);
            return (r, e);
        });

        // §1.3: the I/O manager's default routine completes unhandled majors with STATUS_INVALID_DEVICE_REQUEST.
        Assert.False(ok);
        Assert.Equal(ERROR_INVALID_FUNCTION, error);
        Assert.Equal(1, driver.Count(Wdm.IRP_MJ_CLOSE));
        Assert.Equal(0, driver.Device.ReferenceCount);
    }

    [Fact]
    public void IoCalls_NullOrShortBuffers_NoAccessAndNoIrp()
    {
        using Machine m = TestMachines.Deterministic();
        TestDriver driver = LoadDriver(m);
        (bool Ok, uint Error)[] results = m.RunAndReturn(() =>
        {
            Handle h = OpenTests.Open(driver.Win32Name);
            byte[] small = new byte[4];
            var r = new List<(bool, uint)>();
            void Add(bool ok) => r.Add((ok, GetLastError()));
            Add(DeviceIoControl(h, TestIoctls.Buffered, null, 16, null, 0, null));
            Add(DeviceIoControl(h, TestIoctls.Buffered, null, 0, null, 16, null));
            Add(DeviceIoControl(h, TestIoctls.Buffered, small, 16, null, 0, null));
            Add(DeviceIoControl(h, TestIoctls.Buffered, null, 0, small, 16, null));
            Add(ReadFile(h, null, 16, null));
            Add(ReadFile(h, small, 16, null));
            Add(WriteFile(h, null, 16, null));
            Add(WriteFile(h, small, 16, null));
            CloseHandle(h);
            return r.ToArray();
        });

        // A buffer shorter than its stated length faults in the probe or the capture: STATUS_ACCESS_VIOLATION → 998.
        Assert.Equal(8, results.Length);
        Assert.All(results, r => Assert.Equal((false, ERROR_NOACCESS), r));
        Assert.Equal([Wdm.IRP_MJ_CREATE, Wdm.IRP_MJ_CLEANUP, Wdm.IRP_MJ_CLOSE], driver.Log.Select(r => r.Major));
    }

    [Fact]
    public void ReadWrite_NoOverlappedOnOverlappedHandle_InvalidParameterAndNoIrp()
    {
        using Machine m = TestMachines.Deterministic();
        TestDriver driver = LoadDriver(m);
        (bool read, uint readError, bool write, uint writeError) = m.RunAndReturn(() =>
        {
            Handle h = OpenTests.Open(driver.Win32Name, flags: FILE_FLAG_OVERLAPPED);
            byte[] buffer = new byte[8];
            bool r = ReadFile(h, buffer, 8, null);
            uint re = GetLastError();
            bool w = WriteFile(h, buffer, 8, null);
            uint we = GetLastError();
            CloseHandle(h);
            return (r, re, w, we);
        });

        // §1.5: an asynchronous file object needs an explicit byte offset.
        Assert.False(read);
        Assert.Equal(ERROR_INVALID_PARAMETER, readError);
        Assert.False(write);
        Assert.Equal(ERROR_INVALID_PARAMETER, writeError);
        Assert.Equal(0, driver.Count(Wdm.IRP_MJ_READ));
        Assert.Equal(0, driver.Count(Wdm.IRP_MJ_WRITE));
    }

    [Fact]
    public void DispatchRoutine_Throws_KmodeExceptionNotHandledAndTheHostIsUnharmed()
    {
        var m = TestMachines.Deterministic();
        var driver = new TestDriver("Thrower").On(Wdm.IRP_MJ_DEVICE_CONTROL, (d, irp) => throw new InvalidOperationException("driver bug"));
        driver.Load(m);
        BugCheckException e = Assert.Throws<BugCheckException>(() => m.Run("app", () =>
        {
            Handle h = OpenTests.Open(driver.Win32Name);
            DeviceIoControl(h, TestIoctls.Buffered, null, 0, null, 0, null);
        }));

        // A driver exception in a thread that came from user mode is KMODE_EXCEPTION_NOT_HANDLED.
        Assert.Equal(BugCheckCatalogue.KMODE_EXCEPTION_NOT_HANDLED, e.BugCheck.Code);
        Assert.Equal("Thrower", e.BugCheck.FaultingDriver);
        Assert.IsType<InvalidOperationException>(e.BugCheck.Exception);
        Assert.Same(e.BugCheck, m.BugCheck);
        Assert.Equal(MachineStopReason.BugCheck, m.StopReason);

        // The stopped machine refuses further work with the same bug check, and disposes cleanly.
        Assert.Throws<BugCheckException>(() => m.Run("again", () => { }));
        m.Dispose();

        using Machine fresh = TestMachines.Deterministic();
        var healthy = new TestDriver("Thrower").On(Wdm.IRP_MJ_DEVICE_CONTROL, TestDriver.CompleteSuccess);
        healthy.Load(fresh);
        bool ok = fresh.RunAndReturn(() =>
        {
            Handle h = OpenTests.Open(healthy.Win32Name);
            bool r = DeviceIoControl(h, TestIoctls.Buffered, null, 0, null, 0, null);
            CloseHandle(h);
            return r;
        });
        Assert.True(ok);
        Assert.Null(fresh.BugCheck);
    }

    [Fact]
    public void SystemThread_Throws_SystemThreadExceptionNotHandled()
    {
        using Machine m = TestMachines.Deterministic();
        var driver = new TestDriver("ThreadThrower").On(Wdm.IRP_MJ_DEVICE_CONTROL, (d, irp) =>
        {
            Wdm.PsCreateSystemThread(out Handle thread, Wdm.THREAD_ALL_ACCESS, null, null, null, _ => throw new DivideByZeroException(), null);
            Wdm.ZwClose(thread);
            return TestDriver.Complete(irp, NtStatus.STATUS_SUCCESS);
        });
        driver.Load(m);
        BugCheckException e = Assert.Throws<BugCheckException>(() => m.Run("app", () =>
        {
            Handle h = OpenTests.Open(driver.Win32Name);
            DeviceIoControl(h, TestIoctls.Buffered, null, 0, null, 0, null);
            Sleep(10);
            CloseHandle(h);
        }));

        Assert.Equal(BugCheckCatalogue.SYSTEM_THREAD_EXCEPTION_NOT_HANDLED, e.BugCheck.Code);
        Assert.Equal(0xC0000094UL, e.BugCheck.Parameter1); // STATUS_INTEGER_DIVIDE_BY_ZERO
        Assert.Equal("ThreadThrower", e.BugCheck.FaultingDriver);
    }
}
