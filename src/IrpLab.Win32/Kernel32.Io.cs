using System.Runtime.CompilerServices;

namespace IrpLab;

public static partial class Kernel32
{
    public const uint GENERIC_READ = 0x80000000;
    public const uint GENERIC_WRITE = 0x40000000;
    public const uint GENERIC_EXECUTE = 0x20000000;
    public const uint GENERIC_ALL = 0x10000000;
    public const uint FILE_GENERIC_READ = 0x120089;
    public const uint FILE_GENERIC_WRITE = 0x120116;
    public const uint FILE_GENERIC_EXECUTE = 0x1200A0;
    public const uint FILE_ALL_ACCESS = 0x1F01FF;
    public const uint FILE_READ_ATTRIBUTES = 0x80;

    public const uint FILE_SHARE_READ = 0x1;
    public const uint FILE_SHARE_WRITE = 0x2;
    public const uint FILE_SHARE_DELETE = 0x4;

    public const uint CREATE_NEW = 1;
    public const uint CREATE_ALWAYS = 2;
    public const uint OPEN_EXISTING = 3;
    public const uint OPEN_ALWAYS = 4;
    public const uint TRUNCATE_EXISTING = 5;

    public const uint FILE_ATTRIBUTE_NORMAL = 0x80;
    public const uint FILE_FLAG_WRITE_THROUGH = 0x80000000;
    public const uint FILE_FLAG_OVERLAPPED = 0x40000000;
    public const uint FILE_FLAG_NO_BUFFERING = 0x20000000;


    /// <summary>
    /// CreateFile: \\.\Name opens the device behind \??\Name. Without FILE_FLAG_OVERLAPPED the handle is synchronous
    /// (the I/O manager serialises requests and waits for pended ones); with it, asynchronous. Returns
    /// INVALID_HANDLE_VALUE with the last error on failure.
    /// </summary>
    public static Handle CreateFile(string lpFileName, uint dwDesiredAccess, uint dwShareMode, object? lpSecurityAttributes, uint dwCreationDisposition, uint dwFlagsAndAttributes, Handle hTemplateFile)
    {
        ArgumentNullException.ThrowIfNull(lpFileName);
        uint disposition = dwCreationDisposition switch
        {
            CREATE_NEW => Ntdll.FILE_CREATE,
            CREATE_ALWAYS => Ntdll.FILE_OVERWRITE_IF,
            OPEN_EXISTING => Ntdll.FILE_OPEN,
            OPEN_ALWAYS => Ntdll.FILE_OPEN_IF,
            TRUNCATE_EXISTING => Ntdll.FILE_OVERWRITE,
            _ => uint.MaxValue,
        };
        if (disposition == uint.MaxValue)
        {
            SetLastError(ERROR_INVALID_PARAMETER);
            return INVALID_HANDLE_VALUE;
        }

        uint access = MapGenericAccess(dwDesiredAccess) | SYNCHRONIZE | FILE_READ_ATTRIBUTES;
        uint options = (dwFlagsAndAttributes & FILE_FLAG_OVERLAPPED) != 0 ? 0 : Ntdll.FILE_SYNCHRONOUS_IO_NONALERT;
        if ((dwFlagsAndAttributes & FILE_FLAG_NO_BUFFERING) != 0)
        {
            options |= Ntdll.FILE_NO_INTERMEDIATE_BUFFERING;
        }

        if ((dwFlagsAndAttributes & FILE_FLAG_WRITE_THROUGH) != 0)
        {
            options |= Ntdll.FILE_WRITE_THROUGH;
        }

        var iosb = new IoStatusBlock();
        NtStatus status = Ntdll.NtCreateFile(out Handle handle, access, ToNtPath(lpFileName), iosb, null, dwFlagsAndAttributes & 0xFFFF, dwShareMode, disposition, options);
        if (!NtStatusClass.IsSuccess(status))
        {
            BaseSetLastNTError(status);
            return INVALID_HANDLE_VALUE;
        }

        bool existed = iosb.Information is (nuint)Wdm.FILE_OPENED or (nuint)Wdm.FILE_OVERWRITTEN;
        SetLastError(existed && dwCreationDisposition is CREATE_ALWAYS or OPEN_ALWAYS ? ERROR_ALREADY_EXISTS : ERROR_SUCCESS);
        return handle;
    }

