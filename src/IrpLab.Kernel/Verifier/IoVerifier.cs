namespace IrpLab;

/// <summary>
/// Driver Verifier's I/O verification, at the boundaries where the I/O manager can see a broken IRP protocol:
/// before IoCallDriver, after a dispatch routine returns, before IoCompleteRequest, after a completion routine,
/// at copy-back, and at user-buffer access. A check applies when the verifier checks the driver at fault: the driver
/// whose stack location holds the IRP (the sender, the dispatch routine's driver, the completer), or, for an IRP with
/// no location yet, the driver whose routine is running. The kernel's own checks (0x44, 0x35, 0xD1) are always on.
/// </summary>
internal static class IoVerifier
{
    /// <summary>The driver that owns the IRP now: its current stack location's, else the running routine's.</summary>
    private static string? Owner(KThread t, Irp irp) => irp.CurrentStackLocation?.DeviceObject?.DriverObject.Name ?? t.CurrentDriver;

    /// <summary>
    /// A stable pseudo code address for a driver routine, for the parameters that name one (a runtime string hash would
    /// differ from one process to the next and break "same seed, same bytes").
    /// </summary>
    public static ulong RoutineAddress(Delegate routine)
    {
        ulong hash = 14695981039346656037UL;
        foreach (char c in (routine.Method.DeclaringType?.FullName ?? string.Empty) + "!" + routine.Method.Name)
        {
            hash = (hash ^ c) * 1099511628211UL;
        }

        return 0xFFFF_F800_0000_0000UL | (hash & 0x0000_00FF_FFFF_FFF0UL);
    }

    /// <summary>The running routine's pseudo address (0 when none is known).</summary>
    private static ulong RoutineAddressOf(KThread t) => t.CurrentCallback is Delegate d ? RoutineAddress(d) : 0;

    public static void BeforeCallDriver(Machine machine, KThread t, DeviceObject device, Irp irp)
    {
        if (!machine.VerifierEnabled || !machine.Verifies(Owner(t, irp)))
        {
            return;
        }

        if (t.Irql > IrqlLevel.Dispatch)
        {
            throw machine.RaiseBugCheck(BugCheckCatalogue.DRIVER_VERIFIER_IOMANAGER_VIOLATION, 0x10, t.Irql, irp.DebugAddress(machine), 0,
                $"IoCallDriver at {IrqlLevel.Name(t.Irql)}: IRPs may be sent at DISPATCH_LEVEL or below." + IrpHistory.Describe(irp));
        }

        if (irp.State is IrpState.Completed or IrpState.Freed)
        {
            throw machine.RaiseBugCheck(BugCheckCatalogue.DRIVER_VERIFIER_IOMANAGER_VIOLATION, 0x03, irp.DebugAddress(machine), 0, 0,
                $"IoCallDriver was given {irp}, which has already been completed or freed: the IRP must not be touched after IoCompleteRequest." + IrpHistory.Describe(irp));
        }

        if (irp.CancelRoutine is not null)
        {
            throw machine.RaiseBugCheck(BugCheckCatalogue.DRIVER_VERIFIER_IOMANAGER_VIOLATION, 0x203, 0, irp.DebugAddress(machine), device.DebugAddress(machine),
                $"IoCallDriver on {irp} while its cancel routine is still set: clear it with IoSetCancelRoutine(Irp, NULL) before passing the IRP on." + IrpHistory.Describe(irp));
        }
    }

