using static IrpLab.Kernel32;

namespace IrpLab.Samples.StartIoCustomQueues;

/// <summary>
/// Two reads and two writes issued at once. Reads take three seconds and follow each other, writes take two and
/// follow each other, and the two streams overlap: write 1 at 2 s, read 1 at 3 s, write 2 at 4 s, read 2 at 6 s —
/// where one queue for everything would have needed ten seconds.
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

        string[] names = ["read 1", "write 1", "read 2", "write 2"];
        var overlap = new OVERLAPPED[names.Length];
        var events = new Handle[names.Length];
        var doneAt = new uint[names.Length];
        uint start = GetTickCount();
        bool ok = true;
        for (int i = 0; i < names.Length; i++)
        {
            events[i] = CreateEvent(null, TRUE, FALSE, null);
            overlap[i] = new OVERLAPPED { hEvent = events[i] };
            byte[] buffer = new byte[10];
            bool done = (i & 1) == 0 ? ReadFile(hDevice, buffer, 10, overlap[i]) : WriteFile(hDevice, buffer, 10, overlap[i]);
            ok &= !done && GetLastError() == ERROR_IO_PENDING;
            printf("%s: %s\n", names[i], !done && GetLastError() == ERROR_IO_PENDING ? "ERROR_IO_PENDING" : "unexpected");
        }

        // Report them in the order they complete.
        var pending = new List<int> { 0, 1, 2, 3 };
        while (pending.Count > 0)
        {
            Handle[] waitOn = [.. pending.Select(i => events[i])];
            uint wait = WaitForMultipleObjects((uint)waitOn.Length, waitOn, FALSE, INFINITE);
            int which = pending[(int)(wait - WAIT_OBJECT_0)];
            pending.Remove(which);
            uint bytes = 0;
            bool result = GetOverlappedResult(hDevice, overlap[which], ref bytes, FALSE);
            doneAt[which] = GetTickCount() - start;
            printf("%s: %s, %u bytes, after %u ms\n", names[which], result ? "TRUE" : "FALSE", bytes, doneAt[which]);
            ok &= result;
        }

        // Reads serialised (3 s apart), writes serialised (2 s apart), and the two kinds in parallel: the first read
        // finishes before the first write plus a read could have (5 s). A little slack for real mode's clock tick.
        static bool Near(uint at, uint expected) => at + 50 >= expected && at < expected + 1000;
        ok &= Near(doneAt[1], 2000) && Near(doneAt[0], 3000) && Near(doneAt[3], 4000) && Near(doneAt[2], 6000);

        foreach (Handle e in events)
        {
            CloseHandle(e);
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
