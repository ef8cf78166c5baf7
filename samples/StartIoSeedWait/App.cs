using static IrpLab.Kernel32;

namespace IrpLab.Samples.StartIoSeedWait;

/// <summary>
/// Two overlapped reads, as in the startio sample. The machine stops inside the first one: ReadFile never returns.
/// </summary>
public static class App
{
    public static int Main()
    {
        Handle hDevice = CreateFile(@"\\.\HelloDDK", GENERIC_READ | GENERIC_WRITE, 0, null, OPEN_EXISTING, FILE_ATTRIBUTE_NORMAL | FILE_FLAG_OVERLAPPED, NULL);
        if (hDevice == INVALID_HANDLE_VALUE)
        {
            printf("Open Device failed: %u\n", GetLastError());
            return 1;
        }

        var overlap1 = new OVERLAPPED { hEvent = CreateEvent(null, TRUE, FALSE, null) };
        var overlap2 = new OVERLAPPED { hEvent = CreateEvent(null, TRUE, FALSE, null) };
        byte[] buffer1 = new byte[10];
        byte[] buffer2 = new byte[10];
        printf("ReadFile 1\n");
        ReadFile(hDevice, buffer1, 10, overlap1);
        printf("ReadFile 2\n");
        ReadFile(hDevice, buffer2, 10, overlap2);
        uint bytes = 0;
        bool ok = GetOverlappedResult(hDevice, overlap1, ref bytes, TRUE) && GetOverlappedResult(hDevice, overlap2, ref bytes, TRUE);
        printf("both reads done\n");
        CloseHandle(overlap1.hEvent);
        CloseHandle(overlap2.hEvent);
        CloseHandle(hDevice);
        return ok ? 0 : 1;
    }
}

/// <summary>Loads the driver, runs the app, unloads. The run ends with a bug check instead.</summary>
public static class Host
{
    public static int Run(Machine machine)
    {
        machine.LoadDriver("HelloDDK", Driver.DriverEntry);
        int exit = machine.Run("app", App.Main);
        machine.UnloadDriver("HelloDDK");
        return exit;
    }
}
