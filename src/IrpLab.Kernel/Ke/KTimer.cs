namespace IrpLab;

/// <summary>
/// KTIMER: a dispatcher object (type 8 notification / 9 synchronization) that becomes signaled when it expires.
/// KeSetTimer(Ex) makes it non-signaled and puts it in the machine's timer queue; at expiry it is signaled (a
/// notification timer releases every waiter and stays signaled; a synchronization timer releases one waiter and
/// resets), its DPC (if any) is queued, and a periodic timer is queued again. State guarded by the dispatcher lock.
/// </summary>
public sealed class KTimer : DispatcherObject
{
    public KTimer()
    {
        DispatcherType = DispatcherObjectType.TimerNotificationObject;
        Entry = new KTimerEntry(this);
    }

    /// <summary>NotificationTimer or SynchronizationTimer.</summary>
    public TimerType TimerType => DispatcherType == DispatcherObjectType.TimerSynchronizationObject
        ? TimerType.SynchronizationTimer
        : TimerType.NotificationTimer;

    /// <summary>Whether the timer is in the timer queue (set and not yet expired or cancelled).</summary>
    public bool IsQueued => Volatile.Read(ref Entry.Armed);

    /// <summary>The period in milliseconds (0 = one-shot).</summary>
    public int Period { get; private set; }

    /// <summary>The DPC queued at each expiry, or null.</summary>
    public KDpc? Dpc { get; private set; }

    /// <summary>The expiry, in interrupt time (100 ns since boot), while queued.</summary>
    public long DueTime => Entry.DueTime;

    internal KTimerEntry Entry { get; }

    internal string? OwnerDriver;

    /// <summary>The processor that set the timer: its DPC is queued there unless the DPC has a target.</summary>
    internal int Processor;

    internal KTimer? NextQueued;

    internal KTimer? PreviousQueued;

    internal bool InQueuedList;

    internal override ObjectType Type => ObjectType.Timer;

    internal void Initialize(TimerType type)
    {
        DispatcherType = type == TimerType.SynchronizationTimer
            ? DispatcherObjectType.TimerSynchronizationObject
            : DispatcherObjectType.TimerNotificationObject;
        SignalState = 0;
        Period = 0;
        Dpc = null;
        WaitListHead = null;
        WaitListTail = null;
    }

    /// <summary>Records what KeSetTimerEx asked for (dispatcher lock held).</summary>
    internal void Configure(TimerManager manager, int period, KDpc? dpc, int processor)
    {
        Entry.Manager = manager;
        SignalState = 0;
        Period = period;
        Dpc = dpc;
        Processor = processor;
    }

    internal override void OnWaitSatisfied(KThread thread)
    {
        if (DispatcherType == DispatcherObjectType.TimerSynchronizationObject)
        {
            SignalState = 0;
        }
    }
}

/// <summary>A KTIMER's place in the machine's timer queue.</summary>
internal sealed class KTimerEntry : TimerEntry
{
    private readonly KTimer _timer;

    public KTimerEntry(KTimer timer)
    {
        _timer = timer;
    }

    /// <summary>The machine whose timer queue the timer was last put in.</summary>
    internal TimerManager? Manager;

    internal override void Expire(KernelDispatcher dispatcher) => Manager?.Expire(_timer);

    internal override string Describe() => "timer";
}
