using static IrpLab.Kernel32;

namespace IrpLab.Tests.Io;

/// <summary>Granted access against what the request needs (nt-io-semantics §1.6).</summary>
public sealed class AccessTests
{
    private static TestDriver LoadEchoDriver(Machine m)
    {
        var driver = new TestDriver("Guarded")
            .On(Wdm.IRP_MJ_DEVICE_CONTROL, TestDriver.CompleteSuccess)
            .On(Wdm.IRP_MJ_READ, TestDriver.CompleteSuccess)
            .On(Wdm.IRP_MJ_WRITE, TestDriver.CompleteSuccess);
        driver.Load(m);
        return driver;
    }

    [Fact]
    public void DeviceIoControl_ReadAccessCodeOnWriteOnlyHandle_AccessDeniedWithoutAnIrp()
    {
        using Machine m = TestMachines.Deterministic();
        TestDriver driver = LoadEchoDriver(m);
        (bool ok, uint error) = m.RunAndReturn(() =>
        {
            Handle h = OpenTests.Open(driver.Win32Name, GENERIC_WRITE);
            uint bytes = 0;
            bool result = DeviceIoControl(h, TestIoctls.BufferedRead, null, 0, null, 0, ref bytes, null);
            uint e = GetLastError();
            CloseHandle(h);
            return (result, e);
        });

        // §1.6: (code >> 14) & 3 = FILE_READ_ACCESS needs FILE_READ_DATA, which GENERIC_WRITE does not grant.
        Assert.False(ok);
        Assert.Equal(ERROR_ACCESS_DENIED, error);
        Assert.Equal(0, driver.Count(Wdm.IRP_MJ_DEVICE_CONTROL));
        Assert.Equal(1, driver.Count(Wdm.IRP_MJ_CLOSE));
    }

    [Fact]
    public void DeviceIoControl_WriteAccessCodeOnReadOnlyHandle_AccessDeniedWithoutAnIrp()
    {
        using Machine m = TestMachines.Deterministic();
        TestDriver driver = LoadEchoDriver(m);
        (bool ok, uint error) = m.RunAndReturn(() =>
        {
            Handle h = OpenTests.Open(driver.Win32Name, GENERIC_READ);
            bool result = DeviceIoControl(h, TestIoctls.BufferedWrite, null, 0, null, 0, null);
            uint e = GetLastError();
            CloseHandle(h);
            return (result, e);
        });

        Assert.False(ok);
        Assert.Equal(ERROR_ACCESS_DENIED, error);
        Assert.Equal(0, driver.Count(Wdm.IRP_MJ_DEVICE_CONTROL));
    }

    [Fact]
    public void DeviceIoControl_RightsMatchTheCode_ReachesTheDriver()
    {
        using Machine m = TestMachines.Deterministic();
        TestDriver driver = LoadEchoDriver(m);
        bool[] results = m.RunAndReturn(() =>
        {
            Handle read = OpenTests.Open(driver.Win32Name, FILE_READ_DATA);
            Handle write = OpenTests.Open(driver.Win32Name, FILE_WRITE_DATA);
            bool[] r =
            [
                DeviceIoControl(read, TestIoctls.BufferedRead, null, 0, null, 0, null),
                DeviceIoControl(write, TestIoctls.BufferedWrite, null, 0, null, 0, null),
            ];
            CloseHandle(read);
            CloseHandle(write);
            return r;
        });

        Assert.Equal([true, true], results);
        Assert.Equal(2, driver.Count(Wdm.IRP_MJ_DEVICE_CONTROL));
    }

    [Fact]
    public void DeviceIoControl_AnyAccessCodeOnHandleOpenedWithNoAccess_ReachesTheDriver()
    {
        using Machine m = TestMachines.Deterministic();
        TestDriver driver = LoadEchoDriver(m);
        (bool opened, bool ok) = m.RunAndReturn(() =>
        {
            Handle h = OpenTests.Open(driver.Win32Name, 0);
            bool result = DeviceIoControl(h, TestIoctls.Buffered, null, 0, null, 0, null);
            CloseHandle(h);
            return (h != INVALID_HANDLE_VALUE, result);
        });

        // §1.6: FILE_ANY_ACCESS requires nothing; kernel32 still adds SYNCHRONIZE | FILE_READ_ATTRIBUTES (§1.2).
        Assert.True(opened);
        Assert.True(ok);
        IrpRecord create = Assert.Single(driver.Of(Wdm.IRP_MJ_CREATE));
        Assert.Equal(SYNCHRONIZE | FILE_READ_ATTRIBUTES, create.FileObject!.GrantedAccess);
        Assert.Equal(1, driver.Count(Wdm.IRP_MJ_DEVICE_CONTROL));
    }

