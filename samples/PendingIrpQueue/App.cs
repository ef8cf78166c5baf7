using static IrpLab.Kernel32;

namespace IrpLab.Samples.PendingIrpQueue;

/// <summary>Two overlapped reads stay pending in the driver until the handle is closed.</summary>
public static class App
{
    public static int Main()
    {
        Handle hDevice = CreateFile(@"\\.\HelloDDK", GENERIC_READ | GENERIC_WRITE, 0, null, OPEN_EXISTING, FILE_ATTRIBUTE_NORMAL | FILE_FLAG_OVERLAPPED, NULL);
        var overlap1 = new OVERLAPPED { hEvent = CreateEvent(null, TRUE, FALSE, null) };
        var overlap2 = new OVERLAPPED { hEvent = CreateEvent(null, TRUE, FALSE, null) };
        byte[] buffer1 = new byte[10];
        byte[] buffer2 = new byte[10];
        ReadFile(hDevice, buffer1, 10, overlap1);
        printf("first ReadFile: GetLastError() = %u\n", GetLastError());
        ReadFile(hDevice, buffer2, 10, overlap2);
        printf("second ReadFile: GetLastError() = %u\n", GetLastError());
        Sleep(1000);
        printf("after a second both are still pending: %s, %s\n", HasOverlappedIoCompleted(overlap1) ? "done" : "pending", HasOverlappedIoCompleted(overlap2) ? "done" : "pending");

        // Closing the last handle sends IRP_MJ_CLEANUP: the driver completes what it queued for this file object.
        printf("CloseHandle\n");
        CloseHandle(hDevice);
        uint wait = WaitForMultipleObjects(2, [overlap1.hEvent, overlap2.hEvent], TRUE, 0);
        printf("both events signaled: %s; Internal = 0x%X and 0x%X\n", wait == WAIT_OBJECT_0 ? "yes" : "no", overlap1.Internal, overlap2.Internal);
        CloseHandle(overlap1.hEvent);
        CloseHandle(overlap2.hEvent);
        return wait == WAIT_OBJECT_0 ? 0 : 1;
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
