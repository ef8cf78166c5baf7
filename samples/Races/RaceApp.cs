using static IrpLab.Kernel32;

namespace IrpLab.Samples.Races;

/// <summary>The applications and bits of drivers the race samples share.</summary>
internal static class RaceApp
{
    /// <summary>
    /// One overlapped read, and CancelIo one virtual second later — exactly when the driver's own completion is due,
    /// so the schedule decides which comes first. Either outcome is correct: success or ERROR_OPERATION_ABORTED.
    /// </summary>
    public static Func<int> ReadThenCancelAtOneSecond(string device) => () =>
    {
        Handle h = CreateFile(@"\\.\" + device, GENERIC_READ, 0, null, OPEN_EXISTING, FILE_FLAG_OVERLAPPED, NULL);
        var ov = new OVERLAPPED { hEvent = CreateEvent(null, TRUE, FALSE, null) };
        byte[] buffer = new byte[8];
        ReadFile(h, buffer, 8, ov);
        Sleep(1000);
        CancelIo(h);
        uint bytes = 0;
        bool ok = GetOverlappedResult(h, ov, ref bytes, TRUE);
        uint error = GetLastError();
        printf("read %s\n", ok ? "completed" : error == ERROR_OPERATION_ABORTED ? "cancelled" : "failed");
        CloseHandle(ov.hEvent);
        CloseHandle(h);
        return ok || error == ERROR_OPERATION_ABORTED ? 0 : 1;
    };

    /// <summary>
    /// Two threads: one reads; the other calls CancelIoEx until it finds the request (once it returns TRUE, the
    /// request was seen and IoCancelIrp was called on it). The read must end cancelled.
    /// </summary>
    public static Func<int> ReadWhileAnotherThreadCancels(string device) => () =>
    {
        Handle h = CreateFile(@"\\.\" + device, GENERIC_READ, 0, null, OPEN_EXISTING, FILE_FLAG_OVERLAPPED, NULL);
        var ov = new OVERLAPPED { hEvent = CreateEvent(null, TRUE, FALSE, null) };
        byte[] buffer = new byte[8];
        Handle canceller = CreateThread(null, 0, _ =>
        {
            while (!CancelIoEx(h, null))
            {
                Sleep(1);
            }

            return 0;
        }, null, 0, out _);
        ReadFile(h, buffer, 8, ov);
        uint bytes = 0;
        bool ok = GetOverlappedResult(h, ov, ref bytes, TRUE);
        uint error = GetLastError();
        WaitForSingleObject(canceller, INFINITE);
        CloseHandle(canceller);
        printf("read %s\n", ok ? "completed" : error == ERROR_OPERATION_ABORTED ? "cancelled" : "failed");
        CloseHandle(ov.hEvent);
        CloseHandle(h);
        return !ok && error == ERROR_OPERATION_ABORTED ? 0 : 1;
    };

    /// <summary>
    /// Two reads served one after another by StartIo (one virtual second each); at one second, just as the first
    /// completes and the second starts, the application cancels the second. It must end completed or cancelled.
    /// </summary>
    public static Func<int> TwoReadsCancelSecondAtOneSecond(string device) => () =>
    {
        Handle h = CreateFile(@"\\.\" + device, GENERIC_READ, 0, null, OPEN_EXISTING, FILE_FLAG_OVERLAPPED, NULL);
        var first = new OVERLAPPED { hEvent = CreateEvent(null, TRUE, FALSE, null) };
        var second = new OVERLAPPED { hEvent = CreateEvent(null, TRUE, FALSE, null) };
        ReadFile(h, new byte[8], 8, first);
        ReadFile(h, new byte[8], 8, second);
        Sleep(1000);
        CancelIoEx(h, second);
        uint bytes = 0;
        bool ok1 = GetOverlappedResult(h, first, ref bytes, TRUE);
        bool ok2 = GetOverlappedResult(h, second, ref bytes, TRUE);
        uint error2 = GetLastError();
        printf("first %s, second %s\n", ok1 ? "completed" : "failed", ok2 ? "completed" : error2 == ERROR_OPERATION_ABORTED ? "cancelled" : "failed");

        // Stay a little longer, as a real application would, so whatever the device still has in flight finishes.
        Sleep(2000);
        CloseHandle(first.hEvent);
        CloseHandle(second.hEvent);
        CloseHandle(h);
        return ok1 && (ok2 || error2 == ERROR_OPERATION_ABORTED) ? 0 : 1;
    };
}
