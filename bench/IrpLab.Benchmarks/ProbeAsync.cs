namespace IrpLab.Benchmarks;

/// <summary>
/// A quick look at T4, T5 and T7 between BenchmarkDotNet runs: time and bytes allocated (on every thread) per
/// operation, and the types the allocation sampler saw. Bytes per operation come from GC.GetTotalAllocatedBytes, so
/// they include the driver's system thread.
/// </summary>
internal static class ProbeAsync
{
    public static void Run(string which)
    {
        switch (which)
        {
            case "t4":
            {
                var t4 = new T4CompletionPort();
                t4.Setup();
                Measure("T4 GetQueuedCompletionStatus (per packet)", T4CompletionPort.Packets, 20, t4.Issue, () => t4.ModelGetQueuedCompletionStatus());
                Measure("T4 GetQueuedCompletionStatusEx x64 (per packet)", T4CompletionPort.Packets, 20, t4.Issue, () => t4.ModelGetQueuedCompletionStatusEx());
                Measure("channel-oneway (per item)", T4CompletionPort.Packets, 20, null, t4.ChannelOneway);
                t4.Cleanup();
                break;
            }

            case "t5":
            {
                var t5 = new T5ReadFileExApc();
                t5.Setup();
                Measure("T5 ReadFileEx + alertable SleepEx", 1, 200_000, null, () => t5.ModelReadFileExApc());
                Measure("sem-roundtrip", 1, 200_000, null, t5.Sem);
                t5.Cleanup();
                break;
            }

            case "t7":
            {
                var t7 = new T7CancelIoEx();
                t7.Setup();
                Measure("T7 CancelIoEx until ERROR_OPERATION_ABORTED", 1, 200_000, null, () => t7.ModelCancelIoEx());
                Measure("mres-roundtrip", 1, 200_000, null, t7.Mres);
                t7.Cleanup();
                break;
            }

            default:
                Console.WriteLine("probe t4 | t5 | t7");
                break;
        }
    }

    private static void Measure(string name, int operationsPerInvoke, int invocations, Action? setup, Action op)
    {
        for (int i = 0; i < Math.Max(1, invocations / 10); i++)
        {
            setup?.Invoke();
            op();
        }

        long elapsedTicks = 0;
        long allocated = 0;
        for (int i = 0; i < invocations; i++)
        {
            setup?.Invoke();
            long before = GC.GetTotalAllocatedBytes(precise: true);
            long start = System.Diagnostics.Stopwatch.GetTimestamp();
            op();
            elapsedTicks += System.Diagnostics.Stopwatch.GetTimestamp() - start;
            allocated += GC.GetTotalAllocatedBytes(precise: true) - before;
        }

        double operations = (double)invocations * operationsPerInvoke;
        double ns = elapsedTicks * (1e9 / System.Diagnostics.Stopwatch.Frequency) / operations;
        Console.WriteLine($"{name}: {ns:F0} ns/op, {allocated / operations:F2} B/op");

        // A second pass with the allocation sampler on (it allocates itself, so it stays out of the figures above).
        using var probe = new AllocationProbe();
        for (int i = 0; i < Math.Max(1, invocations / 4); i++)
        {
            setup?.Invoke();
            op();
        }

        foreach (KeyValuePair<string, int> pair in probe.Types)
        {
            // The sampler's own event objects are left out.
            if (!pair.Key.StartsWith("System.Diagnostics.Tracing", StringComparison.Ordinal) && pair.Key is not ("MoreEventInfo" or "System.Object[]" or "System.UInt16" or "System.UInt32" or "System.UInt64"
                or "System.Collections.ObjectModel.ReadOnlyCollection`1[System.Object]"))
            {
                Console.WriteLine($"  allocates {pair.Key} ({pair.Value} ticks)");
            }
        }
    }
}
