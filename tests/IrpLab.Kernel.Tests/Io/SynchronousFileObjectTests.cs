using static IrpLab.Kernel32;

namespace IrpLab.Tests.Io;

/// <summary>Synchronous file objects serialise their requests; asynchronous ones do not (nt-io-semantics §1.5).</summary>
public sealed class SynchronousFileObjectTests
{
    /// <summary>A driver that pends every read for <paramref name="delayMs"/> and logs arrivals and completions in order.</summary>
    private static (TestDriver Driver, List<string> Events) SlowReader(Machine m, long delayMs)
    {
        var events = new List<string>();
        int next = 0;
        var driver = new TestDriver("Slow").On(Wdm.IRP_MJ_READ, (d, irp) =>
        {
            int n;
            lock (events)
            {
                n = ++next;
                events.Add("arrive " + n);
            }

            return TestDriver.PendAndComplete(irp, delayMs, p =>
            {
                lock (events)
                {
                    events.Add("complete " + n);
                }

                p.IoStatus.Status = NtStatus.STATUS_SUCCESS;
                p.IoStatus.Information = 0;
            });
        });
        driver.Load(m);
        return (driver, events);
    }

    [Fact]
    public void ReadFile_TwoThreadsOnOneSynchronousHandle_SecondIrpOnlyAfterTheFirstCompleted()
    {
        using Machine m = TestMachines.Deterministic();
        (TestDriver driver, List<string> events) = SlowReader(m, 50);
        bool[] ok = new bool[2];
        m.Run("app", () =>
        {
            Handle h = OpenTests.Open(driver.Win32Name);
            Handle[] threads = new Handle[2];
            for (int i = 0; i < 2; i++)
            {
                int index = i;
                threads[i] = CreateThread(null, 0, _ =>
                {
                    ok[index] = ReadFile(h, new byte[4], 4, null);
                    return 0;
                }, null, 0, out _);
            }

            WaitForMultipleObjects(2, threads, true, INFINITE);
            CloseHandle(threads[0]);
            CloseHandle(threads[1]);
            CloseHandle(h);
        });

        // §1.5: every service on a synchronous file object first takes the file-object lock.
        Assert.Equal([true, true], ok);
        Assert.Equal(["arrive 1", "complete 1", "arrive 2", "complete 2"], events);
        IrpRecord[] reads = driver.Of(Wdm.IRP_MJ_READ);
        Assert.True(reads[1].Time - reads[0].Time >= 50 * 10_000);
    }

    [Fact]
    public void ReadFile_TwoThreadsOnOneOverlappedHandle_NotSerialised()
    {
        using Machine m = TestMachines.Deterministic();
        (TestDriver driver, List<string> events) = SlowReader(m, 50);
        bool[] ok = new bool[2];
        m.Run("app", () =>
        {
            Handle h = OpenTests.Open(driver.Win32Name, flags: FILE_FLAG_OVERLAPPED);
            Handle[] threads = new Handle[2];
            for (int i = 0; i < 2; i++)
            {
                int index = i;
                threads[i] = CreateThread(null, 0, _ =>
                {
                    Handle ev = CreateEvent(null, true, false, null);
                    var ov = new OVERLAPPED { hEvent = ev };
                    uint bytes = 0;
                    bool pending = !ReadFile(h, new byte[4], 4, ov) && GetLastError() == ERROR_IO_PENDING;
                    ok[index] = pending && GetOverlappedResult(h, ov, ref bytes, true);
                    CloseHandle(ev);
                    return 0;
                }, null, 0, out _);
            }

            WaitForMultipleObjects(2, threads, true, INFINITE);
            CloseHandle(threads[0]);
            CloseHandle(threads[1]);
            CloseHandle(h);
        });

        // §1.5: an asynchronous file object has no lock; both requests are in the driver at once.
        Assert.Equal([true, true], ok);
        Assert.Equal(["arrive 1", "arrive 2"], events.Take(2));
        Assert.Equal(4, events.Count);
    }

