namespace IrpLab;

/// <summary>
/// The machine's structured event stream. Every event is numbered in one sequence; a bounded ring keeps the
/// recent past for crash analysis; sinks receive events as they happen. Recording is cheap when nothing listens:
/// callers on hot paths check <see cref="IsEnabled"/> first so that no text is formatted.
/// </summary>
public sealed class Trace
{
    private readonly Machine _machine;
    private readonly Lock _lock = new();
    private readonly TraceEvent[] _ring;
    private readonly List<Action<TraceEvent>> _sinks = [];
    private readonly List<TraceEvent>? _all;
    private long _sequence;
    private int _ringNext;
    private int _ringCount;
    private TraceLevel _level;

    internal Trace(Machine machine, int ringCapacity, bool captureAll, TraceLevel level)
    {
        _machine = machine;
        _ring = new TraceEvent[Math.Max(16, ringCapacity)];
        _all = captureAll ? [] : null;
        _level = level;
    }

    /// <summary>Which kinds are recorded. Prints, bug checks and deadlocks are always recorded.</summary>
    public TraceLevel Level
    {
        get => _level;
        set => _level = value;
    }

    /// <summary>Every event since boot, when the machine was created with <c>CaptureTrace</c>.</summary>
    public IReadOnlyList<TraceEvent> Events
    {
        get
        {
            lock (_lock)
            {
                return _all is null ? [] : _all.ToArray();
            }
        }
    }

    /// <summary>Number of events recorded since boot.</summary>
    public long Count => Volatile.Read(ref _sequence);

    public bool IsEnabled(TraceEventKind kind) => kind switch
    {
        TraceEventKind.DebugPrint or TraceEventKind.ConsoleOutput or TraceEventKind.BugCheck
            or TraceEventKind.Deadlock or TraceEventKind.VerifierWarning => true,
        _ => _level == TraceLevel.Verbose,
    };

    /// <summary>Adds a sink that sees each event as it is recorded (on the recording thread).</summary>
    public void Subscribe(Action<TraceEvent> sink)
    {
        ArgumentNullException.ThrowIfNull(sink);
        lock (_lock)
        {
            _sinks.Add(sink);
        }
    }

    /// <summary>The most recent events, oldest first.</summary>
    public IReadOnlyList<TraceEvent> Recent(int max)
    {
        lock (_lock)
        {
            int n = Math.Min(max, _ringCount);
            var result = new TraceEvent[n];
            for (int i = 0; i < n; i++)
            {
                int index = (_ringNext - n + i + _ring.Length) % _ring.Length;
                result[i] = _ring[index];
            }

            return result;
        }
    }

    /// <summary>All events as DebugView lines (prints and console output only).</summary>
    public string ToDebugViewText()
    {
        var b = new System.Text.StringBuilder();
        foreach (TraceEvent e in Events)
        {
            if (e.Kind is TraceEventKind.DebugPrint or TraceEventKind.ConsoleOutput)
            {
                b.AppendLine(e.ToDebugViewString());
            }
        }

        return b.ToString();
    }

    internal void Record(TraceEventKind kind, string text)
    {
        KThread? thread = KThread.CurrentOrNull;
        int processor = thread?.Processor ?? 0;
        int threadId = thread?.Id ?? 0;
        byte irql = thread?.Irql ?? 0;
        long time = _machine.Clock.InterruptTime;
        Action<TraceEvent>[]? sinks = null;
        TraceEvent e;
        lock (_lock)
        {
            e = new TraceEvent(++_sequence, time, processor, threadId, irql, kind, text);
            _ring[_ringNext] = e;
            _ringNext = (_ringNext + 1) % _ring.Length;
            if (_ringCount < _ring.Length)
            {
                _ringCount++;
            }

            _all?.Add(e);
            if (_sinks.Count > 0)
            {
                sinks = [.. _sinks];
            }
        }

        // Sinks run after the lock is released: never call out while holding a lock.
        if (sinks is not null)
        {
            foreach (Action<TraceEvent> sink in sinks)
            {
                sink(e);
            }
        }
    }
}

/// <summary>How much the trace records.</summary>
public enum TraceLevel
{
    /// <summary>Prints, console output, bug checks, deadlocks and verifier warnings.</summary>
    Normal = 0,

    /// <summary>Also threads, waits, IRPs, DPCs, timers and APCs.</summary>
    Verbose = 1,
}
