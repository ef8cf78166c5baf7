namespace IrpLab;

public static partial class Wdm
{
    /// <summary>NT_SUCCESS: success or informational.</summary>
    public static bool NT_SUCCESS(NtStatus Status) => NtStatusClass.IsSuccess(Status);

    /// <summary>NT_INFORMATION.</summary>
    public static bool NT_INFORMATION(NtStatus Status) => NtStatusClass.IsInformation(Status);

    /// <summary>NT_WARNING: neither success nor error.</summary>
    public static bool NT_WARNING(NtStatus Status) => NtStatusClass.IsWarning(Status);

    /// <summary>NT_ERROR.</summary>
    public static bool NT_ERROR(NtStatus Status) => NtStatusClass.IsError(Status);

    // The time helpers of the seed (from OSR): KeDelayExecutionThread(KernelMode, FALSE, RELATIVE(SECONDS(5))).

    public static long ABSOLUTE(long wait) => wait;

    public static long RELATIVE(long wait) => -wait;

    public static long NANOSECONDS(long nanos) => nanos / 100L;

    public static long MICROSECONDS(long micros) => micros * NANOSECONDS(1000L);

    public static long MILLISECONDS(long milli) => milli * MICROSECONDS(1000L);

    public static long SECONDS(long seconds) => seconds * MILLISECONDS(1000L);

    /// <summary>RtlInitUnicodeString.</summary>
    public static void RtlInitUnicodeString(out UnicodeString DestinationString, string? SourceString) => DestinationString = new UnicodeString(SourceString);

    /// <summary>DbgPrint with C printf formatting (%d %u %x %s %p ...). The text goes to the machine's trace.</summary>
    public static uint DbgPrint(string Format, params object?[] Arguments)
    {
        KThread t = KThread.Current;
        t.Machine.Trace.Record(TraceEventKind.DebugPrint, PrintfFormatter.Format(Format, Arguments));
        return 0;
    }

    /// <summary>KdPrint(("text")) – the C macro's double parentheses become a tuple.</summary>
    public static void KdPrint(string Format) => DbgPrint(Format);

    /// <summary>KdPrint(("format %d", value)).</summary>
    public static void KdPrint((string Format, object? A) Args) => DbgPrint(Args.Format, Args.A);

    /// <summary>KdPrint(("format %d %d", a, b)).</summary>
    public static void KdPrint((string Format, object? A, object? B) Args) => DbgPrint(Args.Format, Args.A, Args.B);

    /// <summary>KdPrint(("format %d %d %d", a, b, c)).</summary>
    public static void KdPrint((string Format, object? A, object? B, object? C) Args) => DbgPrint(Args.Format, Args.A, Args.B, Args.C);

    /// <summary>KdPrint(("format", a, b, c, d)).</summary>
    public static void KdPrint((string Format, object? A, object? B, object? C, object? D) Args) => DbgPrint(Args.Format, Args.A, Args.B, Args.C, Args.D);
}
