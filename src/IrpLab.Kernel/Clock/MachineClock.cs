namespace IrpLab;

/// <summary>
/// The machine's sense of time, in 100 ns units. Interrupt time counts from boot and never jumps backwards;
/// system time is boot time (a FILETIME, 100 ns since 1601-01-01 UTC) plus interrupt time.
/// In deterministic mode the clock is virtual: it stands still while threads run and jumps to the next timer
/// when every thread waits.
/// </summary>
public abstract class MachineClock
{
    /// <summary>The clock interrupt period, as KeQueryTimeIncrement returns it (15.625 ms).</summary>
    public const uint TimeIncrement = 156_250;

    public const long TicksPerSecond = 10_000_000;

    public const long TicksPerMillisecond = 10_000;

    /// <summary>System time at boot.</summary>
    public long BootSystemTime { get; protected init; }

    /// <summary>100 ns units since boot.</summary>
    public abstract long InterruptTime { get; }

    /// <summary>100 ns units since 1601-01-01 UTC.</summary>
    public long SystemTime => BootSystemTime + InterruptTime;

    /// <summary>Clock interrupts since boot.</summary>
    public long TickCount => InterruptTime / TimeIncrement;

    public abstract bool IsVirtual { get; }

    /// <summary>Time since boot as a TimeSpan.</summary>
    public TimeSpan Elapsed => TimeSpan.FromTicks(InterruptTime);
}

/// <summary>Virtual time: moved only by the deterministic scheduler.</summary>
internal sealed class VirtualClock : MachineClock
{
    /// <summary>2026-01-01T00:00:00Z as a FILETIME: the fixed boot time of every deterministic machine.</summary>
    public const long DeterministicBootTime = 134_116_992_000_000_000;

    private long _now;

    public VirtualClock()
    {
        BootSystemTime = DeterministicBootTime;
    }

    public override long InterruptTime => Volatile.Read(ref _now);

    public override bool IsVirtual => true;

    public void AdvanceTo(long interruptTime)
    {
        if (interruptTime > _now)
        {
            Volatile.Write(ref _now, interruptTime);
        }
    }
}

/// <summary>Real time, from the host's monotonic clock.</summary>
internal sealed class RealClock : MachineClock
{
    private readonly long _start = System.Diagnostics.Stopwatch.GetTimestamp();

    public RealClock()
    {
        BootSystemTime = DateTime.UtcNow.ToFileTimeUtc();
    }

    public override long InterruptTime
    {
        get
        {
            long elapsed = System.Diagnostics.Stopwatch.GetTimestamp() - _start;
            return (long)(elapsed * ((double)TicksPerSecond / System.Diagnostics.Stopwatch.Frequency));
        }
    }

    public override bool IsVirtual => false;

    /// <summary>Wall milliseconds until <paramref name="interruptTime"/>, rounded up, at least 0.</summary>
    public int MillisecondsUntil(long interruptTime)
    {
        long delta = interruptTime - InterruptTime;
        if (delta <= 0)
        {
            return 0;
        }

        long ms = (delta + TicksPerMillisecond - 1) / TicksPerMillisecond;
        return ms > int.MaxValue ? int.MaxValue : (int)ms;
    }
}
