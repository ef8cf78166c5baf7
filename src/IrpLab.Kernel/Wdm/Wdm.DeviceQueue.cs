namespace IrpLab;

public static partial class Wdm
{
    /// <summary>KeInitializeDeviceQueue: empty and not busy. IRQL ≤ DISPATCH_LEVEL.</summary>
    public static void KeInitializeDeviceQueue(KDeviceQueue DeviceQueue)
    {
        ArgumentNullException.ThrowIfNull(DeviceQueue);
        KernelChecks.RequireIrql(KThread.Current, IrqlLevel.Dispatch, "KeInitializeDeviceQueue");
        DeviceQueue.Initialize();
    }

    /// <summary>
    /// KeInsertDeviceQueue: if the queue is not busy, makes it busy and returns FALSE without inserting (the caller
    /// starts the work itself); otherwise appends the entry, sets Entry.Inserted and returns TRUE. DISPATCH_LEVEL.
    /// </summary>
    public static bool KeInsertDeviceQueue(KDeviceQueue DeviceQueue, KDeviceQueueEntry DeviceQueueEntry)
    {
        ArgumentNullException.ThrowIfNull(DeviceQueue);
        ArgumentNullException.ThrowIfNull(DeviceQueueEntry);
        IrqlRules.RequireDispatchLevel(KThread.Current, "KeInsertDeviceQueue");
        return DeviceQueue.Insert(DeviceQueueEntry, null);
    }

    /// <summary>
    /// KeInsertByKeyDeviceQueue: as KeInsertDeviceQueue, but a busy queue keeps its entries in ascending SortKey
    /// order, a new entry going after those with an equal key. DISPATCH_LEVEL.
    /// </summary>
    public static bool KeInsertByKeyDeviceQueue(KDeviceQueue DeviceQueue, KDeviceQueueEntry DeviceQueueEntry, uint SortKey)
    {
        ArgumentNullException.ThrowIfNull(DeviceQueue);
        ArgumentNullException.ThrowIfNull(DeviceQueueEntry);
        IrqlRules.RequireDispatchLevel(KThread.Current, "KeInsertByKeyDeviceQueue");
        return DeviceQueue.Insert(DeviceQueueEntry, SortKey);
    }

    /// <summary>
    /// KeRemoveDeviceQueue: removes and returns the head entry (Inserted = FALSE); if the queue is empty, makes it not
    /// busy and returns NULL. The queue must be busy. DISPATCH_LEVEL.
    /// </summary>
    public static KDeviceQueueEntry? KeRemoveDeviceQueue(KDeviceQueue DeviceQueue)
    {
        ArgumentNullException.ThrowIfNull(DeviceQueue);
        IrqlRules.RequireDispatchLevel(KThread.Current, "KeRemoveDeviceQueue");
        return DeviceQueue.RemoveHead();
    }

    /// <summary>
    /// KeRemoveByKeyDeviceQueue: removes the first entry whose SortKey is at least SortKey, or the head entry if none
    /// is; if the queue is empty, makes it not busy and returns NULL. DISPATCH_LEVEL.
    /// </summary>
    public static KDeviceQueueEntry? KeRemoveByKeyDeviceQueue(KDeviceQueue DeviceQueue, uint SortKey)
    {
        ArgumentNullException.ThrowIfNull(DeviceQueue);
        IrqlRules.RequireDispatchLevel(KThread.Current, "KeRemoveByKeyDeviceQueue");
        return DeviceQueue.RemoveByKey(SortKey, onlyIfBusy: false);
    }

    /// <summary>KeRemoveByKeyDeviceQueueIfBusy: NULL if the queue is not busy; otherwise as KeRemoveByKeyDeviceQueue. DISPATCH_LEVEL.</summary>
    public static KDeviceQueueEntry? KeRemoveByKeyDeviceQueueIfBusy(KDeviceQueue DeviceQueue, uint SortKey)
    {
        ArgumentNullException.ThrowIfNull(DeviceQueue);
        IrqlRules.RequireDispatchLevel(KThread.Current, "KeRemoveByKeyDeviceQueueIfBusy");
        return DeviceQueue.RemoveByKey(SortKey, onlyIfBusy: true);
    }

    /// <summary>
    /// KeRemoveEntryDeviceQueue: removes that entry if it is queued and returns its previous Inserted value (TRUE = it
    /// was queued and now is not). Used by cancel routines. IRQL ≤ DISPATCH_LEVEL.
    /// </summary>
    public static bool KeRemoveEntryDeviceQueue(KDeviceQueue DeviceQueue, KDeviceQueueEntry DeviceQueueEntry)
    {
        ArgumentNullException.ThrowIfNull(DeviceQueue);
        ArgumentNullException.ThrowIfNull(DeviceQueueEntry);
        KernelChecks.RequireIrql(KThread.Current, IrqlLevel.Dispatch, "KeRemoveEntryDeviceQueue");
        return DeviceQueue.RemoveEntry(DeviceQueueEntry);
    }
}
