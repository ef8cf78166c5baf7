namespace IrpLab;

/// <summary>
/// KDEVICE_QUEUE_ENTRY: the link that puts a request in a device queue, with its sort key and whether it is in a
/// queue now. An IRP embeds one (<c>Irp.Tail.Overlay.DeviceQueueEntry</c>); <see cref="Container"/> takes the place
/// of CONTAINING_RECORD, leading from an entry a device queue returned back to its owner.
/// </summary>
public class KDeviceQueueEntry
{
    public KDeviceQueueEntry()
    {
    }

    /// <param name="container">The object this entry is embedded in (an IRP), returned by <see cref="Container"/>.</param>
    public KDeviceQueueEntry(object? container)
    {
        Container = container;
    }

    /// <summary>The object that embeds this entry, if one was given.</summary>
    public object? Container { get; }

    /// <summary>The key KeInsertByKeyDeviceQueue sorted the entry by.</summary>
    public uint SortKey { get; internal set; }

    /// <summary>TRUE while the entry is in a device queue.</summary>
    public bool Inserted { get; internal set; }

    internal KDeviceQueueEntry? Next;

    internal KDeviceQueueEntry? Previous;

    internal KDeviceQueue? Queue;
}

/// <summary>
/// KDEVICE_QUEUE (ReactOS ntoskrnl/ke/devqueue.c in shape). <see cref="Busy"/> means "the device is working on
/// something", not "the list is non-empty": inserting into a queue that is not busy makes it busy and inserts
/// nothing (the caller starts the work itself); removing from an empty queue makes it not busy. The list and the
/// flag are guarded by the queue's lock (the DDK's KSPIN_LOCK; the routines run at DISPATCH_LEVEL).
/// </summary>
public sealed class KDeviceQueue : KernelObject
{
    private static readonly ObjectType s_type = new("DeviceQueue", 0);

    private readonly Lock _lock = new();
    private KDeviceQueueEntry? _head;
    private KDeviceQueueEntry? _tail;
    private int _count;
    private bool _busy;

    /// <summary>TRUE while the device is working on a request (set by an insert into an idle queue).</summary>
    public bool Busy => Volatile.Read(ref _busy);

    /// <summary>Entries waiting in the queue.</summary>
    public int Count => Volatile.Read(ref _count);

    internal override ObjectType Type => s_type;

    /// <summary>The entries in queue order (a snapshot, for tests and diagnostics).</summary>
    public IReadOnlyList<KDeviceQueueEntry> Entries
    {
        get
        {
            lock (_lock)
            {
                var list = new List<KDeviceQueueEntry>(_count);
                for (KDeviceQueueEntry? e = _head; e is not null; e = e.Next)
                {
                    list.Add(e);
                }

                return list;
            }
        }
    }

    internal void Initialize()
    {
        lock (_lock)
        {
            for (KDeviceQueueEntry? e = _head; e is not null;)
            {
                KDeviceQueueEntry? next = e.Next;
                Unlink(e);
                e = next;
            }

            _busy = false;
        }
    }

    /// <summary>KeInsertDeviceQueue / KeInsertByKeyDeviceQueue (byKey: ascending key, FIFO among equal keys).</summary>
    internal bool Insert(KDeviceQueueEntry entry, uint? sortKey)
    {
        lock (_lock)
        {
            if (entry.Queue is not null)
            {
                throw new InvalidOperationException(
                    "The device queue entry is already in a device queue; inserting it again corrupts the queue's list.");
            }

            if (sortKey is uint key)
            {
                entry.SortKey = key;
            }

            if (!_busy)
            {
                _busy = true;
                entry.Inserted = false;
                return false;
            }

            if (sortKey is uint k)
            {
                KDeviceQueueEntry? after = _tail;
                while (after is not null && after.SortKey > k)
                {
                    after = after.Previous;
                }

                LinkAfter(entry, after);
            }
            else
            {
                LinkAfter(entry, _tail);
            }

            entry.Inserted = true;
            return true;
        }
    }

    /// <summary>KeRemoveDeviceQueue: the head entry, or null (and the queue not busy) when empty.</summary>
    internal KDeviceQueueEntry? RemoveHead()
    {
        lock (_lock)
        {
            KDeviceQueueEntry? entry = _head;
            if (entry is null)
            {
                _busy = false;
                return null;
            }

            Unlink(entry);
            return entry;
        }
    }

    /// <summary>
    /// KeRemoveByKeyDeviceQueue(IfBusy): the first entry whose key is at least <paramref name="sortKey"/>, else the
    /// head; null and not busy when empty. With <paramref name="onlyIfBusy"/>, null when the queue is not busy.
    /// </summary>
    internal KDeviceQueueEntry? RemoveByKey(uint sortKey, bool onlyIfBusy)
    {
        lock (_lock)
        {
            if (onlyIfBusy && !_busy)
            {
                return null;
            }

            if (_head is null)
            {
                _busy = false;
                return null;
            }

            KDeviceQueueEntry entry = _head;
            for (KDeviceQueueEntry? e = _head; e is not null; e = e.Next)
            {
                if (e.SortKey >= sortKey)
                {
                    entry = e;
                    break;
                }
            }

            Unlink(entry);
            return entry;
        }
    }

    /// <summary>KeRemoveEntryDeviceQueue: removes the entry if it is in this queue; returns whether it was.</summary>
    internal bool RemoveEntry(KDeviceQueueEntry entry)
    {
        if (entry.Queue is KDeviceQueue other && other != this)
        {
            // Windows unlinks the entry from whatever list it is in; so do we.
            return other.RemoveEntry(entry);
        }

        lock (_lock)
        {
            bool wasInserted = entry.Inserted;
            if (wasInserted && entry.Queue == this)
            {
                Unlink(entry);
            }

            return wasInserted;
        }
    }

    private void LinkAfter(KDeviceQueueEntry entry, KDeviceQueueEntry? after)
    {
        entry.Queue = this;
        entry.Previous = after;
        entry.Next = after is null ? _head : after.Next;
        if (entry.Next is null)
        {
            _tail = entry;
        }
        else
        {
            entry.Next.Previous = entry;
        }

        if (after is null)
        {
            _head = entry;
        }
        else
        {
            after.Next = entry;
        }

        _count++;
    }

    private void Unlink(KDeviceQueueEntry entry)
    {
        if (entry.Previous is null)
        {
            _head = entry.Next;
        }
        else
        {
            entry.Previous.Next = entry.Next;
        }

        if (entry.Next is null)
        {
            _tail = entry.Previous;
        }
        else
        {
            entry.Next.Previous = entry.Previous;
        }

        entry.Next = null;
        entry.Previous = null;
        entry.Queue = null;
        entry.Inserted = false;
        _count--;
    }
}
