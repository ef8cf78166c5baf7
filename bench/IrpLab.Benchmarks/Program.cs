using BenchmarkDotNet.Running;
using IrpLab.Benchmarks;

if (args.Length > 0 && args[0] == "t9-steps")
{
    // The number of scheduling points in one T9 run, to turn BenchmarkDotNet's time per run into points per second.
    Console.WriteLine($"scheduling points per T9 run: {T9Deterministic.RunPingPong(1)}");
    return 0;
}

if (args.Length > 1 && args[0] == "probe")
{
    // probe t4 | t5 | t7: time and bytes (all threads) per operation, and the types allocated on the way.
    ProbeAsync.Run(args[1]);
    return 0;
}

if (args.Length > 0 && args[0] == "probe")
{
    // A quick look at the T1 path between BenchmarkDotNet runs: bytes allocated and time per operation.
    var t1 = new T1SyncIoctl();
    t1.Setup();
    for (int i = 0; i < 100_000; i++)
    {
        t1.ModelSyncIoctl();
    }

    const int N = 1_000_000;
    long before = GC.GetAllocatedBytesForCurrentThread();
    long start = System.Diagnostics.Stopwatch.GetTimestamp();
    for (int i = 0; i < N; i++)
    {
        t1.ModelSyncIoctl();
    }

    double ns = System.Diagnostics.Stopwatch.GetElapsedTime(start).TotalNanoseconds / N;
    long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
    Console.WriteLine($"T1 model: {ns:F0} ns/op, {(double)allocated / N:F2} B/op");
    using (var probe = new AllocationProbe())
    {
        Measure("NtDeviceIoControlFile", () => t1.NativeIoctl());
        foreach (var pair in probe.Types)
        {
            Console.WriteLine($"  allocates {pair.Key} ({pair.Value} ticks)");
        }
    }

    Measure("NtWaitForSingleObject(event, 0)", () => t1.NativeWait());
    Measure("NtSetEvent", () => t1.NativeSetEvent());
    t1.Cleanup();
    return 0;
}

static void Measure(string name, Action op)
{
    for (int i = 0; i < 100_000; i++)
    {
        op();
    }

    const int N = 1_000_000;
    long before = GC.GetAllocatedBytesForCurrentThread();
    long start = System.Diagnostics.Stopwatch.GetTimestamp();
    for (int i = 0; i < N; i++)
    {
        op();
    }

    double ns = System.Diagnostics.Stopwatch.GetElapsedTime(start).TotalNanoseconds / N;
    long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
    Console.WriteLine($"{name}: {ns:F0} ns/op, {(double)allocated / N:F2} B/op");
}

BenchmarkSwitcher.FromAssembly(typeof(T1SyncIoctl).Assembly).Run(args);
return 0;
