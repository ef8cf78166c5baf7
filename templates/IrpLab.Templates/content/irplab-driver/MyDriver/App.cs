using System.Text;
using IrpLab;
using static IrpLab.Kernel32;

namespace MyDriver;

/// <summary>
/// The app: opens \\.\MyDriver for overlapped I/O, sends IOCTL_MYDRIVER_PING (the driver completes it at once, so
/// DeviceIoControl returns TRUE even with an OVERLAPPED), then IOCTL_MYDRIVER_DELAYED (pending: FALSE with
/// ERROR_IO_PENDING), waits on the OVERLAPPED's event and collects the result with GetOverlappedResult.
/// Returns 0 when both replies arrived as expected.
/// </summary>
public static class App
{
    public static int Main()
    {
        Handle device = CreateFile(@"\\.\MyDriver", GENERIC_READ | GENERIC_WRITE, 0, null, OPEN_EXISTING, FILE_ATTRIBUTE_NORMAL | FILE_FLAG_OVERLAPPED, NULL);
        if (device == INVALID_HANDLE_VALUE)
        {
            printf("CreateFile failed: %u\n", GetLastError());
            return 1;
        }

        Handle completed = CreateEvent(null, TRUE, FALSE, null);
        var overlapped = new OVERLAPPED { hEvent = completed };
        byte[] reply = new byte[16];
        uint returned = 0;
        int exitCode = 0;

        // Completed in dispatch: TRUE at once; the event is signaled all the same.
        if (!DeviceIoControl(device, Driver.IOCTL_MYDRIVER_PING, null, 0, reply, (uint)reply.Length, ref returned, overlapped)
            || !GetOverlappedResult(device, overlapped, ref returned, TRUE)
            || Encoding.ASCII.GetString(reply, 0, (int)returned) != "pong")
        {
            printf("PING failed: %u\n", GetLastError());
            exitCode = 2;
        }

        // Pended by the driver: FALSE with ERROR_IO_PENDING, then the event.
        ResetEvent(completed);
        Array.Clear(reply);
        returned = 0;
        if (DeviceIoControl(device, Driver.IOCTL_MYDRIVER_DELAYED, null, 0, reply, (uint)reply.Length, ref returned, overlapped)
            || GetLastError() != ERROR_IO_PENDING)
        {
            printf("DELAYED did not pend: %u\n", GetLastError());
            exitCode = 3;
        }
        else if (WaitForSingleObject(completed, 5000) != WAIT_OBJECT_0
            || !GetOverlappedResult(device, overlapped, ref returned, FALSE)
            || Encoding.ASCII.GetString(reply, 0, (int)returned) != "done")
        {
            printf("DELAYED failed: %u\n", GetLastError());
            exitCode = 4;
        }
        else
        {
            printf("both requests completed\n");
        }

        CloseHandle(completed);
        CloseHandle(device);
        return exitCode;
    }
}
