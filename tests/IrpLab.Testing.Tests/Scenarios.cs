using static IrpLab.NtStatus;
using static IrpLab.Wdm;

namespace IrpLab.Testing.Tests;

/// <summary>
/// Small kernel-level races written the way driver code would write them. Each scenario builds all its state per
/// run (nothing static), so a schedule replays it exactly.
/// </summary>
public static class Scenarios
{
    // ------------------------------------------------------------------ (a) lost update

    public sealed class CounterContext
    {
        public int Value;
        public bool Guarded;
        public KMutex Mutex = new();
    }

    /// <summary>
    /// Two system threads each add one to a shared counter: read, a scheduling point (a zero-length
    /// KeDelayExecutionThread, i.e. a yield), write. Unguarded, one update can be lost; guarded by a KMUTEX it cannot.
    /// The host asserts the final value.
    /// </summary>
    public static void LostUpdate(Machine machine, bool guarded)
    {
        var ctx = new CounterContext { Guarded = guarded };
        machine.RunKernel("LostUpdateMain", () =>
        {
            KeInitializeMutex(ctx.Mutex, 0);
            KThread a = StartThread(IncrementThread, ctx);
            KThread b = StartThread(IncrementThread, ctx);
            KeWaitForSingleObject(a, Executive, KernelMode, FALSE, null);
            KeWaitForSingleObject(b, Executive, KernelMode, FALSE, null);
            ObDereferenceObject(a);
            ObDereferenceObject(b);
            KdPrint(("counter = %d\n", ctx.Value));
        });

        if (ctx.Value != 2)
        {
            throw new InvalidOperationException($"Lost update: the counter is {ctx.Value}, expected 2.");
        }
    }

    public static void IncrementThread(CounterContext ctx)
    {
        if (ctx.Guarded)
        {
            KeWaitForSingleObject(ctx.Mutex, Executive, KernelMode, FALSE, null);
        }

        int value = ctx.Value;
        KeDelayExecutionThread(KernelMode, FALSE, 0);   // a yield between the read and the write
        ctx.Value = value + 1;

        if (ctx.Guarded)
        {
            KeReleaseMutex(ctx.Mutex, FALSE);
        }

        PsTerminateSystemThread(STATUS_SUCCESS);
    }

    // ------------------------------------------------------------------ (b) check, then wait: a lost wake-up

    public sealed class FlagContext
    {
        public volatile bool Ready;
        public bool Fixed;
        public KEvent Event = new();
    }

    /// <summary>
    /// A consumer checks a flag and, if it is not set, waits for the producer's event. The producer sets the flag and
    /// pulses the event (KePulseEvent releases only threads already waiting). If the producer runs between the
    /// consumer's check and its wait, the pulse is lost and the consumer waits forever: a deadlock. The fixed twin
    /// uses KeSetEvent on a notification event, which stays signaled.
    /// </summary>
    public static void CheckThenWait(Machine machine, bool fixedVersion)
    {
        var ctx = new FlagContext { Fixed = fixedVersion };
        machine.RunKernel("CheckThenWaitMain", () =>
        {
            KeInitializeEvent(ctx.Event, NotificationEvent, FALSE);
            KThread consumer = StartThread(ConsumerThread, ctx);
            KThread producer = StartThread(ProducerThread, ctx);
            KeWaitForSingleObject(producer, Executive, KernelMode, FALSE, null);
            KeWaitForSingleObject(consumer, Executive, KernelMode, FALSE, null);
            ObDereferenceObject(consumer);
            ObDereferenceObject(producer);
        });
    }

    public static void ConsumerThread(FlagContext ctx)
    {
        if (!ctx.Ready)
        {
            KdPrint("consumer: not ready, waiting\n");
            KeWaitForSingleObject(ctx.Event, Executive, KernelMode, FALSE, null);
        }

        KdPrint("consumer: got it\n");
        PsTerminateSystemThread(STATUS_SUCCESS);
    }

    public static void ProducerThread(FlagContext ctx)
    {
        ctx.Ready = true;
        if (ctx.Fixed)
        {
            KeSetEvent(ctx.Event, 0, FALSE);
        }
        else
        {
            KePulseEvent(ctx.Event, 0, FALSE);
        }

        KdPrint("producer: signalled\n");
        PsTerminateSystemThread(STATUS_SUCCESS);
    }

    // ------------------------------------------------------------------ (c) a wait races its own timeout

    public sealed class Request
    {
        public int Result;
    }

    public sealed class TimeoutContext
    {
        public Request? Pending = new();
        public bool Fixed;
        public KEvent Done = new();
        public KSpinLock Lock = new();
    }

    /// <summary>
    /// A requester starts a worker and waits for it with a one-second timeout; on timeout it abandons the request
    /// (sets it to null, as a driver frees it). The worker completes the request without delay. The worker always
    /// wins unless the timeout fires first, which the default schedule never does (time moves only when nothing can
    /// run); with <see cref="MachineOptions.ExploreTimeouts"/> the timer may fire first, the worker then touches the
    /// abandoned request and the system thread dies with a NullReferenceException: bug check 0x7E. The fixed twin
    /// takes the request under a spin lock on both sides and checks it.
    /// </summary>
    public static void WaitRacesTimeout(Machine machine, bool fixedVersion)
    {
        var ctx = new TimeoutContext { Fixed = fixedVersion };
        machine.RunKernel("Requester", () =>
        {
            KeInitializeEvent(ctx.Done, NotificationEvent, FALSE);
            KeInitializeSpinLock(ctx.Lock);
            KThread worker = StartThread(WorkerThread, ctx);
            long timeout = -1 * 10_000_000;   // one second
            NtStatus status = KeWaitForSingleObject(ctx.Done, Executive, KernelMode, FALSE, timeout);
            if (status == STATUS_TIMEOUT)
            {
                KdPrint("requester: timed out, abandoning the request\n");
                if (ctx.Fixed)
                {
                    KeAcquireSpinLock(ctx.Lock, out byte irql);
                    ctx.Pending = null;
                    KeReleaseSpinLock(ctx.Lock, irql);
                }
                else
                {
                    ctx.Pending = null;
                }
            }
            else
            {
                KdPrint("requester: completed\n");
            }

            KeWaitForSingleObject(worker, Executive, KernelMode, FALSE, null);
            ObDereferenceObject(worker);
        });
    }

    public static void WorkerThread(TimeoutContext ctx)
    {
        if (ctx.Fixed)
        {
            KeAcquireSpinLock(ctx.Lock, out byte irql);
            if (ctx.Pending is Request r)
            {
                r.Result = 1;
            }

            KeReleaseSpinLock(ctx.Lock, irql);
        }
        else
        {
            KeDelayExecutionThread(KernelMode, FALSE, 0);
            ctx.Pending!.Result = 1;
        }

        KeSetEvent(ctx.Done, 0, FALSE);
        PsTerminateSystemThread(STATUS_SUCCESS);
    }

    // ------------------------------------------------------------------ helpers

    /// <summary>PsCreateSystemThread, then the thread object (referenced; the handle closed).</summary>
    public static KThread StartThread<T>(Action<T> routine, T context)
    {
        NtStatus status = PsCreateSystemThread(out Handle handle, THREAD_ALL_ACCESS, null, null, null, routine, context);
        if (!NT_SUCCESS(status))
        {
            throw new InvalidOperationException("PsCreateSystemThread failed: " + status);
        }

        ObReferenceObjectByHandle(handle, THREAD_ALL_ACCESS, null, KernelMode, out KThread thread, null);
        ZwClose(handle);
        return thread;
    }
}
