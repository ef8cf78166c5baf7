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
    public bool QueueUserApc(KThread thread, Action routine) => QueueUserApc(thread, new UserApc(routine));

    /// <summary>Queues a user APC that calls <c>routine(argument)</c> (QueueUserAPC).</summary>
    public bool QueueUserApc(KThread thread, Action<nuint> routine, nuint argument) => QueueUserApc(thread, new UserApc(routine, argument));

    /// <summary>Queues an I/O completion APC: <c>routine(context, statusBlock, 0)</c> (ReadFileEx's routine).</summary>
    public bool QueueUserApc(KThread thread, IoApcRoutine routine, object? context, IoStatusBlock statusBlock)
        => QueueUserApc(thread, new UserApc(routine, context, statusBlock));

    private bool QueueUserApc(KThread thread, in UserApc apc)
    {
        lock (_machine.Dispatcher.SyncRoot)
        {
            if (thread.State == KThreadState.Terminated || thread.TerminationRequested)
            {
                return false;
            }

            (thread.UserApcs ??= new Queue<UserApc>()).Enqueue(apc);
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
            UserApc apc;
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

            apc.Invoke();
            count++;
        }
    }
}

/// <summary>
/// A queued user APC: a plain routine, a routine with an argument (QueueUserAPC), or an I/O completion routine called
/// as ApcRoutine(ApcContext, IoStatusBlock, 0). A value, so that queuing one (once per ReadFileEx completion) allocates
/// nothing.
/// </summary>
internal readonly struct UserApc
{
    private readonly Delegate _routine;
    private readonly object? _context;
    private readonly IoStatusBlock? _statusBlock;
    private readonly nuint _argument;

    public UserApc(Action routine)
    {
        _routine = routine;
    }

    public UserApc(Action<nuint> routine, nuint argument)
    {
        _routine = routine;
        _argument = argument;
    }

    public UserApc(IoApcRoutine routine, object? context, IoStatusBlock statusBlock)
    {
        _routine = routine;
        _context = context;
        _statusBlock = statusBlock;
    }

    public void Invoke()
    {
        switch (_routine)
        {
            case IoApcRoutine io:
                io(_context, _statusBlock!, 0);
                break;
            case Action<nuint> withArgument:
                withArgument(_argument);
                break;
            default:
                ((Action)_routine)();
                break;
        }
    }
}
