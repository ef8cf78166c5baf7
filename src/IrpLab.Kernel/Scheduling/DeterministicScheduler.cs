using System.Text;

namespace IrpLab.Scheduling;

/// <summary>
/// One simulated thread runs at a time. At every scheduling point the strategy picks the next thread among the
/// enabled ones (in ascending id order, so a decision sequence means the same thing on every run). When no
/// thread can run, virtual time jumps to the next timer; when no timer is armed either, that is a deadlock.
/// A thread at DISPATCH_LEVEL or above keeps its processor, so with one processor nothing preempts it.
/// With <see cref="ExploreTimeouts"/> the strategy may also fire the next timer early, at any scheduling point
/// where a timer is armed, so that a wait can lose the race against its own timeout.
/// </summary>
internal sealed class DeterministicScheduler : Scheduler
{
    private readonly ISchedulingStrategy _strategy;
    private readonly VirtualClock _clock;
    private readonly List<KThread> _ready = [];
    private readonly ThreadGate _hostGate = new();
    private readonly List<TimerEntry> _dueTimers = [];
    private readonly KThread?[] _processorHolders;

    /// <summary>Started threads that have not run yet: their carrier is taken from the pool when first resumed.</summary>
    private readonly HashSet<KThread> _awaitingCarrier = [];
    private int[] _candidateIds = new int[16];
    private KThread[] _candidates = new KThread[16];
    private KThread? _running;
    private KThread? _hostTarget;
    private bool _deadlocked;

    public DeterministicScheduler(Machine machine, VirtualClock clock, ISchedulingStrategy strategy, int processors)
        : base(machine)
    {
        _clock = clock;
        _strategy = strategy;
        _processorHolders = new KThread?[processors];
    }

    public override bool IsDeterministic => true;

    public ISchedulingStrategy Strategy => _strategy;

    /// <summary>Optional bound on steps per machine; reaching it stops the machine as a livelock.</summary>
    public long MaxSteps { get; set; } = long.MaxValue;

    /// <summary>
    /// Off (the default): virtual time moves only when no thread can run, so a wait never times out while the
    /// thread that would satisfy it can still run. On: at every scheduling point where a timer is armed the
    /// strategy sees one more candidate, <see cref="SchedulingCandidate.AdvanceTime"/>, after the threads; choosing
    /// it jumps virtual time to the next due timer and expires it (the timer interrupt came first), then the
    /// strategy chooses among the threads. Off leaves every decision and every trace exactly as before.
    /// </summary>
    public bool ExploreTimeouts { get; set; }

    public override void Start(KThread thread)
    {
        // No carrier yet: a carrier started now would only park until the thread is first chosen, costing one more
        // OS wake-up per thread. Resume gives it one.
        thread.State = KThreadState.Ready;
        InsertReady(thread);
        _awaitingCarrier.Add(thread);
    }

    public override void OnCarrierStart(KThread thread)
    {
        // Nothing runs until the scheduler picks it.
        thread.Gate.Wait();
        AfterResume(thread);
    }

    public override void Yield(KThread current, SchedulingPointKind kind)
    {
        if (current.Unwinding)
        {
            return;
        }

        Steps++;
        if (Steps > MaxSteps)
        {
            Machine.ReportLivelock(Steps);
            throw new MachineHaltedException();
        }

        bool offerTimer = ExploreTimeouts && HasArmedTimer();
        if (_ready.Count == 0 && !offerTimer)
        {
            return;
        }

        int count = CollectCandidates(current);
        KThread? next;
        if (offerTimer)
        {
            next = ChooseWithTimer(count, current.Id, kind);
            if (next is null)
            {
                // The timer interrupt came first; the threads it readied compete with the running one.
                FireNextTimers();
                count = CollectCandidates(current);
                if (count <= 1)
                {
                    return;
                }

                next = Choose(count, current.Id, kind);
            }
        }
        else
        {
            if (count <= 1)
            {
                return;
            }

            next = Choose(count, current.Id, kind);
        }

        if (next == current)
        {
            return;
        }

        RemoveReady(next);
        current.State = KThreadState.Ready;
        InsertReady(current);
        SwitchTo(current, next);
    }

    public override void Block(KThread current)
    {
        Steps++;
        KThread? next = PickNext(SchedulingPointKind.Block);
        if (next == current)
        {
            return;
        }

        if (next is null)
        {
            // Deadlock (or the machine stopped): give control back to the host and park for good.
            _running = null;
            _hostGate.Release();
            current.Gate.Wait();
            AfterResume(current);
            return;
        }

        SwitchTo(current, next);
    }

    public override void Ready(KThread thread)
    {
        // Dispatcher lock held. Only one simulated thread runs, so the list needs no lock of its own.
        thread.State = KThreadState.Ready;
        InsertReady(thread);
    }

    public override void TimerArmed(long dueTime)
    {
    }

