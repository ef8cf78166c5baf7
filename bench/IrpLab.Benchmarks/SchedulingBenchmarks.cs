using BenchmarkDotNet.Attributes;
using static IrpLab.NtStatus;
using static IrpLab.Wdm;

namespace IrpLab.Benchmarks;

/// <summary>
/// T9: deterministic mode, at least 100,000 scheduling decisions per second. One operation is a whole deterministic
/// run of the ping-pong scenario (two system threads handing a synchronization event back and forth
/// <see cref="Rounds"/> times); the program prints the points per run, so points/s = points ÷ mean time.
/// </summary>
[MemoryDiagnoser]
public class T9Deterministic
{
    public const int Rounds = 2000;

    [Benchmark(Description = "T9 deterministic ping-pong run")]
    public long PingPongRun() => RunPingPong(seed: 1);

    public static long RunPingPong(ulong seed)
    {
        using var machine = new Machine(new MachineOptions { Deterministic = true, Seed = seed, Verifier = false });
        machine.RunKernel("main", () =>
        {
            var ping = new KEvent();
            var pong = new KEvent();
            KeInitializeEvent(ping, SynchronizationEvent, FALSE);
            KeInitializeEvent(pong, SynchronizationEvent, FALSE);
            PsCreateSystemThread(out Handle a, THREAD_ALL_ACCESS, null, null, null, _ =>
            {
                for (int i = 0; i < Rounds; i++)
                {
                    KeWaitForSingleObject(ping, Executive, KernelMode, FALSE, null);
                    KeSetEvent(pong, 0, FALSE);
                }
            }, null);
            ObReferenceObjectByHandle(a, THREAD_ALL_ACCESS, PsThreadType, KernelMode, out KThread ta, null);
            ZwClose(a);
            for (int i = 0; i < Rounds; i++)
            {
                KeSetEvent(ping, 0, FALSE);
                KeWaitForSingleObject(pong, Executive, KernelMode, FALSE, null);
            }

            KeWaitForSingleObject(ta, Executive, KernelMode, FALSE, null);
            ObDereferenceObject(ta);
        });
        return machine.SchedulingSteps;
    }
}
