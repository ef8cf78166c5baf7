namespace IrpLab;

public static partial class Wdm
{
    /// <summary>InitializeListHead: an empty list points at itself.</summary>
    public static void InitializeListHead(ListEntry ListHead)
    {
        ArgumentNullException.ThrowIfNull(ListHead);
        ListHead.Flink = ListHead;
        ListHead.Blink = ListHead;
    }

    /// <summary>IsListEmpty.</summary>
    public static bool IsListEmpty(ListEntry ListHead) => ListHead.Flink == ListHead;

    /// <summary>InsertHeadList.</summary>
    public static void InsertHeadList(ListEntry ListHead, ListEntry Entry)
    {
        ListEntry first = ListHead.Flink;
        Entry.Flink = first;
        Entry.Blink = ListHead;
        first.Blink = Entry;
        ListHead.Flink = Entry;
    }

    /// <summary>InsertTailList.</summary>
    public static void InsertTailList(ListEntry ListHead, ListEntry Entry)
    {
        ListEntry last = ListHead.Blink;
        Entry.Flink = ListHead;
        Entry.Blink = last;
        last.Flink = Entry;
        ListHead.Blink = Entry;
    }

    /// <summary>RemoveHeadList: removes and returns the first entry (the head itself if the list is empty).</summary>
    public static ListEntry RemoveHeadList(ListEntry ListHead)
    {
        ListEntry entry = ListHead.Flink;
        RemoveEntryList(entry);
        return entry;
    }

    /// <summary>RemoveTailList: removes and returns the last entry (the head itself if the list is empty).</summary>
    public static ListEntry RemoveTailList(ListEntry ListHead)
    {
        ListEntry entry = ListHead.Blink;
        RemoveEntryList(entry);
        return entry;
    }

    /// <summary>RemoveEntryList: unlinks the entry; returns TRUE if the list is now empty.</summary>
    public static bool RemoveEntryList(ListEntry Entry)
    {
        ListEntry next = Entry.Flink;
        ListEntry previous = Entry.Blink;
        previous.Flink = next;
        next.Blink = previous;
        Entry.Flink = Entry;
        Entry.Blink = Entry;
        return next == previous;
    }

    /// <summary>
    /// CONTAINING_RECORD(address, type, field): the structure the list entry is embedded in. The C macro's field name
    /// is not needed: an embedded entry knows its container (create it with <c>new ListEntry(this)</c>).
    /// </summary>
    public static T CONTAINING_RECORD<T>(ListEntry Address)
        where T : class
    {
        ArgumentNullException.ThrowIfNull(Address);
        return Address.Container as T
            ?? throw new InvalidOperationException($"This list entry is not embedded in a {typeof(T).Name} (create embedded entries with new ListEntry(container)).");
    }
}
