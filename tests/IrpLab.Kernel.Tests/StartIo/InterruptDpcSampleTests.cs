using IrpLab.Hardware;
using IrpLab.Samples.InterruptDpc;
using static IrpLab.NtStatus;
using static IrpLab.Wdm;

namespace IrpLab.Tests.StartIo;

/// <summary>
/// The interrupt-dpc sample's driver: StartIo programs the device, the ISR acknowledges it and requests the
/// DpcForIsr, the DpcForIsr completes CurrentIrp and starts the next packet (nt-io-semantics §9.2, §9.5).
/// </summary>
public sealed class InterruptDpcSampleTests
{
    private const long HalfSecond = 5_000_000;

    private static readonly uint[] Values = [0x00000001, 0x12345678, 0xFFFF0000];

    private static (SimulatedDevice Hardware, Driver.DEVICE_EXTENSION Extension) Load(Machine m)
    {
        var hardware = new SimulatedDevice(m, "complement0", Host.Vector, KInterruptMode.Latched, operationTime: HalfSecond);
        var resources = new DeviceResources(hardware.Registers, hardware.Vector, Host.DeviceIrql, hardware.InterruptMode, ulong.MaxValue);
        Driver.DEVICE_EXTENSION? pdx = null;
        DriverInitialize entry = Driver.WithResources(resources);
        Assert.Equal(STATUS_SUCCESS, m.LoadDriver("Complement", (d, path) =>
        {
            NtStatus status = entry(d, path);
            pdx = (Driver.DEVICE_EXTENSION?)d.DeviceObject?.DeviceExtension;
            return status;
        }));
        return (hardware, pdx!);
    }

    private sealed class Sent
    {
        public required uint Value;
        public required byte[] Output;
        public required KEvent Done;
        public required IoStatusBlock Iosb;
    }

    private static Sent Send(DeviceObject device, uint value)
    {
        var done = new KEvent();
        KeInitializeEvent(done, NotificationEvent, FALSE);
        var sent = new Sent { Value = value, Output = new byte[4], Done = done, Iosb = new IoStatusBlock() };
        Irp irp = IoBuildDeviceIoControlRequest(Driver.IOCTL_COMPLEMENT, device, BitConverter.GetBytes(value), 4, sent.Output, 4, FALSE, done, sent.Iosb);
        Assert.Equal(STATUS_PENDING, IoCallDriver(device, irp));
        return sent;
    }

    private static void AssertComputedByTheDevice(Sent[] sent)
    {
        foreach (Sent s in sent)
        {
            Assert.Equal(1, KeReadStateEvent(s.Done));
            Assert.Equal(STATUS_SUCCESS, s.Iosb.Status);
            Assert.Equal(4u, s.Iosb.Information);
            Assert.Equal(~s.Value, BitConverter.ToUInt32(s.Output, 0));
        }
    }

    [Fact]
    public void DeviceControl_SeveralRequests_ServedOneAtATimeByInterruptAndDpcForIsr()
    {
        using Machine m = KmTest.Machine();
        (SimulatedDevice hardware, Driver.DEVICE_EXTENSION pdx) = Load(m);
        var finishedAt = new long[Values.Length];
        Sent[] sent = [];
        m.Kernel(() =>
        {
            Assert.Equal(STATUS_SUCCESS, IoGetDeviceObjectPointer(Driver.NT_DEVICE_NAME, FILE_READ_DATA, out FileObject fo, out DeviceObject device));
            sent = [.. Values.Select(v => Send(device, v))];
            for (int i = 0; i < sent.Length; i++)
            {
                K.WaitForever(sent[i].Done);
                finishedAt[i] = (long)KeQueryInterruptTime();
            }

            AssertComputedByTheDevice(sent);
            ObDereferenceObject(fo);
        });

        Assert.Equal([HalfSecond, 2 * HalfSecond, 3 * HalfSecond], finishedAt);
        Assert.Equal((uint)Values.Length, hardware.OperationsCompleted);
        Assert.Equal(0L, hardware.Overruns);
        Assert.Equal(Values.Length, pdx.InterruptCount);
        Assert.Equal(Values.Length, pdx.DpcCount);
        Assert.Equal(STATUS_SUCCESS, m.UnloadDriver("Complement"));
        Assert.False(pdx.InterruptObject.Connected);
    }

    /// <summary>
    /// One processor. At the instant the first operation completes, the test thread may run before the DpcForIsr:
    /// it raises to DISPATCH_LEVEL, so the DPC cannot run, and makes the device interrupt three more times (spurious:
    /// DONE without a finished operation). Each ISR calls IoRequestDpc; while the DPC is queued those calls do nothing.
    /// </summary>
    private static (bool RealCompletionCollapsed, int Interrupts, int DpcRuns, int IdleDpcRuns) RunWithSpuriousInterrupts(ulong seed)
    {
        using Machine m = KmTest.Machine(seed, processors: 1);
        (SimulatedDevice hardware, Driver.DEVICE_EXTENSION pdx) = Load(m);
        bool realCollapsed = false;
        var spin = new KSpinLock();
        m.Kernel(() =>
        {
            Assert.Equal(STATUS_SUCCESS, IoGetDeviceObjectPointer(Driver.NT_DEVICE_NAME, FILE_READ_DATA, out FileObject fo, out DeviceObject device));
            Sent[] sent = [.. Values.Select(v => Send(device, v))];
            KeDelayExecutionThread(KernelMode, FALSE, RELATIVE(HalfSecond));
            KeRaiseIrql(DISPATCH_LEVEL, out byte old);
            for (int i = 0; i < 3; i++)
            {
                int before = pdx.InterruptCount;
                hardware.RaiseInterrupt();
                while (pdx.InterruptCount == before)
                {
                    KeAcquireSpinLockAtDpcLevel(spin);
                    KeReleaseSpinLockFromDpcLevel(spin);
                }
            }

            // The first operation has finished and its interrupt was taken, but no DpcForIsr has completed it: its
            // IoRequestDpc and the spurious ones are one queued DPC.
            realCollapsed = hardware.OperationsCompleted == 1 && KeReadStateEvent(sent[0].Done) == 0 && device.Dpc.IsQueued;
            KeLowerIrql(old);
            foreach (Sent s in sent)
            {
                K.WaitForever(s.Done);
            }

            AssertComputedByTheDevice(sent);
            ObDereferenceObject(fo);
        });

        Assert.Equal(STATUS_SUCCESS, m.UnloadDriver("Complement"));
        return (realCollapsed, pdx.InterruptCount, pdx.DpcCount, pdx.IdleDpcCount);
    }

    [Fact]
    public void IoRequestDpc_SeveralBeforeTheDpcRuns_CollapseIntoOneRunAndEveryRequestStillCompletes()
    {
        int collapsedWithReal = 0;
        for (ulong seed = 1; seed <= 20; seed++)
        {
            (bool realCollapsed, int interrupts, int dpcRuns, int idle) = RunWithSpuriousInterrupts(seed);

            // Fewer DpcForIsr runs than interrupts, and exactly one productive run per request: the driver takes its
            // work from the device (COUNT moved), not from the number of IoRequestDpc calls.
            Assert.True(dpcRuns < interrupts, $"seed {seed}: {dpcRuns} DPC runs for {interrupts} interrupts");
            Assert.Equal(Values.Length, dpcRuns - idle);
            if (realCollapsed)
            {
                collapsedWithReal++;
            }
        }

        Assert.True(collapsedWithReal > 0, "no schedule merged the real completion's DPC request with the spurious ones");
    }
}
