namespace IrpLab;

/// <summary>
/// KSPIN_LOCK. Acquiring raises to DISPATCH_LEVEL; a contending processor spins. In deterministic mode a spinning
/// thread is parked until the lock is released, and every spinner is then made runnable, so which one wins is a
/// scheduling decision. Not recursive.
/// </summary>
public sealed class KSpinLock : KernelObject
{
    internal KThread? Owner;

    /// <summary>Threads spinning on this lock (deterministic mode only; guarded by the dispatcher lock).</summary>
    internal List<KThread>? Spinners;

    internal override ObjectType Type => ObjectType.SpinLock;

    public bool IsHeld => Volatile.Read(ref Owner) is not null;
}
