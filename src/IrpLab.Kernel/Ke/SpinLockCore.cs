namespace IrpLab;

/// <summary>
/// The mechanism under every spin lock (DISPATCH_LEVEL locks, the cancel spin lock, interrupt spin locks); the
/// IRQL and verifier rules stay with the callers. In deterministic mode a contending thread is parked until the
/// lock is given back, and then every spinner is made runnable, so which one wins is a scheduling decision; in real
/// mode it spins on the owner field.
/// </summary>
internal static class SpinLockCore
{
    public static void Take(KThread t, KSpinLock spinLock)
    {
        Machine m = t.Machine;
        if (m.Scheduler.IsDeterministic)
        {
            KernelDispatcher dispatcher = m.Dispatcher;
            while (true)
            {
                lock (dispatcher.SyncRoot)
                {
                    if (m.IsHalted)
                    {
                        throw new MachineHaltedException();
                    }

                    if (spinLock.Owner is null)
                    {
                        spinLock.Owner = t;
                        return;
                    }

                    (spinLock.Spinners ??= []).Add(t);
                    t.SpinningOn = spinLock;
                    t.State = KThreadState.Waiting;
                }

                m.Scheduler.Block(t);
                t.SpinningOn = null;
            }
        }

        var spinner = default(SpinWait);
        while (Interlocked.CompareExchange(ref spinLock.Owner, t, null) is not null)
        {
            if (m.IsHalted)
            {
                throw new MachineHaltedException();
            }

            spinner.SpinOnce(sleep1Threshold: -1);
        }
    }

    public static void Give(Machine m, KSpinLock spinLock)
    {
        if (m.Scheduler.IsDeterministic)
        {
            lock (m.Dispatcher.SyncRoot)
            {
                spinLock.Owner = null;
                if (spinLock.Spinners is { Count: > 0 } spinners)
                {
                    foreach (KThread s in spinners)
                    {
                        m.Scheduler.Ready(s);
                    }

                    spinners.Clear();
                }
            }
        }
        else
        {
            Volatile.Write(ref spinLock.Owner, null);
        }
    }
}