    public static void AfterDispatch(Machine machine, KThread t, DeviceObject device, Irp irp, int location, byte irqlBefore, NtStatus returned, DriverDispatch routine)
    {
        if (!machine.VerifierEnabled || !machine.Verifies(device.DriverObject.Name))
        {
            return;
        }

        if (t.Irql != irqlBefore)
        {
            throw machine.RaiseBugCheck(BugCheckCatalogue.DRIVER_VERIFIER_IOMANAGER_VIOLATION, 0x05, device.DebugAddress(machine), irqlBefore, t.Irql,
                $"{device.DriverObject.Name}!{routine.Method.Name} returned at {IrqlLevel.Name(t.Irql)} but was called at {IrqlLevel.Name(irqlBefore)}: a spin lock was not released or KeLowerIrql was not called." + IrpHistory.Describe(irp));
        }

        ulong bit = 1UL << (location - 1);
        bool marked = (irp.MarkedPendingLocations & bit) != 0;
        string who = device.DriverObject.Name + "!" + routine.Method.Name;
        if (returned == NtStatus.STATUS_PENDING && !marked
            && ((irp.State == IrpState.Dispatched && irp.CurrentLocation < location) || (irp.State == IrpState.Completing && irp.CurrentLocation <= location)))
        {
            // The IRP is still with a lower driver. Returning IoCallDriver's STATUS_PENDING is legal when the mark
            // will come from this driver's completion routine (if (Irp->PendingReturned) IoMarkIrpPending) or, with no
            // routine, from the I/O manager's propagation (§3.4, §6.1 rule 1): decide when the walk reaches it.
            irp.PendingUnmarkedLocations |= bit;
        }
        else if (returned == NtStatus.STATUS_PENDING && !marked)
        {
            throw machine.RaiseBugCheck(BugCheckCatalogue.DRIVER_VERIFIER_IOMANAGER_VIOLATION, 0x23D, 0, irp.DebugAddress(machine), (uint)returned,
                $"{who} returned STATUS_PENDING without calling IoMarkIrpPending: the I/O manager would treat the completion as synchronous and the caller could wait forever. Call IoMarkIrpPending(Irp) before the IRP becomes visible to another context, then return STATUS_PENDING." + IrpHistory.Describe(irp));
        }

        if (returned != NtStatus.STATUS_PENDING && marked)
        {
            throw machine.RaiseBugCheck(BugCheckCatalogue.DRIVER_VERIFIER_IOMANAGER_VIOLATION, 0x23E, 0, irp.DebugAddress(machine), (uint)returned,
                $"{who} called IoMarkIrpPending but returned {NtStatusClass.Format(returned)}: a routine that marks an IRP pending must return STATUS_PENDING, even if the IRP has already been completed." + IrpHistory.Describe(irp));
        }

        if (returned != NtStatus.STATUS_PENDING && irp.State is IrpState.Completed or IrpState.Freed && irp.IoStatus.Status != returned && !irp.IsInternal)
        {
            throw machine.RaiseBugCheck(BugCheckCatalogue.DRIVER_VERIFIER_IOMANAGER_VIOLATION, 0x224, 0, irp.DebugAddress(machine), (uint)irp.IoStatus.Status,
                $"{who} completed the IRP with {NtStatusClass.Format(irp.IoStatus.Status)} but returned {NtStatusClass.Format(returned)}: a dispatch routine must return the status it completed with (save it in a local before IoCompleteRequest)." + IrpHistory.Describe(irp));
        }

        if (returned != NtStatus.STATUS_PENDING && irp.State == IrpState.Dispatched && irp.CurrentLocation == location && !irp.IsInternal)
        {
            throw machine.RaiseBugCheck(BugCheckCatalogue.DRIVER_VERIFIER_IOMANAGER_VIOLATION, 0x226, 0, irp.DebugAddress(machine), device.DebugAddress(machine),
                $"{who} returned {NtStatusClass.Format(returned)} without completing the IRP, passing it down, or returning STATUS_PENDING: the request would never finish." + IrpHistory.Describe(irp));
        }
    }

    /// <summary>
    /// The completion walk reached <paramref name="location"/>, whose pending bit is now final: a dispatch routine there
    /// that returned STATUS_PENDING while the IRP was below it must by now have had its location marked.
    /// </summary>
    public static void OnLocationCompleting(Machine machine, KThread t, Irp irp, int location)
    {
        ulong bit = 1UL << (location - 1);
        if (!machine.VerifierEnabled || (irp.PendingUnmarkedLocations & bit) == 0)
        {
            return;
        }

        irp.PendingUnmarkedLocations &= ~bit;
        IoStackLocation sl = irp.Stack[location - 1];
        if ((sl.Control & IoManager.SL_PENDING_RETURNED) != 0 || !machine.Verifies(sl.DeviceObject?.DriverObject.Name))
        {
            return;
        }

        string who = sl.DeviceObject?.DriverObject.Name ?? "the driver";
        t.CurrentDriver = sl.DeviceObject?.DriverObject.Name ?? t.CurrentDriver;
        throw machine.RaiseBugCheck(BugCheckCatalogue.DRIVER_VERIFIER_IOMANAGER_VIOLATION, 0x23D, 0, irp.DebugAddress(machine), (uint)NtStatus.STATUS_PENDING,
            $"{who} returned STATUS_PENDING from its dispatch routine, but its stack location of {irp} was never marked pending: neither IoMarkIrpPending, nor its completion routine (if (Irp->PendingReturned) IoMarkIrpPending(Irp)), nor the I/O manager's propagation for a location without a routine marked it. The caller could wait forever." + IrpHistory.Describe(irp));
    }

