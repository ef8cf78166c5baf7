using static IrpLab.Kernel32;

namespace IrpLab.Async;

/// <summary>
/// The completion port of one process's .NET layer and the thread that drains it: every AsyncDevice of the process
/// is associated with the port, and each packet completes the operation whose OVERLAPPED it carries. The thread is
/// an ordinary thread of the process, so it ends with the process.
/// </summary>
internal sealed class IoDispatcher
{
    private IoDispatcher(Handle port)
    {
        Port = port;
    }

    public Handle Port { get; }

    /// <summary>The dispatcher of the calling thread's process, started on first use.</summary>
    public static IoDispatcher ForCurrentProcess() => Ntdll.RtlGetProcessLocal(Start);

    private static IoDispatcher Start()
    {
        Handle port = CreateIoCompletionPort(INVALID_HANDLE_VALUE, NULL, 0, 0);
        if (port.IsNull)
        {
            throw AsyncDevice.ToException(GetLastError());
        }

        var dispatcher = new IoDispatcher(port);
        Handle thread = CreateThread(null, 0, dispatcher.Run, null, 0, out _);
        if (thread.IsNull)
        {
            throw AsyncDevice.ToException(GetLastError());
        }

        CloseHandle(thread);
        return dispatcher;
    }

    private uint Run(object? unused)
    {
        while (true)
        {
            bool ok = GetQueuedCompletionStatus(Port, out uint bytes, out _, out OVERLAPPED? overlapped, INFINITE);
            if (overlapped is AsyncOperation operation)
            {
                operation.Complete(ok ? NtStatus.STATUS_SUCCESS : operation.Status, bytes);
            }
            else if (!ok)
            {
                return 0;
            }
        }
    }
}
