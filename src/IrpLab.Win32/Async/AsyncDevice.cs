using System.ComponentModel;
using static IrpLab.Kernel32;

namespace IrpLab.Async;

/// <summary>
/// The idiomatic .NET layer over Kernel32: a device opened for overlapped I/O whose requests are awaited.
/// Completions arrive through a completion port drained by a dispatcher thread of the process, so the code after an
/// <c>await</c> runs on that thread (call the machine's routines from there as from any application thread).
/// Errors follow DESIGN.md's third tier: ERROR_OPERATION_ABORTED becomes <see cref="OperationCanceledException"/>,
/// other errors a <see cref="Win32Exception"/> (an <see cref="System.IO.IOException"/> for end of file), misuse
/// an argument exception. An immediate error is thrown at once; an immediate success completes synchronously.
/// </summary>
public sealed class AsyncDevice : IDisposable
{
    private readonly Stack<AsyncOperation> _free = new();
    private readonly Lock _lock = new();
    private bool _disposed;

    private AsyncDevice(Handle handle)
    {
        Handle = handle;
    }

    /// <summary>The Win32 handle (overlapped, associated with the process's completion port).</summary>
    public Handle Handle { get; }

    /// <summary>Opens \\.\Name (or any CreateFile path) for overlapped I/O.</summary>
    public static AsyncDevice Open(string path, uint desiredAccess = GENERIC_READ | GENERIC_WRITE)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        Handle handle = CreateFile(path, desiredAccess, 0, null, OPEN_EXISTING, FILE_FLAG_OVERLAPPED, NULL);
        if (handle == INVALID_HANDLE_VALUE)
        {
            throw ToException(GetLastError());
        }

        IoDispatcher dispatcher = IoDispatcher.ForCurrentProcess();
        if (CreateIoCompletionPort(handle, dispatcher.Port, 0, 0).IsNull)
        {
            uint error = GetLastError();
            CloseHandle(handle);
            throw ToException(error);
        }

        return new AsyncDevice(handle);
    }

    /// <summary>DeviceIoControl, awaited. Returns the bytes returned.</summary>
    public ValueTask<int> DeviceIoControlAsync(uint ioControlCode, byte[]? input, byte[]? output, CancellationToken cancellationToken = default)
    {
        AsyncOperation op = Rent(cancellationToken);
        bool ok = DeviceIoControl(Handle, ioControlCode, input, (uint)(input?.Length ?? 0), output, (uint)(output?.Length ?? 0), op);
        return Finish(op, ok);
    }

    /// <summary>ReadFile at <paramref name="offset"/>, awaited. Returns the bytes read.</summary>
    public ValueTask<int> ReadAsync(byte[] buffer, long offset = 0, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(buffer);
        AsyncOperation op = Rent(cancellationToken);
        op.Offset = (uint)offset;
        op.OffsetHigh = (uint)(offset >> 32);
        bool ok = ReadFile(Handle, buffer, (uint)buffer.Length, op);
        return Finish(op, ok);
    }

    /// <summary>WriteFile at <paramref name="offset"/>, awaited. Returns the bytes written.</summary>
    public ValueTask<int> WriteAsync(byte[] buffer, long offset = 0, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(buffer);
        AsyncOperation op = Rent(cancellationToken);
        op.Offset = (uint)offset;
        op.OffsetHigh = (uint)(offset >> 32);
        bool ok = WriteFile(Handle, buffer, (uint)buffer.Length, op);
        return Finish(op, ok);
    }

    /// <summary>Closes the handle (IRP_MJ_CLEANUP): requests the driver still holds complete or are cancelled by it.</summary>
    public void Dispose()
    {
        if (!_disposed)
        {
            _disposed = true;
            CloseHandle(Handle);
        }
    }

    internal void Return(AsyncOperation op)
    {
        lock (_lock)
        {
            _free.Push(op);
        }
    }

    private AsyncOperation Rent(CancellationToken cancellationToken)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        AsyncOperation? op;
        lock (_lock)
        {
            _free.TryPop(out op);
        }

        op ??= new AsyncOperation { Device = this };
        op.Prepare();
        if (cancellationToken.CanBeCanceled)
        {
            // CancelIoEx of this request; the cancelled request then completes with ERROR_OPERATION_ABORTED.
            op.Registration = cancellationToken.UnsafeRegister(static state =>
            {
                var o = (AsyncOperation)state!;
                CancelIoEx(o.Device!.Handle, o);
            }, op);
        }

        return op;
    }

    private static ValueTask<int> Finish(AsyncOperation op, bool ok)
    {
        uint error = ok ? ERROR_SUCCESS : GetLastError();
        if (ok || error == ERROR_IO_PENDING || NtStatusClass.IsWarning(op.Status) && op.Status != NtStatus.STATUS_PENDING)
        {
            // Pending, an immediate success or an immediate warning: the completion packet completes the operation.
            return new ValueTask<int>(op, op.Version);
        }

        // An immediate error posts no packet.
        op.Registration.Dispose();
        op.Device!.Return(op);
        return ValueTask.FromException<int>(ToException(error));
    }

    internal static Exception ToException(NtStatus status) => ToException(Ntdll.RtlNtStatusToDosErrorNoTeb(status));

    internal static Exception ToException(uint error) => error switch
    {
        ERROR_OPERATION_ABORTED => new OperationCanceledException("The I/O operation was cancelled (ERROR_OPERATION_ABORTED)."),
        ERROR_HANDLE_EOF => new EndOfStreamException("End of file (ERROR_HANDLE_EOF)."),
        _ => new Win32Exception((int)error),
    };
}
