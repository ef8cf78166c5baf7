using IrpLab.Scheduling;

namespace IrpLab;

/// <summary>
/// The dispatcher database: one lock guarding every dispatcher object's state and wait list, the timer queue, and
/// the wait and signal algorithms (ReactOS ntoskrnl/ke/wait.c and obj.c in shape). Callbacks never run with the
/// lock held; scheduling points are taken only after it is released.
/// </summary>
internal sealed class KernelDispatcher
{
    private readonly Machine _machine;

    public KernelDispatcher(Machine machine)
    {
        _machine = machine;
    }

    public Lock SyncRoot { get; } = new();

    public TimerQueue Timers { get; } = new();

    private Scheduler Scheduler => _machine.Scheduler;

    /// <summary>
    /// KeWaitForMultipleObjects' core. <paramref name="dueTime"/>: null = infinite; negative = relative 100 ns;
    /// zero = poll; positive = absolute system time. Returns STATUS_WAIT_n, STATUS_ABANDONED_WAIT_n,
    /// STATUS_TIMEOUT or STATUS_USER_APC.
    /// </summary>
    public NtStatus Wait(KThread thread, ReadOnlySpan<DispatcherObject> objects, WaitType waitType, KProcessorMode mode, bool alertable, long? dueTime)
    {
        long? absoluteDue = ToInterruptTime(dueTime);
        while (true)
        {
            lock (SyncRoot)
            {
                ThrowIfHalted(thread);
                NtStatus satisfied = TrySatisfy(thread, objects, waitType);
                if (satisfied != NtStatus.STATUS_PENDING)
                {
                    return satisfied;
                }

                // An object already signaled wins; then queued user APCs end an alertable wait, even one with a zero
                // timeout (SleepEx(0, TRUE) is how a thread drains its APCs); only then does the timeout count.
                if (alertable && mode == KProcessorMode.UserMode && _machine.Apcs.HasUserApc(thread))
                {
                    return NtStatus.STATUS_USER_APC;
                }

                if (absoluteDue is long due0 && due0 <= _machine.Clock.InterruptTime)
                {
                    return NtStatus.STATUS_TIMEOUT;
                }

                if (mode == KProcessorMode.UserMode && thread.TerminationRequested)
                {
                    return NtStatus.STATUS_THREAD_IS_TERMINATING;
                }

                for (int i = 0; i < objects.Length; i++)
                {
                    WaitBlock block = thread.GetWaitBlock(i);
                    block.Object = objects[i];
                    block.WaitKey = i;
                    objects[i].LinkWaitBlock(block);
                }

                thread.AssociatedPort?.OnAssociatedThreadBlocked(this, thread);
                thread.WaitCount = objects.Length;
                thread.WaitType = waitType;
                thread.WaitMode = mode;
                thread.WaitAlertable = alertable;
                thread.WaitStatus = NtStatus.STATUS_PENDING;
                thread.State = KThreadState.Waiting;
                if (absoluteDue is long due)
                {
                    Timers.Arm(thread.WaitTimer, due);
                    Scheduler.TimerArmed(due);
                }
            }

            if (_machine.Trace.IsEnabled(TraceEventKind.WaitBegin))
            {
                _machine.Trace.Record(TraceEventKind.WaitBegin, "wait on " + thread.DescribeWait());
            }

            Scheduler.Block(thread);
            if (thread.AssociatedPort is CompletionPort port)
            {
                lock (SyncRoot)
                {
                    port.OnAssociatedThreadResumed(thread);
                }
            }

            NtStatus status = thread.WaitStatus;
            if (_machine.Trace.IsEnabled(TraceEventKind.WaitEnd))
            {
                _machine.Trace.Record(TraceEventKind.WaitEnd, "wait ended " + NtStatusClass.Format(status));
            }

            if (status == NtStatus.STATUS_KERNEL_APC)
            {
                // A kernel APC interrupted the wait: deliver it and wait again for the rest of the timeout.
                _machine.Apcs.DeliverKernelApcs(thread);
                continue;
            }

            return status;
        }
    }

