using static IrpLab.Kernel32;

namespace IrpLab.Samples.AsyncIoctl;

/// <summary>
/// Seed 000's SendPacket: opens the device for overlapped I/O, sends the IOCTL with an event, sees ERROR_IO_PENDING,
/// waits on the event with a 6-second timeout, then takes the result with GetOverlappedResult.
/// </summary>
public static class App
{
    public static int Main()
    {
        Handle m_hFilter = CreateFile(@"\\.\AsyncIoctl", GENERIC_READ | GENERIC_WRITE, 0, null, OPEN_EXISTING, FILE_ATTRIBUTE_NORMAL | FILE_FLAG_OVERLAPPED, NULL);
        if (m_hFilter == INVALID_HANDLE_VALUE)
        {
            printf("Can't open the device: %u\n", GetLastError());
            return 1;
        }

        byte[] request = Ansi.Bytes("Request from user mode to Send A Packet.\n");
        uint testBufferLength = (uint)Ansi.Bytes("Hi Mon, I finish your request!\n").Length;
        byte[] testBuffer = new byte[testBufferLength];
        uint bytesWritten = 0;
        bool result = false;

        Handle varObjectHandle = CreateEvent(null, TRUE, FALSE, "");
        var varOverLapped = new OVERLAPPED { hEvent = varObjectHandle, Offset = 0, OffsetHigh = 0 };

        if (!DeviceIoControl(m_hFilter, Driver.IOCTL_FILTER_SEND_MYOWN_PACKET, request, (uint)request.Length, testBuffer, testBufferLength, ref bytesWritten, varOverLapped))
        {
            if (GetLastError() != ERROR_IO_PENDING)
            {
                printf("Overlapped I/O exception %u\n", GetLastError());
                return 1;
            }

            printf("Overlapped pending....\n");
        }

        printf("Son, I am calling you for dinner...\n");
        uint varEventResult = WaitForSingleObject(varObjectHandle, 6000);
        switch (varEventResult)
        {
            case WAIT_OBJECT_0:
                printf("overlapped i/o works\n");
                uint transferred = 0;
                if (GetOverlappedResult(m_hFilter, varOverLapped, ref transferred, FALSE))
                {
                    // The driver's reply ends in "\n" (the seed's literal): print the text, not its line break.
                    printf("Return buffer is \"%s\" (%u bytes)\n", Ansi.Text(testBuffer).TrimEnd('\n', '\r'), transferred);
                    result = true;
                }

                break;
            case WAIT_TIMEOUT:
                printf("timed out\n");
                break;
            default:
                break;
        }

        ResetEvent(varObjectHandle);

        // The second half of the story: a 2-second timeout, then CancelIo.
        printf("Again, but this time I only wait 2 seconds...\n");
        Array.Clear(testBuffer);
        if (!DeviceIoControl(m_hFilter, Driver.IOCTL_FILTER_SEND_MYOWN_PACKET, request, (uint)request.Length, testBuffer, testBufferLength, ref bytesWritten, varOverLapped)
            && GetLastError() == ERROR_IO_PENDING)
        {
            printf("Overlapped pending....\n");
        }

        bool cancelled = false;
        if (WaitForSingleObject(varObjectHandle, 2000) == WAIT_TIMEOUT)
        {
            printf("timed out: CancelIo\n");
            CancelIo(m_hFilter);

            // A cancelled request still completes; wait for it before reusing the OVERLAPPED or the buffer.
            uint transferred = 0;
            bool ok = GetOverlappedResult(m_hFilter, varOverLapped, ref transferred, TRUE);
            printf("GetOverlappedResult: %s, GetLastError() = %u (ERROR_OPERATION_ABORTED is %u)\n", ok ? "TRUE" : "FALSE", GetLastError(), ERROR_OPERATION_ABORTED);
            cancelled = !ok && GetLastError() == ERROR_OPERATION_ABORTED;
        }

        CloseHandle(varObjectHandle);
        CloseHandle(m_hFilter);
        return result && cancelled ? 0 : 1;
    }
}

/// <summary>Loads the driver, runs the app, unloads the driver.</summary>
public static class Host
{
    public static int Run(Machine machine)
    {
        machine.LoadDriver("AsyncIoctl", Driver.DriverEntry);
        int exit = machine.Run("app", App.Main);
        machine.UnloadDriver("AsyncIoctl");
        return exit;
    }
}
