using System.Globalization;
using System.Text;

namespace IrpLab;

/// <summary>
/// What stopped the machine: the stop code, its four parameters, who was running, and the trace leading up to it.
/// </summary>
public sealed class BugCheckInfo
{
    internal BugCheckInfo(uint code, ulong p1, ulong p2, ulong p3, ulong p4, string diagnosis)
    {
        Code = code;
        Parameter1 = p1;
        Parameter2 = p2;
        Parameter3 = p3;
        Parameter4 = p4;
        Diagnosis = diagnosis;
    }

    public uint Code { get; }

    public string Name => BugCheckCatalogue.NameOf(Code);

    public ulong Parameter1 { get; }

    public ulong Parameter2 { get; }

    public ulong Parameter3 { get; }

    public ulong Parameter4 { get; }

    /// <summary>A sentence or two saying what went wrong and how to fix it.</summary>
    public string Diagnosis { get; }

    /// <summary>The driver whose code was running, when known.</summary>
    public string? FaultingDriver { get; internal set; }

    /// <summary>The routine (dispatch, cancel, StartIo, DPC, thread) that was running, when known.</summary>
    public string? FaultingRoutine { get; internal set; }

    /// <summary>The simulated thread that raised it.</summary>
    public string? Thread { get; internal set; }

    public int Processor { get; internal set; }

    public byte Irql { get; internal set; }

    /// <summary>Virtual (or real) time since boot, in 100 ns units.</summary>
    public long Time { get; internal set; }

    /// <summary>The .NET exception behind a 0x1E / 0x7E stop, if any.</summary>
    public Exception? Exception { get; internal set; }

    /// <summary>The most recent trace events, oldest first.</summary>
    public IReadOnlyList<TraceEvent> RecentTrace { get; internal set; } = [];

    public override string ToString()
    {
        var b = new StringBuilder();
        b.Append(CultureInfo.InvariantCulture, $"*** STOP: 0x{Code:X8} ({Parameter1:X}, {Parameter2:X}, {Parameter3:X}, {Parameter4:X})");
        b.AppendLine();
        b.Append(Name);
        return b.ToString();
    }

    /// <summary>A short crash analysis, in the spirit of <c>!analyze -v</c>.</summary>
    public string Analyze()
    {
        BugCheckDefinition? def = BugCheckCatalogue.Find(Code);
        var b = new StringBuilder();
        b.AppendLine("*******************************************************************************");
        b.AppendLine("*                        Bugcheck Analysis                                    *");
        b.AppendLine("*******************************************************************************");
        b.AppendLine();
        b.Append(CultureInfo.InvariantCulture, $"{Name} (0x{Code:X})").AppendLine();
        if (def is not null)
        {
            b.AppendLine(def.Cause);
        }

        b.AppendLine("Arguments:");
        AppendArg(b, 1, Parameter1, def?.Parameter1);
        AppendArg(b, 2, Parameter2, def?.Parameter2);
        AppendArg(b, 3, Parameter3, def?.Parameter3);
        AppendArg(b, 4, Parameter4, def?.Parameter4);
        VerifierDiagnostic? check = VerifierDiagnostics.Find(Code, Parameter1);
        if (check is not null && check.Subcode is not null)
        {
            b.Append("CHECK: ").AppendLine(check.Name);
            b.Append("PARAMETERS: ").AppendLine(check.Parameters);
        }

        b.AppendLine();
        b.Append("DIAGNOSIS: ").AppendLine(Diagnosis);
        if (check is not null)
        {
            b.Append("FIX: ").AppendLine(check.Fix);
        }

        if (FaultingDriver is not null)
        {
            b.Append("DRIVER: ").AppendLine(FaultingDriver);
        }

        if (FaultingRoutine is not null)
        {
            b.Append("ROUTINE: ").AppendLine(FaultingRoutine);
        }

        b.Append(CultureInfo.InvariantCulture, $"THREAD: {Thread}  PROCESSOR: {Processor}  IRQL: {Irql}  TIME: {Time / 1e7:F7}s");
        b.AppendLine();
        if (Exception is not null)
        {
            b.Append("EXCEPTION: ").Append(Exception.GetType().Name).Append(": ").AppendLine(Exception.Message);
        }

        bool header = false;
        foreach (TraceEvent e in RecentTrace)
        {
            // The stop itself is the last event; its text is the diagnosis above.
            if (e.Kind == TraceEventKind.BugCheck)
            {
                continue;
            }

            if (!header)
            {
                header = true;
                b.AppendLine();
                b.AppendLine("RECENT TRACE:");
            }

            b.AppendLine(e.ToString().TrimEnd('\r', '\n'));
        }

        return b.ToString();
    }

    private static void AppendArg(StringBuilder b, int n, ulong value, string? meaning)
        => b.Append(CultureInfo.InvariantCulture, $"Arg{n}: {value:X16}, {meaning}").AppendLine();
}

/// <summary>Thrown by the hosting API when the simulated machine has stopped with a bug check.</summary>
public sealed class BugCheckException : Exception
{
    public BugCheckException(BugCheckInfo bugCheck)
        : base($"The simulated machine stopped: {bugCheck.Name} (0x{bugCheck.Code:X}). {bugCheck.Diagnosis}")
    {
        BugCheck = bugCheck;
    }

    public BugCheckException()
        : base("The simulated machine stopped.")
    {
        BugCheck = new BugCheckInfo(0, 0, 0, 0, 0, string.Empty);
    }

    public BugCheckException(string message)
        : base(message)
    {
        BugCheck = new BugCheckInfo(0, 0, 0, 0, 0, message);
    }

    public BugCheckException(string message, Exception innerException)
        : base(message, innerException)
    {
        BugCheck = new BugCheckInfo(0, 0, 0, 0, 0, message);
    }

    public BugCheckInfo BugCheck { get; }
}

/// <summary>
/// Thrown by the hosting API when, in deterministic mode, every simulated thread waits and no timer is armed.
/// The message names each thread and what it waits on.
/// </summary>
public sealed class DeadlockException : Exception
{
    public DeadlockException()
    {
    }

    public DeadlockException(string message)
        : base(message)
    {
    }

    public DeadlockException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}

/// <summary>
/// Thrown inside simulated threads to unwind them when the machine stops. Never seen by the host.
/// </summary>
internal sealed class MachineHaltedException : Exception
{
    public MachineHaltedException()
        : base("The simulated machine has stopped; this thread is being unwound.")
    {
    }
}

/// <summary>An NTSTATUS raised as an exception (ExRaiseStatus): kernel code that does not catch it bug-checks.</summary>
public sealed class NtStatusException : Exception
{
    public NtStatusException(NtStatus status)
        : base("Raised " + NtStatusClass.Format(status))
    {
        Status = status;
    }

    public NtStatusException()
        : this(NtStatus.STATUS_UNSUCCESSFUL)
    {
    }

    public NtStatusException(string message)
        : base(message)
    {
        Status = NtStatus.STATUS_UNSUCCESSFUL;
    }

    public NtStatusException(string message, Exception innerException)
        : base(message, innerException)
    {
        Status = NtStatus.STATUS_UNSUCCESSFUL;
    }

    public NtStatus Status { get; }
}
