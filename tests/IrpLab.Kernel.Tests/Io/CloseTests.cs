using static IrpLab.Kernel32;

namespace IrpLab.Tests.Io;

/// <summary>IRP_MJ_CLEANUP on the last handle, IRP_MJ_CLOSE on the last reference (nt-io-semantics §8).</summary>
public sealed class CloseTests
{
    [Fact]
    public void CloseHandle_OneOfTwoOpens_CleanupForThatFileObjectOnly()
    {
        using Machine m = TestMachines.Deterministic();
        var driver = new TestDriver("TwoOpens");
        driver.Load(m);
        int cleanupsAfterFirstClose = -1;
        int closesAfterFirstClose = -1;
        m.Run("app", () =>
        {
            Handle a = OpenTests.Open(driver.Win32Name);
            Handle b = OpenTests.Open(driver.Win32Name);
            CloseHandle(a);
            cleanupsAfterFirstClose = driver.Count(Wdm.IRP_MJ_CLEANUP);
            closesAfterFirstClose = driver.Count(Wdm.IRP_MJ_CLOSE);
            CloseHandle(b);
        });

        // §1.4: each CreateFile is its own file object; §8.1/8.2: cleanup and close follow that file object.
        IrpRecord[] creates = driver.Of(Wdm.IRP_MJ_CREATE);
        Assert.Equal(2, creates.Length);
        Assert.NotSame(creates[0].FileObject, creates[1].FileObject);
        Assert.Equal(1, cleanupsAfterFirstClose);
        Assert.Equal(1, closesAfterFirstClose);
        IrpRecord[] cleanups = driver.Of(Wdm.IRP_MJ_CLEANUP);
        IrpRecord[] closes = driver.Of(Wdm.IRP_MJ_CLOSE);
        Assert.Same(creates[0].FileObject, cleanups[0].FileObject);
        Assert.Same(creates[0].FileObject, closes[0].FileObject);
        Assert.Same(creates[1].FileObject, cleanups[1].FileObject);
        Assert.Same(creates[1].FileObject, closes[1].FileObject);
        Assert.Equal(FileObject.FO_CLEANUP_COMPLETE, creates[0].FileObject!.Flags & FileObject.FO_CLEANUP_COMPLETE);
    }

    [Fact]
    public void CloseHandle_RequestStillPending_CloseOnlyAfterItCompletes()
    {
        using Machine m = TestMachines.Deterministic();
        long completedAt = 0;
        var driver = new TestDriver("HoldsRef").On(Wdm.IRP_MJ_READ, (d, irp) => TestDriver.PendAndComplete(irp, 100, p =>
        {
            completedAt = TestDriver.NowMs();
            p.IoStatus.Status = NtStatus.STATUS_SUCCESS;
            p.IoStatus.Information = 0;
        }));
        driver.Load(m);
        int cleanupsAtClose = -1;
        int closesAtClose = -1;
        uint wait = 0;
        m.Run("app", () =>
        {
            Handle h = OpenTests.Open(driver.Win32Name, flags: FILE_FLAG_OVERLAPPED);
            Handle ev = CreateEvent(null, true, false, null);
            var ov = new OVERLAPPED { hEvent = ev };
            byte[] buffer = new byte[8];
            Assert.False(ReadFile(h, buffer, (uint)buffer.Length, ov));
            Assert.Equal(ERROR_IO_PENDING, GetLastError());

            // §8.1: CloseHandle does not cancel asynchronous I/O; the pended IRP keeps its file-object reference.
            Assert.True(CloseHandle(h));
            cleanupsAtClose = driver.Count(Wdm.IRP_MJ_CLEANUP);
            closesAtClose = driver.Count(Wdm.IRP_MJ_CLOSE);
            wait = WaitForSingleObject(ev, INFINITE);
            CloseHandle(ev);
        });

        Assert.Equal(1, cleanupsAtClose);
        Assert.Equal(0, closesAtClose);
        Assert.Equal(WAIT_OBJECT_0, wait);

        // §8.2: IRP_MJ_CLOSE comes once the last reference (the IRP's) is gone.
        IrpRecord close = Assert.Single(driver.Of(Wdm.IRP_MJ_CLOSE));
        Assert.True(close.Time / 10_000 >= completedAt, "IRP_MJ_CLOSE came before the pended read completed");
    }

    [Fact]
    public void CloseHandle_FromAnotherThread_CleanupRunsInTheClosersContext()
    {
        using Machine m = TestMachines.Deterministic();
        var driver = new TestDriver("Context");
        driver.Load(m);
        uint closerId = 0;
        uint mainId = 0;
        m.Run("app", () =>
        {
            mainId = GetCurrentThreadId();
            Handle h = OpenTests.Open(driver.Win32Name);
            Handle thread = CreateThread(null, 0, _ =>
            {
                closerId = GetCurrentThreadId();
                return CloseHandle(h) ? 0u : 1u;
            }, null, 0, out _);
            WaitForSingleObject(thread, INFINITE);
            CloseHandle(thread);
        });

        // §8.1: cleanup is sent in the context of the thread that closed the last handle.
        IrpRecord cleanup = Assert.Single(driver.Of(Wdm.IRP_MJ_CLEANUP));
        Assert.NotEqual(mainId, closerId);
        Assert.Equal((int)closerId, cleanup.ThreadId);
        Assert.Equal("app", cleanup.Process.Name);
        Assert.False(cleanup.Process.IsSystem);
        Assert.Equal(Wdm.PASSIVE_LEVEL, cleanup.Irql);
        IrpRecord create = Assert.Single(driver.Of(Wdm.IRP_MJ_CREATE));
        Assert.Equal((int)mainId, create.ThreadId);
    }