    /// <summary>Checks the objects and, if the wait is satisfied, applies its side effects. STATUS_PENDING if not.</summary>
    private static NtStatus TrySatisfy(KThread thread, ReadOnlySpan<DispatcherObject> objects, WaitType waitType)
    {
        if (waitType == WaitType.WaitAny)
        {
            for (int i = 0; i < objects.Length; i++)
            {
                DispatcherObject o = objects[i];
                if (o.IsSignaledFor(thread))
                {
                    bool abandoned = o is KMutex { Abandoned: true };
                    o.OnWaitSatisfied(thread);
                    return (NtStatus)((abandoned ? (int)NtStatus.STATUS_ABANDONED_WAIT_0 : 0) + i);
                }
            }

            return NtStatus.STATUS_PENDING;
        }

        if (objects.Length == 0)
        {
            return NtStatus.STATUS_PENDING;
        }

        foreach (DispatcherObject o in objects)
        {
            if (!o.IsSignaledFor(thread))
            {
                return NtStatus.STATUS_PENDING;
            }
        }

        // All-or-nothing: the side effects are applied to every object at once.
        // UNCONFIRMED: which status a WaitAll that acquires an abandoned mutex returns; we return STATUS_ABANDONED_WAIT_0.
        bool anyAbandoned = false;
        foreach (DispatcherObject o in objects)
        {
            anyAbandoned |= o is KMutex { Abandoned: true };
            o.OnWaitSatisfied(thread);
        }

        return anyAbandoned ? NtStatus.STATUS_ABANDONED_WAIT_0 : NtStatus.STATUS_SUCCESS;
    }

    /// <summary>
    /// After an object became signaled (lock held): satisfies waiters in FIFO order while it stays signaled.
    /// A notification event releases all of them; a synchronization event one.
    /// </summary>
    public void WaitTest(DispatcherObject o)
    {
        WaitBlock? block = o.WaitListHead;
        while (block is not null && o.SignalState > 0)
        {
            WaitBlock? next = block.Next;
            KThread waiter = block.Thread;
            if (waiter.WaitType == WaitType.WaitAny)
            {
                bool abandoned = o is KMutex { Abandoned: true };
                o.OnWaitSatisfied(waiter);
                Unwait(waiter, (NtStatus)((abandoned ? (int)NtStatus.STATUS_ABANDONED_WAIT_0 : 0) + block.WaitKey));
            }
            else if (AllSignaled(waiter))
            {
                bool anyAbandoned = false;
                for (int i = 0; i < waiter.WaitCount; i++)
                {
                    DispatcherObject w = waiter.GetWaitBlock(i).Object!;
                    anyAbandoned |= w is KMutex { Abandoned: true };
                    w.OnWaitSatisfied(waiter);
                }

                Unwait(waiter, anyAbandoned ? NtStatus.STATUS_ABANDONED_WAIT_0 : NtStatus.STATUS_SUCCESS);
            }

            block = next;
        }
    }

