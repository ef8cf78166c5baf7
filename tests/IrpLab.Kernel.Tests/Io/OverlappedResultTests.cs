using static IrpLab.Kernel32;

namespace IrpLab.Tests.Io;

/// <summary>GetOverlappedResult and GetOverlappedResultEx (nt-io-semantics §2.4).</summary>
public sealed class OverlappedResultTests
{
    /// <summary>A driver whose IOCTL is pended for <paramref name="delayMs"/>, then completed by <paramref name="finish"/>.</summary>
    private static TestDriver LoadPendingIoctl(Machine m, long delayMs, Action<Irp> finish)
    {
        var driver = new TestDriver("Later").On(Wdm.IRP_MJ_DEVICE_CONTROL, (d, irp) => TestDriver.PendAndComplete(irp, delayMs, finish));
        driver.Load(m);
        return driver;
    }

    private static void Succeed(Irp irp)
    {
        irp.AssociatedIrp.SystemBuffer![0] = 0x42;
        irp.IoStatus.Status = NtStatus.STATUS_SUCCESS;
        irp.IoStatus.Information = 1;
    }

    [Fact]
    public void GetOverlappedResult_StillPendingWithoutWait_IoIncomplete()
    {
        using Machine m = TestMachines.Deterministic();
        TestDriver driver = LoadPendingIoctl(m, 50, Succeed);
        (bool ok, uint error, uint bytes, bool finalOk) = m.RunAndReturn(() =>
        {
            Handle h = OpenTests.Open(driver.Win32Name, flags: FILE_FLAG_OVERLAPPED);
            Handle ev = CreateEvent(null, true, false, null);
            var ov = new OVERLAPPED { hEvent = ev };
            Assert.False(DeviceIoControl(h, TestIoctls.Buffered, null, 0, new byte[4], 4, ov));
            uint n = 77;
            bool r = GetOverlappedResult(h, ov, ref n, false);
            uint e = GetLastError();
            uint ignored = 0;
            bool f = GetOverlappedResult(h, ov, ref ignored, true);
            CloseHandle(ev);
            CloseHandle(h);
            return (r, e, n, f);
        });

        // §2.4 step 1: Internal is still STATUS_PENDING and bWait is FALSE → ERROR_IO_INCOMPLETE, bytes untouched.
        Assert.False(ok);
        Assert.Equal(ERROR_IO_INCOMPLETE, error);
        Assert.Equal(77u, bytes);
        Assert.True(finalOk);
    }

    [Fact]
    public void GetOverlappedResult_NoEventInOverlapped_WaitsOnTheFileHandle()
    {
        using Machine m = TestMachines.Deterministic();
        TestDriver driver = LoadPendingIoctl(m, 40, Succeed);
        (bool ok, uint bytes, byte data, uint at) = m.RunAndReturn(() =>
        {
            Handle h = OpenTests.Open(driver.Win32Name, flags: FILE_FLAG_OVERLAPPED);
            var ov = new OVERLAPPED();
            byte[] output = new byte[4];
            Assert.False(DeviceIoControl(h, TestIoctls.Buffered, null, 0, output, 4, ov));
            Assert.Equal(ERROR_IO_PENDING, GetLastError());

            // §1.5: the request cleared the file object's event, so the wait is a real one.
            Assert.Equal(WAIT_TIMEOUT, WaitForSingleObject(h, 0));
            uint n = 0;
            bool r = GetOverlappedResult(h, ov, ref n, true);
            uint t = GetTickCount();
            CloseHandle(h);
            return (r, n, output[0], t);
        });

        // §2.4: with no hEvent the wait is on hFile, whose file-object event is set at completion (§5.3).
        Assert.True(ok);
        Assert.Equal(1u, bytes);
        Assert.Equal(0x42, data);
        Assert.True(at >= 40);
    }

