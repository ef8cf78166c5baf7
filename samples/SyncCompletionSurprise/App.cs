using static IrpLab.Kernel32;

namespace IrpLab.Samples.SyncCompletionSurprise;

/// <summary>
/// The app the seed's author wrote first: an overlapped DeviceIoControl that was expected to return FALSE with
/// ERROR_IO_PENDING, and returned TRUE instead. The completion still signals the event.
/// </summary>
public static class App
{
    public static int Main()
    {
        Handle h = CreateFile(@"\\.\Surprise", GENERIC_READ | GENERIC_WRITE, 0, null, OPEN_EXISTING, FILE_FLAG_OVERLAPPED, NULL);
        Handle ev = CreateEvent(null, TRUE, FALSE, null);
        var ov = new OVERLAPPED { hEvent = ev };
        byte[] output = new byte[32];
        uint bytes = 0;

        bool ok = DeviceIoControl(h, Driver.IOCTL_FILTER_SEND_MYOWN_PACKET, null, 0, output, (uint)output.Length, ref bytes, ov);
        if (ok)
        {
            printf("DeviceIoControl returned TRUE at once: no ERROR_IO_PENDING, %u bytes: %s\n", bytes, Ansi.Text(output));
        }
        else
        {
            printf("DeviceIoControl returned FALSE, error %u\n", GetLastError());
        }

        uint wait = WaitForSingleObject(ev, 0);
        printf("the event is %s\n", wait == WAIT_OBJECT_0 ? "signaled anyway: an immediate success still notifies" : "not signaled");
        printf("HasOverlappedIoCompleted = %s, Internal = 0x%X, InternalHigh = %u\n", HasOverlappedIoCompleted(ov) ? "TRUE" : "FALSE", ov.Internal, ov.InternalHigh);
        CloseHandle(ev);
        CloseHandle(h);
        return ok && wait == WAIT_OBJECT_0 ? 0 : 1;
    }
}

/// <summary>Loads the driver, runs the app, unloads the driver.</summary>
public static class Host
{
    public static int Run(Machine machine)
    {
        machine.LoadDriver("Surprise", Driver.DriverEntry);
        int exit = machine.Run("app", App.Main);
        machine.UnloadDriver("Surprise");
        return exit;
    }
}
