namespace IrpLab.Scheduling;

/// <summary>Why a simulated thread reached a scheduling point. Stable values (recorded in schedules).</summary>
public enum SchedulingPointKind
{
    Invalid = 0,
    ThreadStart = 1,
    ThreadExit = 2,
    Wait = 3,
    Block = 4,
    Signal = 5,
    LockAcquire = 6,
    LockRelease = 7,
    IrqlLowered = 8,
    IrpDispatch = 9,
    IrpComplete = 10,
    CancelRoutine = 11,
    DpcQueued = 12,
    ApcQueued = 13,
    Yield = 14,
    TimerOrder = 15,
    HostStart = 16,
    SystemCall = 17,
}
