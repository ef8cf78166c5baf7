using IrpLab.Scheduling;

namespace IrpLab;

/// <summary>
/// IRQL transitions, spin locks and the IRQL rules of the DDIs, with the bug checks Windows raises when they are
/// broken: the 0xC4 family with Driver Verifier, the plain kernel codes (0x09, 0x0A, 0x0F, 0x10, 0xB8) without.
/// </summary>
internal static class KernelChecks
{
    public const uint VerifierGenericIrql = 0xE5;

    public static void RaiseIrql(KThread t, byte newIrql, out byte oldIrql)
    {
        oldIrql = t.Irql;
        if (newIrql < oldIrql)
        {
            Machine m = t.Machine;
            throw m.Verifies(t)
                ? m.RaiseBugCheck(BugCheckCatalogue.DRIVER_VERIFIER_DETECTED_VIOLATION, 0x30, oldIrql, newIrql, 0,
                    $"KeRaiseIrql to {IrqlLevel.Name(newIrql)} while at {IrqlLevel.Name(oldIrql)}: raising must not lower the IRQL. Use KeLowerIrql with the saved value.")
                : m.RaiseBugCheck(BugCheckCatalogue.IRQL_NOT_GREATER_OR_EQUAL, oldIrql, newIrql, 0, 0,
                    $"KeRaiseIrql to {IrqlLevel.Name(newIrql)} while at {IrqlLevel.Name(oldIrql)}.");
        }

        SetIrql(t, newIrql);
    }

    public static void LowerIrql(KThread t, byte newIrql)
    {
        byte current = t.Irql;
        if (newIrql > current)
        {
            Machine m = t.Machine;
            throw m.Verifies(t)
                ? m.RaiseBugCheck(BugCheckCatalogue.DRIVER_VERIFIER_DETECTED_VIOLATION, 0x31, current, newIrql, 0,
                    $"KeLowerIrql to {IrqlLevel.Name(newIrql)} while at {IrqlLevel.Name(current)}: lowering must not raise. Pass the IRQL that KeRaiseIrql or KeAcquireSpinLock returned.")
                : m.RaiseBugCheck(BugCheckCatalogue.IRQL_NOT_LESS_OR_EQUAL, 0, current, 0, 0,
                    $"KeLowerIrql to {IrqlLevel.Name(newIrql)} while at {IrqlLevel.Name(current)}.");
        }

        SetIrql(t, newIrql);
        if (current >= IrqlLevel.Dispatch && newIrql < IrqlLevel.Dispatch)
        {
            // Dropping below DISPATCH_LEVEL is where pending DPCs and other threads get their chance.
            t.Machine.Scheduler.Yield(t, SchedulingPointKind.IrqlLowered);
        }
    }

    private static void SetIrql(KThread t, byte newIrql)
    {
        byte old = t.Irql;
        t.Irql = newIrql;
        if (t.Machine.Scheduler is DeterministicScheduler d)
        {
            if (old < IrqlLevel.Dispatch && newIrql >= IrqlLevel.Dispatch)
            {
                d.HoldProcessor(t);
            }
            else if (old >= IrqlLevel.Dispatch && newIrql < IrqlLevel.Dispatch)
            {
                d.ReleaseProcessor(t);
            }
        }
    }

    /// <summary>A DDI that may only be called at or below <paramref name="maxIrql"/>.</summary>
    public static void RequireIrql(KThread t, byte maxIrql, string routine)
    {
        if (t.Irql > maxIrql)
        {
            Machine m = t.Machine;
            throw m.Verifies(t)
                ? m.RaiseBugCheck(BugCheckCatalogue.DRIVER_VERIFIER_DETECTED_VIOLATION, VerifierGenericIrql, t.Irql, maxIrql, 0,
                    $"{routine} was called at {IrqlLevel.Name(t.Irql)}; it may only be called at {IrqlLevel.Name(maxIrql)} or below.")
                : m.RaiseBugCheck(BugCheckCatalogue.IRQL_NOT_LESS_OR_EQUAL, 0, t.Irql, 0, 0,
                    $"{routine} was called at {IrqlLevel.Name(t.Irql)}; it may only be called at {IrqlLevel.Name(maxIrql)} or below.");
        }
    }

