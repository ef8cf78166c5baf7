using static IrpLab.Kernel32;

namespace IrpLab.Tests.Cancel;

/// <summary>Machines with the lab device loaded, and the app-side helpers the tests share.</summary>
internal static class LabHost
{
    public static Machine NewMachine(LabDriver lab, ulong seed = 1, bool verifier = true, bool captureTrace = false)
    {
        var machine = new Machine(new MachineOptions { Deterministic = true, Seed = seed, Verifier = verifier, CaptureTrace = captureTrace });
        Assert.Equal(NtStatus.STATUS_SUCCESS, machine.LoadDriver("Lab", lab.DriverEntry));
        return machine;
    }

    /// <summary>Opens the lab device for overlapped I/O (or synchronous I/O).</summary>
    public static Handle Open(bool overlapped = true)
    {
        Handle h = CreateFile(LabDriver.Win32Name, GENERIC_READ | GENERIC_WRITE, 0, null, OPEN_EXISTING, overlapped ? FILE_FLAG_OVERLAPPED : 0, NULL);
        Assert.NotEqual(INVALID_HANDLE_VALUE, h);
        return h;
    }

    /// <summary>Runs <paramref name="kernel"/> inside the lab driver (IOCTL_RUN), in this thread's context.</summary>
    public static void RunInDriver(LabDriver lab, Handle device, Action kernel)
    {
        lab.Kernel = kernel;
        uint bytes = 0;
        Assert.True(DeviceIoControl(device, LabDriver.IOCTL_RUN, null, 0, null, 0, ref bytes, null));
        lab.Kernel = null;
    }

    /// <summary>Completes the lab's queued requests with <paramref name="status"/>.</summary>
    public static void CompleteQueued(Handle device, NtStatus status)
    {
        uint bytes = 0;
        byte[] input = LabDriver.StatusInput(status);
        Assert.True(DeviceIoControl(device, LabDriver.IOCTL_COMPLETE_QUEUED, input, 4, null, 0, ref bytes, null));
    }

    /// <summary>Completes the lab's held (cancel-ignoring) requests with <paramref name="status"/>.</summary>
    public static void ReleaseHeld(Handle device, NtStatus status)
    {
        uint bytes = 0;
        byte[] input = LabDriver.StatusInput(status);
        Assert.True(DeviceIoControl(device, LabDriver.IOCTL_RELEASE_HELD, input, 4, null, 0, ref bytes, null));
    }

    /// <summary>A read the lab finishes as asked, with its own manual-reset event (or none).</summary>
    public static OVERLAPPED Read(Handle device, LabMode mode, NtStatus status, uint information = 0, bool withEvent = true, byte[]? buffer = null)
    {
        var ov = new OVERLAPPED { hEvent = withEvent ? CreateEvent(null, TRUE, FALSE, null) : NULL };
        LabDriver.Configure(ov, mode, status, information);
        buffer ??= new byte[16];
        bool ok = ReadFile(device, buffer, (uint)buffer.Length, ov);
        if (mode != LabMode.Immediate)
        {
            Assert.False(ok);
            Assert.Equal(ERROR_IO_PENDING, GetLastError());
        }

        return ov;
    }

    public static bool IsSignaled(Handle h) => WaitForSingleObject(h, 0) == WAIT_OBJECT_0;

    public static Handle Tagged(Handle ev) => new(ev.Value | 1);

    /// <summary>Starts a thread of this process running <paramref name="body"/>; returns its handle.</summary>
    public static Handle StartThread(Action body)
    {
        Handle thread = CreateThread(null, 0, _ =>
        {
            body();
            return 0;
        }, null, 0, out _);
        Assert.False(thread.IsNull);
        return thread;
    }
}