    private static uint MapGenericAccess(uint access)
    {
        uint mapped = access & ~(GENERIC_READ | GENERIC_WRITE | GENERIC_EXECUTE | GENERIC_ALL);
        if ((access & GENERIC_READ) != 0)
        {
            mapped |= FILE_GENERIC_READ;
        }

        if ((access & GENERIC_WRITE) != 0)
        {
            mapped |= FILE_GENERIC_WRITE;
        }

        if ((access & GENERIC_EXECUTE) != 0)
        {
            mapped |= FILE_GENERIC_EXECUTE;
        }

        if ((access & GENERIC_ALL) != 0)
        {
            mapped |= FILE_ALL_ACCESS;
        }

        return mapped;
    }

    /// <summary>\\.\X and \\?\X become \??\X; other names are looked up under \??\ as they are.</summary>
    private static string ToNtPath(string path)
    {
        if (path.StartsWith(@"\\.\", StringComparison.Ordinal) || path.StartsWith(@"\\?\", StringComparison.Ordinal))
        {
            return @"\??\" + path[4..];
        }

        return path.StartsWith('\\') ? path : @"\??\" + path;
    }

    /// <summary>
    /// DeviceIoControl. With an OVERLAPPED (overlapped handle): Internal = STATUS_PENDING first; FALSE with
    /// ERROR_IO_PENDING while pending; TRUE on an immediate success; FALSE with the mapped error on a warning
    /// (the data is copied and the completion still signals) or an error (nothing else happens).
    /// Without one: waits; TRUE iff NT_SUCCESS; the byte count is written unless the status is an error.
    /// Pass <c>ref Unsafe.NullRef&lt;uint&gt;()</c> (or use the overload without it) for a NULL lpBytesReturned.
    /// </summary>
    public static bool DeviceIoControl(Handle hDevice, uint dwIoControlCode, byte[]? lpInBuffer, uint nInBufferSize, byte[]? lpOutBuffer, uint nOutBufferSize, ref uint lpBytesReturned, OVERLAPPED? lpOverlapped)
    {
        if (lpOverlapped is not null)
        {
            lpOverlapped.Internal = (nuint)(uint)NtStatus.STATUS_PENDING;
            object? apcContext = (lpOverlapped.hEvent.Value & 1) != 0 ? null : lpOverlapped;
            NtStatus status = Ntdll.NtDeviceIoControlFile(hDevice, lpOverlapped.hEvent, null, apcContext, lpOverlapped, dwIoControlCode, lpInBuffer, nInBufferSize, lpOutBuffer, nOutBufferSize);
            if (!NtStatusClass.IsError(status) && !Unsafe.IsNullRef(ref lpBytesReturned))
            {
                // Written whenever the status is not an error, even while pending (then meaningless).
                lpBytesReturned = (uint)lpOverlapped.InternalHigh;
            }

            return FinishOverlapped(status);
        }

        VerifyNoOverlappedHandle(hDevice, "DeviceIoControl");
        IoStatusBlock iosb = RentIoStatusBlock();
        NtStatus result = Ntdll.NtDeviceIoControlFile(hDevice, NULL, null, null, iosb, dwIoControlCode, lpInBuffer, nInBufferSize, lpOutBuffer, nOutBufferSize);
        if (result == NtStatus.STATUS_PENDING)
        {
            // An asynchronous handle used without an OVERLAPPED: wait on the handle.
            result = Ntdll.NtWaitForSingleObject(hDevice, false, null);
            if (NtStatusClass.IsSuccess(result))
            {
                result = iosb.Status;
            }
        }

        if (!NtStatusClass.IsError(result) && !Unsafe.IsNullRef(ref lpBytesReturned))
        {
            lpBytesReturned = (uint)iosb.Information;
        }

        ReturnIoStatusBlock(iosb);
        if (!NtStatusClass.IsSuccess(result))
        {
            BaseSetLastNTError(result);
            return FALSE;
        }

        return TRUE;
    }

    /// <summary>DeviceIoControl with a NULL lpBytesReturned.</summary>
    public static bool DeviceIoControl(Handle hDevice, uint dwIoControlCode, byte[]? lpInBuffer, uint nInBufferSize, byte[]? lpOutBuffer, uint nOutBufferSize, OVERLAPPED? lpOverlapped)
        => DeviceIoControl(hDevice, dwIoControlCode, lpInBuffer, nInBufferSize, lpOutBuffer, nOutBufferSize, ref Unsafe.NullRef<uint>(), lpOverlapped);

    /// <summary>
    /// ReadFile. Synchronous: the byte count is set to 0 first; end of file is TRUE with 0 bytes. Overlapped: as
    /// DeviceIoControl; an immediate end of file is FALSE with ERROR_HANDLE_EOF. Without an OVERLAPPED on an
    /// overlapped device handle: FALSE, ERROR_INVALID_PARAMETER.
    /// </summary>
    public static bool ReadFile(Handle hFile, byte[]? lpBuffer, uint nNumberOfBytesToRead, ref uint lpNumberOfBytesRead, OVERLAPPED? lpOverlapped)
        => ReadWrite(read: true, hFile, lpBuffer, nNumberOfBytesToRead, ref lpNumberOfBytesRead, lpOverlapped);

    /// <summary>ReadFile with a NULL byte count.</summary>
    public static bool ReadFile(Handle hFile, byte[]? lpBuffer, uint nNumberOfBytesToRead, OVERLAPPED? lpOverlapped)
        => ReadWrite(read: true, hFile, lpBuffer, nNumberOfBytesToRead, ref Unsafe.NullRef<uint>(), lpOverlapped);

    /// <summary>WriteFile (see ReadFile).</summary>
    public static bool WriteFile(Handle hFile, byte[]? lpBuffer, uint nNumberOfBytesToWrite, ref uint lpNumberOfBytesWritten, OVERLAPPED? lpOverlapped)
        => ReadWrite(read: false, hFile, lpBuffer, nNumberOfBytesToWrite, ref lpNumberOfBytesWritten, lpOverlapped);

    /// <summary>WriteFile with a NULL byte count.</summary>
    public static bool WriteFile(Handle hFile, byte[]? lpBuffer, uint nNumberOfBytesToWrite, OVERLAPPED? lpOverlapped)
        => ReadWrite(read: false, hFile, lpBuffer, nNumberOfBytesToWrite, ref Unsafe.NullRef<uint>(), lpOverlapped);

    private static bool ReadWrite(bool read, Handle hFile, byte[]? buffer, uint length, ref uint bytes, OVERLAPPED? overlapped)
    {
        if (overlapped is not null)
        {
            overlapped.Internal = (nuint)(uint)NtStatus.STATUS_PENDING;
            object? apcContext = (overlapped.hEvent.Value & 1) != 0 ? null : overlapped;
            NtStatus status = read
                ? Ntdll.NtReadFile(hFile, overlapped.hEvent, null, apcContext, overlapped, buffer, length, overlapped.ByteOffset, null)
                : Ntdll.NtWriteFile(hFile, overlapped.hEvent, null, apcContext, overlapped, buffer, length, overlapped.ByteOffset, null);
            if (NtStatusClass.IsSuccess(status) && status != NtStatus.STATUS_PENDING && !Unsafe.IsNullRef(ref bytes))
            {
                bytes = (uint)overlapped.InternalHigh;
            }

            return FinishOverlapped(status);
        }

        if (!Unsafe.IsNullRef(ref bytes))
        {
            bytes = 0;
        }

        VerifyNoOverlappedHandle(hFile, read ? "ReadFile" : "WriteFile");
        IoStatusBlock iosb = RentIoStatusBlock();
        NtStatus result = read
            ? Ntdll.NtReadFile(hFile, NULL, null, null, iosb, buffer, length, null, null)
            : Ntdll.NtWriteFile(hFile, NULL, null, null, iosb, buffer, length, null, null);
        if (result == NtStatus.STATUS_PENDING)
        {
            result = Ntdll.NtWaitForSingleObject(hFile, false, null);
            if (NtStatusClass.IsSuccess(result))
            {
                result = iosb.Status;
            }
        }

        nuint information = iosb.Information;
        ReturnIoStatusBlock(iosb);
        if (read && result == NtStatus.STATUS_END_OF_FILE)
        {
            // The classic end-of-file test: a synchronous read at EOF succeeds with zero bytes.
            return TRUE;
        }

        if (!NtStatusClass.IsSuccess(result))
        {
            BaseSetLastNTError(result);
            return FALSE;
        }

        if (!Unsafe.IsNullRef(ref bytes))
        {
            bytes = (uint)information;
        }

        return TRUE;
    }

    [ThreadStatic]
    private static Stack<IoStatusBlock>? t_statusBlocks;

    /// <summary>kernel32 keeps the status block of a synchronous call on its stack; this is that stack, per thread.</summary>
    private static IoStatusBlock RentIoStatusBlock()
    {
        Stack<IoStatusBlock> blocks = t_statusBlocks ??= new Stack<IoStatusBlock>();
        IoStatusBlock iosb = blocks.Count > 0 ? blocks.Pop() : new IoStatusBlock();

        // Uninitialised stack memory in C; zero here.
        iosb.Status = NtStatus.STATUS_SUCCESS;
        iosb.Information = 0;
        return iosb;
    }

    private static void ReturnIoStatusBlock(IoStatusBlock iosb) => (t_statusBlocks ??= new Stack<IoStatusBlock>()).Push(iosb);

    /// <summary>Application Verifier is on for this process (the machine's verifier): a PEB read, no system call.</summary>
    private static bool ApplicationVerifierEnabled => (Ntdll.RtlGetNtGlobalFlags() & Ntdll.FLG_APPLICATION_VERIFIER) != 0;

    /// <summary>
    /// NULL_OVERLAPPED_ON_OVERLAPPED_HANDLE (verifier only): a call without an OVERLAPPED on a handle opened with
    /// FILE_FLAG_OVERLAPPED. Reads and writes then fail with ERROR_INVALID_PARAMETER; DeviceIoControl waits on the
    /// handle, which any other request on it can signal, so it may report completion too early (MS Learn: DeviceIoControl).
    /// </summary>
    private static void VerifyNoOverlappedHandle(Handle hFile, string function)
    {
        if (!ApplicationVerifierEnabled)
        {
            return;
        }

        IoStatusBlock iosb = RentIoStatusBlock();
        NtStatus status = Ntdll.NtQueryInformationFile(hFile, iosb, out FileModeInformation mode, FileInformationClass.FileModeInformation);
        ReturnIoStatusBlock(iosb);
        if (NtStatusClass.IsSuccess(status) && (mode.Mode & (Ntdll.FILE_SYNCHRONOUS_IO_ALERT | Ntdll.FILE_SYNCHRONOUS_IO_NONALERT)) == 0)
        {
            Ntdll.RtlApplicationVerifierStop("NULL_OVERLAPPED_ON_OVERLAPPED_HANDLE",
                function + " without an OVERLAPPED on a handle opened with FILE_FLAG_OVERLAPPED: the I/O is asynchronous, so without an OVERLAPPED "
                + (function == "DeviceIoControl"
                    ? "the call waits on the file handle, which any other request on the handle signals, and can report completion too early."
                    : "there is no offset to read or write at and the call fails with ERROR_INVALID_PARAMETER.")
                + " Pass an OVERLAPPED on overlapped handles.");
        }
    }

    private static bool FinishOverlapped(NtStatus status)
    {
        if (status == NtStatus.STATUS_PENDING)
        {
            SetLastError(ERROR_IO_PENDING);
            return FALSE;
        }

        if (!NtStatusClass.IsSuccess(status))
        {
            // A warning completed (data copied, event signaled) but still reports FALSE; an error did nothing else.
            BaseSetLastNTError(status);
            return FALSE;
        }

        return TRUE;
    }

    /// <summary>HasOverlappedIoCompleted: Internal != STATUS_PENDING.</summary>
    public static bool HasOverlappedIoCompleted(OVERLAPPED lpOverlapped)
    {
        ArgumentNullException.ThrowIfNull(lpOverlapped);
        return lpOverlapped.Status != NtStatus.STATUS_PENDING;
    }

    /// <summary>
    /// GetOverlappedResult: while Internal is STATUS_PENDING, ERROR_IO_INCOMPLETE without bWait, else waits on hEvent
    /// (or on the file handle when there is none). Then the byte count is written (even on failure) and the result
    /// is TRUE iff the status is NT_SUCCESS.
    /// </summary>
    public static bool GetOverlappedResult(Handle hFile, OVERLAPPED lpOverlapped, ref uint lpNumberOfBytesTransferred, bool bWait)
        => GetOverlappedResultEx(hFile, lpOverlapped, ref lpNumberOfBytesTransferred, bWait ? INFINITE : 0, FALSE);

    /// <summary>
    /// GetOverlappedResultEx: as GetOverlappedResult with a timeout (WAIT_TIMEOUT as the last error) and an
    /// alertable wait (WAIT_IO_COMPLETION as the last error when APCs ran).
    /// </summary>
    public static bool GetOverlappedResultEx(Handle hFile, OVERLAPPED lpOverlapped, ref uint lpNumberOfBytesTransferred, uint dwMilliseconds, bool bAlertable)
    {
        ArgumentNullException.ThrowIfNull(lpOverlapped);
        if (lpOverlapped.Status == NtStatus.STATUS_PENDING)
        {
            if (dwMilliseconds == 0)
            {
                SetLastError(ERROR_IO_INCOMPLETE);
                return FALSE;
            }

            if (!lpOverlapped.hEvent.IsNull && ApplicationVerifierEnabled)
            {
                VerifyManualResetEvent(lpOverlapped.hEvent);
            }

            Handle wait = lpOverlapped.hEvent.IsNull ? hFile : lpOverlapped.hEvent;
            uint result = WaitForSingleObjectEx(wait, dwMilliseconds, bAlertable);
            if (result == WAIT_TIMEOUT)
            {
                SetLastError(WAIT_TIMEOUT);
                return FALSE;
            }

            if (result == WAIT_IO_COMPLETION)
            {
                SetLastError(WAIT_IO_COMPLETION);
                return FALSE;
            }

            if (result != WAIT_OBJECT_0)
            {
                return FALSE;
            }
        }

        if (!Unsafe.IsNullRef(ref lpNumberOfBytesTransferred))
        {
            lpNumberOfBytesTransferred = (uint)lpOverlapped.InternalHigh;
        }

        if (!NtStatusClass.IsSuccess(lpOverlapped.Status))
        {
            BaseSetLastNTError(lpOverlapped.Status);
            return FALSE;
        }

        return TRUE;
    }

    /// <summary>
    /// AUTO_RESET_EVENT_IN_GETOVERLAPPEDRESULT (verifier only): GetOverlappedResult is about to wait on an auto-reset
    /// event. If another wait consumes its signal first, GetOverlappedResult blocks forever (MS Learn: GetOverlappedResult).
    /// </summary>
    private static void VerifyManualResetEvent(Handle hEvent)
    {
        if (Ntdll.NtQueryEvent(hEvent, EventInformationClass.EventBasicInformation, out EventBasicInformation info) == NtStatus.STATUS_SUCCESS
            && info.EventType == EventType.SynchronizationEvent)
        {
            Ntdll.RtlApplicationVerifierStop("AUTO_RESET_EVENT_IN_GETOVERLAPPEDRESULT",
                "GetOverlappedResult waits on the OVERLAPPED's hEvent, an auto-reset event: if another wait consumes its signal, GetOverlappedResult blocks forever. Use a manual-reset event (CreateEvent(NULL, TRUE, FALSE, NULL)).");
        }
    }
}
