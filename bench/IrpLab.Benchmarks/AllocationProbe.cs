using System.Diagnostics.Tracing;

namespace IrpLab.Benchmarks;

/// <summary>Samples the runtime's allocation ticks to name the types a hot path allocates (probe mode only).</summary>
internal sealed class AllocationProbe : EventListener
{
    private readonly Dictionary<string, int> _types = [];

    public IReadOnlyDictionary<string, int> Types => _types;

    protected override void OnEventSourceCreated(EventSource eventSource)
    {
        if (eventSource.Name == "Microsoft-Windows-DotNETRuntime")
        {
            EnableEvents(eventSource, EventLevel.Verbose, (EventKeywords)0x1);
        }
    }

    protected override void OnEventWritten(EventWrittenEventArgs eventData)
    {
        if (eventData.EventName?.StartsWith("GCAllocationTick", StringComparison.Ordinal) == true && eventData.Payload is { } payload)
        {
            int index = eventData.PayloadNames!.IndexOf("TypeName");
            string name = index >= 0 ? payload[index]?.ToString() ?? "?" : "?";
            lock (_types)
            {
                _types[name] = _types.GetValueOrDefault(name) + 1;
            }
        }
    }
}
