namespace IrpLab;

/// <summary>KSERVICE_ROUTINE: an ISR. Runs at the interrupt's IRQL holding its spin lock; TRUE = "my device interrupted".</summary>
public delegate bool KServiceRoutine(KInterrupt Interrupt, object? ServiceContext);

/// <summary>KSYNCHRONIZE_ROUTINE: run by KeSynchronizeExecution at SynchronizeIrql holding the interrupt spin lock.</summary>
public delegate bool KSynchronizeRoutine(object? SynchronizeContext);

/// <summary>KINTERRUPT_MODE.</summary>
public enum KInterruptMode
{
    /// <summary>The line stays asserted until the driver acknowledges the device; an ISR that claims the interrupt
    /// without acknowledging it is called again at once.</summary>
    LevelSensitive = 0,

    /// <summary>Edge-triggered: one delivery per edge; edges while one is pending merge.</summary>
    Latched = 1,
}

/// <summary>
/// KINTERRUPT: an ISR connected to an interrupt vector by IoConnectInterrupt. The interrupt spin lock (the caller's
/// or the object's own) serializes the ISR with KeSynchronizeExecution routines.
/// </summary>
public sealed class KInterrupt : KernelObject
{
    private static readonly ObjectType s_type = new("Interrupt", 0);

    internal KInterrupt(KServiceRoutine serviceRoutine, object? serviceContext, KSpinLock? spinLock, uint vector, byte irql,
        byte synchronizeIrql, KInterruptMode mode, bool shareVector, ulong processorEnableMask, bool floatingSave)
    {
        ServiceRoutine = serviceRoutine;
        ServiceContext = serviceContext;
        ActualLock = spinLock ?? new KSpinLock();
        Vector = vector;
        Irql = irql;
        SynchronizeIrql = synchronizeIrql;
        Mode = mode;
        ShareVector = shareVector;
        ProcessorEnableMask = processorEnableMask;
        FloatingSave = floatingSave;
        RoutineName = serviceRoutine.Method.Name;
    }

    public KServiceRoutine ServiceRoutine { get; }

    public object? ServiceContext { get; }

    public uint Vector { get; }

    /// <summary>The device IRQL the ISR runs at.</summary>
    public byte Irql { get; }

    /// <summary>The IRQL KeSynchronizeExecution raises to (at least <see cref="Irql"/>).</summary>
    public byte SynchronizeIrql { get; }

    public KInterruptMode Mode { get; }

    public bool ShareVector { get; }

    public ulong ProcessorEnableMask { get; }

    public bool FloatingSave { get; }

    /// <summary>Connected and not yet disconnected.</summary>
    public bool Connected => Volatile.Read(ref IsConnected);

    /// <summary>The spin lock the ISR holds (the one passed to IoConnectInterrupt, or the object's own).</summary>
    internal KSpinLock ActualLock { get; }

    internal bool IsConnected;

    internal string? OwnerDriver;

    internal string RoutineName { get; }

    internal override ObjectType Type => s_type;

    public override string ToString() => "interrupt " + Vector + " (" + RoutineName + ")";
}
