using System.Text;

namespace IrpLab;

/// <summary>
/// The Win32 routines an application calls, with their Windows names, parameters and return conventions:
/// BOOL results plus a per-thread last error. Built on <see cref="Ntdll"/> alone, as kernel32 is.
/// Import with <c>using static IrpLab.Kernel32;</c>.
/// </summary>
public static partial class Kernel32
{
    public const uint INFINITE = 0xFFFFFFFF;
    public const uint WAIT_OBJECT_0 = 0;
    public const uint WAIT_ABANDONED_0 = 0x80;
    public const uint WAIT_IO_COMPLETION = 0xC0;
    public const uint WAIT_TIMEOUT = 0x102;
    public const uint WAIT_FAILED = 0xFFFFFFFF;

    public const uint ERROR_SUCCESS = 0;
    public const uint ERROR_INVALID_FUNCTION = 1;
    public const uint ERROR_FILE_NOT_FOUND = 2;
    public const uint ERROR_PATH_NOT_FOUND = 3;
    public const uint ERROR_ACCESS_DENIED = 5;
    public const uint ERROR_INVALID_HANDLE = 6;
    public const uint ERROR_NOT_ENOUGH_MEMORY = 8;
    public const uint ERROR_GEN_FAILURE = 31;
    public const uint ERROR_HANDLE_EOF = 38;
    public const uint ERROR_NOT_SUPPORTED = 50;
    public const uint ERROR_INVALID_PARAMETER = 87;
    public const uint ERROR_INSUFFICIENT_BUFFER = 122;
    public const uint ERROR_INVALID_NAME = 123;
    public const uint ERROR_BUSY = 170;
    public const uint ERROR_ALREADY_EXISTS = 183;
    public const uint ERROR_MORE_DATA = 234;
    public const uint ERROR_NO_MORE_ITEMS = 259;
    public const uint ERROR_NOT_OWNER = 288;
    public const uint ERROR_TOO_MANY_POSTS = 298;
    public const uint ERROR_MR_MID_NOT_FOUND = 317;
    public const uint ERROR_ABANDONED_WAIT_0 = 735;
    public const uint ERROR_OPERATION_ABORTED = 995;
    public const uint ERROR_IO_INCOMPLETE = 996;
    public const uint ERROR_IO_PENDING = 997;
    public const uint ERROR_NOACCESS = 998;
    public const uint ERROR_NOT_FOUND = 1168;
    public const uint ERROR_NO_SYSTEM_RESOURCES = 1450;
    public const uint ERROR_TIMEOUT = 1460;


    public static readonly Handle INVALID_HANDLE_VALUE = new(-1);

    public static readonly Handle NULL = default;

    // ---------------------------------------------------------------- errors

    /// <summary>GetLastError: the calling thread's last error.</summary>
    public static uint GetLastError() => Ntdll.RtlGetLastWin32Error();

    /// <summary>SetLastError.</summary>
    public static void SetLastError(uint dwErrCode) => Ntdll.RtlSetLastWin32Error(dwErrCode);

    /// <summary>BaseSetLastNTError: SetLastError(RtlNtStatusToDosError(status)).</summary>
    internal static uint BaseSetLastNTError(NtStatus status)
    {
        uint error = Ntdll.RtlNtStatusToDosError(status);
        Ntdll.RtlSetLastWin32Error(error);
        return error;
    }

    // ---------------------------------------------------------------- threads and time

    /// <summary>GetCurrentThreadId.</summary>
    public static uint GetCurrentThreadId() => (uint)Ntdll.NtCurrentThreadId();

    /// <summary>GetCurrentProcessId.</summary>
    public static uint GetCurrentProcessId() => (uint)Ntdll.NtCurrentProcessId();

    /// <summary>GetCurrentThread: the pseudo handle.</summary>
    public static Handle GetCurrentThread() => Ntdll.NtCurrentThread();

    /// <summary>GetCurrentProcess: the pseudo handle.</summary>
    public static Handle GetCurrentProcess() => Ntdll.NtCurrentProcess();

    /// <summary>GetTickCount: milliseconds since boot.</summary>
    public static uint GetTickCount() => (uint)(Ntdll.RtlGetInterruptTime() / 10_000);

    /// <summary>GetTickCount64.</summary>
    public static ulong GetTickCount64() => (ulong)(Ntdll.RtlGetInterruptTime() / 10_000);

    /// <summary>Sleep.</summary>
    public static void Sleep(uint dwMilliseconds) => SleepEx(dwMilliseconds, FALSE);

    /// <summary>SleepEx: 0 when the interval elapsed; WAIT_IO_COMPLETION when alertable and user APCs ran.</summary>
    public static uint SleepEx(uint dwMilliseconds, bool bAlertable)
    {
        long interval = dwMilliseconds == INFINITE ? long.MinValue : -(long)dwMilliseconds * 10_000;
        NtStatus status = Ntdll.NtDelayExecution(bAlertable, interval);
        return status == NtStatus.STATUS_USER_APC ? WAIT_IO_COMPLETION : 0;
    }

    /// <summary>
    /// CreateThread (reduced): starts a thread of this process running lpStartAddress(lpParameter).
    /// Returns the thread handle, or NULL with the last error set.
    /// </summary>
    public static Handle CreateThread(object? lpThreadAttributes, uint dwStackSize, Func<object?, uint> lpStartAddress, object? lpParameter, uint dwCreationFlags, out uint lpThreadId)
    {
        ArgumentNullException.ThrowIfNull(lpStartAddress);
        NtStatus status = Ntdll.NtCreateThreadEx(out Handle handle, 0, p => lpStartAddress(p), lpParameter, out int id);
        lpThreadId = (uint)id;
        if (!NtStatusClass.IsSuccess(status))
        {
            BaseSetLastNTError(status);
            return NULL;
        }

        return handle;
    }

