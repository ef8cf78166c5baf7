using static IrpLab.Kernel32;

namespace IrpLab.Samples.CancelRoutine;

/// <summary>Two overlapped reads that only cancellation can end: CancelIo, then both complete with ERROR_OPERATION_ABORTED.</summary>
public static class App
{
    public static int Main()
    {
        Handle hDevice = CreateFile(@"\\.\HelloDDK", GENERIC_READ | GENERIC_WRITE, 0, null, OPEN_EXISTING, FILE_ATTRIBUTE_NORMAL | FILE_FLAG_OVERLAPPED, NULL);
        var overlap1 = new OVERLAPPED { hEvent = CreateEvent(null, TRUE, FALSE, null) };
        var overlap2 = new OVERLAPPED { hEvent = CreateEvent(null, TRUE, FALSE, null) };
        byte[] buffer = new byte[10];
        byte[] buffer2 = new byte[10];
        ReadFile(hDevice, buffer, 10, overlap1);
        ReadFile(hDevice, buffer2, 10, overlap2);
        printf("two reads pending; waiting 3 seconds...\n");
        Sleep(3000);

        // CancelIo cancels this thread's I/O on the handle: IoCancelIrp calls CancelReadIRP for each.
        printf("CancelIo\n");
        CancelIo(hDevice);
        uint bytes = 0;
        bool ok1 = GetOverlappedResult(hDevice, overlap1, ref bytes, TRUE);
        uint err1 = GetLastError();
        bool ok2 = GetOverlappedResult(hDevice, overlap2, ref bytes, TRUE);
        uint err2 = GetLastError();
        printf("read 1: %s, error %u; read 2: %s, error %u (ERROR_OPERATION_ABORTED is %u)\n", ok1 ? "TRUE" : "FALSE", err1, ok2 ? "TRUE" : "FALSE", err2, ERROR_OPERATION_ABORTED);
        CloseHandle(overlap1.hEvent);
        CloseHandle(overlap2.hEvent);
        CloseHandle(hDevice);
        return !ok1 && !ok2 && err1 == ERROR_OPERATION_ABORTED && err2 == ERROR_OPERATION_ABORTED ? 0 : 1;
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
