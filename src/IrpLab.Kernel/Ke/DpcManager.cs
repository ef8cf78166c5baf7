using IrpLab.Scheduling;

namespace IrpLab;

/// <summary>
/// One processor's DPC queue (KDPC_DATA) and the machine service thread that retires it. The list, the depth and
/// <see cref="Running"/> are guarded by the dispatcher lock.
/// </summary>
internal sealed class DpcQueue
{
    public DpcQueue(int processor)
    {
        Processor = processor;
        Wake = new ServiceWakeObject(counting: false);
        WaitObjects = [Wake];
    }

    public int Processor { get; }

    public ServiceWakeObject Wake { get; }

    /// <summary>The wake object as a wait array, allocated once so that idling allocates nothing.</summary>
    public DispatcherObject[] WaitObjects { get; }

    public KDpc? Head;

    public KDpc? Tail;

    public int Depth;

    /// <summary>The DPC whose routine runs now on this processor, or null.</summary>
    public KDpc? Running;

    /// <summary>Created at the first DPC queued to this processor.</summary>
    public KThread? Thread;

    public void InsertHead(KDpc dpc)
    {
        dpc.Previous = null;
        dpc.Next = Head;
        if (Head is null)
        {
            Tail = dpc;
        }
        else
        {
            Head.Previous = dpc;
        }

        Head = dpc;
        Depth++;
    }

    public void InsertTail(KDpc dpc)
    {
        dpc.Next = null;
        dpc.Previous = Tail;
        if (Tail is null)
        {
            Head = dpc;
        }
        else
        {
            Tail.Next = dpc;
        }

        Tail = dpc;
        Depth++;
    }

    public void Remove(KDpc dpc)
    {
        if (dpc.Previous is null)
        {
            Head = dpc.Next;
        }
        else
        {
            dpc.Previous.Next = dpc.Next;
        }

        if (dpc.Next is null)
        {
            Tail = dpc.Previous;
        }
        else
        {
            dpc.Next.Previous = dpc.Previous;
        }

        dpc.Next = null;
        dpc.Previous = null;
        Depth--;
    }
}

/// <summary>
/// DPCs (ReactOS ntoskrnl/ke/dpc.c in shape). Each processor has a DPC queue retired by a machine service thread
/// of the System process, created when the first DPC is queued to that processor. The thread is idle (blocked on
/// its wake object) until a DPC is queued; then, when the scheduler lets it run, it takes the processor, raises to
/// DISPATCH_LEVEL and runs the queued DPCs one by one with <see cref="KThread.InDpc"/> set. In deterministic mode
/// DPC execution is therefore a schedulable operation: the strategy decides when it happens relative to the
/// thread that queued it, and a scheduling point separates two DPC routines.
/// </summary>
internal sealed class DpcManager
{
    private static readonly KDeferredRoutine s_flushMarker = static (dpc, context, arg1, arg2) => ((FlushRequest)context!).MarkerRan();

    private readonly Machine _machine;
    private readonly DpcQueue[] _queues;

    public DpcManager(Machine machine)
    {
        _machine = machine;
        _queues = new DpcQueue[machine.Options.Processors];
        for (int i = 0; i < _queues.Length; i++)
        {
            _queues[i] = new DpcQueue(i);
        }
    }

    public int ProcessorCount => _queues.Length;

    /// <summary>
    /// KeInsertQueueDpc's core (any IRQL; the dispatcher lock may already be held, as in a timer's expiry). Returns
    /// false, changing nothing, when the DPC is already queued. <paramref name="processor"/> is the queuing
    /// processor, used when the DPC has no target.
    /// </summary>
    public bool Insert(KDpc dpc, object? argument1, object? argument2, int processor, KTimer? timer = null)
    {
        KThread? created = null;
        lock (_machine.Dispatcher.SyncRoot)
        {
            if (dpc.Queue is not null)
            {
                return false;
            }

            int target = dpc.HasTarget ? dpc.Number : processor;
            if ((uint)target >= (uint)_queues.Length)
            {
                target = 0;
            }

            DpcQueue queue = _queues[target];
            dpc.SystemArgument1 = argument1;
            dpc.SystemArgument2 = argument2;
            dpc.QueuedByTimer = timer;
            dpc.Queue = queue;
            if (dpc.Importance == KDpcImportance.HighImportance)
            {
                queue.InsertHead(dpc);
            }
            else
            {
                queue.InsertTail(dpc);
            }

            if (queue.Thread is null)
            {
                created = CreateQueueThread(queue);
            }

            queue.Wake.Signal(_machine.Dispatcher);
        }

        if (created is not null)
        {
            _machine.Scheduler.Start(created);
        }

        return true;
    }

