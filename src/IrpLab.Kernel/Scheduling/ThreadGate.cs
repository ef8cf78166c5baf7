namespace IrpLab.Scheduling;

/// <summary>
/// The parking spot of one simulated thread: a binary semaphore that spins briefly before it blocks, so a
/// hand-off to a thread that parked a moment ago costs well under a microsecond, and one to a long-parked
/// thread costs one OS wake. Not a WaitHandle (see docs/performance.md).
/// </summary>
internal sealed class ThreadGate
{
    private const int SpinIterations = 64;
    private readonly object _lock = new();
    private int _signaled;
    private int _blocked;

    public void Release()
    {
        // Exchange is a full fence: the read of _blocked cannot move above the write of _signaled.
        Interlocked.Exchange(ref _signaled, 1);
        if (Volatile.Read(ref _blocked) != 0)
        {
            lock (_lock)
            {
                Monitor.PulseAll(_lock);
            }
        }
    }

    public void Wait()
    {
        var spinner = default(SpinWait);
        for (int i = 0; i < SpinIterations; i++)
        {
            if (Volatile.Read(ref _signaled) != 0 && Interlocked.Exchange(ref _signaled, 0) != 0)
            {
                return;
            }

            spinner.SpinOnce(sleep1Threshold: -1);
        }

        lock (_lock)
        {
            Interlocked.Exchange(ref _blocked, 1);
            while (Interlocked.Exchange(ref _signaled, 0) == 0)
            {
                Monitor.Wait(_lock);
            }

            Volatile.Write(ref _blocked, 0);
        }
    }

    /// <summary>Waits at most <paramref name="millisecondsTimeout"/>; true when released.</summary>
    public bool Wait(int millisecondsTimeout)
    {
        if (Interlocked.Exchange(ref _signaled, 0) != 0)
        {
            return true;
        }

        lock (_lock)
        {
            Interlocked.Exchange(ref _blocked, 1);
            try
            {
                long deadline = Environment.TickCount64 + millisecondsTimeout;
                while (Interlocked.Exchange(ref _signaled, 0) == 0)
                {
                    long left = deadline - Environment.TickCount64;
                    if (left <= 0)
                    {
                        return false;
                    }

                    Monitor.Wait(_lock, (int)left);
                }

                return true;
            }
            finally
            {
                Volatile.Write(ref _blocked, 0);
            }
        }
    }
}
