namespace IrpLab.Scheduling;

/// <summary>
/// Runs simulated threads. Every simulated thread is carried by an OS thread (pooled across machines); the
/// scheduler decides when each one may run. Two implementations: <see cref="RealScheduler"/> lets them run
/// concurrently in real time; <see cref="DeterministicScheduler"/> runs one at a time and asks a strategy at every
/// scheduling point.
/// </summary>
internal abstract class Scheduler
{
    protected Scheduler(Machine machine)
    {
        Machine = machine;
    }

    protected Machine Machine { get; }

    public abstract bool IsDeterministic { get; }

    /// <summary>Scheduling points reached.</summary>
    public long Steps;

    /// <summary>Scheduling points at which a strategy chose among two or more threads.</summary>
    public long Choices;

    /// <summary>Context switches made.</summary>
    public long Switches;

    /// <summary>Creates the carrier of a new thread and makes it runnable.</summary>
    public abstract void Start(KThread thread);

    /// <summary>Called on the carrier before the thread's body runs.</summary>
    public abstract void OnCarrierStart(KThread thread);

    /// <summary>A point in the running thread where another thread may be scheduled.</summary>
    public abstract void Yield(KThread current, SchedulingPointKind kind);

    /// <summary>
    /// Parks the running thread, which the caller has put in the waiting state (the dispatcher lock is released).
    /// Returns once the thread is readied again; throws <see cref="MachineHaltedException"/> if the machine stopped.
    /// </summary>
    public abstract void Block(KThread current);

    /// <summary>Makes a waiting thread runnable. Called with the dispatcher lock held.</summary>
    public abstract void Ready(KThread thread);

    /// <summary>A timer was armed (dispatcher lock held).</summary>
    public abstract void TimerArmed(long dueTime);

    /// <summary>Called on the carrier when the thread has terminated; the carrier ends after this returns.</summary>
    public abstract void Exited(KThread thread);

    /// <summary>From the host: lets the machine run until <paramref name="thread"/> has terminated or the machine stops.</summary>
    public abstract void RunUntilExit(KThread thread);

    /// <summary>From the host, after a stop or at dispose: unwinds every live thread.</summary>
    public abstract void UnwindAll(IReadOnlyList<KThread> threads);

    /// <summary>A data choice in [0, maxExclusive).</summary>
    public abstract int ChooseInteger(int maxExclusive, SchedulingPointKind kind);

    public virtual void Dispose()
    {
    }

    /// <summary>Runs the thread's carrier body on a pooled OS thread (see <see cref="CarrierPool"/>).</summary>
    protected static void StartCarrier(KThread thread) => CarrierPool.Start(thread);
}
