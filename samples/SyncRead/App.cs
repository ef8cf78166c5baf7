using static IrpLab.Kernel32;

namespace IrpLab.Samples.SyncRead;

/// <summary>
/// Seed 002 §2: the device opened without FILE_FLAG_OVERLAPPED and read with a NULL OVERLAPPED. ReadFile does not
/// return until the driver completes the IRP, one second later.
/// </summary>
public static class App
{
    private const int BUFFER_SIZE = 512;

    public static int Main()
    {
        Handle hDevice = CreateFile(@"\\.\HelloDDK", GENERIC_READ | GENERIC_WRITE, 0, null, OPEN_EXISTING, FILE_ATTRIBUTE_NORMAL, NULL);
        if (hDevice == INVALID_HANDLE_VALUE)
        {
            printf("Read Error\n");
            return 1;
        }

        byte[] buffer = new byte[BUFFER_SIZE];
        uint dwRead = 0;
        printf("ReadFile (synchronous) at %u ms\n", GetTickCount());
        bool ok = ReadFile(hDevice, buffer, BUFFER_SIZE, ref dwRead, null);
        printf("ReadFile returned %s at %u ms: %u bytes, first byte 0x%02X\n", ok ? "TRUE" : "FALSE", GetTickCount(), dwRead, buffer[0]);
        CloseHandle(hDevice);
        return ok && dwRead == BUFFER_SIZE ? 0 : 1;
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
