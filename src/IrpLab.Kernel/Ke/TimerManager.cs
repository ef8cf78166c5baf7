namespace IrpLab;

/// <summary>
/// KTIMER objects in the machine's timer queue (ReactOS ntoskrnl/ke/timerobj.c and dpc.c KiTimerExpiration in
/// shape). Timers are entries of the dispatcher's <see cref="TimerQueue"/>; this class keeps the list of queued
/// timers (for the unload checks) and implements set, cancel and expiry. Everything runs under the dispatcher lock;
/// expiry runs there too (in the scheduler or the clock thread), so it only signals the timer and queues its DPC:
/// the DPC routine itself runs later on a DPC thread.
/// </summary>
internal sealed class TimerManager
{
    private readonly Machine _machine;
    private KTimer? _queuedHead;

    public TimerManager(Machine machine)
    {
        _machine = machine;
    }

    /// <summary>
    /// KeSetTimerEx: (re)queues the timer for <paramref name="dueTime"/> (negative: relative, in 100 ns units;
    /// otherwise an absolute system time), non-signaled, with the period and DPC given. Returns true when the timer
    /// was already queued (its earlier expiry is cancelled).
    /// </summary>
    public bool Set(KThread caller, KTimer timer, long dueTime, int period, KDpc? dpc)
    {
        MachineClock clock = _machine.Clock;
        KernelDispatcher dispatcher = _machine.Dispatcher;
        lock (dispatcher.SyncRoot)
        {
            long now = clock.InterruptTime;
            long due = dueTime < 0
                ? (dueTime == long.MinValue ? long.MaxValue : now - dueTime)
                : Math.Max(now, dueTime - clock.BootSystemTime);
            timer.Configure(this, period, dpc, caller.Processor);
            if (caller.CurrentDriver is not null)
            {
                timer.OwnerDriver = caller.CurrentDriver;
            }

            bool wasQueued = dispatcher.Timers.Arm(timer.Entry, due);
            Link(timer);
            _machine.Scheduler.TimerArmed(due);
            return wasQueued;
        }
    }

    /// <summary>KeCancelTimer: true when the timer was queued and is not any more.</summary>
    public bool Cancel(KTimer timer)
    {
        lock (_machine.Dispatcher.SyncRoot)
        {
            bool wasQueued = _machine.Dispatcher.Timers.Cancel(timer.Entry);
            Unlink(timer);
            return wasQueued;
        }
    }

    /// <summary>
    /// The timer fell due (dispatcher lock held; the entry has left the queue). Signal it, re-queue a periodic one,
    /// queue its DPC with the expiry's system time as SystemArgument1/2 (low and high parts), as Windows does.
    /// </summary>
    public void Expire(KTimer timer)
    {
        KernelDispatcher dispatcher = _machine.Dispatcher;
        timer.SignalState = 1;
        dispatcher.WaitTest(timer);
        long now = _machine.Clock.InterruptTime;
        if (timer.Period > 0)
        {
            long due = now + (timer.Period * MachineClock.TicksPerMillisecond);
            dispatcher.Timers.Arm(timer.Entry, due);
            _machine.Scheduler.TimerArmed(due);
        }
        else
        {
            Unlink(timer);
        }

        if (timer.Dpc is KDpc dpc)
        {
            long systemTime = _machine.Clock.BootSystemTime + now;
            _machine.Dpcs.Insert(dpc, (uint)systemTime, (uint)(systemTime >> 32), timer.Processor, timer);
        }
    }

    /// <summary>The queued timers owned by <paramref name="driver"/> (unload checks).</summary>
    public void CollectQueued(string driver, List<KTimer> into)
    {
        lock (_machine.Dispatcher.SyncRoot)
        {
            for (KTimer? t = _queuedHead; t is not null; t = t.NextQueued)
            {
                string? owner = t.OwnerDriver ?? t.Dpc?.OwnerDriver;
                if (t.IsQueued && string.Equals(owner, driver, StringComparison.OrdinalIgnoreCase))
                {
                    into.Add(t);
                }
            }
        }
    }

    private void Link(KTimer timer)
    {
        if (timer.InQueuedList)
        {
            return;
        }

        timer.InQueuedList = true;
        timer.PreviousQueued = null;
        timer.NextQueued = _queuedHead;
        if (_queuedHead is not null)
        {
            _queuedHead.PreviousQueued = timer;
        }

        _queuedHead = timer;
    }

    private void Unlink(KTimer timer)
    {
        if (!timer.InQueuedList)
        {
            return;
        }

        timer.InQueuedList = false;
        if (timer.PreviousQueued is null)
        {
            _queuedHead = timer.NextQueued;
        }
        else
        {
            timer.PreviousQueued.NextQueued = timer.NextQueued;
        }

        if (timer.NextQueued is not null)
        {
            timer.NextQueued.PreviousQueued = timer.PreviousQueued;
        }

        timer.NextQueued = null;
        timer.PreviousQueued = null;
    }
}