    public override void Exited(KThread thread)
    {
        // The carrier may go back to a pool rather than end: this is what tells the host the thread is gone
        // (and lets the machine forget it).
        thread.HostExited.Set();
        RemoveReady(thread);
        ReleaseProcessor(thread);
        if (thread == _hostTarget || Machine.IsHalted || thread.Unwinding)
        {
            if (thread == _hostTarget)
            {
                _hostTarget = null;
            }

            _running = null;
            _hostGate.Release();
            return;
        }

        Steps++;
        KThread? next = PickNext(SchedulingPointKind.ThreadExit);
        if (next is null)
        {
            _running = null;
            _hostGate.Release();
            return;
        }

        Resume(next);
    }

    public override void RunUntilExit(KThread thread)
    {
        _hostTarget = thread;
        if (_deadlocked || Machine.IsHalted)
        {
            return;
        }

        KThread? next = PickNext(SchedulingPointKind.HostStart);
        if (next is null)
        {
            return;
        }

        Resume(next);
        _hostGate.Wait();
        _hostTarget = null;
    }

    public override void UnwindAll(IReadOnlyList<KThread> threads)
    {
        foreach (KThread t in threads)
        {
            if (t.State == KThreadState.Terminated || (t.OsThread is null && !_awaitingCarrier.Contains(t)))
            {
                continue;
            }

            // A thread that never ran is unwound like the others, on a carrier of its own, so its exit path runs.
            t.Unwinding = true;
            _running = t;
            t.Gate.Release();
            if (_awaitingCarrier.Remove(t))
            {
                StartCarrier(t);
            }

            _hostGate.Wait();
        }

        _ready.Clear();
    }

    public override int ChooseInteger(int maxExclusive, SchedulingPointKind kind)
    {
        if (maxExclusive <= 1)
        {
            return 0;
        }

        Choices++;
        return _strategy.NextInteger(maxExclusive, kind);
    }

    /// <summary>Describes every live thread and what it waits on (the deadlock report).</summary>
    internal string DescribeThreads()
    {
        var b = new StringBuilder();
        int idleServices = 0;
        foreach (KThread t in Machine.LiveThreads())
        {
            if (ServiceWakeObject.IsIdle(t))
            {
                // An idle DPC, interrupt or worker thread waits for work, not for another thread.
                idleServices++;
                continue;
            }

            b.Append("  thread ").Append(t.Id).Append(" \"").Append(t.Name).Append("\" (")
                .Append(t.Process.Name).Append("): ");
            b.AppendLine(t.State == KThreadState.Waiting ? "waits on " + t.DescribeWait() : t.State.ToString());
        }

        if (idleServices > 0)
        {
            b.Append("  (").Append(idleServices).Append(idleServices == 1 ? " idle service thread" : " idle service threads")
                .AppendLine(": DPC, interrupt and worker threads with nothing queued)");
        }

        return b.ToString();
    }

    /// <summary>Whether a thread at DISPATCH_LEVEL or above holds <paramref name="processor"/>.</summary>
    internal bool IsProcessorHeld(int processor) => _processorHolders[processor] is not null;

    private void SwitchTo(KThread current, KThread next)
    {
        Switches++;
        Resume(next);
        current.Gate.Wait();
        AfterResume(current);
    }

    private void Resume(KThread next)
    {
        _running = next;
        next.State = KThreadState.Running;
        AssignProcessor(next);
        next.Gate.Release();
        if (_awaitingCarrier.Count > 0 && _awaitingCarrier.Remove(next))
        {
            StartCarrier(next);
        }
    }

    private void AfterResume(KThread thread)
    {
        if (Machine.IsHalted && !thread.Unwinding)
        {
            throw new MachineHaltedException();
        }

        if (thread.Unwinding && thread.State != KThreadState.Terminated)
        {
            throw new MachineHaltedException();
        }
    }

    /// <summary>
    /// Picks the thread to run now that the current one cannot continue. Advances virtual time when nothing can
    /// run. Returns null on deadlock (reported to the machine).
    /// </summary>
    private KThread? PickNext(SchedulingPointKind kind)
    {
        bool timerOffered = false;
        while (true)
        {
            if (Machine.IsHalted)
            {
                return null;
            }

            int count = CollectCandidates(null);
            if (count > 0 && ExploreTimeouts && !timerOffered && HasArmedTimer())
            {
                // A thread can run, but the strategy may let the next timer fire first (offered once per decision).
                timerOffered = true;
                KThread? chosen = ChooseWithTimer(count, _running?.Id ?? 0, kind);
                if (chosen is null)
                {
                    FireNextTimers();
                    continue;
                }

                RemoveReady(chosen);
                return chosen;
            }

            if (count > 0)
            {
                KThread next = count == 1 ? _candidates[0] : Choose(count, _running?.Id ?? 0, kind);
                RemoveReady(next);
                return next;
            }

            if (!FireNextTimers())
            {
                _deadlocked = true;
                Machine.ReportDeadlock(DescribeThreads());
                return null;
            }
        }
    }

