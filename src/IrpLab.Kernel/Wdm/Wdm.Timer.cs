namespace IrpLab;

public static partial class Wdm
{
    /// <summary>KeInitializeTimer: a notification timer, not signaled, not queued. IRQL ≤ DISPATCH_LEVEL.</summary>
    public static void KeInitializeTimer(KTimer Timer) => KeInitializeTimerEx(Timer, NotificationTimer);

    /// <summary>
    /// KeInitializeTimerEx: a NotificationTimer or SynchronizationTimer, not signaled, not queued. IRQL ≤
    /// DISPATCH_LEVEL. Re-initializing a timer that is still queued is TIMER_OR_DPC_INVALID (0xC7 / 0x0).
    /// </summary>
    public static void KeInitializeTimerEx(KTimer Timer, TimerType Type)
    {
        ArgumentNullException.ThrowIfNull(Timer);
        KThread t = KThread.Current;
        KernelChecks.RequireIrql(t, IrqlLevel.Dispatch, "KeInitializeTimerEx");
        Machine m = t.Machine;
        if (Timer.IsQueued)
        {
            throw m.RaiseBugCheck(BugCheckCatalogue.TIMER_OR_DPC_INVALID, 0x0, Timer.DebugAddress(m), 0, 0,
                "KeInitializeTimer(Ex) on a timer that is still queued: the timer queue still links it. Cancel it with KeCancelTimer first.");
        }

        lock (m.Dispatcher.SyncRoot)
        {
            Timer.Initialize(Type);
            Timer.OwnerDriver = t.CurrentDriver;
        }
    }

    /// <summary>
    /// KeSetTimer: KeSetTimerEx without a period. DueTime: negative = relative (100 ns units), otherwise an absolute
    /// system time. Returns TRUE if the timer was already queued (that expiry is cancelled).
    /// </summary>
    public static bool KeSetTimer(KTimer Timer, LargeInteger DueTime, KDpc? Dpc) => KeSetTimerEx(Timer, DueTime, 0, Dpc);

    /// <summary>
    /// KeSetTimerEx: makes the timer non-signaled and queues it to expire at DueTime, then every Period milliseconds
    /// if Period &gt; 0; at each expiry the timer is signaled and Dpc (if any) is queued with its DeferredContext.
    /// Setting a queued timer cancels its earlier expiry and returns TRUE. IRQL ≤ DISPATCH_LEVEL.
    /// </summary>
    public static bool KeSetTimerEx(KTimer Timer, LargeInteger DueTime, int Period, KDpc? Dpc)
    {
        ArgumentNullException.ThrowIfNull(Timer);
        ArgumentOutOfRangeException.ThrowIfNegative(Period);
        KThread t = KThread.Current;
        KernelChecks.RequireIrql(t, IrqlLevel.Dispatch, "KeSetTimerEx");
        Machine m = t.Machine;
        if (Dpc is { HasTarget: true } && Dpc.Number >= m.Dpcs.ProcessorCount)
        {
            throw m.RaiseBugCheck(BugCheckCatalogue.TIMER_OR_DPC_INVALID, 0x3, Dpc.DebugAddress(m), (ulong)Dpc.Number, (ulong)m.Dpcs.ProcessorCount,
                $"KeSetTimerEx: the timer's DPC {Dpc.RoutineName} targets processor {Dpc.Number} but the machine has {m.Dpcs.ProcessorCount}.");
        }

        if (Dpc is not null && Dpc.OwnerDriver is null)
        {
            Dpc.OwnerDriver = t.CurrentDriver;
        }

        return m.TimerObjects.Set(t, Timer, DueTime.QuadPart, Period, Dpc);
    }

    /// <summary>
    /// KeCancelTimer: TRUE if the timer was queued and now is not; FALSE if it was not queued (for example it has
    /// expired and its DPC may be queued or running: KeCancelTimer does not stop that, KeFlushQueuedDpcs waits for it).
    /// IRQL ≤ DISPATCH_LEVEL.
    /// </summary>
    public static bool KeCancelTimer(KTimer Timer)
    {
        ArgumentNullException.ThrowIfNull(Timer);
        KThread t = KThread.Current;
        KernelChecks.RequireIrql(t, IrqlLevel.Dispatch, "KeCancelTimer");
        return t.Machine.TimerObjects.Cancel(Timer);
    }

    /// <summary>KeReadStateTimer: TRUE when the timer is signaled. IRQL ≤ DISPATCH_LEVEL.</summary>
    public static bool KeReadStateTimer(KTimer Timer)
    {
        ArgumentNullException.ThrowIfNull(Timer);
        KernelChecks.RequireIrql(KThread.Current, IrqlLevel.Dispatch, "KeReadStateTimer");
        return Volatile.Read(ref Timer.SignalState) > 0;
    }
}