    /// <summary>
    /// KeWaitForXxx at DISPATCH_LEVEL or above: only a zero timeout is legal at DISPATCH_LEVEL, nothing above it.
    /// </summary>
    public static void CheckWaitIrql(KThread t, DispatcherObject? obj, long? timeout)
    {
        byte irql = t.Irql;
        if (irql < IrqlLevel.Dispatch || (irql == IrqlLevel.Dispatch && timeout == 0))
        {
            return;
        }

        Machine m = t.Machine;
        ulong objAddress = obj?.DebugAddress(m) ?? 0;
        ulong timeoutValue = timeout is long v ? unchecked((ulong)v) : 0;
        string what = obj is null ? "KeDelayExecutionThread" : "KeWaitForXxx";
        if (m.Verifies(t))
        {
            uint subcode = irql > IrqlLevel.Dispatch ? 0x120u : timeout is null ? 0x121u : 0x122u;
            throw m.RaiseBugCheck(BugCheckCatalogue.DRIVER_VERIFIER_DETECTED_VIOLATION, subcode, irql, objAddress, timeoutValue,
                $"{what} at {IrqlLevel.Name(irql)} with {(timeout is null ? "an infinite" : "a non-zero")} timeout: a thread at DISPATCH_LEVEL cannot wait. Do the wait at PASSIVE_LEVEL (a system thread or work item), or poll with a zero timeout.");
        }

        if (t.InDpc)
        {
            throw m.RaiseBugCheck(BugCheckCatalogue.ATTEMPTED_SWITCH_FROM_DPC, (ulong)t.Id, 0, 0, 0,
                $"{what} inside a DPC routine: DPCs run at DISPATCH_LEVEL and cannot wait.");
        }

        throw m.RaiseBugCheck(BugCheckCatalogue.IRQL_NOT_LESS_OR_EQUAL, objAddress, irql, 0, 0,
            $"{what} at {IrqlLevel.Name(irql)}: a thread at DISPATCH_LEVEL cannot wait.");
    }

    public static void AcquireSpinLock(KThread t, KSpinLock spinLock, out byte oldIrql)
    {
        if (t.Irql > IrqlLevel.Dispatch)
        {
            Machine m = t.Machine;
            throw m.Verifies(t)
                ? m.RaiseBugCheck(BugCheckCatalogue.DRIVER_VERIFIER_DETECTED_VIOLATION, 0x42, t.Irql, spinLock.DebugAddress(m), 0,
                    $"KeAcquireSpinLock at {IrqlLevel.Name(t.Irql)}: spin locks may be acquired at DISPATCH_LEVEL or below.")
                : m.RaiseBugCheck(BugCheckCatalogue.IRQL_NOT_LESS_OR_EQUAL, spinLock.DebugAddress(m), t.Irql, 1, 0,
                    $"KeAcquireSpinLock at {IrqlLevel.Name(t.Irql)}.");
        }

        RaiseIrql(t, IrqlLevel.Dispatch, out oldIrql);
        AcquireAtDpcLevel(t, spinLock, fromDpcLevelApi: false);
    }

    public static void AcquireAtDpcLevel(KThread t, KSpinLock spinLock, bool fromDpcLevelApi)
    {
        Machine m = t.Machine;
        if (fromDpcLevelApi && t.Irql < IrqlLevel.Dispatch && m.Verifies(t))
        {
            throw m.RaiseBugCheck(BugCheckCatalogue.DRIVER_VERIFIER_DETECTED_VIOLATION, 0x40, t.Irql, spinLock.DebugAddress(m), 0,
                $"KeAcquireSpinLockAtDpcLevel at {IrqlLevel.Name(t.Irql)}: the caller must already be at DISPATCH_LEVEL (use KeAcquireSpinLock otherwise).");
        }

        m.Scheduler.Yield(t, SchedulingPointKind.LockAcquire);
        if (spinLock.Owner == t)
        {
            throw m.RaiseBugCheck(BugCheckCatalogue.SPIN_LOCK_ALREADY_OWNED, spinLock.DebugAddress(m), (ulong)t.Id, 0, 0,
                $"{t} acquired a spin lock it already holds. Spin locks are not recursive: on Windows this processor would spin forever.");
        }

        if (m.VerifierEnabled)
        {
            m.Deadlocks.BeforeAcquire(t, spinLock);
        }

        SpinLockCore.Take(t, spinLock);
    }

    public static void ReleaseSpinLock(KThread t, KSpinLock spinLock, byte newIrql, bool fromDpcLevelApi)
    {
        Machine m = t.Machine;
        if (spinLock.Owner != t)
        {
            throw m.RaiseBugCheck(BugCheckCatalogue.SPIN_LOCK_NOT_OWNED, spinLock.DebugAddress(m), (ulong)t.Id, 0, 0,
                $"{t} released a spin lock it does not hold ({(spinLock.Owner is null ? "nobody holds it: a double release" : "held by " + spinLock.Owner)}).");
        }

        if (m.VerifierEnabled)
        {
            DeadlockVerifier.OnRelease(t, spinLock);
        }

        if (m.Verifies(t) && t.Irql != IrqlLevel.Dispatch)
        {
            throw fromDpcLevelApi
                ? m.RaiseBugCheck(BugCheckCatalogue.DRIVER_VERIFIER_DETECTED_VIOLATION, 0x41, t.Irql, spinLock.DebugAddress(m), 0,
                    $"KeReleaseSpinLockFromDpcLevel at {IrqlLevel.Name(t.Irql)}: it must be called at DISPATCH_LEVEL.")
                : m.RaiseBugCheck(BugCheckCatalogue.DRIVER_VERIFIER_DETECTED_VIOLATION, 0x32, t.Irql, spinLock.DebugAddress(m), 0,
                    $"KeReleaseSpinLock at {IrqlLevel.Name(t.Irql)}: a spin lock is released at DISPATCH_LEVEL (the IRQL was changed while holding it).");
        }

        SpinLockCore.Give(m, spinLock);

        if (!fromDpcLevelApi)
        {
            LowerIrql(t, newIrql);
        }

        m.Scheduler.Yield(t, SchedulingPointKind.LockRelease);
    }
}
