namespace IrpLab;

/// <summary>LPOVERLAPPED_COMPLETION_ROUTINE: a ReadFileEx / WriteFileEx completion routine.</summary>
public delegate void LPOVERLAPPED_COMPLETION_ROUTINE(uint dwErrorCode, uint dwNumberOfBytesTransfered, OVERLAPPED lpOverlapped);

/// <summary>OVERLAPPED_ENTRY: one packet of GetQueuedCompletionStatusEx.</summary>
public struct OverlappedEntry
{
    public nuint lpCompletionKey;

    public OVERLAPPED? lpOverlapped;

    public nuint Internal;

    public uint dwNumberOfBytesTransferred;
}

public static partial class Kernel32
{
    public const uint FILE_SKIP_COMPLETION_PORT_ON_SUCCESS = 0x1;
    public const uint FILE_SKIP_SET_EVENT_ON_HANDLE = 0x2;

    // ---------------------------------------------------------------- cancellation

    /// <summary>CancelIo: cancels the calling thread's pending I/O on the handle. The requests complete with ERROR_OPERATION_ABORTED.</summary>
    public static bool CancelIo(Handle hFile)
    {
        IoStatusBlock iosb = RentIoStatusBlock();
        NtStatus status = Ntdll.NtCancelIoFile(hFile, iosb);
        ReturnIoStatusBlock(iosb);
        return Check(status);
    }

    /// <summary>
    /// CancelIoEx: cancels I/O on the handle issued by any thread of the process — only lpOverlapped's request when it
    /// is given. FALSE with ERROR_NOT_FOUND when there was nothing to cancel. Does not wait.
    /// </summary>
    public static bool CancelIoEx(Handle hFile, OVERLAPPED? lpOverlapped)
    {
        IoStatusBlock iosb = RentIoStatusBlock();
        NtStatus status = Ntdll.NtCancelIoFileEx(hFile, lpOverlapped, iosb);
        ReturnIoStatusBlock(iosb);
        return Check(status);
    }

    /// <summary>CancelSynchronousIo: cancels the synchronous I/O the thread is blocked in; ERROR_NOT_FOUND if none.</summary>
    public static bool CancelSynchronousIo(Handle hThread)
    {
        IoStatusBlock iosb = RentIoStatusBlock();
        NtStatus status = Ntdll.NtCancelSynchronousIoFile(hThread, null, iosb);
        ReturnIoStatusBlock(iosb);
        return Check(status);
    }

    // ---------------------------------------------------------------- ReadFileEx / WriteFileEx

    private static readonly IoApcRoutine s_completionTrampoline = static (context, iosb, reserved) =>
        ((LPOVERLAPPED_COMPLETION_ROUTINE)context!)(Ntdll.RtlNtStatusToDosError(iosb.Status), (uint)iosb.Information, (OVERLAPPED)iosb);

    /// <summary>
    /// ReadFileEx: the completion routine runs as a user APC on this thread, in its next alertable wait (SleepEx,
    /// WaitFor*Ex with bAlertable), even when the read completed at once. TRUE while pending or on a non-error
    /// completion (a warning also sets the last error, as MS Learn documents); FALSE on an immediate error, and then
    /// the routine is never called. hEvent is not used by the system.
    /// </summary>
    public static bool ReadFileEx(Handle hFile, byte[]? lpBuffer, uint nNumberOfBytesToRead, OVERLAPPED lpOverlapped, LPOVERLAPPED_COMPLETION_ROUTINE lpCompletionRoutine)
        => ReadWriteEx(read: true, hFile, lpBuffer, nNumberOfBytesToRead, lpOverlapped, lpCompletionRoutine);

    /// <summary>WriteFileEx (see ReadFileEx).</summary>
    public static bool WriteFileEx(Handle hFile, byte[]? lpBuffer, uint nNumberOfBytesToWrite, OVERLAPPED lpOverlapped, LPOVERLAPPED_COMPLETION_ROUTINE lpCompletionRoutine)
        => ReadWriteEx(read: false, hFile, lpBuffer, nNumberOfBytesToWrite, lpOverlapped, lpCompletionRoutine);

