namespace IrpLab;

/// <summary>One entry of the bug check catalogue: a Windows stop code and what its parameters mean.</summary>
public sealed record BugCheckDefinition(
    uint Code,
    string Name,
    string Parameter1,
    string Parameter2,
    string Parameter3,
    string Parameter4,
    string Cause);

/// <summary>
/// The stop codes the machine can raise, with their Windows names and parameter meanings
/// (MS Learn bug check reference). Append-only: codes and names never change once published.
/// Codes of our own, for faults Windows does not catch, live in the 0x1A5xxxxx range.
/// </summary>
public static class BugCheckCatalogue
{
    public const uint IRQL_NOT_GREATER_OR_EQUAL = 0x09;
    public const uint IRQL_NOT_LESS_OR_EQUAL = 0x0A;
    public const uint MAXIMUM_WAIT_OBJECTS_EXCEEDED = 0x0C;
    public const uint SPIN_LOCK_ALREADY_OWNED = 0x0F;
    public const uint SPIN_LOCK_NOT_OWNED = 0x10;
    public const uint KMODE_EXCEPTION_NOT_HANDLED = 0x1E;
    public const uint NO_MORE_IRP_STACK_LOCATIONS = 0x35;
    public const uint MULTIPLE_IRP_COMPLETE_REQUESTS = 0x44;
    public const uint CANCEL_STATE_IN_COMPLETED_IRP = 0x48;
    public const uint SYSTEM_THREAD_EXCEPTION_NOT_HANDLED = 0x7E;
    public const uint ATTEMPTED_SWITCH_FROM_DPC = 0xB8;
    public const uint DRIVER_VERIFIER_DETECTED_VIOLATION = 0xC4;
    public const uint DRIVER_VERIFIER_IOMANAGER_VIOLATION = 0xC9;
    public const uint DRIVER_UNLOADED_WITHOUT_CANCELLING_PENDING_OPERATIONS = 0xCE;
    public const uint DRIVER_IRQL_NOT_LESS_OR_EQUAL = 0xD1;
    public const uint IRQL_GT_ZERO_AT_SYSTEM_SERVICE = 0x4A;
    public const uint TIMER_OR_DPC_INVALID = 0xC7;
    public const uint IRQL_UNEXPECTED_VALUE = 0xC8;
    public const uint WORKER_THREAD_RETURNED_AT_BAD_IRQL = 0xE1;
    public const uint WORKER_INVALID = 0xE4;
    public const uint HARDWARE_INTERRUPT_STORM = 0xF2;

    private static readonly Dictionary<uint, BugCheckDefinition> s_definitions = Build();

    public static IReadOnlyCollection<BugCheckDefinition> All => s_definitions.Values;

    public static BugCheckDefinition? Find(uint code) => s_definitions.GetValueOrDefault(code);

    public static string NameOf(uint code) => Find(code)?.Name ?? "BUGCHECK_0x" + code.ToString("X", System.Globalization.CultureInfo.InvariantCulture);

