using IrpLab.Scheduling;

namespace IrpLab;

/// <summary>
/// The user → kernel boundary. Every Ntdll service brackets its work with <see cref="Enter"/> and
/// <see cref="Exit"/>: the previous mode becomes UserMode, a scheduling point is taken, and a thread whose process
/// is exiting is unwound when it would return to user mode.
/// </summary>
internal static class SystemCall
{
    public static KThread Enter()
    {
        KThread t = KThread.Current;
        if (t.TerminationRequested && t.SystemCallDepth == 0)
        {
            throw new ThreadTerminatedException(NtStatus.STATUS_THREAD_IS_TERMINATING);
        }

        t.SystemCallDepth++;
        t.PreviousMode = t.Process.IsSystem ? KProcessorMode.KernelMode : KProcessorMode.UserMode;
        t.Machine.Scheduler.Yield(t, SchedulingPointKind.SystemCall);
        return t;
    }

    public static void Exit(KThread t)
    {
        t.SystemCallDepth--;
        if (t.SystemCallDepth == 0)
        {
            if (t.Irql != IrqlLevel.Passive && !t.Machine.IsHalted)
            {
                // IRQL_GT_ZERO_AT_SYSTEM_SERVICE: a driver left the IRQL raised.
                byte irql = t.Irql;
                t.Irql = IrqlLevel.Passive;
                throw t.Machine.RaiseBugCheck(BugCheckCatalogue.IRQL_GT_ZERO_AT_SYSTEM_SERVICE, 0, irql, 0, 0,
                    $"A system call returned to user mode at {IrqlLevel.Name(irql)}: a driver routine raised the IRQL (or acquired a spin lock) and did not lower it.");
            }

            if (t.TerminationRequested)
            {
                throw new ThreadTerminatedException(NtStatus.STATUS_THREAD_IS_TERMINATING);
            }
        }
    }
}