    public static void BeforeComplete(Machine machine, KThread t, Irp irp)
    {
        if (!machine.VerifierEnabled)
        {
            return;
        }

        // Remembered for the copy-back check, which runs after the stack has unwound.
        string? completer = Owner(t, irp);
        irp.CompletingDriver = completer;
        if (!machine.Verifies(completer))
        {
            return;
        }

        if (t.Irql > IrqlLevel.Dispatch)
        {
            throw machine.RaiseBugCheck(BugCheckCatalogue.DRIVER_VERIFIER_IOMANAGER_VIOLATION, 0x0E, t.Irql, irp.DebugAddress(machine), 0,
                $"IoCompleteRequest at {IrqlLevel.Name(t.Irql)}: IRPs may be completed at DISPATCH_LEVEL or below." + IrpHistory.Describe(irp));
        }

        if (irp.IoStatus.Status == NtStatus.STATUS_PENDING || (uint)irp.IoStatus.Status == 0xFFFFFFFF)
        {
            throw machine.RaiseBugCheck(BugCheckCatalogue.DRIVER_VERIFIER_IOMANAGER_VIOLATION, 0x06, (uint)irp.IoStatus.Status, irp.DebugAddress(machine), 0,
                $"IoCompleteRequest on {irp} with IoStatus.Status = {NtStatusClass.Format(irp.IoStatus.Status)}: set the final status before completing (STATUS_PENDING is a return value, never a final status)." + IrpHistory.Describe(irp));
        }

        if (irp.CancelRoutine is DriverCancel cancel)
        {
            throw machine.RaiseBugCheck(BugCheckCatalogue.DRIVER_VERIFIER_IOMANAGER_VIOLATION, 0x07, RoutineAddress(cancel), irp.DebugAddress(machine), 0,
                $"IoCompleteRequest on {irp} while its cancel routine {cancel.Method.Name} is still set: take it back with IoSetCancelRoutine(Irp, NULL) first, and complete only if that returned non-NULL." + IrpHistory.Describe(irp));
        }
    }

    public static void AfterCompletionRoutine(Machine machine, KThread t, Irp irp, IoCompletionRoutine routine, byte irqlBefore)
    {
        if (t.Irql != irqlBefore && machine.Verifies(t))
        {
            throw machine.RaiseBugCheck(BugCheckCatalogue.DRIVER_VERIFIER_DETECTED_VIOLATION, 0xFA, RoutineAddress(routine), irqlBefore, t.Irql,
                $"Completion routine {routine.Method.Name} returned at {IrqlLevel.Name(t.Irql)} but was called at {IrqlLevel.Name(irqlBefore)}." + IrpHistory.Describe(irp));
        }
    }

    public static void OnCopyBack(Machine machine, Irp irp, ulong information)
    {
        if (information > (ulong)irp.CallerOutputLength && machine.Verifies(irp.CompletingDriver))
        {
            throw machine.RaiseBugCheck(BugCheckCatalogue.DRIVER_VERIFIER_IOMANAGER_VIOLATION, 0x312, 0, irp.DebugAddress(machine), information,
                $"{irp} completed with IoStatus.Information = {information}, larger than the caller's output buffer ({irp.CallerOutputLength} bytes): the copy-back would overrun the caller's memory. Set Information to the number of bytes actually returned, at most OutputBufferLength." + IrpHistory.Describe(irp));
        }
    }

