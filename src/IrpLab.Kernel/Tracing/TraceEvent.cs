using System.Globalization;

namespace IrpLab;

/// <summary>What a trace event records. Values are stable and append-only.</summary>
public enum TraceEventKind
{
    Invalid = 0,

    /// <summary>DbgPrint / KdPrint from driver code.</summary>
    DebugPrint = 1,

    /// <summary>Console output from an application.</summary>
    ConsoleOutput = 2,

    ThreadCreated = 3,
    ThreadExited = 4,
    ProcessCreated = 5,
    ProcessExited = 6,
    DriverLoaded = 7,
    DriverUnloaded = 8,
    WaitBegin = 9,
    WaitEnd = 10,
    BugCheck = 11,
    Deadlock = 12,
    IrpAllocated = 13,
    IrpDispatched = 14,
    IrpPended = 15,
    IrpCompleted = 16,
    IrpCancelled = 17,
    CancelRoutineSet = 18,
    IrpFreed = 19,
    DpcQueued = 20,
    DpcExecuted = 21,
    TimerExpired = 22,
    ApcQueued = 23,
    ApcDelivered = 24,
    VerifierWarning = 25,
    CompletionPacket = 26,
}

/// <summary>
/// One event of the machine's trace: when (time since boot, 100 ns units), where (processor, thread, IRQL), what.
/// </summary>
public readonly struct TraceEvent
{
    internal TraceEvent(long sequence, long time, int processor, int threadId, byte irql, TraceEventKind kind, string text)
    {
        Sequence = sequence;
        Time = time;
        Processor = processor;
        ThreadId = threadId;
        Irql = irql;
        Kind = kind;
        Text = text;
    }

    public long Sequence { get; }

    /// <summary>Time since boot in 100 ns units (virtual in deterministic mode).</summary>
    public long Time { get; }

    public int Processor { get; }

    public int ThreadId { get; }

    public byte Irql { get; }

    public TraceEventKind Kind { get; }

    public string Text { get; }

    public double Seconds => Time / 10_000_000.0;

    /// <summary>The full structured form: sequence, seconds, processor, thread, IRQL, kind, text.</summary>
    public override string ToString()
        => string.Create(CultureInfo.InvariantCulture, $"{Sequence:D8} {Seconds,14:F7} cpu{Processor} t{ThreadId,-4} irql{Irql} {Kind,-16} {Text}");

    /// <summary>The DebugView form of the seeds: sequence number, seconds since boot, text.</summary>
    public string ToDebugViewString()
    {
        string text = Text.TrimEnd('\n', '\r');
        return string.Create(CultureInfo.InvariantCulture, $"{Sequence:D8}\t{Seconds:F8}\t{text}");
    }
}
