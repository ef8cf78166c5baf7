using static IrpLab.Kernel32;

namespace IrpLab.Samples.ReadFileExApc;

/// <summary>
/// Seed 002 §4: ReadFileEx with a completion routine and no event. The routine is an APC: it runs only when this
/// thread waits alertably. The seed's SleepEx(0, TRUE) comes too early for a device that takes a second (the read
/// is still pending, so nothing runs); a second alertable wait lets the routine run, and SleepEx returns
/// WAIT_IO_COMPLETION.
/// </summary>
public static class App
{
    private const int BUFFER_SIZE = 512;

    private static void MyFileIOCompletionRoutine(uint dwErrorCode, uint dwNumberOfBytesTransfered, OVERLAPPED lpOverlapped)
    {
        printf("IO operation end! error %u, %u bytes\n", dwErrorCode, dwNumberOfBytesTransfered);
    }

    public static int Main()
    {
        Handle hDevice = CreateFile(@"\\.\HelloDDK", GENERIC_READ | GENERIC_WRITE, 0, null, OPEN_EXISTING, FILE_ATTRIBUTE_NORMAL | FILE_FLAG_OVERLAPPED, NULL);
        if (hDevice == INVALID_HANDLE_VALUE)
        {
            printf("Read Error\n");
            return 1;
        }

        byte[] buffer = new byte[BUFFER_SIZE];

        // No event needed.
        var overlap = new OVERLAPPED();
        bool issued = ReadFileEx(hDevice, buffer, BUFFER_SIZE, overlap, MyFileIOCompletionRoutine);
        printf("ReadFileEx returned %s\n", issued ? "TRUE" : "FALSE");

        uint first = SleepEx(0, TRUE);
        printf("SleepEx(0, TRUE) returned %u: the read is still pending, no routine ran\n", first);
        uint second = SleepEx(INFINITE, TRUE);
        printf("SleepEx(INFINITE, TRUE) returned %u (WAIT_IO_COMPLETION is %u) at %u ms\n", second, WAIT_IO_COMPLETION, GetTickCount());
        CloseHandle(hDevice);
        return issued && first == 0 && second == WAIT_IO_COMPLETION ? 0 : 1;
    }
}

/// <summary>Loads HelloDDK (a read takes one second), runs the app, unloads.</summary>
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