    private static bool AllSignaled(KThread waiter)
    {
        for (int i = 0; i < waiter.WaitCount; i++)
        {
            if (!waiter.GetWaitBlock(i).Object!.IsSignaledFor(waiter))
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>
    /// KeRemoveQueue for a completion port: takes a packet or waits for one (LIFO among waiters), with a timeout
    /// and, for user mode, alertably. Returns STATUS_SUCCESS with the packet, STATUS_TIMEOUT, STATUS_USER_APC or
    /// STATUS_ABANDONED (the port was closed).
    /// </summary>
    public NtStatus RemovePortPacket(KThread thread, CompletionPort port, bool alertable, long? dueTime, out CompletionPacket packet)
    {
        long? absoluteDue = ToInterruptTime(dueTime);
        while (true)
        {
            lock (SyncRoot)
            {
                ThrowIfHalted(thread);
                if (port.RunDown)
                {
                    packet = default;
                    return NtStatus.STATUS_ABANDONED;
                }

                port.BeginRemove(this, thread);
                if (port.TryRemove(thread, out packet))
                {
                    return NtStatus.STATUS_SUCCESS;
                }

                // As for any wait: a packet first, then queued user APCs of an alertable removal, then a zero timeout.
                if (alertable && _machine.Apcs.HasUserApc(thread))
                {
                    return NtStatus.STATUS_USER_APC;
                }

                if (absoluteDue is long due0 && due0 <= _machine.Clock.InterruptTime)
                {
                    return NtStatus.STATUS_TIMEOUT;
                }

                // A removal is a user-mode wait: a thread whose process began exiting after its system call was entered
                // (RequestTermination found it running, not waiting) must not block, or nothing would wake it.
                if (thread.TerminationRequested)
                {
                    return NtStatus.STATUS_THREAD_IS_TERMINATING;
                }

                port.AddWaiter(thread);
                thread.PortPacketValid = false;
                thread.WaitCount = 0;
                thread.WaitType = WaitType.WaitAny;
                thread.WaitMode = KProcessorMode.UserMode;
                thread.WaitAlertable = alertable;
                thread.WaitStatus = NtStatus.STATUS_PENDING;
                thread.WaitingOnPort = port;
                thread.State = KThreadState.Waiting;
                if (absoluteDue is long due)
                {
                    Timers.Arm(thread.WaitTimer, due);
                    Scheduler.TimerArmed(due);
                }
            }

            Scheduler.Block(thread);
            NtStatus status;
            lock (SyncRoot)
            {
                port.RemoveWaiter(thread);
                thread.WaitingOnPort = null;
                packet = thread.PortPacket;
                bool got = thread.PortPacketValid;
                thread.PortPacketValid = false;
                status = thread.WaitStatus;
                if (status == NtStatus.STATUS_SUCCESS && !got)
                {
                    return NtStatus.STATUS_TIMEOUT;
                }
            }

            if (status == NtStatus.STATUS_KERNEL_APC)
            {
                // A kernel APC interrupted the wait: deliver it and wait again for the rest of the timeout, as Wait does.
                _machine.Apcs.DeliverKernelApcs(thread);
                continue;
            }

            return status;
        }
    }

    /// <summary>Ends a thread's wait with <paramref name="status"/> and readies it (lock held).</summary>
    public void Unwait(KThread thread, NtStatus status)
    {
        for (int i = 0; i < thread.WaitCount; i++)
        {
            WaitBlock block = thread.GetWaitBlock(i);
            block.Object?.UnlinkWaitBlock(block);
            block.Object = null;
        }

        thread.WaitCount = 0;
        Timers.Cancel(thread.WaitTimer);
        thread.WaitStatus = status;
        Scheduler.Ready(thread);
    }

    /// <summary>Marks a thread of an exiting process for termination; a user-mode or alertable wait ends at once.</summary>
    public void RequestTermination(KThread thread)
    {
        lock (SyncRoot)
        {
            thread.TerminationRequested = true;
            if (thread.State == KThreadState.Waiting && thread.SpinningOn is null
                && (thread.WaitMode == KProcessorMode.UserMode || thread.WaitAlertable))
            {
                Unwait(thread, NtStatus.STATUS_THREAD_IS_TERMINATING);
            }
        }
    }

    /// <summary>The thread has finished: it becomes signaled and abandons the mutexes it still owns.</summary>
    public void Terminate(KThread thread)
    {
        lock (SyncRoot)
        {
            if (thread.State == KThreadState.Waiting)
            {
                Unwait(thread, NtStatus.STATUS_THREAD_IS_TERMINATING);
            }

            thread.State = KThreadState.Terminated;
            thread.AssociatedPort?.OnAssociatedThreadExited(this, thread);
            if (thread.OwnedMutexes is { Count: > 0 } owned)
            {
                foreach (KMutex m in owned.ToArray())
                {
                    m.Abandon();
                    WaitTest(m);
                }

                owned.Clear();
            }

            thread.SignalState = 1;
            WaitTest(thread);
        }
    }

    public void SignalProcess(KProcess process)
    {
        lock (SyncRoot)
        {
            process.SignalState = 1;
            WaitTest(process);
        }
    }

    /// <summary>Converts a KeWait-style timeout to an absolute interrupt time (null = infinite).</summary>
    public long? ToInterruptTime(long? timeout)
    {
        if (timeout is not long t)
        {
            return null;
        }

        if (t == 0)
        {
            return long.MinValue;
        }

        if (t == long.MinValue)
        {
            // The largest relative interval is how SleepEx(INFINITE) asks never to wake: no timer at all. (Armed at
            // the end of time it left a stale entry in the timer heap on every such wait, and let virtual time jump
            // there instead of reporting a deadlock.)
            return null;
        }

        if (t < 0)
        {
            // An interval past the end of the clock (Sleep(INFINITE) passes long.MinValue) never expires: no timer,
            // rather than one at long.MaxValue that virtual time would jump to, or a due time that wraps negative.
            long now = _machine.Clock.InterruptTime;
            return now > long.MaxValue + t ? null : now - t;
        }

        return t - _machine.Clock.BootSystemTime;
    }

    private void ThrowIfHalted(KThread thread)
    {
        if (_machine.IsHalted && !thread.Unwinding)
        {
            throw new MachineHaltedException();
        }

        if (thread.Unwinding)
        {
            throw new MachineHaltedException();
        }
    }
}