    [Fact]
    public void GetOverlappedResult_OperationFailed_BytesStillWritten()
    {
        using Machine m = TestMachines.Deterministic();
        TestDriver driver = LoadPendingIoctl(m, 10, irp =>
        {
            irp.IoStatus.Status = NtStatus.STATUS_DEVICE_NOT_READY;
            irp.IoStatus.Information = 5;
        });
        (bool ok, uint error, uint bytes, byte data) = m.RunAndReturn(() =>
        {
            Handle h = OpenTests.Open(driver.Win32Name, flags: FILE_FLAG_OVERLAPPED);
            Handle ev = CreateEvent(null, true, false, null);
            var ov = new OVERLAPPED { hEvent = ev };
            byte[] output = [9, 9, 9, 9, 9, 9, 9, 9];
            Assert.False(DeviceIoControl(h, TestIoctls.Buffered, null, 0, output, 8, ov));
            uint n = 0;
            bool r = GetOverlappedResult(h, ov, ref n, true);
            uint e = GetLastError();
            CloseHandle(ev);
            CloseHandle(h);
            return (r, e, n, output[0]);
        });

        // §2.4 step 2: *bytes = InternalHigh even when the operation failed; §4.3: an error copies nothing back.
        Assert.False(ok);
        Assert.Equal(21u, error); // ERROR_NOT_READY
        Assert.Equal(5u, bytes);
        Assert.Equal(9, data);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void GetOverlappedResult_Warning_FalseMoreDataWithTheData(bool pend)
    {
        using Machine m = TestMachines.Deterministic();
        static void Overflow(Irp irp)
        {
            byte[] system = irp.AssociatedIrp.SystemBuffer!;
            for (int i = 0; i < 4; i++)
            {
                system[i] = (byte)('a' + i);
            }

            irp.IoStatus.Status = NtStatus.STATUS_BUFFER_OVERFLOW;
            irp.IoStatus.Information = 4;
        }

        var driver = new TestDriver("Overflow").On(Wdm.IRP_MJ_DEVICE_CONTROL, (d, irp) =>
        {
            if (pend)
            {
                return TestDriver.PendAndComplete(irp, 10, Overflow);
            }

            Overflow(irp);
            Wdm.IoCompleteRequest(irp, Wdm.IO_NO_INCREMENT);
            return NtStatus.STATUS_BUFFER_OVERFLOW;
        });
        driver.Load(m);
        (uint issueError, uint wait, bool ok, uint error, uint bytes, string data) = m.RunAndReturn(() =>
        {
            Handle h = OpenTests.Open(driver.Win32Name, flags: FILE_FLAG_OVERLAPPED);
            Handle ev = CreateEvent(null, true, false, null);
            var ov = new OVERLAPPED { hEvent = ev };
            byte[] output = new byte[4];
            Assert.False(DeviceIoControl(h, TestIoctls.Buffered, null, 0, output, 4, ov));
            uint ie = GetLastError();
            uint w = WaitForSingleObject(ev, INFINITE);
            uint n = 0;
            bool r = GetOverlappedResult(h, ov, ref n, true);
            uint e = GetLastError();
            CloseHandle(ev);
            CloseHandle(h);
            return (ie, w, r, e, n, System.Text.Encoding.ASCII.GetString(output));
        });

        // §2.2 item 4 / §2.4 step 3: a warning is not NT_SUCCESS (FALSE, ERROR_MORE_DATA) but the request completed:
        // event signaled, data copied, byte count valid.
        Assert.Equal(pend ? ERROR_IO_PENDING : ERROR_MORE_DATA, issueError);
        Assert.Equal(WAIT_OBJECT_0, wait);
        Assert.False(ok);
        Assert.Equal(ERROR_MORE_DATA, error);
        Assert.Equal(4u, bytes);
        Assert.Equal("abcd", data);
    }

    [Fact]
    public void GetOverlappedResultEx_TimeoutBeforeCompletion_WaitTimeout()
    {
        using Machine m = TestMachines.Deterministic();
        TestDriver driver = LoadPendingIoctl(m, 100, Succeed);
        (bool zeroOk, uint zeroError, bool timedOk, uint timedError, uint timedAt, bool finalOk, uint bytes) = m.RunAndReturn(() =>
        {
            Handle h = OpenTests.Open(driver.Win32Name, flags: FILE_FLAG_OVERLAPPED);
            Handle ev = CreateEvent(null, true, false, null);
            var ov = new OVERLAPPED { hEvent = ev };
            Assert.False(DeviceIoControl(h, TestIoctls.Buffered, null, 0, new byte[4], 4, ov));
            uint n = 0;
            bool z = GetOverlappedResultEx(h, ov, ref n, 0, false);
            uint ze = GetLastError();
            bool t = GetOverlappedResultEx(h, ov, ref n, 10, false);
            uint te = GetLastError();
            uint at = GetTickCount();
            bool f = GetOverlappedResultEx(h, ov, ref n, INFINITE, false);
            CloseHandle(ev);
            CloseHandle(h);
            return (z, ze, t, te, at, f, n);
        });

        // §2.4: a zero timeout is ERROR_IO_INCOMPLETE; an elapsed timeout is FALSE with WAIT_TIMEOUT (258).
        Assert.False(zeroOk);
        Assert.Equal(ERROR_IO_INCOMPLETE, zeroError);
        Assert.False(timedOk);
        Assert.Equal(258u, timedError);
        Assert.InRange(timedAt, 10u, 99u);
        Assert.True(finalOk);
        Assert.Equal(1u, bytes);
    }
    [Fact]
    public void DeviceIoControl_EventAlreadySignaled_ResetWhenTheRequestIsIssued()
    {
        using Machine m = TestMachines.Deterministic();
        TestDriver driver = LoadPendingIoctl(m, 20, Succeed);
        (uint atIssue, uint handleAtIssue, uint afterWait) = m.RunAndReturn(() =>
        {
            Handle h = OpenTests.Open(driver.Win32Name, flags: FILE_FLAG_OVERLAPPED);
            Handle ev = CreateEvent(null, true, true, null);
            var ov = new OVERLAPPED { hEvent = ev };
            Assert.False(DeviceIoControl(h, TestIoctls.Buffered, null, 0, new byte[4], 4, ov));
            uint a = WaitForSingleObject(ev, 0);
            uint fh = WaitForSingleObject(h, 0);
            uint w = WaitForSingleObject(ev, INFINITE);
            CloseHandle(ev);
            CloseHandle(h);
            return (a, fh, w);
        });

        // §1.5 / §2.5: the I/O manager clears the caller's event (and the file object's) at issue, even if signaled.
        Assert.Equal(WAIT_TIMEOUT, atIssue);
        Assert.Equal(WAIT_TIMEOUT, handleAtIssue);
        Assert.Equal(WAIT_OBJECT_0, afterWait);
    }
}
