namespace IrpLab;

/// <summary>
/// The system worker threads (ReactOS ntoskrnl/ex/work.c in shape): one FIFO queue per WORK_QUEUE_TYPE, each served
/// by <see cref="ThreadsPerQueue"/> machine service threads of the System process, created when the first item is
/// queued to that queue. A worker takes items one at a time and runs the routine at PASSIVE_LEVEL; an idle worker
/// blocks on its queue's counting wake object (one count per queued item). Queues guarded by the dispatcher lock.
/// </summary>
internal sealed class ExWorkerPool
{
    /// <summary>Worker threads per queue type. Windows has more (and grows the delayed queue); two per queue keep
    /// runs small while still letting two routines of one queue run concurrently.</summary>
    public const int ThreadsPerQueue = 2;

    private readonly Machine _machine;
    private readonly WorkerQueue[] _queues;

    public ExWorkerPool(Machine machine)
    {
        _machine = machine;
        _queues = [new(WorkQueueType.CriticalWorkQueue), new(WorkQueueType.DelayedWorkQueue), new(WorkQueueType.HyperCriticalWorkQueue)];
    }

    /// <summary>
    /// Appends the item to its queue and wakes a worker. Returns the item's previous state; an item that is queued
    /// already or freed is left alone (the caller bug-checks).
    /// </summary>
    public WorkItemState Enqueue(WorkQueueEntry entry, WorkQueueType type)
    {
        WorkerQueue queue = _queues[(int)type];
        KThread[]? created = null;
        WorkItemState previous;
        lock (_machine.Dispatcher.SyncRoot)
        {
            previous = entry.State;
            if (previous is WorkItemState.Queued or WorkItemState.Freed)
            {
                return previous;
            }

            entry.State = WorkItemState.Queued;
            entry.QueueType = type;
            entry.Next = null;
            if (queue.Tail is null)
            {
                queue.Head = entry;
            }
            else
            {
                queue.Tail.Next = entry;
            }

            queue.Tail = entry;
            if (queue.Workers is null)
            {
                created = CreateWorkers(queue);
            }

            queue.Wake.Signal(_machine.Dispatcher);
        }

        if (created is not null)
        {
            foreach (KThread t in created)
            {
                _machine.Scheduler.Start(t);
            }
        }

        return previous;
    }

    /// <summary>Executive work items of <paramref name="driver"/> that are queued or whose routine runs now.</summary>
    public void CollectPending(string driver, List<(WorkQueueEntry Entry, bool Running)> into)
    {
        lock (_machine.Dispatcher.SyncRoot)
        {
            foreach (WorkerQueue queue in _queues)
            {
                for (WorkQueueEntry? e = queue.Head; e is not null; e = e.Next)
                {
                    if (e.Owner is WorkQueueItem && OwnedBy(e, driver))
                    {
                        into.Add((e, false));
                    }
                }

                if (queue.Workers is null)
                {
                    continue;
                }

                foreach (Worker w in queue.Workers)
                {
                    if (w.Current is WorkQueueEntry running && running.Owner is WorkQueueItem && OwnedBy(running, driver))
                    {
                        into.Add((running, true));
                    }
                }
            }
        }
    }

    private static bool OwnedBy(WorkQueueEntry e, string driver) => string.Equals(e.OwnerDriver, driver, StringComparison.OrdinalIgnoreCase);

    private KThread[] CreateWorkers(WorkerQueue queue)
    {
        var workers = new Worker[ThreadsPerQueue];
        var threads = new KThread[ThreadsPerQueue];
        string prefix = queue.Type switch
        {
            WorkQueueType.CriticalWorkQueue => "Worker:Critical:",
            WorkQueueType.DelayedWorkQueue => "Worker:Delayed:",
            _ => "Worker:HyperCritical:",
        };
        for (int i = 0; i < ThreadsPerQueue; i++)
        {
            var worker = new Worker();
            workers[i] = worker;
            threads[i] = _machine.CreateThread(_machine.SystemProcess, prefix + i, () => RunWorker(queue, worker), isService: true, start: false);
        }

        queue.Workers = workers;
        return threads;
    }

    /// <summary>The body of a system worker thread.</summary>
    private void RunWorker(WorkerQueue queue, Worker worker)
    {
        KThread thread = KThread.Current;
        while (true)
        {
            ServiceWakeObject.WaitForWork(thread, queue.WaitObjects);
            WorkQueueEntry? entry;
            int run;
            lock (_machine.Dispatcher.SyncRoot)
            {
                entry = queue.Head;
                if (entry is null)
                {
                    continue;
                }

                queue.Head = entry.Next;
                if (queue.Head is null)
                {
                    queue.Tail = null;
                }

                entry.Next = null;

                // The item leaves the queue before its routine runs, so the routine may queue it again or free it.
                entry.State = WorkItemState.Running;
                run = ++entry.Runs;
                worker.Current = entry;
            }

            Run(thread, entry, run);
            lock (_machine.Dispatcher.SyncRoot)
            {
                worker.Current = null;
            }
        }
    }

    private void Run(KThread thread, WorkQueueEntry entry, int run)
    {
        var io = entry.Owner as IoWorkItem;
        var ex = entry.Owner as WorkQueueItem;
        object? parameter = io is not null ? io.Context : ex?.Parameter;
        thread.CurrentDriver = entry.OwnerDriver;
        thread.CurrentRoutine = entry.RoutineName;
        try
        {
            if (io is not null)
            {
                io.Routine!(io.DeviceObject, parameter);
            }
            else
            {
                ex!.WorkerRoutine!(parameter);
            }
        }
        catch (Exception e) when (e is not MachineHaltedException)
        {
            throw _machine.RaiseDriverException(thread, e);
        }

        if (thread.Irql != IrqlLevel.Passive)
        {
            byte irql = thread.Irql;
            ulong itemAddress = entry.Owner.DebugAddress(_machine);
            throw _machine.RaiseBugCheck(BugCheckCatalogue.WORKER_THREAD_RETURNED_AT_BAD_IRQL, itemAddress, irql,
                parameter is KernelObject k ? k.DebugAddress(_machine) : 0, itemAddress,
                $"Work item routine {entry.RoutineName} returned at {IrqlLevel.Name(irql)}; it must return at PASSIVE_LEVEL. "
                + "Release every spin lock it acquired and undo every KeRaiseIrql before returning.");
        }

        thread.CurrentDriver = null;
        thread.CurrentRoutine = null;
        lock (_machine.Dispatcher.SyncRoot)
        {
            if (entry.State == WorkItemState.Running && entry.Runs == run)
            {
                entry.State = WorkItemState.Idle;
            }
        }

        if (io is not null)
        {
            // IopProcessWorkItem drops the device reference IoQueueWorkItem took, after the routine.
            _machine.Objects.Dereference(io.DeviceObject);
        }
    }

    private sealed class WorkerQueue
    {
        public WorkerQueue(WorkQueueType type)
        {
            Type = type;
            Wake = new ServiceWakeObject(counting: true);
            WaitObjects = [Wake];
        }

        public WorkQueueType Type { get; }

        public ServiceWakeObject Wake { get; }

        public DispatcherObject[] WaitObjects { get; }

        public WorkQueueEntry? Head;

        public WorkQueueEntry? Tail;

        public Worker[]? Workers;
    }

    private sealed class Worker
    {
        /// <summary>The item whose routine this worker runs now (dispatcher lock).</summary>
        public WorkQueueEntry? Current;
    }
}
