namespace IrpLab;

/// <summary>A completion packet: key, context (lpOverlapped), status and information.</summary>
internal readonly record struct CompletionPacket(nuint Key, object? Context, NtStatus Status, nuint Information);

/// <summary>
/// An I/O completion port: the IoCompletion object over a KQUEUE (dispatcher type 4). Its signal state is the
/// number of queued packets, so a plain wait on the port handle sees it signaled while packets wait.
/// Packets are queued FIFO; threads waiting to remove one are released LIFO (the most recent waiter first), and
/// only while fewer than <see cref="Concurrency"/> associated threads are running. A thread becomes associated
/// with the port by removing from it; while an associated thread waits on anything else, it does not count as
/// running, which may let another waiter go. All state is guarded by the dispatcher lock.
/// </summary>
internal sealed class CompletionPort : DispatcherObject
{
    private readonly Queue<CompletionPacket> _packets = new();
    private readonly List<KThread> _waiters = [];

    public CompletionPort(int concurrency)
    {
        Concurrency = concurrency;
        DispatcherType = DispatcherObjectType.QueueObject;
        IsManaged = true;
    }

    internal override ObjectType Type => ObjectType.IoCompletion;

    /// <summary>NumberOfConcurrentThreads.</summary>
    public int Concurrency { get; }

    /// <summary>Associated threads that are running (not waiting).</summary>
    public int ActiveThreads;

    /// <summary>The last handle was closed: waiters were released and later packets are discarded.</summary>
    public bool RunDown;

    public int Count => _packets.Count;

    /// <summary>Queues a packet (lock held); gives it straight to the most recent waiter if the concurrency limit allows.</summary>
    public void Insert(KernelDispatcher dispatcher, in CompletionPacket packet)
    {
        if (RunDown)
        {
            // UNCONFIRMED what happens to completions for files still associated after the port handle was closed;
            // we discard them, as the queued ones are discarded at close.
            return;
        }

        _packets.Enqueue(packet);
        SignalState = _packets.Count;
        ReleaseWaiters(dispatcher);
        if (SignalState > 0)
        {
            dispatcher.WaitTest(this);
        }
    }

    /// <summary>
    /// The start of a removal (KeRemoveQueue, lock held). A thread that returns to its port gives up its running slot.
    /// A thread associated with another port leaves that port at once — it is blocked here, not running there, so
    /// the other port may release its next waiter — and is associated with this port from now on.
    /// </summary>
    public void BeginRemove(KernelDispatcher dispatcher, KThread thread)
    {
        if (thread.AssociatedPort == this)
        {
            if (thread.CountedAsActive)
            {
                thread.CountedAsActive = false;
                ActiveThreads--;
            }

            return;
        }

        thread.AssociatedPort?.OnAssociatedThreadExited(dispatcher, thread);
        thread.AssociatedPort = this;
        thread.CountedAsActive = false;
    }

    /// <summary>Takes a packet for <paramref name="thread"/> if one is queued and the limit allows (lock held, after <see cref="BeginRemove"/>).</summary>
    public bool TryRemove(KThread thread, out CompletionPacket packet)
    {
        if (_packets.Count > 0 && ActiveThreads < Concurrency)
        {
            packet = _packets.Dequeue();
            SignalState = _packets.Count;
            Associate(thread);
            return true;
        }

        packet = default;
        return false;
    }

    /// <summary>Removes up to <paramref name="max"/> more packets for a thread that already took one (GetQueuedCompletionStatusEx).</summary>
    public int TakeMore(Span<CompletionPacket> into, int max)
    {
        int n = 0;
        while (n < max && _packets.Count > 0)
        {
            into[n++] = _packets.Dequeue();
        }

        SignalState = _packets.Count;
        return n;
    }

    public void AddWaiter(KThread thread) => _waiters.Add(thread);

    public void RemoveWaiter(KThread thread) => _waiters.Remove(thread);

    /// <summary>An associated thread stopped running (it waits on something else): another waiter may go.</summary>
    public void OnAssociatedThreadBlocked(KernelDispatcher dispatcher, KThread thread)
    {
        if (thread.CountedAsActive)
        {
            thread.CountedAsActive = false;
            ActiveThreads--;
            ReleaseWaiters(dispatcher);
        }
    }

    /// <summary>An associated thread runs again (it may briefly push the count over the limit).</summary>
    public void OnAssociatedThreadResumed(KThread thread)
    {
        if (!thread.CountedAsActive && thread.AssociatedPort == this)
        {
            thread.CountedAsActive = true;
            ActiveThreads++;
        }
    }

    /// <summary>An associated thread exited (or went to remove from another port): its running slot is free.</summary>
    public void OnAssociatedThreadExited(KernelDispatcher dispatcher, KThread thread)
    {
        if (thread.CountedAsActive)
        {
            thread.CountedAsActive = false;
            ActiveThreads--;
            ReleaseWaiters(dispatcher);
        }

        thread.AssociatedPort = null;
    }

    /// <summary>The last handle is closed: waiters end with STATUS_ABANDONED, queued packets are discarded.</summary>
    public void Rundown(KernelDispatcher dispatcher)
    {
        RunDown = true;
        _packets.Clear();
        foreach (KThread waiter in _waiters.ToArray())
        {
            if (waiter.State == KThreadState.Waiting && waiter.WaitingOnPort == this)
            {
                waiter.PortPacketValid = false;
                dispatcher.Unwait(waiter, NtStatus.STATUS_ABANDONED);
            }
        }

        _waiters.Clear();

        // Plain waits on the port handle are released with success.
        SignalState = 1;
        dispatcher.WaitTest(this);
        SignalState = 0;
    }

    private void ReleaseWaiters(KernelDispatcher dispatcher)
    {
        while (_waiters.Count > 0 && _packets.Count > 0 && ActiveThreads < Concurrency)
        {
            KThread waiter = _waiters[^1];
            _waiters.RemoveAt(_waiters.Count - 1);
            if (waiter.State != KThreadState.Waiting || waiter.WaitingOnPort != this)
            {
                // Its wait already ended (timeout, APC, termination): it will not take this packet.
                continue;
            }

            waiter.PortPacket = _packets.Dequeue();
            waiter.PortPacketValid = true;
            SignalState = _packets.Count;
            Associate(waiter);
            dispatcher.Unwait(waiter, NtStatus.STATUS_SUCCESS);
        }
    }

    private void Associate(KThread thread)
    {
        if (thread.AssociatedPort != this)
        {
            if (thread.AssociatedPort is CompletionPort previous && thread.CountedAsActive)
            {
                previous.ActiveThreads--;
            }

            thread.AssociatedPort = this;
            thread.CountedAsActive = false;
        }

        if (!thread.CountedAsActive)
        {
            thread.CountedAsActive = true;
            ActiveThreads++;
        }
    }

    internal override void OnLastHandleClosed()
    {
        KernelDispatcher dispatcher = KThread.Current.Machine.Dispatcher;
        lock (dispatcher.SyncRoot)
        {
            Rundown(dispatcher);
        }
    }
}
