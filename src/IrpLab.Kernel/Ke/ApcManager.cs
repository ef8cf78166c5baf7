namespace IrpLab;

/// <summary>
/// Asynchronous procedure calls. Each thread has a kernel-mode queue (delivered whenever the thread waits at
/// PASSIVE_LEVEL; the wait then resumes) and a user-mode queue (delivered only in an alertable user-mode wait,
/// which then returns STATUS_USER_APC / WAIT_IO_COMPLETION). APCs still queued when the thread exits are discarded.
/// </summary>
internal sealed class ApcManager
{
    private readonly Machine _machine;

    public ApcManager(Machine machine)
    {
        _machine = machine;
    }

    public bool HasUserApc(KThread thread) => thread.UserApcs is { Count: > 0 };

    /// <summary>Queues a user APC; an alertable user-mode wait of the thread ends at once. False if the thread is exiting.</summary>
    public bool QueueUserApc(KThread thread, Action routine)
    {
        lock (_machine.Dispatcher.SyncRoot)
        {
            if (thread.State == KThreadState.Terminated || thread.TerminationRequested)
            {
                return false;
            }

            (thread.UserApcs ??= new Queue<Action>()).Enqueue(routine);
            if (thread.State == KThreadState.Waiting && thread.WaitAlertable && thread.WaitMode == KProcessorMode.UserMode
                && thread.SpinningOn is null)
            {
                _machine.Dispatcher.Unwait(thread, NtStatus.STATUS_USER_APC);
            }
        }

        if (_machine.Trace.IsEnabled(TraceEventKind.ApcQueued))
        {
            _machine.Trace.Record(TraceEventKind.ApcQueued, "user APC queued to " + thread);
        }

        return true;
    }

    /// <summary>Queues a kernel APC; a waiting thread runs it and resumes its wait.</summary>
    public void QueueKernelApc(KThread thread, Action routine)
    {
        lock (_machine.Dispatcher.SyncRoot)
        {
            if (thread.State == KThreadState.Terminated)
            {
                return;
            }

            (thread.KernelApcs ??= new Queue<Action>()).Enqueue(routine);
            if (thread.State == KThreadState.Waiting && thread.SpinningOn is null && thread.Irql == IrqlLevel.Passive)
            {
                _machine.Dispatcher.Unwait(thread, NtStatus.STATUS_KERNEL_APC);
            }
        }
    }

    /// <summary>Runs the thread's queued kernel APCs (on the thread itself).</summary>
    public void DeliverKernelApcs(KThread thread)
    {
        while (true)
        {
            Action? apc;
            lock (_machine.Dispatcher.SyncRoot)
            {
                if (thread.KernelApcs is not { Count: > 0 } q)
                {
                    return;
                }

                apc = q.Dequeue();
            }

            apc();
        }
    }

    /// <summary>Runs every queued user APC in FIFO order (on the thread itself). Returns how many ran.</summary>
    public int DeliverUserApcs(KThread thread)
    {
        int count = 0;
        while (true)
        {
            Action? apc;
            lock (_machine.Dispatcher.SyncRoot)
            {
                if (thread.UserApcs is not { Count: > 0 } q)
                {
                    return count;
                }

                apc = q.Dequeue();
            }

            if (_machine.Trace.IsEnabled(TraceEventKind.ApcDelivered))
            {
                _machine.Trace.Record(TraceEventKind.ApcDelivered, "user APC runs on " + thread);
            }

            apc();
            count++;
        }
    }
}
