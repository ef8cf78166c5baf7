using BenchmarkDotNet.Attributes;
using static IrpLab.Kernel32;

namespace IrpLab.Benchmarks;

/// <summary>
/// T4: completion port throughput (budget: ≥ 0.5× channel-oneway packets/s, ≥ 1× with GetQueuedCompletionStatusEx
/// batches; ≤ 1 B/packet). Before each invocation <see cref="Packets"/> overlapped IOCTLs on a port-associated handle
/// are issued and held by the driver (not measured). The measured operation releases them to the driver's system
/// thread, which completes them one by one while this thread dequeues the packets; the figures are per packet.
/// Over a run the driver thread completes well over 10⁶ IRPs.
/// </summary>
[MemoryDiagnoser]
[InvocationCount(1, 1)]
public class T4CompletionPort
{
    public const int Packets = 1 << 16;
    private const int Batch = 64;

    private readonly byte[] _in = new byte[16];
    private readonly byte[] _out = new byte[16];
    private readonly OverlappedEntry[] _entries = new OverlappedEntry[Batch];
    private BenchMachine? _bench;
    private Handle _device;
    private Handle _port;
    private OVERLAPPED[] _overlapped = [];

    [GlobalSetup(Targets = [nameof(ModelGetQueuedCompletionStatus), nameof(ModelGetQueuedCompletionStatusEx)])]
    public void Setup()
    {
        _bench = new BenchMachine();
        _device = _bench.OpenOverlapped();
        _port = CreateIoCompletionPort(_device, NULL, 1, 1);
        _overlapped = new OVERLAPPED[Packets];
        for (int i = 0; i < Packets; i++)
        {
            _overlapped[i] = new OVERLAPPED();
        }
    }

    [GlobalCleanup(Targets = [nameof(ModelGetQueuedCompletionStatus), nameof(ModelGetQueuedCompletionStatusEx)])]
    public void Cleanup()
    {
        CloseHandle(_port);
        _bench?.Dispose();
    }

    /// <summary>Issues the requests the next invocation will see completed (held by the driver until released).</summary>
    [IterationSetup(Targets = [nameof(ModelGetQueuedCompletionStatus), nameof(ModelGetQueuedCompletionStatusEx)])]
    public void Issue()
    {
        foreach (OVERLAPPED ov in _overlapped)
        {
            if (DeviceIoControl(_device, BenchDriver.IOCTL_HOLD, _in, 16, _out, 16, ov) || GetLastError() != ERROR_IO_PENDING)
            {
                throw new InvalidOperationException("IOCTL_HOLD did not pend");
            }
        }
    }

    [Benchmark(Baseline = true, OperationsPerInvoke = Packets, Description = "channel-oneway")]
    public void ChannelOneway() => ChannelOneWay.RunAsync(Packets).GetAwaiter().GetResult();

    [Benchmark(OperationsPerInvoke = Packets, Description = "T4 model GetQueuedCompletionStatus")]
    public int ModelGetQueuedCompletionStatus()
    {
        Release();
        int received = 0;
        for (int i = 0; i < Packets; i++)
        {
            if (GetQueuedCompletionStatus(_port, out uint bytes, out _, out OVERLAPPED? ov, INFINITE) && ov is not null && bytes == 16)
            {
                received++;
            }
        }

        return Check(received);
    }

    [Benchmark(OperationsPerInvoke = Packets, Description = "T4 model GetQueuedCompletionStatusEx x64")]
    public int ModelGetQueuedCompletionStatusEx()
    {
        Release();
        int received = 0;
        while (received < Packets)
        {
            if (!GetQueuedCompletionStatusEx(_port, _entries, Batch, out uint removed, INFINITE, FALSE))
            {
                throw new InvalidOperationException("GetQueuedCompletionStatusEx failed: " + GetLastError());
            }

            received += (int)removed;
        }

        return Check(received);
    }

    private void Release()
    {
        uint bytes = 0;
        if (!DeviceIoControl(_bench!.Synchronous, BenchDriver.IOCTL_RELEASE, null, 0, null, 0, ref bytes, null))
        {
            throw new InvalidOperationException("IOCTL_RELEASE failed");
        }
    }