    private static bool ReadWriteEx(bool read, Handle hFile, byte[]? buffer, uint length, OVERLAPPED overlapped, LPOVERLAPPED_COMPLETION_ROUTINE routine)
    {
        ArgumentNullException.ThrowIfNull(overlapped);
        ArgumentNullException.ThrowIfNull(routine);
        overlapped.Internal = (nuint)(uint)NtStatus.STATUS_PENDING;
        NtStatus status = read
            ? Ntdll.NtReadFile(hFile, NULL, s_completionTrampoline, routine, overlapped, buffer, length, overlapped.ByteOffset, null)
            : Ntdll.NtWriteFile(hFile, NULL, s_completionTrampoline, routine, overlapped, buffer, length, overlapped.ByteOffset, null);
        if (NtStatusClass.IsError(status))
        {
            BaseSetLastNTError(status);
            return FALSE;
        }

        if (NtStatusClass.IsWarning(status))
        {
            BaseSetLastNTError(status);
        }

        return TRUE;
    }

    // ---------------------------------------------------------------- completion ports

    /// <summary>
    /// CreateIoCompletionPort. FileHandle = INVALID_HANDLE_VALUE and ExistingCompletionPort = NULL: a new port
    /// (0 concurrency = the number of processors). A valid FileHandle: associates its file object (which must be
    /// overlapped and not yet associated) with the new or existing port and the key; returns the port handle.
    /// </summary>
    public static Handle CreateIoCompletionPort(Handle FileHandle, Handle ExistingCompletionPort, nuint CompletionKey, uint NumberOfConcurrentThreads)
    {
        if (FileHandle == INVALID_HANDLE_VALUE)
        {
            if (!ExistingCompletionPort.IsNull)
            {
                SetLastError(ERROR_INVALID_PARAMETER);
                return NULL;
            }

            NtStatus created = Ntdll.NtCreateIoCompletion(out Handle newPort, Ntdll.IO_COMPLETION_ALL_ACCESS, null, NumberOfConcurrentThreads);
            if (!NtStatusClass.IsSuccess(created))
            {
                BaseSetLastNTError(created);
                return NULL;
            }

            return newPort;
        }

        Handle port = ExistingCompletionPort;
        bool createdHere = false;
        if (port.IsNull)
        {
            NtStatus created = Ntdll.NtCreateIoCompletion(out port, Ntdll.IO_COMPLETION_ALL_ACCESS, null, NumberOfConcurrentThreads);
            if (!NtStatusClass.IsSuccess(created))
            {
                BaseSetLastNTError(created);
                return NULL;
            }

            createdHere = true;
        }

        IoStatusBlock iosb = RentIoStatusBlock();
        NtStatus status = Ntdll.NtSetInformationFile(FileHandle, iosb, FileInformationClass.FileCompletionInformation, port, CompletionKey, 0);
        ReturnIoStatusBlock(iosb);
        if (!NtStatusClass.IsSuccess(status))
        {
            if (createdHere)
            {
                Ntdll.NtClose(port);
            }

            BaseSetLastNTError(status);
            return NULL;
        }

        return port;
    }

    /// <summary>
    /// GetQueuedCompletionStatus. TRUE for a packet of a successful I/O. FALSE with lpOverlapped set for a packet of a
    /// failed one (GetLastError has its error). FALSE with lpOverlapped NULL: WAIT_TIMEOUT, ERROR_ABANDONED_WAIT_0
    /// (the port was closed) or another failure.
    /// </summary>
    public static bool GetQueuedCompletionStatus(Handle CompletionPort, out uint lpNumberOfBytesTransferred, out nuint lpCompletionKey, out OVERLAPPED? lpOverlapped, uint dwMilliseconds)
    {
        lpOverlapped = null;
        lpNumberOfBytesTransferred = 0;
        lpCompletionKey = 0;
        IoStatusBlock iosb = RentIoStatusBlock();
        NtStatus status = Ntdll.NtRemoveIoCompletion(CompletionPort, out nuint key, out object? context, iosb, ToTimeout(dwMilliseconds));
        NtStatus ioStatus = iosb.Status;
        nuint information = iosb.Information;
        ReturnIoStatusBlock(iosb);
        if (status == NtStatus.STATUS_TIMEOUT)
        {
            SetLastError(WAIT_TIMEOUT);
            return FALSE;
        }

        if (status == NtStatus.STATUS_ABANDONED)
        {
            SetLastError(ERROR_ABANDONED_WAIT_0);
            return FALSE;
        }

        if (!NtStatusClass.IsSuccess(status))
        {
            BaseSetLastNTError(status);
            return FALSE;
        }

        lpCompletionKey = key;
        lpOverlapped = context as OVERLAPPED;
        lpNumberOfBytesTransferred = (uint)information;
        if (!NtStatusClass.IsSuccess(ioStatus))
        {
            BaseSetLastNTError(ioStatus);
            return FALSE;
        }

        return TRUE;
    }

