namespace IrpLab;

/// <summary>
/// The dispatcher object an idle machine service thread (a processor's DPC thread, its interrupt thread, a system
/// worker thread) waits on. As an auto-reset signal it says "there is work, look at your queue"; as a counter it
/// holds one count per queued item and each satisfied wait takes one. A service thread blocked on its wake object
/// is idle: it is left out of deadlock reports, and because it is not runnable it never hides a deadlock either.
/// Guarded by the dispatcher lock like every dispatcher object.
/// </summary>
internal sealed class ServiceWakeObject : DispatcherObject
{
    private static readonly ObjectType s_type = new("ServiceQueue", 0);

    private readonly bool _counting;

    public ServiceWakeObject(bool counting)
    {
        _counting = counting;
        DispatcherType = DispatcherObjectType.QueueObject;
    }

    internal override ObjectType Type => s_type;

    /// <summary>Adds work (lock held): sets the signal, or adds one to the count, and wakes a waiter.</summary>
    public void Signal(KernelDispatcher dispatcher)
    {
        if (_counting)
        {
            SignalState++;
        }
        else if (SignalState > 0)
        {
            return;
        }
        else
        {
            SignalState = 1;
        }

        dispatcher.WaitTest(this);
    }

    internal override void OnWaitSatisfied(KThread thread)
    {
        if (_counting)
        {
            SignalState--;
        }
        else
        {
            SignalState = 0;
        }
    }

    /// <summary>True when <paramref name="thread"/> is a service thread parked on its wake object with nothing to do.</summary>
    public static bool IsIdle(KThread thread)
        => thread.IsService
            && thread.State == KThreadState.Waiting
            && thread.SpinningOn is null
            && thread.WaitCount == 1
            && thread.GetWaitBlock(0).Object is ServiceWakeObject;

    /// <summary>
    /// Parks the calling service thread until its wake object is signaled. Throws <see cref="MachineHaltedException"/>
    /// when the machine stops meanwhile, so a service loop never runs work during shutdown.
    /// </summary>
    public static void WaitForWork(KThread thread, DispatcherObject[] wake)
    {
        Machine m = thread.Machine;
        NtStatus status = m.Dispatcher.Wait(thread, wake, WaitType.WaitAny, KProcessorMode.KernelMode, false, null);
        if (m.IsHalted || thread.Unwinding || status != NtStatus.STATUS_WAIT_0)
        {
            throw new MachineHaltedException();
        }
    }
}