    [Fact]
    public void ReadFile_HandleWithoutReadData_AccessDenied()
    {
        using Machine m = TestMachines.Deterministic();
        TestDriver driver = LoadEchoDriver(m);
        (bool denied, uint error, bool allowed) = m.RunAndReturn(() =>
        {
            byte[] buffer = new byte[4];
            Handle writeOnly = OpenTests.Open(driver.Win32Name, GENERIC_WRITE);
            bool r1 = ReadFile(writeOnly, buffer, 4, null);
            uint e = GetLastError();
            Handle readable = OpenTests.Open(driver.Win32Name, GENERIC_READ);
            bool r2 = ReadFile(readable, buffer, 4, null);
            CloseHandle(writeOnly);
            CloseHandle(readable);
            return (r1, e, r2);
        });

        // §1.6: NtReadFile needs FILE_READ_DATA.
        Assert.False(denied);
        Assert.Equal(ERROR_ACCESS_DENIED, error);
        Assert.True(allowed);
        Assert.Equal(1, driver.Count(Wdm.IRP_MJ_READ));
    }

    [Fact]
    public void WriteFile_HandleWithoutWriteData_AccessDenied()
    {
        using Machine m = TestMachines.Deterministic();
        TestDriver driver = LoadEchoDriver(m);
        (bool denied, uint error, bool allowed, bool appendAllowed) = m.RunAndReturn(() =>
        {
            byte[] buffer = [1, 2, 3, 4];
            Handle readOnly = OpenTests.Open(driver.Win32Name, GENERIC_READ);
            bool r1 = WriteFile(readOnly, buffer, 4, null);
            uint e = GetLastError();
            Handle writable = OpenTests.Open(driver.Win32Name, GENERIC_WRITE);
            bool r2 = WriteFile(writable, buffer, 4, null);
            Handle append = OpenTests.Open(driver.Win32Name, FILE_APPEND_DATA);
            bool r3 = WriteFile(append, buffer, 4, null);
            CloseHandle(readOnly);
            CloseHandle(writable);
            CloseHandle(append);
            return (r1, e, r2, r3);
        });

        // §1.6: NtWriteFile needs FILE_WRITE_DATA or FILE_APPEND_DATA.
        Assert.False(denied);
        Assert.Equal(ERROR_ACCESS_DENIED, error);
        Assert.True(allowed);
        Assert.True(appendAllowed);
        Assert.Equal(2, driver.Count(Wdm.IRP_MJ_WRITE));
    }

    [Fact]
    public void IoValidateDeviceIoControlAccess_HandleLacksTheRights_DriverCanRefuse()
    {
        using Machine m = TestMachines.Deterministic();
        var driver = new TestDriver("Validating").On(Wdm.IRP_MJ_DEVICE_CONTROL, (d, irp) =>
            TestDriver.Complete(irp, Wdm.IoValidateDeviceIoControlAccess(irp, WinNt.FILE_WRITE_ACCESS)));
        driver.Load(m);
        (bool readOnlyOk, uint error, bool writableOk) = m.RunAndReturn(() =>
        {
            Handle readOnly = OpenTests.Open(driver.Win32Name, GENERIC_READ);
            bool r1 = DeviceIoControl(readOnly, TestIoctls.Buffered, null, 0, null, 0, null);
            uint e = GetLastError();
            Handle writable = OpenTests.Open(driver.Win32Name, GENERIC_WRITE);
            bool r2 = DeviceIoControl(writable, TestIoctls.Buffered, null, 0, null, 0, null);
            CloseHandle(readOnly);
            CloseHandle(writable);
            return (r1, e, r2);
        });

        // §1.6: the driver's own stricter check for a FILE_ANY_ACCESS code.
        Assert.False(readOnlyOk);
        Assert.Equal(ERROR_ACCESS_DENIED, error);
        Assert.True(writableOk);
    }
}