    /// <summary>
    /// After IRP_MJ_CLEANUP: an IRP of this file object that still sits in a cancelable queue of the driver (its
    /// cancel routine set) was not completed by the cleanup routine, as MS Learn requires.
    /// </summary>
    public static void AfterCleanup(Machine machine, FileObject fo)
    {
        if (!machine.VerifierEnabled)
        {
            return;
        }

        foreach (KThread thread in machine.LiveThreads())
        {
            foreach (Irp irp in machine.Io.ThreadIrps(thread))
            {
                if (irp.Tail.Overlay.OriginalFileObject == fo && irp.CancelRoutine is not null && irp.State == IrpState.Dispatched
                    && machine.Verifies(irp.CurrentStackLocation?.DeviceObject?.DriverObject.Name))
                {
                    throw machine.RaiseBugCheck(IrpLabBugChecks.IRP_QUEUED_AFTER_CLEANUP, irp.DebugAddress(machine), fo.DebugAddress(machine), fo.DeviceObject.DebugAddress(machine), 0,
                        $"{irp} of {fo} was still queued in {fo.DeviceObject.DriverObject.Name} after IRP_MJ_CLEANUP: the cleanup routine must complete (STATUS_CANCELLED) every IRP it holds for the file object being cleaned up." + IrpHistory.Describe(irp));
                }
            }
        }
    }

    /// <summary>
    /// A driver touches a user-mode buffer (Irp.UserBuffer, Type3InputBuffer). User memory is pageable: at
    /// DISPATCH_LEVEL or above a page fault cannot be serviced, so DRIVER_IRQL_NOT_LESS_OR_EQUAL (0xD1) is a kernel
    /// check. Windows faults only when the page is not resident at that moment; the model treats user pages as never
    /// resident at raised IRQL (as Force IRQL Checking makes them), so the bug shows every time. With the verifier,
    /// the buffer must also be probed and touched in the requesting process's context.
    /// </summary>
    public static void OnUserBufferAccess(UserBuffer buffer)
    {
        KThread? t = KThread.CurrentOrNull;
        if (t is null)
        {
            return;
        }

        Machine m = t.Machine;
        if (t.Irql >= IrqlLevel.Dispatch)
        {
            throw m.RaiseBugCheck(BugCheckCatalogue.DRIVER_IRQL_NOT_LESS_OR_EQUAL, buffer.DebugAddress(m), t.Irql, buffer.IsOutput ? 1UL : 0UL, RoutineAddressOf(t),
                $"A user-mode buffer ({buffer.Length} bytes of process {buffer.Owner.Name}) was touched at {IrqlLevel.Name(t.Irql)}: user memory is pageable, and a page fault cannot be serviced at DISPATCH_LEVEL or above. Copy what is needed at PASSIVE_LEVEL, in the requestor's context, before acquiring a spin lock or handing the request to a DPC (or use buffered or direct I/O).");
        }

        if (!m.Verifies(t))
        {
            return;
        }

        if (t.Process != buffer.Owner)
        {
            throw m.RaiseBugCheck(IrpLabBugChecks.USER_BUFFER_OUTSIDE_REQUESTOR_CONTEXT, 0, (ulong)buffer.Owner.Id, (ulong)t.Process.Id, 0,
                $"A METHOD_NEITHER user buffer of process {buffer.Owner.Name} was touched from {t} in process {t.Process.Name}: such buffers are only valid in the requesting process's context, in the dispatch routine of the top driver. Copy the data (or use buffered or direct I/O) before handing the request to another thread.");
        }

        if (!buffer.ProbedForRead && !buffer.ProbedForWrite)
        {
            throw m.RaiseBugCheck(IrpLabBugChecks.USER_BUFFER_NOT_PROBED, 0, (ulong)buffer.Length, 0, 0,
                "A METHOD_NEITHER user buffer was touched before ProbeForRead/ProbeForWrite: on Windows a bad pointer from user mode would then crash the system. Probe it (inside try/except) at PASSIVE_LEVEL first.");
        }
    }
}

/// <summary>Our own stop codes, for faults Windows does not catch. Append-only.</summary>
public static class IrpLabBugChecks
{
    /// <summary>An IRP was still queued by the driver after IRP_MJ_CLEANUP of its file object completed.</summary>
    public const uint IRP_QUEUED_AFTER_CLEANUP = 0x1A500001;

    /// <summary>A METHOD_NEITHER buffer was touched without ProbeForRead/ProbeForWrite.</summary>
    public const uint USER_BUFFER_NOT_PROBED = 0x1A500002;

    /// <summary>A METHOD_NEITHER buffer was touched outside the requesting process's context.</summary>
    public const uint USER_BUFFER_OUTSIDE_REQUESTOR_CONTEXT = 0x1A500003;
}
