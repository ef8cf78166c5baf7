using System.Globalization;

namespace IrpLab.Testing;

/// <summary>Why a run failed.</summary>
public enum FailureKind
{
    None = 0,

    /// <summary>The machine bug-checked (<see cref="BugCheckException"/>).</summary>
    BugCheck = 1,

    /// <summary>Every thread waited and no timer was armed (<see cref="DeadlockException"/>).</summary>
    Deadlock = 2,

    /// <summary>The run reached the step bound: a livelock or a hang (<see cref="StepBoundExceededException"/>).</summary>
    StepBound = 3,

    /// <summary>Any other exception out of the scenario: a failed assertion, an application's unhandled exception.</summary>
    Exception = 4,
}

/// <summary>How one run failed.</summary>
public sealed class RunFailure
{
    internal RunFailure(FailureKind kind, string summary, string description, string signature, string exactSignature)
    {
        Kind = kind;
        Summary = summary;
        Description = description;
        Signature = signature;
        ExactSignature = exactSignature;
    }

    public FailureKind Kind { get; }

    /// <summary>One line: what failed.</summary>
    public string Summary { get; }

    /// <summary>The full story: the crash analysis of a bug check, the deadlock report, the exception.</summary>
    public string Description { get; }

    /// <summary>
    /// What makes two failures "the same bug" for shrinking: the kind plus the bug check code, or the exception type
    /// and message. Thread ids, addresses and times may differ.
    /// </summary>
    public string Signature { get; }

    /// <summary>What an exact replay must reproduce: also the four bug check parameters, or the whole deadlock report.</summary>
    public string ExactSignature { get; }

    /// <summary>The bug check, when <see cref="Kind"/> is <see cref="FailureKind.BugCheck"/> (not kept in schedule files).</summary>
    public BugCheckInfo? BugCheck { get; private init; }

    /// <summary>The exception the scenario threw (not kept in schedule files).</summary>
    public Exception? Exception { get; private init; }

    public override string ToString() => Summary;

    /// <summary>Classifies how a run ended: the scenario's exception if any, else how the machine stopped. Null: it passed.</summary>
    internal static RunFailure? Classify(Exception? error, Machine machine)
    {
        switch (error)
        {
            case BugCheckException bc:
                return FromBugCheck(bc.BugCheck, error);
            case DeadlockException d:
                return FromReport(FailureKind.Deadlock, "deadlock", "deadlock", d.Message, error);
            case StepBoundExceededException s:
                return FromReport(FailureKind.StepBound, "step bound reached (livelock or hang)", "step-bound", s.Message, error);
            case not null:
                string type = error.GetType().FullName ?? error.GetType().Name;
                string firstLine = FirstLine(error.Message);
                return new RunFailure(
                    FailureKind.Exception,
                    type + ": " + firstLine,
                    type + ": " + error.Message,
                    "exception " + type + ": " + error.Message,
                    "exception " + type + ": " + error.Message)
                {
                    Exception = error,
                };
            default:
                break;
        }

        // The scenario may have caught the hosting exception; the machine still knows why it stopped.
        return machine.StopReason switch
        {
            MachineStopReason.BugCheck when machine.BugCheck is not null => FromBugCheck(machine.BugCheck, null),
            MachineStopReason.Deadlock => FromReport(FailureKind.Deadlock, "deadlock", "deadlock", machine.StopReport ?? string.Empty, null),
            MachineStopReason.StepBound => FromReport(FailureKind.StepBound, "step bound reached (livelock or hang)", "step-bound", machine.StopReport ?? string.Empty, null),
            _ => null,
        };
    }

    /// <summary>Rebuilds a failure read from a schedule file.</summary>
    internal static RunFailure FromFile(FailureKind kind, string summary, string description, string signature, string exactSignature)
        => new(kind, summary, description, signature, exactSignature);

    private static RunFailure FromBugCheck(BugCheckInfo info, Exception? error)
    {
        string code = string.Create(CultureInfo.InvariantCulture, $"0x{info.Code:X8}");
        string stop = string.Create(CultureInfo.InvariantCulture,
            $"0x{info.Code:X8} ({info.Parameter1:X}, {info.Parameter2:X}, {info.Parameter3:X}, {info.Parameter4:X})");
        return new RunFailure(
            FailureKind.BugCheck,
            "bug check " + code + " " + info.Name + ": " + FirstLine(info.Diagnosis),
            info.Analyze(),
            "bugcheck " + code,
            "bugcheck " + stop + " " + info.Diagnosis)
        {
            BugCheck = info,
            Exception = error,
        };
    }

    private static RunFailure FromReport(FailureKind kind, string what, string signature, string report, Exception? error)
        => new(kind, what + ": " + FirstLine(report), report, signature, signature + " " + report)
        {
            Exception = error,
        };

    private static string FirstLine(string text)
    {
        int end = text.IndexOfAny(['\r', '\n']);
        return end < 0 ? text : text[..end];
    }
}
