using static IrpLab.Kernel32;

namespace IrpLab.Samples.StartIo;

/// <summary>
/// Four overlapped reads issued at once. StartIo serves them one after another, three seconds each; the fourth,
/// still waiting in the device queue, is cancelled on its own with CancelIoEx and completes at once.
/// </summary>
public static class App
{
    private const int Reads = 4;

    public static int Main()
    {
        Handle hDevice = CreateFile(@"\\.\HelloDDK", GENERIC_READ | GENERIC_WRITE, 0, null, OPEN_EXISTING, FILE_ATTRIBUTE_NORMAL | FILE_FLAG_OVERLAPPED, NULL);
        if (hDevice == INVALID_HANDLE_VALUE)
        {
            printf("Open Device failed: %u\n", GetLastError());
            return 1;
        }

        var overlap = new OVERLAPPED[Reads];
        var buffer = new byte[Reads][];
        uint start = GetTickCount();
        bool ok = true;
        for (int i = 0; i < Reads; i++)
        {
            overlap[i] = new OVERLAPPED { hEvent = CreateEvent(null, TRUE, FALSE, null) };
            buffer[i] = new byte[10];
            bool done = ReadFile(hDevice, buffer[i], 10, overlap[i]);
            ok &= !done && GetLastError() == ERROR_IO_PENDING;
            printf("read %d: %s\n", i + 1, !done && GetLastError() == ERROR_IO_PENDING ? "ERROR_IO_PENDING" : "unexpected");
        }

        // The fourth read waits in the device queue behind the other three. Cancel just that one: OnCancelIRP takes
        // it out of the queue and completes it; the reads before it are not affected.
        printf("CancelIoEx(read 4)\n");
        ok &= CancelIoEx(hDevice, overlap[Reads - 1]);
        uint bytes = 0;
        bool ok4 = GetOverlappedResult(hDevice, overlap[Reads - 1], ref bytes, TRUE);
        uint err4 = GetLastError();
        uint at4 = GetTickCount() - start;
        printf("read 4: %s, error %u (ERROR_OPERATION_ABORTED is %u), after %u ms\n", ok4 ? "TRUE" : "FALSE", err4, ERROR_OPERATION_ABORTED, at4);
        ok &= !ok4 && err4 == ERROR_OPERATION_ABORTED && at4 < 3000;

        // The others complete one after another: StartIo has one IRP at a time.
        for (int i = 0; i < Reads - 1; i++)
        {
            bool result = GetOverlappedResult(hDevice, overlap[i], ref bytes, TRUE);
            uint at = GetTickCount() - start;
            printf("read %d: %s after %u ms\n", i + 1, result ? "TRUE" : "FALSE", at);

            // Three seconds each, in order (a little slack for real mode's clock tick).
            ok &= result && at + 50 >= 3000u * (uint)(i + 1) && at < 3000u * (uint)(i + 2);
        }

        for (int i = 0; i < Reads; i++)
        {
            CloseHandle(overlap[i].hEvent);
        }

        CloseHandle(hDevice);
        return ok ? 0 : 1;
    }
}

/// <summary>Loads the driver, runs the app, unloads.</summary>
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