    /// <summary>KeRemoveQueueDpc: true when the DPC was queued and has been taken out before it ran.</summary>
    public bool Remove(KDpc dpc)
    {
        lock (_machine.Dispatcher.SyncRoot)
        {
            if (dpc.Queue is not DpcQueue queue)
            {
                return false;
            }

            queue.Remove(dpc);
            dpc.Queue = null;
            dpc.QueuedByTimer = null;
            return true;
        }
    }

    /// <summary>
    /// KeFlushQueuedDpcs: queues a marker behind the DPCs of every processor that has DPCs queued or running and
    /// waits (PASSIVE_LEVEL) until every marker has run, that is until every DPC queued at the time of the call has
    /// run. DPCs queued later may or may not have run.
    /// </summary>
    public void Flush(KThread caller)
    {
        var request = new FlushRequest();
        lock (_machine.Dispatcher.SyncRoot)
        {
            foreach (DpcQueue queue in _queues)
            {
                if (queue.Depth == 0 && queue.Running is null)
                {
                    continue;
                }

                var marker = new KDpc
                {
                    DeferredRoutine = s_flushMarker,
                    DeferredContext = request,
                    Importance = KDpcImportance.LowImportance,
                    HasTarget = true,
                    Number = queue.Processor,
                    RoutineName = "KeFlushQueuedDpcs",
                    IsInternal = true,
                    Queue = queue,
                };
                queue.InsertTail(marker);
                queue.Wake.Signal(_machine.Dispatcher);
                request.Remaining++;
            }
        }

        if (request.Remaining > 0)
        {
            _machine.Dispatcher.Wait(caller, request.WaitObjects, WaitType.WaitAny, KProcessorMode.KernelMode, false, null);
        }
    }

    /// <summary>The DPCs owned by <paramref name="driver"/> that are queued or running now (unload checks).</summary>
    public void CollectPending(string driver, List<(KDpc Dpc, bool Running)> into)
    {
        lock (_machine.Dispatcher.SyncRoot)
        {
            foreach (DpcQueue queue in _queues)
            {
                if (queue.Running is KDpc running && !running.IsInternal && OwnedBy(running, driver))
                {
                    into.Add((running, true));
                }

                for (KDpc? d = queue.Head; d is not null; d = d.Next)
                {
                    if (!d.IsInternal && OwnedBy(d, driver))
                    {
                        into.Add((d, false));
                    }
                }
            }
        }
    }

    private static bool OwnedBy(KDpc dpc, string driver) => string.Equals(dpc.OwnerDriver, driver, StringComparison.OrdinalIgnoreCase);

    private KThread CreateQueueThread(DpcQueue queue)
    {
        KThread? thread = null;
        thread = _machine.CreateThread(_machine.SystemProcess, "DPC" + queue.Processor, () => RunQueueThread(thread!, queue), isService: true, start: false);
        queue.Thread = thread;
        return thread;
    }

    /// <summary>The body of a processor's DPC thread: idle until DPCs are queued, then retire the queue.</summary>
    private void RunQueueThread(KThread thread, DpcQueue queue)
    {
        while (true)
        {
            ServiceWakeObject.WaitForWork(thread, queue.WaitObjects);
            RetireQueue(thread, queue);
        }
    }

    /// <summary>KiRetireDpcList: at DISPATCH_LEVEL on the queue's processor, run DPCs until the queue is empty.</summary>
    private void RetireQueue(KThread thread, DpcQueue queue)
    {
        // Run on the queue's own processor when it is free. When a raised thread holds it (on Windows the DPC would
        // wait for that processor to drop below DISPATCH_LEVEL), run on the processor the scheduler gave us: the
        // same interleavings a DPC targeted at that processor could produce.
        if (_machine.Scheduler is not DeterministicScheduler d || !d.IsProcessorHeld(queue.Processor))
        {
            thread.Processor = queue.Processor;
        }

        KernelChecks.RaiseIrql(thread, IrqlLevel.Dispatch, out _);
        while (true)
        {
            _machine.Scheduler.Yield(thread, SchedulingPointKind.Yield);
            KDpc? dpc;
            KDeferredRoutine? routine;
            object? context;
            object? argument1;
            object? argument2;
            KTimer? timer;
            lock (_machine.Dispatcher.SyncRoot)
            {
                dpc = queue.Head;
                if (dpc is null)
                {
                    break;
                }

                queue.Remove(dpc);
                dpc.Queue = null;
                routine = dpc.DeferredRoutine;
                context = dpc.DeferredContext;
                argument1 = dpc.SystemArgument1;
                argument2 = dpc.SystemArgument2;
                timer = dpc.QueuedByTimer;
                dpc.QueuedByTimer = null;
                queue.Running = dpc;
            }

            if (routine is not null)
            {
                Execute(thread, dpc, routine, context, argument1, argument2, timer);
            }

            lock (_machine.Dispatcher.SyncRoot)
            {
                queue.Running = null;
            }
        }

        KernelChecks.LowerIrql(thread, IrqlLevel.Passive);
    }