    /// <summary>QueueUserAPC: the routine runs when the target thread next waits alertably.</summary>
    public static bool QueueUserAPC(Action<nuint> pfnAPC, Handle hThread, nuint dwData)
    {
        NtStatus status = Ntdll.NtQueueApcThread(hThread, pfnAPC, dwData);
        if (!NtStatusClass.IsSuccess(status))
        {
            BaseSetLastNTError(status == NtStatus.STATUS_UNSUCCESSFUL ? NtStatus.STATUS_UNSUCCESSFUL : status);
            return FALSE;
        }

        return TRUE;
    }

    // ---------------------------------------------------------------- events

    /// <summary>
    /// CreateEvent: manual-reset (notification) or auto-reset (synchronization). A name already in use returns the
    /// existing event with GetLastError() == ERROR_ALREADY_EXISTS.
    /// </summary>
    public static Handle CreateEvent(object? lpEventAttributes, bool bManualReset, bool bInitialState, string? lpName)
    {
        NtStatus status = Ntdll.NtCreateEvent(
            out Handle handle,
            Ntdll.EVENT_ALL_ACCESS,
            string.IsNullOrEmpty(lpName) ? null : lpName,
            bManualReset ? EventType.NotificationEvent : EventType.SynchronizationEvent,
            bInitialState);
        if (!NtStatusClass.IsSuccess(status))
        {
            BaseSetLastNTError(status);
            return NULL;
        }

        SetLastError(status == NtStatus.STATUS_OBJECT_NAME_EXISTS ? ERROR_ALREADY_EXISTS : ERROR_SUCCESS);
        return handle;
    }

    /// <summary>SetEvent.</summary>
    public static bool SetEvent(Handle hEvent) => Check(Ntdll.NtSetEvent(hEvent, out _));

    /// <summary>ResetEvent.</summary>
    public static bool ResetEvent(Handle hEvent) => Check(Ntdll.NtResetEvent(hEvent, out _));

    /// <summary>PulseEvent: unreliable on Windows too; releases only current waiters.</summary>
    public static bool PulseEvent(Handle hEvent) => Check(Ntdll.NtPulseEvent(hEvent, out _));

    /// <summary>CloseHandle.</summary>
    public static bool CloseHandle(Handle hObject) => Check(Ntdll.NtClose(hObject));

    // ---------------------------------------------------------------- waits

    /// <summary>WaitForSingleObject: WAIT_OBJECT_0, WAIT_ABANDONED_0, WAIT_TIMEOUT or WAIT_FAILED.</summary>
    public static uint WaitForSingleObject(Handle hHandle, uint dwMilliseconds) => WaitForSingleObjectEx(hHandle, dwMilliseconds, FALSE);

    /// <summary>WaitForSingleObjectEx: alertable waits return WAIT_IO_COMPLETION after running queued user APCs.</summary>
    public static uint WaitForSingleObjectEx(Handle hHandle, uint dwMilliseconds, bool bAlertable)
    {
        NtStatus status = Ntdll.NtWaitForSingleObject(hHandle, bAlertable, ToTimeout(dwMilliseconds));
        return WaitResult(status);
    }

    /// <summary>WaitForMultipleObjects: bWaitAll FALSE returns WAIT_OBJECT_0 + the lowest signaled index.</summary>
    public static uint WaitForMultipleObjects(uint nCount, Handle[] lpHandles, bool bWaitAll, uint dwMilliseconds)
        => WaitForMultipleObjectsEx(nCount, lpHandles, bWaitAll, dwMilliseconds, FALSE);

    /// <summary>WaitForMultipleObjectsEx.</summary>
    public static uint WaitForMultipleObjectsEx(uint nCount, Handle[] lpHandles, bool bWaitAll, uint dwMilliseconds, bool bAlertable)
    {
        ArgumentNullException.ThrowIfNull(lpHandles);
        NtStatus status = Ntdll.NtWaitForMultipleObjects((int)nCount, lpHandles, bWaitAll ? WaitType.WaitAll : WaitType.WaitAny, bAlertable, ToTimeout(dwMilliseconds));
        return WaitResult(status);
    }

    internal static long? ToTimeout(uint milliseconds) => milliseconds == INFINITE ? null : -(long)milliseconds * 10_000;

    private static uint WaitResult(NtStatus status)
    {
        if (NtStatusClass.IsError(status) || NtStatusClass.IsWarning(status))
        {
            BaseSetLastNTError(status);
            return WAIT_FAILED;
        }

        // Wait statuses pass through numerically: STATUS_WAIT_n, STATUS_ABANDONED_WAIT_n, STATUS_USER_APC, STATUS_TIMEOUT.
        return (uint)status;
    }

    private static bool Check(NtStatus status)
    {
        if (NtStatusClass.IsSuccess(status))
        {
            return TRUE;
        }

        BaseSetLastNTError(status);
        return FALSE;
    }

    // ---------------------------------------------------------------- output

    /// <summary>printf for applications: C formatting, written to the machine's console stream.</summary>
    public static int printf(string format, params object?[] args)
    {
        string text = Crt.Format(format, args);
        Ntdll.NtWriteConsole(text);
        return Encoding.UTF8.GetByteCount(text);
    }

    /// <summary>OutputDebugString: goes to the same debug stream as DbgPrint.</summary>
    public static void OutputDebugString(string lpOutputString) => Ntdll.DbgPrint("%s", lpOutputString);
}
