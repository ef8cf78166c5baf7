using System.Threading.Tasks.Sources;

namespace IrpLab.Async;

/// <summary>
/// One overlapped request as the .NET layer sees it: the OVERLAPPED the kernel writes, and the pooled
/// value-task source its awaiter waits on. Reset and reused for the next request, so steady-state awaits allocate
/// nothing. Continuations run inline on the thread that completes the operation (the process's I/O dispatcher
/// thread), like continuations of .NET's own overlapped I/O on a thread-pool I/O thread.
/// </summary>
internal sealed class AsyncOperation : OVERLAPPED, IValueTaskSource<int>
{
    private ManualResetValueTaskSourceCore<int> _core = new() { RunContinuationsAsynchronously = false };

    public AsyncDevice? Device { get; set; }

    public CancellationTokenRegistration Registration { get; set; }

    public short Version => _core.Version;

    public void Prepare()
    {
        _core.Reset();
        Internal = 0;
        InternalHigh = 0;
    }

    public void Complete(NtStatus status, nuint information)
    {
        Registration.Dispose();
        Registration = default;
        if (NtStatusClass.IsSuccess(status))
        {
            _core.SetResult((int)information);
        }
        else
        {
            _core.SetException(AsyncDevice.ToException(status));
        }
    }

    public int GetResult(short token)
    {
        try
        {
            return _core.GetResult(token);
        }
        finally
        {
            Device?.Return(this);
        }
    }

    public ValueTaskSourceStatus GetStatus(short token) => _core.GetStatus(token);

    public void OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags)
        => _core.OnCompleted(continuation, state, token, flags);
}