    /// <summary>Jumps virtual time to the next due timer and expires every timer due then. False when none is armed.</summary>
    private bool FireNextTimers()
    {
        KernelDispatcher dispatcher = Machine.Dispatcher;
        lock (dispatcher.SyncRoot)
        {
            long? due = dispatcher.Timers.NextDue();
            if (due is null)
            {
                return false;
            }

            _clock.AdvanceTo(due.Value);
            _dueTimers.Clear();
            dispatcher.Timers.TakeDue(due.Value, _dueTimers);

            // Timers that fall due together expire in an order the strategy chooses.
            while (_dueTimers.Count > 0)
            {
                int pick = _dueTimers.Count == 1 ? 0 : ChooseInteger(_dueTimers.Count, SchedulingPointKind.TimerOrder);
                TimerEntry entry = _dueTimers[pick];
                _dueTimers.RemoveAt(pick);
                entry.Expire(dispatcher);
            }
        }

        return true;
    }

    /// <summary>
    /// A decision among <paramref name="count"/> collected threads and, after them, the pseudo-candidate that
    /// advances time. Returns null when the strategy chose to advance time.
    /// </summary>
    private KThread? ChooseWithTimer(int count, int currentId, SchedulingPointKind kind)
    {
        if (_candidateIds.Length < count + 1)
        {
            Array.Resize(ref _candidates, (count + 1) * 2);
            Array.Resize(ref _candidateIds, (count + 1) * 2);
        }

        _candidateIds[count] = SchedulingCandidate.AdvanceTime;
        Choices++;
        int index = _strategy.NextThread(_candidateIds.AsSpan(0, count + 1), currentId, kind);
        if ((uint)index > (uint)count)
        {
            index = 0;
        }

        return index == count ? null : _candidates[index];
    }

    private bool HasArmedTimer()
    {
        lock (Machine.Dispatcher.SyncRoot)
        {
            return Machine.Dispatcher.Timers.ArmedCount > 0;
        }
    }

    private KThread Choose(int count, int currentId, SchedulingPointKind kind)
    {
        Choices++;
        int index = _strategy.NextThread(_candidateIds.AsSpan(0, count), currentId, kind);
        if ((uint)index >= (uint)count)
        {
            index = 0;
        }

        return _candidates[index];
    }

    /// <summary>Fills the candidate arrays with the enabled threads (ready ones plus <paramref name="current"/>), by id.</summary>
    private int CollectCandidates(KThread? current)
    {
        int needed = _ready.Count + 1;
        if (_candidates.Length < needed)
        {
            Array.Resize(ref _candidates, needed * 2);
            Array.Resize(ref _candidateIds, needed * 2);
        }

        int n = 0;
        bool currentAdded = current is null;
        foreach (KThread t in _ready)
        {
            if (!currentAdded && current!.Id < t.Id)
            {
                Add(current, ref n);
                currentAdded = true;
            }

            if (CanRun(t, current))
            {
                Add(t, ref n);
            }
        }

        if (!currentAdded)
        {
            Add(current!, ref n);
        }

        return n;
    }

    private void Add(KThread t, ref int n)
    {
        _candidates[n] = t;
        _candidateIds[n] = t.Id;
        n++;
    }

    /// <summary>
    /// A thread at DISPATCH_LEVEL or above owns its processor and may always continue. A thread below it needs a
    /// processor that no other raised thread holds; the running thread, if below DISPATCH_LEVEL, gives its up.
    /// </summary>
    private bool CanRun(KThread t, KThread? current)
    {
        if (t.Irql >= IrqlLevel.Dispatch)
        {
            return true;
        }

        foreach (KThread? holder in _processorHolders)
        {
            if (holder is null || holder == current && current.Irql < IrqlLevel.Dispatch)
            {
                return true;
            }
        }

        return false;
    }

    private void AssignProcessor(KThread t)
    {
        if (t.Irql >= IrqlLevel.Dispatch)
        {
            return;
        }

        for (int i = 0; i < _processorHolders.Length; i++)
        {
            if (_processorHolders[i] is null)
            {
                t.Processor = i;
                return;
            }
        }
    }

    /// <summary>Called by Ke when the running thread raises to DISPATCH_LEVEL: it now keeps its processor.</summary>
    internal void HoldProcessor(KThread t) => _processorHolders[t.Processor] = t;

    /// <summary>Called by Ke when the thread lowers below DISPATCH_LEVEL.</summary>
    internal void ReleaseProcessor(KThread t)
    {
        if ((uint)t.Processor < (uint)_processorHolders.Length && _processorHolders[t.Processor] == t)
        {
            _processorHolders[t.Processor] = null;
        }
    }

    private void InsertReady(KThread thread)
    {
        int i = _ready.Count;
        while (i > 0 && _ready[i - 1].Id > thread.Id)
        {
            i--;
        }

        if (i > 0 && _ready[i - 1] == thread)
        {
            return;
        }

        _ready.Insert(i, thread);
    }

    private void RemoveReady(KThread thread) => _ready.Remove(thread);
}
