using System.Runtime.ExceptionServices;
using static IrpLab.NtStatus;
using static IrpLab.Wdm;

namespace IrpLab.Tests;

/// <summary>Machines for tests, and the hosting calls with assertion failures surfaced as themselves.</summary>
internal static class TestMachine
{
    public static Machine Deterministic(ulong seed = 1, int processors = 2, bool verifier = true)
        => new(new MachineOptions { Deterministic = true, Seed = seed, Processors = processors, Verifier = verifier });

    public static Machine Create(bool deterministic, ulong seed = 1, bool verifier = true)
        => new(new MachineOptions { Deterministic = deterministic, Seed = seed, Verifier = verifier });

    /// <summary>
    /// RunKernel, except that an xunit assertion failing inside the machine (which the machine reports as a 0x7E
    /// bug check, as it would any exception escaping kernel code) is rethrown as the assertion failure.
    /// </summary>
    public static void Kernel(this Machine machine, Action body, string threadName = "test")
    {
        try
        {
            machine.RunKernel(threadName, body);
        }
        catch (BugCheckException ex) when (ex.BugCheck.Exception is Xunit.Sdk.IAssertionException)
        {
            ExceptionDispatchInfo.Capture(ex.BugCheck.Exception).Throw();
        }
    }

    /// <summary>Runs <paramref name="body"/> expecting the machine to stop with a bug check, and returns it.</summary>
    public static BugCheckInfo ExpectBugCheck(this Machine machine, Action body)
    {
        BugCheckException ex = Assert.Throws<BugCheckException>(() => machine.RunKernel("test", body));
        Assert.Same(ex.BugCheck, machine.BugCheck);
        Assert.Equal(MachineStopReason.BugCheck, machine.StopReason);
        return ex.BugCheck;
    }
}

/// <summary>Kernel-side helpers: start system threads as a driver does, wait for them, let the others run.</summary>
internal static class K
{
    /// <summary>One second as a relative KeWaitXxx timeout.</summary>
    public const long OneSecond = -10_000_000;

    /// <summary>
    /// PsCreateSystemThread, then ObReferenceObjectByHandle and ZwClose as drivers do (§10.8): the returned thread
    /// object holds a reference; <see cref="Join"/> drops it.
    /// </summary>
    public static KThread StartThread(Action body)
    {
        NtStatus status = PsCreateSystemThread(out Handle handle, THREAD_ALL_ACCESS, null, null, null, RunBody, body);
        Assert.Equal(STATUS_SUCCESS, status);
        status = ObReferenceObjectByHandle(handle, THREAD_ALL_ACCESS, PsThreadType, KernelMode, out KThread thread, null);
        Assert.Equal(STATUS_SUCCESS, status);
        Assert.Equal(STATUS_SUCCESS, ZwClose(handle));
        return thread;
    }

    /// <summary>Waits (forever) for every thread to exit and dereferences them.</summary>
    public static void Join(params KThread[] threads)
    {
        foreach (KThread t in threads)
        {
            Assert.Equal(STATUS_SUCCESS, KeWaitForSingleObject(t, Executive, KernelMode, FALSE, null));
            ObDereferenceObject(t);
        }
    }

    /// <summary>
    /// Deterministic mode only: a 100 ns delay. Virtual time moves only when no thread can run, so when this returns
    /// every other thread has run until it blocked (or exited).
    /// </summary>
    public static void LetOthersRun() => Assert.Equal(STATUS_SUCCESS, KeDelayExecutionThread(KernelMode, FALSE, -1));

    public static NtStatus Poll(DispatcherObject o) => KeWaitForSingleObject(o, Executive, KernelMode, FALSE, 0);

    public static NtStatus WaitForever(DispatcherObject o) => KeWaitForSingleObject(o, Executive, KernelMode, FALSE, null);

    public static KEvent Event(EventType type, bool state = false)
    {
        var e = new KEvent();
        KeInitializeEvent(e, type, state);
        return e;
    }

    public static KSemaphore Semaphore(int count, int limit)
    {
        var s = new KSemaphore();
        KeInitializeSemaphore(s, count, limit);
        return s;
    }

    private static void RunBody(Action body) => body();
}