    private static int Check(int received) => received == Packets ? received : throw new InvalidOperationException("lost packets: " + received);
}

/// <summary>
/// T5: a ReadFileEx completion routine delivered in an alertable wait (budget: ≤ 1.5× sem-roundtrip). One operation:
/// ReadFileEx (pended, completed by the driver's system thread), then SleepEx(INFINITE, TRUE) until the routine has run.
/// </summary>
[MemoryDiagnoser]
public class T5ReadFileExApc
{
    private readonly byte[] _buffer = new byte[16];
    private readonly OVERLAPPED _overlapped = new();
    private BenchMachine? _bench;
    private SemRoundTrip? _sem;
    private Handle _device;
    private LPOVERLAPPED_COMPLETION_ROUTINE? _routine;
    private uint _completed;

    [GlobalSetup]
    public void Setup()
    {
        _bench = new BenchMachine();
        _device = _bench.OpenOverlapped();
        _sem = new SemRoundTrip();
        _routine = (error, bytes, ov) => _completed += bytes;
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _sem?.Dispose();
        _bench?.Dispose();
    }

    [Benchmark(Baseline = true, Description = "sem-roundtrip")]
    public void Sem() => _sem!.RoundTrip();

    [Benchmark(Description = "T5 model ReadFileEx + alertable SleepEx")]
    public uint ModelReadFileExApc()
    {
        uint before = _completed;
        if (!ReadFileEx(_device, _buffer, 16, _overlapped, _routine!))
        {
            throw new InvalidOperationException("ReadFileEx failed: " + GetLastError());
        }

        while (_completed == before)
        {
            SleepEx(INFINITE, TRUE);
        }

        return _completed;
    }
}

/// <summary>
/// T7: CancelIoEx of a pended IRP until the caller sees ERROR_OPERATION_ABORTED (budget: ≤ 2× T3). T3 (the .NET
/// layer) does not exist yet; the ratio is reported against mres-roundtrip (and ivts-roundtrip, T3's own baseline).
/// One operation: an overlapped IOCTL that only a cancel can end, CancelIoEx on its OVERLAPPED, GetOverlappedResult.
/// </summary>
[MemoryDiagnoser]
public class T7CancelIoEx
{
    private readonly byte[] _in = new byte[16];
    private readonly byte[] _out = new byte[16];
    private BenchMachine? _bench;
    private MresRoundTrip? _mres;
    private IvtsRoundTrip? _ivts;
    private Handle _device;
    private OVERLAPPED? _overlapped;

    [GlobalSetup]
    public void Setup()
    {
        _bench = new BenchMachine();
        _device = _bench.OpenOverlapped();
        _overlapped = new OVERLAPPED { hEvent = CreateEvent(null, TRUE, FALSE, null) };
        _mres = new MresRoundTrip();
        _ivts = new IvtsRoundTrip();
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _ivts?.Dispose();
        _mres?.Dispose();
        if (_overlapped is not null)
        {
            CloseHandle(_overlapped.hEvent);
        }

        _bench?.Dispose();
    }

    [Benchmark(Baseline = true, Description = "mres-roundtrip")]
    public void Mres() => _mres!.RoundTrip();

    [Benchmark(Description = "ivts-roundtrip")]
    public ValueTask Ivts() => _ivts!.RoundTripAsync();

    [Benchmark(Description = "T7 model CancelIoEx until ERROR_OPERATION_ABORTED")]
    public uint ModelCancelIoEx()
    {
        if (DeviceIoControl(_device, BenchDriver.IOCTL_CANCELABLE, _in, 16, _out, 16, _overlapped) || GetLastError() != ERROR_IO_PENDING)
        {
            throw new InvalidOperationException("IOCTL_CANCELABLE did not pend");
        }

        if (!CancelIoEx(_device, _overlapped))
        {
            throw new InvalidOperationException("CancelIoEx failed: " + GetLastError());
        }

        uint bytes = 0;
        if (GetOverlappedResult(_device, _overlapped!, ref bytes, TRUE) || GetLastError() != ERROR_OPERATION_ABORTED)
        {
            throw new InvalidOperationException("not aborted: " + GetLastError());
        }

        return bytes;
    }
}
