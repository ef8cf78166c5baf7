using BenchmarkDotNet.Attributes;
using static IrpLab.Kernel32;

namespace IrpLab.Benchmarks;

/// <summary>The simulated machine the I/O benchmarks run against (real mode, verifier off, this thread attached as an app).</summary>
internal sealed class BenchMachine : IDisposable
{
    private readonly Machine _machine;
    private readonly IDisposable _attached;
    private readonly List<Handle> _extra = [];

    public BenchMachine()
    {
        _machine = new Machine(new MachineOptions { Deterministic = false, Verifier = false, Processors = 2 });
        NtStatus status = _machine.LoadDriver("Bench", BenchDriver.DriverEntry);
        if (status != NtStatus.STATUS_SUCCESS)
        {
            throw new InvalidOperationException("DriverEntry failed: " + status);
        }

        _attached = _machine.AttachThread("bench");
        Synchronous = CreateFile(@"\\.\Bench", GENERIC_READ | GENERIC_WRITE, 0, null, OPEN_EXISTING, 0, NULL);
        if (Synchronous == INVALID_HANDLE_VALUE)
        {
            throw new InvalidOperationException("CreateFile failed: " + GetLastError());
        }
    }

    public Handle Synchronous { get; }

    /// <summary>Opens another handle to the device, for overlapped I/O (closed with the machine).</summary>
    public Handle OpenOverlapped()
    {
        Handle h = CreateFile(@"\\.\Bench", GENERIC_READ | GENERIC_WRITE, 0, null, OPEN_EXISTING, FILE_FLAG_OVERLAPPED, NULL);
        if (h == INVALID_HANDLE_VALUE)
        {
            throw new InvalidOperationException("CreateFile failed: " + GetLastError());
        }

        _extra.Add(h);
        return h;
    }

    public void Dispose()
    {
        foreach (Handle h in _extra)
        {
            CloseHandle(h);
        }

        CloseHandle(Synchronous);
        _attached.Dispose();
        _machine.UnloadDriver("Bench");
        _machine.Dispose();
    }
}

/// <summary>T1: a synchronous IOCTL completed inside dispatch (budget: 0 B/op; ≤ 4× proto-ioctl and ≤ 1× getppid).</summary>
[MemoryDiagnoser]
public class T1SyncIoctl
{
    private readonly byte[] _in = new byte[16];
    private readonly byte[] _out = new byte[16];
    private BenchMachine? _bench;

    [GlobalSetup]
    public void Setup() => _bench = new BenchMachine();

    [GlobalCleanup]
    public void Cleanup() => _bench?.Dispose();

    [Benchmark(Baseline = true, Description = "proto-ioctl")]
    public int ProtoIoctl() => Baselines.ProtoIoctl();

    [Benchmark(Description = "getppid")]
    public int Getppid() => Baselines.Getppid();

    private readonly IoStatusBlock _iosb = new();
    private Handle _event;

    internal uint NativeIoctl()
    {
        Ntdll.NtDeviceIoControlFile(_bench!.Synchronous, default, null, null, _iosb, BenchDriver.IOCTL_ECHO, _in, 16, _out, 16);
        return (uint)_iosb.Information;
    }

    internal NtStatus NativeWait()
    {
        if (_event.IsNull)
        {
            _event = CreateEvent(null, TRUE, TRUE, null);
        }

        return Ntdll.NtWaitForSingleObject(_event, false, 0);
    }

    internal NtStatus NativeSetEvent()
    {
        if (_event.IsNull)
        {
            _event = CreateEvent(null, TRUE, TRUE, null);
        }

        return Ntdll.NtSetEvent(_event, out _);
    }

    [Benchmark(Description = "T1 model sync IOCTL")]
    public uint ModelSyncIoctl()
    {
        uint bytes = 0;
        DeviceIoControl(_bench!.Synchronous, BenchDriver.IOCTL_ECHO, _in, 16, _out, 16, ref bytes, null);
        return bytes;
    }
}

/// <summary>T2: a synchronous-handle IOCTL pended and completed by a driver's system thread (budget: ≤ 1.5× mres-roundtrip).</summary>
[MemoryDiagnoser]
public class T2PendedIoctl
{
    private readonly byte[] _in = new byte[16];
    private readonly byte[] _out = new byte[16];
    private BenchMachine? _bench;
    private MresRoundTrip? _mres;

    [GlobalSetup]
    public void Setup()
    {
        _bench = new BenchMachine();
        _mres = new MresRoundTrip();
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _mres?.Dispose();
        _bench?.Dispose();
    }

    [Benchmark(Baseline = true, Description = "mres-roundtrip")]
    public void Mres() => _mres!.RoundTrip();

    [Benchmark(Description = "T2 model pended IOCTL")]
    public uint ModelPendedIoctl()
    {
        uint bytes = 0;
        DeviceIoControl(_bench!.Synchronous, BenchDriver.IOCTL_PENDED, _in, 16, _out, 16, ref bytes, null);
        return bytes;
    }
}

/// <summary>T3: an overlapped IOCTL awaited through the .NET layer, pended, one outstanding (budget: ≤ 1.5× ivts-roundtrip; ≤ 1 B/op).</summary>
[MemoryDiagnoser]
public class T3AsyncIoctl
{
    private readonly byte[] _in = new byte[16];
    private readonly byte[] _out = new byte[16];
    private BenchMachine? _bench;
    private IrpLab.Async.AsyncDevice? _device;
    private IvtsRoundTrip? _ivts;

    [GlobalSetup]
    public void Setup()
    {
        _bench = new BenchMachine();
        _device = IrpLab.Async.AsyncDevice.Open(@"\\.\Bench");
        _ivts = new IvtsRoundTrip();
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _ivts?.Dispose();
        _device?.Dispose();
        _bench?.Dispose();
    }

    [Benchmark(Baseline = true, Description = "ivts-roundtrip")]
    public ValueTask Ivts() => _ivts!.RoundTripAsync();

    [Benchmark(Description = "T3 model awaited IOCTL")]
    public ValueTask<int> ModelAwaitedIoctl() => _device!.DeviceIoControlAsync(BenchDriver.IOCTL_PENDED, _in, _out);
}