    private static Dictionary<uint, BugCheckDefinition> Build()
    {
        BugCheckDefinition[] all =
        [
            new(IRQL_NOT_GREATER_OR_EQUAL, nameof(IRQL_NOT_GREATER_OR_EQUAL),
                "current IRQL", "requested IRQL", "0", "0",
                "KeRaiseIrql was asked to raise to a level below the current one."),
            new(IRQL_NOT_LESS_OR_EQUAL, nameof(IRQL_NOT_LESS_OR_EQUAL),
                "address referenced", "IRQL at the time", "0 read / 1 write / 8 execute", "address of the instruction",
                "A routine that needs a lower IRQL was called at a raised one (without Driver Verifier)."),
            new(MAXIMUM_WAIT_OBJECTS_EXCEEDED, nameof(MAXIMUM_WAIT_OBJECTS_EXCEEDED),
                "object count", "0", "0", "0",
                "KeWaitForMultipleObjects was given more than 64 objects."),
            new(SPIN_LOCK_ALREADY_OWNED, nameof(SPIN_LOCK_ALREADY_OWNED),
                "spin lock", "owning thread", "0", "0",
                "A thread tried to acquire a spin lock it already holds: spin locks are not recursive, on Windows this hangs the processor."),
            new(SPIN_LOCK_NOT_OWNED, nameof(SPIN_LOCK_NOT_OWNED),
                "spin lock", "current thread", "0", "0",
                "A spin lock was released by a thread that does not hold it (a double release, or the wrong lock)."),
            new(KMODE_EXCEPTION_NOT_HANDLED, nameof(KMODE_EXCEPTION_NOT_HANDLED),
                "exception code", "address of the faulting routine", "exception parameter 0", "exception parameter 1",
                "Driver code raised an exception that nothing handled."),
            new(NO_MORE_IRP_STACK_LOCATIONS, nameof(NO_MORE_IRP_STACK_LOCATIONS),
                "IRP", "0", "0", "0",
                "IoCallDriver was called on an IRP with no stack location left for the next driver."),
            new(MULTIPLE_IRP_COMPLETE_REQUESTS, nameof(MULTIPLE_IRP_COMPLETE_REQUESTS),
                "IRP", "0", "0", "0",
                "IoCompleteRequest was called on an IRP that had already been completed: two paths both believed they owned it."),
            new(CANCEL_STATE_IN_COMPLETED_IRP, nameof(CANCEL_STATE_IN_COMPLETED_IRP),
                "IRP", "cancel routine", "0", "0",
                "IoCancelIrp found a cancel routine on an IRP that was already completed."),
            new(SYSTEM_THREAD_EXCEPTION_NOT_HANDLED, nameof(SYSTEM_THREAD_EXCEPTION_NOT_HANDLED),
                "exception code", "address of the faulting routine", "exception record", "context record",
                "A system thread (or DriverEntry, or an unload routine) raised an exception that nothing handled."),
            new(ATTEMPTED_SWITCH_FROM_DPC, nameof(ATTEMPTED_SWITCH_FROM_DPC),
                "original thread", "new thread", "stack address", "0",
                "A DPC routine tried to wait or yield."),
            new(DRIVER_VERIFIER_DETECTED_VIOLATION, nameof(DRIVER_VERIFIER_DETECTED_VIOLATION),
                "subcode", "depends on the subcode", "depends on the subcode", "depends on the subcode",
                "Driver Verifier found an IRQL, spin lock, wait, pool or deadlock violation."),
            new(DRIVER_VERIFIER_IOMANAGER_VIOLATION, nameof(DRIVER_VERIFIER_IOMANAGER_VIOLATION),
                "subcode", "depends on the subcode", "IRP (usually)", "depends on the subcode",
                "Driver Verifier's I/O verification found an IRP-protocol violation."),
            new(DRIVER_UNLOADED_WITHOUT_CANCELLING_PENDING_OPERATIONS, nameof(DRIVER_UNLOADED_WITHOUT_CANCELLING_PENDING_OPERATIONS),
                "memory referenced", "0 read / 1 write", "referencing address", "0",
                "A driver was unloaded while something could still call into it (an IRP, timer, DPC, thread or work item)."),
            new(DRIVER_IRQL_NOT_LESS_OR_EQUAL, nameof(DRIVER_IRQL_NOT_LESS_OR_EQUAL),
                "memory referenced", "IRQL", "0 read / 1 write / 8 execute", "referencing address",
                "A driver touched pageable or invalid memory at DISPATCH_LEVEL or above."),
            new(IRQL_GT_ZERO_AT_SYSTEM_SERVICE, nameof(IRQL_GT_ZERO_AT_SYSTEM_SERVICE),
                "address of the system-call routine", "current IRQL", "0", "0",
                "A thread returned to user mode from a system call with the IRQL still above PASSIVE_LEVEL."),
            new(IrpLabBugChecks.IRP_QUEUED_AFTER_CLEANUP, nameof(IrpLabBugChecks.IRP_QUEUED_AFTER_CLEANUP),
                "IRP", "file object", "device object", "0",
                "IrpLab: an IRP of a file object was still queued in the driver after its IRP_MJ_CLEANUP completed; the driver must complete every IRP it holds for that file object in its cleanup routine."),
            new(IrpLabBugChecks.USER_BUFFER_NOT_PROBED, nameof(IrpLabBugChecks.USER_BUFFER_NOT_PROBED),
                "0", "buffer length", "0", "0",
                "IrpLab: a METHOD_NEITHER user buffer was touched without ProbeForRead/ProbeForWrite."),
            new(IrpLabBugChecks.USER_BUFFER_OUTSIDE_REQUESTOR_CONTEXT, nameof(IrpLabBugChecks.USER_BUFFER_OUTSIDE_REQUESTOR_CONTEXT),
                "0", "owning process id", "current process id", "0",
                "IrpLab: a METHOD_NEITHER user buffer was touched outside the requesting process's context."),
            new(TIMER_OR_DPC_INVALID, nameof(TIMER_OR_DPC_INVALID),
                "0x0 timer object / 0x1 DPC object found where not allowed (here: re-initialized while queued); 0x3 bad DPC processor number; 0x4 DPC / 0x5 timer DPC routine changed the APC-disable count",
                "timer or DPC object (0x0, 0x1, 0x3); DPC routine (0x4, 0x5)",
                "start of the memory range checked (0x0, 0x1); processor number (0x3); APC-disable count before (0x4, 0x5)",
                "end of the memory range checked (0x0, 0x1); number of processors (0x3); APC-disable count after (0x4, 0x5)",
                "A kernel timer or DPC was found where it must not be (memory freed or reused while it was queued), targeted a processor that does not exist, or its routine left a critical region unbalanced."),
            new(IRQL_UNEXPECTED_VALUE, nameof(IRQL_UNEXPECTED_VALUE),
                "(current IRQL << 16) | (expected IRQL << 8) | unique value (2 callout/DPC routine, 3 ISR)",
                "the routine (2); the ISR (3)", "the routine's parameter (2); the KINTERRUPT (3)", "0",
                "A routine returned at another IRQL than it was called at (a spin lock not released, a KeRaiseIrql not undone)."),
            new(WORKER_THREAD_RETURNED_AT_BAD_IRQL, nameof(WORKER_THREAD_RETURNED_AT_BAD_IRQL),
                "worker routine (the work item)", "IRQL", "work item parameter", "work item",
                "A work item routine returned above PASSIVE_LEVEL."),
            new(WORKER_INVALID, nameof(WORKER_INVALID),
                "0x0 active work item freed; 0x1 active work item queued again; 0x2 queued I/O work item freed; 0x6 invalid queue type; 0x7 invalid worker routine",
                "work item", "start of pool block (0x0); queue number (0x1, 0x6, 0x7); I/O worker routine (0x2)", "end of pool block (0x0); 0 otherwise",
                "A work item was queued while already queued, or freed while queued, or queued with an invalid queue type or routine."),
            new(HARDWARE_INTERRUPT_STORM, nameof(HARDWARE_INTERRUPT_STORM),
                "the ISR (first of the chain)", "the ISR's context", "the KINTERRUPT", "0x1 ISR not chained / 0x2 ISR chained",
                "A level-sensitive interrupt stayed asserted delivery after delivery: its ISR claims it without acknowledging the device, or no ISR claims it."),
        ];
        var map = new Dictionary<uint, BugCheckDefinition>();
        foreach (BugCheckDefinition d in all)
        {
            map.Add(d.Code, d);
        }

        return map;
    }
}