    [Fact]
    public void CloseHandle_SynchronousHandleWithRequestInFlight_WaitsForIt()
    {
        using Machine m = TestMachines.Deterministic();
        (TestDriver driver, List<string> events) = SlowReader(m, 50);
        uint closedAt = 0;
        bool readOk = false;
        m.Run("app", () =>
        {
            Handle h = OpenTests.Open(driver.Win32Name);
            Handle reader = CreateThread(null, 0, _ =>
            {
                readOk = ReadFile(h, new byte[4], 4, null);
                return 0;
            }, null, 0, out _);
            Sleep(10);
            CloseHandle(h);
            closedAt = GetTickCount();
            WaitForSingleObject(reader, INFINITE);
            CloseHandle(reader);
        });

        // §1.5/§8.1: cleanup of a synchronous file object takes its lock, so it waits for the in-flight request.
        Assert.True(readOk);
        Assert.True(closedAt >= 50, $"CloseHandle returned at {closedAt} ms");
        IrpRecord read = Assert.Single(driver.Of(Wdm.IRP_MJ_READ));
        IrpRecord cleanup = Assert.Single(driver.Of(Wdm.IRP_MJ_CLEANUP));
        Assert.True(cleanup.Time - read.Time >= 50 * 10_000);
        Assert.Equal(["arrive 1", "complete 1"], events);
        Assert.Equal(1, driver.Count(Wdm.IRP_MJ_CLOSE));
    }

    [Fact]
    public void ReadFile_SynchronousHandleDriverPends_WaitsAndReturnsTheFinalStatus()
    {
        using Machine m = TestMachines.Deterministic();
        var driver = new TestDriver("SyncPend").On(Wdm.IRP_MJ_READ, (d, irp) => TestDriver.PendAndComplete(irp, 30, p =>
        {
            p.AssociatedIrp.SystemBuffer![0] = 0x5A;
            p.IoStatus.Status = NtStatus.STATUS_SUCCESS;
            p.IoStatus.Information = 1;
        }));
        driver.Load(m);
        (bool ok, uint bytes, byte data, uint at) = m.RunAndReturn(() =>
        {
            Handle h = OpenTests.Open(driver.Win32Name);
            byte[] buffer = new byte[4];
            uint n = 0;
            bool r = ReadFile(h, buffer, 4, ref n, null);
            uint t = GetTickCount();
            CloseHandle(h);
            return (r, n, buffer[0], t);
        });

        // §1.5: on a synchronous file object the service waits for a pended IRP and returns its final status.
        Assert.True(ok);
        Assert.Equal(1u, bytes);
        Assert.Equal(0x5A, data);
        Assert.True(at >= 30);
    }
    [Fact]
    public void ReadFile_SynchronousHandleWithOverlapped_ReturnsWhenCompleteAndSignalsTheEvent()
    {
        using Machine m = TestMachines.Deterministic();
        long offset = -1;
        var driver = new TestDriver("SyncOv").On(Wdm.IRP_MJ_READ, (d, irp) =>
        {
            offset = Wdm.IoGetCurrentIrpStackLocation(irp).Parameters.Read.ByteOffset.QuadPart;
            return TestDriver.PendAndComplete(irp, 25, p =>
            {
                p.IoStatus.Status = NtStatus.STATUS_SUCCESS;
                p.IoStatus.Information = 2;
            });
        });
        driver.Load(m);
        (bool ok, uint bytes, uint at, uint wait, nuint information) = m.RunAndReturn(() =>
        {
            Handle h = OpenTests.Open(driver.Win32Name);
            Handle ev = CreateEvent(null, true, false, null);
            var ov = new OVERLAPPED { hEvent = ev, Offset = 512 };
            uint n = 0;
            bool r = ReadFile(h, new byte[4], 4, ref n, ov);
            uint t = GetTickCount();
            uint w = WaitForSingleObject(ev, 0);
            CloseHandle(ev);
            CloseHandle(h);
            return (r, n, t, w, ov.InternalHigh);
        });

        // §2.3: on a synchronous handle the offset comes from the OVERLAPPED, the call returns only when the
        // operation completed, and the OVERLAPPED's event is signaled.
        Assert.True(ok);
        Assert.Equal(2u, bytes);
        Assert.Equal(512, offset);
        Assert.True(at >= 25);
        Assert.Equal(WAIT_OBJECT_0, wait);
        Assert.Equal(2u, information);
    }
}
