namespace IrpLab;

/// <summary>
/// Something that expires at a time: a wait's timeout, a KTIMER. <see cref="Expire"/> runs with the dispatcher
/// lock held. Entries are embedded in their owners and re-armed in place, so arming allocates nothing.
/// </summary>
internal abstract class TimerEntry
{
    internal long DueTime;
    internal long Generation;
    internal bool Armed;

    /// <summary>Called with the dispatcher lock held, at or after the due time.</summary>
    internal abstract void Expire(KernelDispatcher dispatcher);

    internal abstract string Describe();
}

/// <summary>
/// The machine's timer queue: a heap ordered by due time then arming order. Cancelling or re-arming bumps the
/// entry's generation so stale heap nodes are skipped lazily. Guarded by the dispatcher lock.
/// </summary>
internal sealed class TimerQueue
{
    private readonly PriorityQueue<(TimerEntry Entry, long Generation), (long Due, long Sequence)> _heap = new();
    private long _sequence;
    private int _armed;

    public int ArmedCount => _armed;

    /// <summary>Arms (or re-arms) the entry. Returns true when it was already armed.</summary>
    public bool Arm(TimerEntry entry, long dueTime)
    {
        bool wasArmed = entry.Armed;
        if (!wasArmed)
        {
            _armed++;
        }

        entry.Generation++;
        entry.Armed = true;
        entry.DueTime = dueTime;
        _heap.Enqueue((entry, entry.Generation), (dueTime, ++_sequence));
        return wasArmed;
    }

    /// <summary>Disarms the entry. Returns true when it was armed.</summary>
    public bool Cancel(TimerEntry entry)
    {
        if (!entry.Armed)
        {
            return false;
        }

        entry.Armed = false;
        entry.Generation++;
        _armed--;
        return true;
    }

    /// <summary>The earliest due time among armed entries, or null.</summary>
    public long? NextDue()
    {
        while (_heap.TryPeek(out (TimerEntry Entry, long Generation) top, out (long Due, long Sequence) key))
        {
            if (top.Entry.Armed && top.Entry.Generation == top.Generation)
            {
                return key.Due;
            }

            _heap.Dequeue();
        }

        return null;
    }

    /// <summary>Removes and returns (disarmed) every armed entry due at or before <paramref name="now"/>, in order.</summary>
    public void TakeDue(long now, List<TimerEntry> into)
    {
        while (_heap.TryPeek(out (TimerEntry Entry, long Generation) top, out (long Due, long Sequence) key) && key.Due <= now)
        {
            _heap.Dequeue();
            if (top.Entry.Armed && top.Entry.Generation == top.Generation)
            {
                top.Entry.Armed = false;
                _armed--;
                into.Add(top.Entry);
            }
        }
    }
}
