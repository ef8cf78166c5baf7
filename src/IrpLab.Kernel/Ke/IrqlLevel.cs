namespace IrpLab;

/// <summary>Interrupt request levels (x64 numbering). The Wdm facade re-exports them with their Windows names.</summary>
internal static class IrqlLevel
{
    public const byte Passive = 0;
    public const byte Apc = 1;
    public const byte Dispatch = 2;
    public const byte Clock = 13;
    public const byte Ipi = 14;
    public const byte Power = 14;
    public const byte Profile = 15;
    public const byte High = 15;

    public static string Name(byte irql) => irql switch
    {
        Passive => "PASSIVE_LEVEL",
        Apc => "APC_LEVEL",
        Dispatch => "DISPATCH_LEVEL",
        High => "HIGH_LEVEL",
        Clock => "CLOCK_LEVEL",
        Ipi => "IPI_LEVEL",
        _ => "DIRQL " + irql.ToString(System.Globalization.CultureInfo.InvariantCulture),
    };
}

/// <summary>KPROCESSOR_MODE.</summary>
public enum KProcessorMode : byte
{
    KernelMode = 0,
    UserMode = 1,
}

/// <summary>KWAIT_REASON (only the two drivers use).</summary>
public enum KWaitReason
{
    Executive = 0,
    UserRequest = 6,
}

/// <summary>WAIT_TYPE.</summary>
public enum WaitType
{
    WaitAll = 0,
    WaitAny = 1,
}

/// <summary>EVENT_TYPE.</summary>
public enum EventType
{
    NotificationEvent = 0,
    SynchronizationEvent = 1,
}

/// <summary>TIMER_TYPE.</summary>
public enum TimerType
{
    NotificationTimer = 0,
    SynchronizationTimer = 1,
}

/// <summary>The life cycle of a simulated thread.</summary>
internal enum KThreadState
{
    Invalid = 0,
    Initialized = 1,
    Ready = 2,
    Running = 3,
    Waiting = 4,
    Terminated = 5,
}
