using static IrpLab.Kernel32;

namespace IrpLab.Samples.OverlappedRead;

/// <summary>
/// Seed 002 §3: the device opened with FILE_FLAG_OVERLAPPED; ReadFile with an OVERLAPPED whose event is auto-reset.
/// ReadFile returns at once with ERROR_IO_PENDING; the app does other work, then waits on the event.
/// </summary>
public static class App
{
    private const int BUFFER_SIZE = 512;

    public static int Main()
    {
        Handle hDevice = CreateFile(@"\\.\HelloDDK", GENERIC_READ | GENERIC_WRITE, 0, null, OPEN_EXISTING, FILE_ATTRIBUTE_NORMAL | FILE_FLAG_OVERLAPPED, NULL);
        if (hDevice == INVALID_HANDLE_VALUE)
        {
            printf("Read Error\n");
            return 1;
        }

        byte[] buffer = new byte[BUFFER_SIZE];
        uint dwRead = 0;
        var overlap = new OVERLAPPED();
        overlap.hEvent = CreateEvent(null, FALSE, FALSE, null);

        bool ok = ReadFile(hDevice, buffer, BUFFER_SIZE, ref dwRead, overlap);
        printf("ReadFile returned %s, GetLastError() = %u (ERROR_IO_PENDING is %u) at %u ms\n", ok ? "TRUE" : "FALSE", GetLastError(), ERROR_IO_PENDING, GetTickCount());
        printf("doing other work while the device reads...\n");

        WaitForSingleObject(overlap.hEvent, INFINITE);
        printf("the event fired at %u ms: Internal = 0x%X, InternalHigh = %u, first byte 0x%02X\n", GetTickCount(), overlap.Internal, overlap.InternalHigh, buffer[0]);
        CloseHandle(overlap.hEvent);
        CloseHandle(hDevice);
        return !ok && overlap.InternalHigh == BUFFER_SIZE ? 0 : 1;
    }
}

/// <summary>Loads HelloDDK, runs the app, unloads.</summary>
public static class Host
{
    public static int Run(Machine machine)
    {
        machine.LoadDriver("HelloDDK", HelloDdk.Driver.DriverEntry);
        int exit = machine.Run("app", App.Main);
        machine.UnloadDriver("HelloDDK");
        return exit;
    }
}