    /// <summary>
    /// GetQueuedCompletionStatusEx: up to ulCount packets at once; TRUE when at least one was removed (check each
    /// entry's lpOverlapped.Internal). FALSE with WAIT_TIMEOUT, with WAIT_IO_COMPLETION when alertable and APCs ran,
    /// or ERROR_ABANDONED_WAIT_0.
    /// </summary>
    public static bool GetQueuedCompletionStatusEx(Handle CompletionPort, OverlappedEntry[] lpCompletionPortEntries, uint ulCount, out uint ulNumEntriesRemoved, uint dwMilliseconds, bool fAlertable)
    {
        ArgumentNullException.ThrowIfNull(lpCompletionPortEntries);
        ulNumEntriesRemoved = 0;
        FileIoCompletionInformation[] scratch = t_portEntries is { } cached && cached.Length >= ulCount ? cached : (t_portEntries = new FileIoCompletionInformation[Math.Max(ulCount, 1)]);
        NtStatus status = Ntdll.NtRemoveIoCompletionEx(CompletionPort, scratch, ulCount, out uint removed, ToTimeout(dwMilliseconds), fAlertable);
        if (status == NtStatus.STATUS_TIMEOUT)
        {
            SetLastError(WAIT_TIMEOUT);
            return FALSE;
        }

        if (status == NtStatus.STATUS_USER_APC)
        {
            SetLastError(WAIT_IO_COMPLETION);
            return FALSE;
        }

        if (status == NtStatus.STATUS_ABANDONED)
        {
            SetLastError(ERROR_ABANDONED_WAIT_0);
            return FALSE;
        }

        if (!NtStatusClass.IsSuccess(status))
        {
            BaseSetLastNTError(status);
            return FALSE;
        }

        for (int i = 0; i < removed; i++)
        {
            ref FileIoCompletionInformation source = ref scratch[i];
            lpCompletionPortEntries[i] = new OverlappedEntry
            {
                lpCompletionKey = source.KeyContext,
                lpOverlapped = source.ApcContext as OVERLAPPED,
                Internal = (nuint)(uint)source.Status,
                dwNumberOfBytesTransferred = (uint)source.Information,
            };
            source.ApcContext = null;
        }

        ulNumEntriesRemoved = removed;
        return TRUE;
    }

    [ThreadStatic]
    private static FileIoCompletionInformation[]? t_portEntries;

    /// <summary>PostQueuedCompletionStatus: queues a success packet with these values (not validated).</summary>
    public static bool PostQueuedCompletionStatus(Handle CompletionPort, uint dwNumberOfBytesTransferred, nuint dwCompletionKey, OVERLAPPED? lpOverlapped)
        => Check(Ntdll.NtSetIoCompletion(CompletionPort, dwCompletionKey, lpOverlapped, NtStatus.STATUS_SUCCESS, dwNumberOfBytesTransferred));

    /// <summary>
    /// SetFileCompletionNotificationModes: FILE_SKIP_COMPLETION_PORT_ON_SUCCESS (an immediate NT_SUCCESS completion
    /// queues no packet — the Windows 8+ rule: a warning still queues one) and FILE_SKIP_SET_EVENT_ON_HANDLE. Modes can
    /// only be added.
    /// </summary>
    public static bool SetFileCompletionNotificationModes(Handle FileHandle, byte Flags)
    {
        IoStatusBlock iosb = RentIoStatusBlock();
        NtStatus status = Ntdll.NtSetInformationFile(FileHandle, iosb, FileInformationClass.FileIoCompletionNotificationInformation, NULL, 0, Flags);
        ReturnIoStatusBlock(iosb);
        return Check(status);
    }
}