    [Fact]
    public void CloseHandle_DriverWithoutCleanupRoutine_StillGetsClose()
    {
        using Machine m = TestMachines.Deterministic();
        var driver = new TestDriver("NoCleanup").On(Wdm.IRP_MJ_CLEANUP, null);
        driver.Load(m);
        bool closed = m.RunAndReturn(() => CloseHandle(OpenTests.Open(driver.Win32Name)));

        // §8.1: the default routine fails the cleanup IRP, the I/O manager ignores that, and close follows.
        Assert.True(closed);
        Assert.Equal(0, driver.Count(Wdm.IRP_MJ_CLEANUP));
        Assert.Equal(1, driver.Count(Wdm.IRP_MJ_CLOSE));
        Assert.Equal(0, driver.Device.ReferenceCount);
    }

    [Fact]
    public void ProcessExit_HandleLeftOpen_CleanupAndCloseAtRundown()
    {
        using Machine m = TestMachines.Deterministic();
        var driver = new TestDriver("Leaky");
        driver.Load(m);
        m.Run("app", () =>
        {
            Assert.NotEqual(INVALID_HANDLE_VALUE, OpenTests.Open(driver.Win32Name));
        });

        Assert.Equal(1, driver.Count(Wdm.IRP_MJ_CLEANUP));
        Assert.Equal(1, driver.Count(Wdm.IRP_MJ_CLOSE));
        Assert.Equal(0, driver.Device.ReferenceCount);
    }

    [Fact]
    public void ObDereferenceObject_FileObjectThatNeverHadAHandle_CleanupThenClose()
    {
        using Machine m = TestMachines.Deterministic();
        var driver = new TestDriver("KernelOpen");
        driver.Load(m);
        m.RunKernel("client", () =>
        {
            NtStatus status = Wdm.IoGetDeviceObjectPointer(driver.DeviceName, WinNt.FILE_READ_DATA, out FileObject fo, out DeviceObject top);
            Assert.Equal(NtStatus.STATUS_SUCCESS, status);
            Assert.Same(driver.Device, top);
            Wdm.ObDereferenceObject(fo);
        });

        // §8.2: a file object deleted without FO_HANDLE_CREATED gets IRP_MJ_CLEANUP first, then IRP_MJ_CLOSE.
        byte[] majors = [.. driver.Log.Select(r => r.Major)];
        Assert.Equal([Wdm.IRP_MJ_CREATE, Wdm.IRP_MJ_CLEANUP, Wdm.IRP_MJ_CLOSE], majors);
        Assert.Equal(0, driver.Device.ReferenceCount);
    }

    [Fact]
    public void IoCompleteRequest_AtDispatchLevelDropsTheLastReference_CloseStillAtPassiveLevel()
    {
        using Machine m = TestMachines.Deterministic();
        var spinLock = new KSpinLock();
        var driver = new TestDriver("LateClose").On(Wdm.IRP_MJ_READ, (d, irp) =>
        {
            Wdm.IoMarkIrpPending(irp);
            Wdm.PsCreateSystemThread(out Handle thread, Wdm.THREAD_ALL_ACCESS, null, null, null, (Irp pending) =>
            {
                Wdm.KeDelayExecutionThread(Wdm.KernelMode, false, Wdm.RELATIVE(Wdm.MILLISECONDS(20)));

                // Completing under a spin lock (as from a DPC) is legal: IRQL ≤ DISPATCH_LEVEL (§3.2).
                Wdm.KeAcquireSpinLock(spinLock, out byte oldIrql);
                TestDriver.Complete(pending, NtStatus.STATUS_SUCCESS);
                Wdm.KeReleaseSpinLock(spinLock, oldIrql);
            }, irp);
            Wdm.ZwClose(thread);
            return NtStatus.STATUS_PENDING;
        });
        driver.Load(m);
        m.Run("app", () =>
        {
            Handle h = OpenTests.Open(driver.Win32Name, flags: FILE_FLAG_OVERLAPPED);
            var ov = new OVERLAPPED();
            Assert.False(ReadFile(h, new byte[4], 4, ov));
            CloseHandle(h);
            Sleep(100);
        });

        // §8.2: IRP_MJ_CLOSE is sent at PASSIVE_LEVEL, whoever drops the last reference.
        IrpRecord close = Assert.Single(driver.Of(Wdm.IRP_MJ_CLOSE));
        Assert.Equal(Wdm.PASSIVE_LEVEL, close.Irql);
    }
}
