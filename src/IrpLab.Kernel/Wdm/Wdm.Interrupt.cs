using IrpLab.Hardware;

namespace IrpLab;

/// <summary>IO_DPC_ROUTINE: a DpcForIsr, run at DISPATCH_LEVEL after IoRequestDpc.</summary>
public delegate void IoDpcRoutine(KDpc Dpc, DeviceObject DeviceObject, Irp? Irp, object? Context);

public static partial class Wdm
{
    public const KInterruptMode LevelSensitive = KInterruptMode.LevelSensitive;
    public const KInterruptMode Latched = KInterruptMode.Latched;

    /// <summary>
    /// IoConnectInterrupt: connects ServiceRoutine to Vector. The ISR runs at Irql (a DIRQL, above DISPATCH_LEVEL)
    /// holding SpinLock (or the interrupt object's own lock when SpinLock is null) on a processor of
    /// ProcessorEnableMask. STATUS_INVALID_PARAMETER for a bad IRQL pair, an empty processor mask, or a vector that is
    /// connected already and cannot be shared (either side not ShareVector, or another InterruptMode). PASSIVE_LEVEL.
    /// </summary>
    public static NtStatus IoConnectInterrupt(out KInterrupt InterruptObject, KServiceRoutine ServiceRoutine, object? ServiceContext, KSpinLock? SpinLock,
        uint Vector, byte Irql, byte SynchronizeIrql, KInterruptMode InterruptMode, bool ShareVector, ulong ProcessorEnableMask, bool FloatingSave)
    {
        ArgumentNullException.ThrowIfNull(ServiceRoutine);
        KThread t = KThread.Current;
        KernelChecks.RequireIrql(t, IrqlLevel.Passive, "IoConnectInterrupt");
        Machine m = t.Machine;
        InterruptObject = null!;
        int processors = m.Options.Processors;
        ulong present = processors >= 64 ? ulong.MaxValue : (1UL << processors) - 1;
        if (Irql <= IrqlLevel.Dispatch || Irql > IrqlLevel.High || SynchronizeIrql < Irql || SynchronizeIrql > IrqlLevel.High
            || (ProcessorEnableMask & present) == 0)
        {
            return NtStatus.STATUS_INVALID_PARAMETER;
        }

        var interrupt = new KInterrupt(ServiceRoutine, ServiceContext, SpinLock, Vector, Irql, SynchronizeIrql, InterruptMode,
            ShareVector, ProcessorEnableMask & present, FloatingSave)
        {
            OwnerDriver = t.CurrentDriver,
        };
        NtStatus status = m.Interrupts.Connect(interrupt);
        if (status == NtStatus.STATUS_SUCCESS)
        {
            InterruptObject = interrupt;
        }

        return status;
    }

    /// <summary>
    /// IoDisconnectInterrupt: the ISR will not be called again; an ISR running on another processor finishes first
    /// (the routine takes the interrupt spin lock). Call it before unloading. PASSIVE_LEVEL.
    /// </summary>
    public static void IoDisconnectInterrupt(KInterrupt InterruptObject)
    {
        ArgumentNullException.ThrowIfNull(InterruptObject);
        KThread t = KThread.Current;
        KernelChecks.RequireIrql(t, IrqlLevel.Passive, "IoDisconnectInterrupt");
        t.Machine.Interrupts.Disconnect(InterruptObject);
        KernelChecks.RaiseIrql(t, InterruptObject.SynchronizeIrql, out byte old);
        InterruptController.AcquireInterruptLock(t, InterruptObject.ActualLock);
        InterruptController.ReleaseInterruptLock(t, InterruptObject.ActualLock);
        KernelChecks.LowerIrql(t, old);
    }

    /// <summary>
    /// KeSynchronizeExecution: raises to the interrupt's SynchronizeIrql, takes its spin lock, runs
    /// SynchronizeRoutine(SynchronizeContext) and returns its result. The ISR cannot run meanwhile: this is how code
    /// below DIRQL touches state it shares with the ISR. IRQL ≤ SynchronizeIrql.
    /// </summary>
    public static bool KeSynchronizeExecution(KInterrupt Interrupt, KSynchronizeRoutine SynchronizeRoutine, object? SynchronizeContext)
    {
        ArgumentNullException.ThrowIfNull(Interrupt);
        ArgumentNullException.ThrowIfNull(SynchronizeRoutine);
        KThread t = KThread.Current;
        KernelChecks.RequireIrql(t, Interrupt.SynchronizeIrql, "KeSynchronizeExecution");
        KernelChecks.RaiseIrql(t, Interrupt.SynchronizeIrql, out byte old);
        InterruptController.AcquireInterruptLock(t, Interrupt.ActualLock);
        bool result = SynchronizeRoutine(SynchronizeContext);
        InterruptController.ReleaseInterruptLock(t, Interrupt.ActualLock);
        KernelChecks.LowerIrql(t, old);
        return result;
    }

    /// <summary>
    /// IoInitializeDpcRequest: KeInitializeDpc(&amp;DeviceObject-&gt;Dpc, DpcForIsr, DeviceObject). Call it before
    /// connecting the interrupt.
    /// </summary>
    public static void IoInitializeDpcRequest(DeviceObject DeviceObject, IoDpcRoutine DpcRoutine)
    {
        ArgumentNullException.ThrowIfNull(DeviceObject);
        ArgumentNullException.ThrowIfNull(DpcRoutine);
        InitializeDpc(KThread.Current, DeviceObject.Dpc,
            (dpc, context, irp, ctx) => DpcRoutine(dpc, (DeviceObject)context!, irp as Irp, ctx),
            DeviceObject, DpcRoutine.Method.Name);
    }

    /// <summary>
    /// IoRequestDpc: KeInsertQueueDpc(&amp;DeviceObject-&gt;Dpc, Irp, Context), typically from the ISR (any IRQL).
    /// Requests made before the DpcForIsr runs collapse into one run with the first request's Irp and Context.
    /// </summary>
    public static void IoRequestDpc(DeviceObject DeviceObject, Irp? Irp, object? Context)
    {
        ArgumentNullException.ThrowIfNull(DeviceObject);
        KeInsertQueueDpc(DeviceObject.Dpc, Irp, Context);
    }

    /// <summary>READ_REGISTER_ULONG: reads a 32-bit device register.</summary>
    public static uint READ_REGISTER_ULONG(DeviceRegister Register)
    {
        ArgumentNullException.ThrowIfNull(Register.Device);
        return Register.Device.Read(Register.Offset);
    }

    /// <summary>WRITE_REGISTER_ULONG: writes a 32-bit device register.</summary>
    public static void WRITE_REGISTER_ULONG(DeviceRegister Register, uint Value)
    {
        ArgumentNullException.ThrowIfNull(Register.Device);
        Register.Device.Write(Register.Offset, Value);
    }
}
