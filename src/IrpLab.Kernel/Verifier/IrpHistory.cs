using System.Globalization;
using System.Text;

namespace IrpLab;

/// <summary>What happened to an IRP (the verifier's IRP log).</summary>
internal enum IrpHistoryKind
{
    Invalid = 0,
    Allocated = 1,
    Dispatched = 2,
    MarkedPending = 3,
    CancelRoutineSet = 4,
    CancelRoutineCleared = 5,
    Cancelled = 6,
    Completed = 7,
    Freed = 8,
    Queued = 9,
}

/// <summary>
/// The life of one IRP while the verifier is on: each step with the thread, IRQL, virtual time and the routine
/// involved, so a bug check can say who did what to the IRP, and when.
/// </summary>
internal sealed class IrpHistory
{
    private const int Capacity = 64;
    private readonly List<Entry> _entries = [];

    public void Add(Machine machine, IrpHistoryKind kind, Delegate? routine, NtStatus status = NtStatus.STATUS_SUCCESS)
    {
        KThread? t = KThread.CurrentOrNull;
        lock (_entries)
        {
            if (_entries.Count >= Capacity)
            {
                _entries.RemoveAt(1);
            }

            _entries.Add(new Entry(kind, t?.Id ?? 0, t?.Name, t?.Irql ?? 0, machine.Clock.InterruptTime, routine?.Method.Name ?? t?.CurrentCallback?.Method.Name, status));
        }
    }

    /// <summary>The history of <paramref name="irp"/> as text (empty without the verifier).</summary>
    public static string Describe(Irp irp)
    {
        IrpHistory? history = irp.History;
        if (history is null)
        {
            return string.Empty;
        }

        var b = new StringBuilder();
        b.AppendLine();
        b.Append("History of ").Append(irp).AppendLine(":");
        lock (history._entries)
        {
            foreach (Entry e in history._entries)
            {
                b.Append(CultureInfo.InvariantCulture, $"  {e.Time / 1e7,12:F7}s  thread {e.ThreadId} \"{e.ThreadName}\"  {IrqlLevel.Name(e.Irql),-15} {e.Kind}");
                if (e.Routine is not null)
                {
                    b.Append(" by ").Append(e.Routine);
                }

                if (e.Kind == IrpHistoryKind.Completed)
                {
                    b.Append(" with ").Append(NtStatusClass.Format(e.Status));
                }

                b.AppendLine();
            }
        }

        return b.ToString();
    }

    private readonly record struct Entry(IrpHistoryKind Kind, int ThreadId, string? ThreadName, byte Irql, long Time, string? Routine, NtStatus Status);
}