    /// <summary>Calls one DPC routine with the checks Windows makes around it.</summary>
    private void Execute(KThread thread, KDpc dpc, KDeferredRoutine routine, object? context, object? argument1, object? argument2, KTimer? timer)
    {
        if (dpc.IsInternal)
        {
            routine(dpc, context, argument1, argument2);
            return;
        }

        Trace trace = _machine.Trace;
        if (timer is not null && trace.IsEnabled(TraceEventKind.TimerExpired))
        {
            trace.Record(TraceEventKind.TimerExpired, "timer " + timer.DebugName(_machine) + " expired; its DPC " + dpc.RoutineName + " runs");
        }

        if (trace.IsEnabled(TraceEventKind.DpcExecuted))
        {
            trace.Record(TraceEventKind.DpcExecuted, "DPC " + dpc.RoutineName + " runs on processor " + thread.Processor);
        }

        string? savedDriver = thread.CurrentDriver;
        string? savedRoutine = thread.CurrentRoutine;
        thread.CurrentDriver = dpc.OwnerDriver;
        thread.CurrentRoutine = dpc.RoutineName;
        thread.InDpc = true;
        int apcDisable = thread.KernelApcDisable;
        try
        {
            routine(dpc, context, argument1, argument2);
        }
        catch (Exception ex) when (ex is not MachineHaltedException)
        {
            throw _machine.RaiseDriverException(thread, ex);
        }

        CheckAfterRoutine(thread, dpc, apcDisable, timer is not null);
        thread.InDpc = false;
        thread.CurrentDriver = savedDriver;
        thread.CurrentRoutine = savedRoutine;
    }

    private void CheckAfterRoutine(KThread thread, KDpc dpc, int apcDisableBefore, bool timerDpc)
    {
        ulong dpcAddress = dpc.DebugAddress(_machine);
        if (thread.Irql != IrqlLevel.Dispatch)
        {
            // UNCONFIRMED which stop code Windows uses for a DPC that returns at another IRQL; IRQL_UNEXPECTED_VALUE
            // (current << 16 | expected << 8 | 2, the "callout returned at the wrong IRQL" form) is the closest.
            byte irql = thread.Irql;
            throw _machine.RaiseBugCheck(BugCheckCatalogue.IRQL_UNEXPECTED_VALUE,
                ((ulong)irql << 16) | ((ulong)IrqlLevel.Dispatch << 8) | 2, dpcAddress, 0, 0,
                $"DPC routine {dpc.RoutineName} returned at {IrqlLevel.Name(irql)}; it must return at DISPATCH_LEVEL. "
                + "Release every spin lock it acquired and undo every KeRaiseIrql before returning.");
        }

        if (thread.KernelApcDisable != apcDisableBefore)
        {
            throw _machine.RaiseBugCheck(BugCheckCatalogue.TIMER_OR_DPC_INVALID, timerDpc ? 0x5u : 0x4u, dpcAddress,
                unchecked((ulong)apcDisableBefore), unchecked((ulong)thread.KernelApcDisable),
                $"{(timerDpc ? "Timer DPC" : "DPC")} routine {dpc.RoutineName} changed the thread's APC-disable count "
                + $"({apcDisableBefore} before, {thread.KernelApcDisable} after): a critical region entered or a mutex acquired was not left.");
        }
    }

    /// <summary>One KeFlushQueuedDpcs call: a countdown over its markers and the event its caller waits on.</summary>
    private sealed class FlushRequest
    {
        private readonly KEvent _done = new(EventType.NotificationEvent, false);

        public FlushRequest()
        {
            WaitObjects = [_done];
        }

        public DispatcherObject[] WaitObjects { get; }

        /// <summary>Markers that have not run yet (dispatcher lock).</summary>
        public int Remaining;

        /// <summary>Runs at DISPATCH_LEVEL on a DPC thread.</summary>
        public void MarkerRan()
        {
            KernelDispatcher dispatcher = KThread.Current.Machine.Dispatcher;
            lock (dispatcher.SyncRoot)
            {
                if (--Remaining == 0)
                {
                    _done.Set(dispatcher);
                }
            }
        }
    }
}
