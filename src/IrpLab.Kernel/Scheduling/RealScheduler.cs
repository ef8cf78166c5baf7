namespace IrpLab.Scheduling;

/// <summary>
/// Simulated threads are OS threads that run concurrently in real time. Blocking parks the carrier on its gate;
/// a clock thread expires timers when they fall due.
/// </summary>
internal sealed class RealScheduler : Scheduler
{
    private readonly RealClock _clock;
    private readonly ThreadGate _clockGate = new();
    private readonly Thread _clockThread;
    private readonly List<TimerEntry> _due = [];
    private readonly int _processors;
    private long _clockTarget = long.MaxValue;
    private int _nextProcessor;
    private volatile bool _stopping;

    public RealScheduler(Machine machine, RealClock clock, int processors)
        : base(machine)
    {
        _clock = clock;
        _processors = processors;
        _clockThread = new Thread(ClockMain) { IsBackground = true, Name = "irplab:clock" };
        _clockThread.Start();
    }

    public override bool IsDeterministic => false;

    public override void Start(KThread thread)
    {
        thread.State = KThreadState.Running;
        thread.Processor = Interlocked.Increment(ref _nextProcessor) % _processors;
        StartCarrier(thread);
    }

    public override void OnCarrierStart(KThread thread)
    {
    }

    public override void Yield(KThread current, SchedulingPointKind kind)
    {
        // A statistic only: a plain increment (updates may be lost under contention) keeps this path free of
        // a shared interlocked cache line.
        Steps++;
        if (Machine.IsHalted && !current.Unwinding)
        {
            throw new MachineHaltedException();
        }
    }

    public override void Block(KThread current)
    {
        current.Gate.Wait();
        if (Machine.IsHalted && !current.Unwinding)
        {
            throw new MachineHaltedException();
        }
    }

    public override void Ready(KThread thread)
    {
        thread.State = KThreadState.Running;
        thread.Gate.Release();
    }

    public override void TimerArmed(long dueTime)
    {
        if (dueTime < Volatile.Read(ref _clockTarget))
        {
            _clockGate.Release();
        }
    }

    public override void Exited(KThread thread) => thread.HostExited.Set();

    public override void RunUntilExit(KThread thread) => thread.HostExited.Wait();

    public override void UnwindAll(IReadOnlyList<KThread> threads)
    {
        foreach (KThread t in threads)
        {
            t.Unwinding = true;
            t.Gate.Release();
        }

        foreach (KThread t in threads)
        {
            if (t.OsThread is null)
            {
                // Never started (a hosting call refused by a stopped machine): no carrier will ever signal it.
                continue;
            }

            // A thread spinning in user code without entering the kernel cannot be unwound; give up on it.
            t.HostExited.Wait(TimeSpan.FromSeconds(5));
        }
    }

    public override int ChooseInteger(int maxExclusive, SchedulingPointKind kind)
        => maxExclusive <= 1 ? 0 : Machine.RealRandom.NextInt(maxExclusive);

    public override void Dispose()
    {
        _stopping = true;
        _clockGate.Release();
        _clockThread.Join(TimeSpan.FromSeconds(5));
    }

    private void ClockMain()
    {
        KernelDispatcher dispatcher = Machine.Dispatcher;
        while (!_stopping)
        {
            long? next;
            lock (dispatcher.SyncRoot)
            {
                long now = _clock.InterruptTime;
                _due.Clear();
                dispatcher.Timers.TakeDue(now, _due);
                foreach (TimerEntry entry in _due)
                {
                    entry.Expire(dispatcher);
                }

                next = dispatcher.Timers.NextDue();
                Volatile.Write(ref _clockTarget, next ?? long.MaxValue);
            }

            if (next is null)
            {
                _clockGate.Wait(1000);
            }
            else
            {
                int ms = _clock.MillisecondsUntil(next.Value);
                if (ms > 0)
                {
                    _clockGate.Wait(ms);
                }
            }
        }
    }
}
