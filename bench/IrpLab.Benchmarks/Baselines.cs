using System.Runtime.InteropServices;
using System.Threading.Channels;
using System.Threading.Tasks.Sources;

namespace IrpLab.Benchmarks;

/// <summary>The baselines of performance.md, measured in the same process as the model.</summary>
internal static partial class Baselines
{
    private static readonly byte[] s_in = new byte[16];
    private static readonly byte[] s_out = new byte[16];
    private static readonly byte[] s_scratch = new byte[16];
    private static readonly Func<byte[], int> s_fill = static b =>
    {
        for (int i = 0; i < 16; i++)
        {
            b[i] ^= 0x5A;
        }

        return 0;
    };

    /// <summary>proto-ioctl: copy 16 bytes in, call a delegate that fills 16 bytes and returns a status, copy 16 bytes out.</summary>
    public static int ProtoIoctl()
    {
        Buffer.BlockCopy(s_in, 0, s_scratch, 0, 16);
        int status = s_fill(s_scratch);
        Buffer.BlockCopy(s_scratch, 0, s_out, 0, 16);
        return status;
    }

    [LibraryImport("libc", EntryPoint = "getppid")]
    private static partial int GetParentProcessId();

    /// <summary>getppid: the cheapest real system call.</summary>
    public static int Getppid() => GetParentProcessId();
}

/// <summary>mres-roundtrip: the caller blocks on a ManualResetEventSlim until a dedicated thread sets it.</summary>
internal sealed class MresRoundTrip : IDisposable
{
    private readonly ManualResetEventSlim _request = new(false);
    private readonly ManualResetEventSlim _reply = new(false);
    private readonly Thread _thread;
    private volatile bool _stop;

    public MresRoundTrip()
    {
        _thread = new Thread(() =>
        {
            while (true)
            {
                _request.Wait();
                _request.Reset();
                if (_stop)
                {
                    return;
                }

                _reply.Set();
            }
        })
        { IsBackground = true };
        _thread.Start();
    }

    public void RoundTrip()
    {
        _request.Set();
        _reply.Wait();
        _reply.Reset();
    }

    public void Dispose()
    {
        _stop = true;
        _request.Set();
        _thread.Join();
    }
}

/// <summary>sem-roundtrip: a queue plus SemaphoreSlim ping-pong between two threads.</summary>
internal sealed class SemRoundTrip : IDisposable
{
    private readonly SemaphoreSlim _request = new(0);
    private readonly SemaphoreSlim _reply = new(0);
    private readonly Queue<int> _queue = new();
    private readonly Thread _thread;
    private volatile bool _stop;

    public SemRoundTrip()
    {
        _thread = new Thread(() =>
        {
            while (true)
            {
                _request.Wait();
                if (_stop)
                {
                    return;
                }

                lock (_queue)
                {
                    _queue.Dequeue();
                }

                _reply.Release();
            }
        })
        { IsBackground = true };
        _thread.Start();
    }

    public void RoundTrip()
    {
        lock (_queue)
        {
            _queue.Enqueue(1);
        }

        _request.Release();
        _reply.Wait();
    }

    public void Dispose()
    {
        _stop = true;
        _request.Release();
        _thread.Join();
    }
}

/// <summary>ivts-roundtrip: awaiting a pooled ManualResetValueTaskSourceCore completed by a dedicated thread.</summary>
internal sealed class IvtsRoundTrip : IValueTaskSource, IDisposable
{
    private readonly SemaphoreSlim _request = new(0);
    private readonly Thread _thread;
    private ManualResetValueTaskSourceCore<bool> _core;
    private volatile bool _stop;

    public IvtsRoundTrip()
    {
        _core.RunContinuationsAsynchronously = false;
        _thread = new Thread(() =>
        {
            while (true)
            {
                _request.Wait();
                if (_stop)
                {
                    return;
                }

                _core.SetResult(true);
            }
        })
        { IsBackground = true };
        _thread.Start();
    }

    public async ValueTask RoundTripAsync()
    {
        _core.Reset();
        var task = new ValueTask(this, _core.Version);
        _request.Release();
        await task.ConfigureAwait(false);
    }

    public void GetResult(short token) => _core.GetResult(token);

    public ValueTaskSourceStatus GetStatus(short token) => _core.GetStatus(token);

    public void OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags)
        => _core.OnCompleted(continuation, state, token, flags);

    public void Dispose()
    {
        _stop = true;
        _request.Release();
        _thread.Join();
    }
}

/// <summary>channel-oneway: one producer thread writes to an unbounded Channel, one consumer reads.</summary>
internal static class ChannelOneWay
{
    public static async Task RunAsync(int items)
    {
        Channel<int> channel = Channel.CreateUnbounded<int>(new UnboundedChannelOptions { SingleReader = true, SingleWriter = true });
        var producer = new Thread(() =>
        {
            for (int i = 0; i < items; i++)
            {
                channel.Writer.TryWrite(i);
            }

            channel.Writer.Complete();
        })
        { IsBackground = true };
        producer.Start();
        int count = 0;
        while (await channel.Reader.WaitToReadAsync().ConfigureAwait(false))
        {
            while (channel.Reader.TryRead(out _))
            {
                count++;
            }
        }

        producer.Join();
        if (count != items)
        {
            throw new InvalidOperationException("lost items");
        }
    }
}
