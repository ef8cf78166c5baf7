using static IrpLab.Kernel32;

namespace IrpLab.Samples.DoubleCompletion;

/// <summary>
/// Reads record 0 (served from the driver's cache), then record 1 (from the slow medium), each with its own
/// OVERLAPPED and event, and checks what record 1 brought back.
/// </summary>
public static class App
{
    private const uint RECORD_SIZE = Driver.RECORD_SIZE;

    public static int Main()
    {
        Handle hDevice = CreateFile(@"\\.\Records", GENERIC_READ, 0, null, OPEN_EXISTING, FILE_ATTRIBUTE_NORMAL | FILE_FLAG_OVERLAPPED, NULL);
        if (hDevice == INVALID_HANDLE_VALUE)
        {
            printf("CreateFile failed: %u\n", GetLastError());
            return 1;
        }

        uint start = GetTickCount();
        byte[] record0 = new byte[RECORD_SIZE];
        var overlapped0 = new OVERLAPPED { Offset = 0, hEvent = CreateEvent(null, TRUE, FALSE, null) };
        uint bytes0 = 0;
        ReadFile(hDevice, record0, RECORD_SIZE, overlapped0);
        GetOverlappedResult(hDevice, overlapped0, ref bytes0, TRUE);
        printf("record 0: %u bytes after %u ms, '%c%c%c...'\n", bytes0, GetTickCount() - start, record0[0], record0[1], record0[2]);

        byte[] record1 = new byte[RECORD_SIZE];
        var overlapped1 = new OVERLAPPED { Offset = RECORD_SIZE, hEvent = CreateEvent(null, TRUE, FALSE, null) };
        uint bytes1 = 0;
        ReadFile(hDevice, record1, RECORD_SIZE, overlapped1);
        GetOverlappedResult(hDevice, overlapped1, ref bytes1, TRUE);
        uint elapsed = GetTickCount() - start;
        printf("record 1: %u bytes after %u ms, '%c%c%c...'\n", bytes1, elapsed, record1[0], record1[1], record1[2]);

        bool correct = bytes1 == RECORD_SIZE && Array.TrueForAll(record1, b => b == 'B');
        if (!correct)
        {
            printf("record 1 is wrong: expected %u bytes of 'B'. This read was completed by a completion meant for the earlier request, whose IRP it now uses.\n", RECORD_SIZE);
        }

        CloseHandle(overlapped0.hEvent);
        CloseHandle(overlapped1.hEvent);
        CloseHandle(hDevice);
        return correct ? 0 : 1;
    }
}

/// <summary>Loads the driver, runs the app, unloads.</summary>
public static class Host
{
    public static int Run(Machine machine)
    {
        machine.LoadDriver("Records", Driver.DriverEntry);
        int exit = machine.Run("app", App.Main);
        machine.UnloadDriver("Records");
        return exit;
    }
}
