using IrpLab.Hardware;
using static IrpLab.NtStatus;
using static IrpLab.Wdm;

namespace IrpLab.Tests;

/// <summary>IoConnectInterrupt, ISRs on a simulated device, KeSynchronizeExecution and DpcForIsr.</summary>
public sealed class InterruptTests
{
    private const uint Vector = 0x51;
    private const byte DeviceIrql = 5;
    private const long OneMillisecond = 10_000;

    /// <summary>The device extension of the test driver.</summary>
    private sealed class Extension
    {
        public SimulatedDevice Hardware = null!;
        public DeviceObject Device = null!;
        public KInterrupt Interrupt = null!;
        public readonly KEvent DpcDone = new();
        public readonly KDpc Nudge = new();
        public bool Acknowledge = true;
        public bool ReturnRaised;
        public int IsrRuns;
        public byte IsrIrql = 0xFF;
        public bool IsrHeldLock;
        public int IsrProcessor = -1;
        public readonly List<bool> QueuedBeforeRequest = [];
        public uint LastResult;
        public int DpcRuns;
        public byte DpcIrql = 0xFF;
        public object? DpcContext;
        public int DpcProcessor = -1;
        public volatile bool InsideCriticalSection;
        public int Overlaps;
    }

    private static bool Isr(KInterrupt Interrupt, object? ServiceContext)
    {
        var pdx = (Extension)ServiceContext!;
        DeviceRegister regs = pdx.Hardware.Registers;
        if ((READ_REGISTER_ULONG(regs + SimulatedDevice.StatusRegister) & SimulatedDevice.StatusDone) == 0)
        {
            return FALSE;
        }

        pdx.IsrRuns++;
        pdx.IsrIrql = KeGetCurrentIrql();
        pdx.IsrHeldLock = Interrupt.ActualLock.Owner == KeGetCurrentThread();
        pdx.IsrProcessor = (int)KeGetCurrentProcessorNumber();
        if (pdx.InsideCriticalSection)
        {
            pdx.Overlaps++;
        }

        if (pdx.Acknowledge)
        {
            WRITE_REGISTER_ULONG(regs + SimulatedDevice.StatusRegister, SimulatedDevice.StatusDone);
        }

        pdx.LastResult = READ_REGISTER_ULONG(regs + SimulatedDevice.ResultRegister);
        pdx.QueuedBeforeRequest.Add(pdx.Device.Dpc.IsQueued);
        IoRequestDpc(pdx.Device, null, pdx.IsrRuns);
        if (pdx.ReturnRaised)
        {
            KeRaiseIrql(HIGH_LEVEL, out _);
        }

        return TRUE;
    }

    private static void DpcForIsr(KDpc Dpc, DeviceObject DeviceObject, Irp? Irp, object? Context)
    {
        var pdx = (Extension)DeviceObject.DeviceExtension!;
        pdx.DpcRuns++;
        pdx.DpcIrql = KeGetCurrentIrql();
        pdx.DpcContext = Context;
        pdx.DpcProcessor = (int)KeGetCurrentProcessorNumber();
        KeSetEvent(pdx.DpcDone, 0, FALSE);
    }

    /// <summary>Loads a driver that owns <paramref name="hardware"/>: device object, DpcForIsr, connected interrupt.</summary>
    private static Extension LoadDriver(Machine m, SimulatedDevice hardware, Action<Extension>? configure = null, KInterruptMode mode = Latched,
        ulong affinity = ulong.MaxValue, bool disconnectInUnload = true)
    {
        var pdx = new Extension { Hardware = hardware };
        configure?.Invoke(pdx);
        KmTest.RunAsDriver(m, "HwDrv", driver =>
        {
            Assert.Equal(STATUS_SUCCESS, IoCreateDevice(driver, pdx, null, FILE_DEVICE_UNKNOWN, 0, FALSE, out DeviceObject device));
            pdx.Device = device;
            KeInitializeEvent(pdx.DpcDone, SynchronizationEvent, FALSE);
            KeInitializeDpc(pdx.Nudge, (d, c, a1, a2) => { }, null);
            IoInitializeDpcRequest(device, DpcForIsr);
            Assert.Equal(STATUS_SUCCESS, IoConnectInterrupt(out pdx.Interrupt, Isr, pdx, null, Vector, DeviceIrql, DeviceIrql, mode, FALSE, affinity, FALSE));
            driver.DriverUnload = d =>
            {
                if (disconnectInUnload)
                {
                    IoDisconnectInterrupt(pdx.Interrupt);
                }

                KeFlushQueuedDpcs();
                IoDeleteDevice(d.DeviceObject!);
            };
        });
        return pdx;
    }

    [Fact]
    public void DeviceOperation_Completes_IsrAtDirqlHoldingItsLockThenDpcForIsrAtDispatch()
    {
        using Machine m = KmTest.Machine();
        var hardware = new SimulatedDevice(m, "dev0", Vector, operationTime: 5 * OneMillisecond);
        Extension pdx = LoadDriver(m, hardware);
        long finished = 0;
        m.RunKernel("app", () =>
        {
            DeviceRegister regs = hardware.Registers;
            WRITE_REGISTER_ULONG(regs + SimulatedDevice.DataRegister, 0x1234);
            WRITE_REGISTER_ULONG(regs + SimulatedDevice.ControlRegister, SimulatedDevice.ControlStart | SimulatedDevice.ControlInterruptEnable);
            KeWaitForSingleObject(pdx.DpcDone, Executive, KernelMode, FALSE, null);
            finished = (long)KeQueryInterruptTime();
        });

        Assert.Equal(1, pdx.IsrRuns);
        Assert.Equal(DeviceIrql, pdx.IsrIrql);
        Assert.True(pdx.IsrHeldLock);
        Assert.Equal(~0x1234u, pdx.LastResult);
        Assert.Equal(1, pdx.DpcRuns);
        Assert.Equal(DISPATCH_LEVEL, pdx.DpcIrql);
        Assert.Equal(1, pdx.DpcContext);
        Assert.Equal(5 * OneMillisecond, finished);
        Assert.Equal(1u, hardware.OperationsCompleted);
        Assert.Equal(STATUS_SUCCESS, m.UnloadDriver("HwDrv"));
    }

    [Fact]
    public void IoRequestDpc_FromAnIsrOnProcessorOne_RunsTheDpcOnProcessorOne()
    {
        using Machine m = KmTest.Machine(processors: 2);
        var hardware = new SimulatedDevice(m, "dev0", Vector);
        Extension pdx = LoadDriver(m, hardware, affinity: 0b10);
        m.RunKernel("app", () =>
        {
            hardware.RaiseInterrupt();
            KeWaitForSingleObject(pdx.DpcDone, Executive, KernelMode, FALSE, null);
        });

        Assert.Equal(1, pdx.IsrProcessor);
        Assert.Equal(1, pdx.DpcProcessor);
    }

    private static bool Critical(object? SynchronizeContext)
    {
        var pdx = (Extension)SynchronizeContext!;
        pdx.InsideCriticalSection = true;
        pdx.Hardware.RaiseInterrupt();
        for (int i = 0; i < 8; i++)
        {
            // Scheduling points inside the critical section: the ISR could be chosen here.
            KeInsertQueueDpc(pdx.Nudge, null, null);
        }

        pdx.InsideCriticalSection = false;
        return TRUE;
    }

    private static int RunCriticalSection(ulong seed, bool synchronize)
    {
        using Machine m = KmTest.Machine(seed, processors: 2);
        var hardware = new SimulatedDevice(m, "dev0", Vector);
        Extension pdx = LoadDriver(m, hardware);
        bool result = false;
        m.RunKernel("app", () =>
        {
            result = synchronize ? KeSynchronizeExecution(pdx.Interrupt, Critical, pdx) : Critical(pdx);
            KeWaitForSingleObject(pdx.DpcDone, Executive, KernelMode, FALSE, null);
        });

        Assert.True(result);
        Assert.Equal(1, pdx.IsrRuns);
        return pdx.Overlaps;
    }

    [Fact]
    public void KeSynchronizeExecution_InterruptDuringTheRoutine_IsrWaitsUntilItReturns()
    {
        for (ulong seed = 1; seed <= 8; seed++)
        {
            Assert.Equal(0, RunCriticalSection(seed, synchronize: true));
        }
    }

    [Fact]
    public void WithoutKeSynchronizeExecution_InterruptDuringTheSection_SomeScheduleRunsTheIsrInside()
    {
        int overlapping = 0;
        for (ulong seed = 1; seed <= 8; seed++)
        {
            overlapping += RunCriticalSection(seed, synchronize: false);
        }

        Assert.True(overlapping > 0);
    }

    [Fact]
    public void IoRequestDpc_SeveralInterruptsBeforeTheDpcRuns_CollapseIntoOneDpcWithTheFirstContext()
    {
        using Machine m = KmTest.Machine(processors: 1);
        var hardware = new SimulatedDevice(m, "dev0", Vector);
        Extension pdx = LoadDriver(m, hardware);
        var spin = new KSpinLock();
        int dpcRunsWhileRaised = -1;
        m.RunKernel("app", () =>
        {
            // The only processor stays at DISPATCH_LEVEL: interrupts still arrive, the DPC cannot run.
            KeRaiseIrql(DISPATCH_LEVEL, out byte old);
            for (int i = 1; i <= 3; i++)
            {
                hardware.RaiseInterrupt();
                while (pdx.IsrRuns < i)
                {
                    KeAcquireSpinLockAtDpcLevel(spin);
                    KeReleaseSpinLockFromDpcLevel(spin);
                }
            }

            dpcRunsWhileRaised = pdx.DpcRuns;
            KeLowerIrql(old);
            KeWaitForSingleObject(pdx.DpcDone, Executive, KernelMode, FALSE, null);
            KeFlushQueuedDpcs();
        });

        Assert.Equal(3, pdx.IsrRuns);
        Assert.Equal([false, true, true], pdx.QueuedBeforeRequest);
        Assert.Equal(0, dpcRunsWhileRaised);
        Assert.Equal(1, pdx.DpcRuns);
        Assert.Equal(1, pdx.DpcContext);
    }

    [Fact]
    public void LevelSensitiveInterrupt_IsrAcknowledges_DeliveredOnce()
    {
        using Machine m = KmTest.Machine();
        var hardware = new SimulatedDevice(m, "dev0", Vector, LevelSensitive);
        Extension pdx = LoadDriver(m, hardware, mode: LevelSensitive);
        m.RunKernel("app", () =>
        {
            WRITE_REGISTER_ULONG(hardware.Registers + SimulatedDevice.ControlRegister, SimulatedDevice.ControlStart | SimulatedDevice.ControlInterruptEnable);
            KeWaitForSingleObject(pdx.DpcDone, Executive, KernelMode, FALSE, null);
            KeDelayExecutionThread(KernelMode, FALSE, -OneMillisecond);
        });

        Assert.Equal(1, pdx.IsrRuns);
        Assert.Null(m.BugCheck);
    }

    [Fact]
    public void LevelSensitiveInterrupt_IsrNeverAcknowledges_BugChecksHardwareInterruptStorm()
    {
        using Machine m = KmTest.Machine();
        var hardware = new SimulatedDevice(m, "dev0", Vector, LevelSensitive);
        Extension pdx = LoadDriver(m, hardware, p => p.Acknowledge = false, mode: LevelSensitive);
        BugCheckInfo bc = KmTest.BugCheck(() => m.RunKernel("app", () =>
        {
            WRITE_REGISTER_ULONG(hardware.Registers + SimulatedDevice.ControlRegister, SimulatedDevice.ControlStart | SimulatedDevice.ControlInterruptEnable);
            KeDelayExecutionThread(KernelMode, FALSE, -10 * OneMillisecond);
        }));

        Assert.Equal(BugCheckCatalogue.HARDWARE_INTERRUPT_STORM, bc.Code);
        Assert.Equal(pdx.Interrupt.DebugAddress(m), bc.Parameter3);
        Assert.Equal(1UL, bc.Parameter4);
        Assert.Contains("does not acknowledge", bc.Diagnosis, StringComparison.Ordinal);
        Assert.Equal("HwDrv", bc.FaultingDriver);
        Assert.Equal(nameof(Isr), bc.FaultingRoutine);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void Isr_ReturnsAtAnotherIrql_BugChecks(bool verifier)
    {
        using Machine m = KmTest.Machine(verifier: verifier);
        var hardware = new SimulatedDevice(m, "dev0", Vector);
        Extension pdx = LoadDriver(m, hardware, p => p.ReturnRaised = true);
        BugCheckInfo bc = KmTest.BugCheck(() => m.RunKernel("app", () =>
        {
            hardware.RaiseInterrupt();
            KeDelayExecutionThread(KernelMode, FALSE, -OneMillisecond);
        }));

        Assert.Equal(nameof(Isr), bc.FaultingRoutine);
        Assert.Equal("HwDrv", bc.FaultingDriver);
        if (verifier)
        {
            Assert.Equal(BugCheckCatalogue.DRIVER_VERIFIER_DETECTED_VIOLATION, bc.Code);
            Assert.Equal(0x111UL, bc.Parameter1);
        }
        else
        {
            Assert.Equal(BugCheckCatalogue.IRQL_UNEXPECTED_VALUE, bc.Code);
            Assert.Equal(((ulong)HIGH_LEVEL << 16) | ((ulong)DeviceIrql << 8) | 3, bc.Parameter1);
        }
    }

    [Fact]
    public void DriverUnload_WithTheInterruptConnected_BugChecksCE()
    {
        using Machine m = KmTest.Machine();
        var hardware = new SimulatedDevice(m, "dev0", Vector);
        LoadDriver(m, hardware, disconnectInUnload: false);
        BugCheckInfo bc = KmTest.BugCheck(() => m.UnloadDriver("HwDrv"));
        Assert.Equal(BugCheckCatalogue.DRIVER_UNLOADED_WITHOUT_CANCELLING_PENDING_OPERATIONS, bc.Code);
        Assert.Contains("interrupt vector " + Vector + " connected to ISR " + nameof(Isr), bc.Diagnosis, StringComparison.Ordinal);
    }

    [Fact]
    public void IoDisconnectInterrupt_ThenAnInterrupt_IsrIsNotCalled()
    {
        using Machine m = KmTest.Machine();
        var hardware = new SimulatedDevice(m, "dev0", Vector);
        Extension pdx = LoadDriver(m, hardware);
        Assert.Equal(STATUS_SUCCESS, m.UnloadDriver("HwDrv"));
        m.RunKernel("after", () =>
        {
            hardware.RaiseInterrupt();
            KeDelayExecutionThread(KernelMode, FALSE, -OneMillisecond);
        });

        Assert.False(pdx.Interrupt.Connected);
        Assert.Equal(0, pdx.IsrRuns);
        Assert.Null(m.BugCheck);
    }

    [Fact]
    public void IoConnectInterrupt_BadParameters_ReturnInvalidParameter()
    {
        using Machine m = KmTest.Machine(processors: 2);
        var results = new List<NtStatus>();
        KmTest.RunAsDriver(m, "HwDrv", driver =>
        {
            static bool Nothing(KInterrupt i, object? c) => FALSE;
            results.Add(IoConnectInterrupt(out _, Nothing, null, null, 1, DISPATCH_LEVEL, DISPATCH_LEVEL, Latched, FALSE, 1, FALSE));
            results.Add(IoConnectInterrupt(out _, Nothing, null, null, 1, 6, 5, Latched, FALSE, 1, FALSE));
            results.Add(IoConnectInterrupt(out _, Nothing, null, null, 1, 5, 5, Latched, FALSE, 0b100, FALSE));
            results.Add(IoConnectInterrupt(out _, Nothing, null, null, 1, 5, 5, Latched, FALSE, 1, FALSE));
            results.Add(IoConnectInterrupt(out _, Nothing, null, null, 1, 5, 5, Latched, TRUE, 1, FALSE));
            results.Add(IoConnectInterrupt(out _, Nothing, null, null, 2, 5, 5, Latched, TRUE, 1, FALSE));
            results.Add(IoConnectInterrupt(out _, Nothing, null, null, 2, 5, 5, LevelSensitive, TRUE, 1, FALSE));
            results.Add(IoConnectInterrupt(out _, Nothing, null, null, 2, 5, 5, Latched, TRUE, 1, FALSE));
        });

        Assert.Equal(
            [
                STATUS_INVALID_PARAMETER, // DIRQL must be above DISPATCH_LEVEL
                STATUS_INVALID_PARAMETER, // SynchronizeIrql below Irql
                STATUS_INVALID_PARAMETER, // no processor of the machine in the mask
                STATUS_SUCCESS,
                STATUS_INVALID_PARAMETER, // vector 1 is taken and not shareable
                STATUS_SUCCESS,
                STATUS_INVALID_PARAMETER, // shared vector 2 is latched
                STATUS_SUCCESS,
            ],
            results);
    }

    [Theory]
    [InlineData(Latched, 2)]
    [InlineData(LevelSensitive, 1)]
    public void SharedVector_BothIsrsClaim_LatchedCallsEveryIsrLevelStopsAtTheFirstClaim(KInterruptMode mode, int expectedCalls)
    {
        using Machine m = KmTest.Machine();
        var hardware = new SimulatedDevice(m, "dev0", Vector, mode);
        var calls = new List<string>();
        KmTest.RunAsDriver(m, "HwDrv", driver =>
        {
            bool First(KInterrupt i, object? c)
            {
                calls.Add("first");
                WRITE_REGISTER_ULONG(hardware.Registers + SimulatedDevice.StatusRegister, SimulatedDevice.StatusDone);
                return TRUE;
            }

            bool Second(KInterrupt i, object? c)
            {
                calls.Add("second");
                return TRUE;
            }

            Assert.Equal(STATUS_SUCCESS, IoConnectInterrupt(out _, First, null, null, Vector, DeviceIrql, DeviceIrql, mode, TRUE, ulong.MaxValue, FALSE));
            Assert.Equal(STATUS_SUCCESS, IoConnectInterrupt(out _, Second, null, null, Vector, DeviceIrql, DeviceIrql, mode, TRUE, ulong.MaxValue, FALSE));
        });

        m.RunKernel("app", () =>
        {
            WRITE_REGISTER_ULONG(hardware.Registers + SimulatedDevice.ControlRegister, SimulatedDevice.ControlStart | SimulatedDevice.ControlInterruptEnable);
            KeDelayExecutionThread(KernelMode, FALSE, -5 * OneMillisecond);
        });

        Assert.Equal(expectedCalls, calls.Count);
        Assert.Equal("first", calls[0]);
    }

    [Fact]
    public void DeviceOperation_RealMode_IsrAndDpcForIsrRun()
    {
        using var m = new Machine(new MachineOptions { Deterministic = false, Processors = 2 });
        var hardware = new SimulatedDevice(m, "dev0", Vector, operationTime: 0);
        Extension pdx = LoadDriver(m, hardware);
        m.RunKernel("app", () =>
        {
            WRITE_REGISTER_ULONG(hardware.Registers + SimulatedDevice.DataRegister, 7);
            WRITE_REGISTER_ULONG(hardware.Registers + SimulatedDevice.ControlRegister, SimulatedDevice.ControlStart | SimulatedDevice.ControlInterruptEnable);
            KeWaitForSingleObject(pdx.DpcDone, Executive, KernelMode, FALSE, null);
        });

        Assert.Equal(1, pdx.IsrRuns);
        Assert.Equal(~7u, pdx.LastResult);
        Assert.Equal(DISPATCH_LEVEL, pdx.DpcIrql);
        Assert.Equal(STATUS_SUCCESS, m.UnloadDriver("HwDrv"));
    }

    private static string[] RunDeviceTwice(ulong seed)
    {
        using Machine m = KmTest.Machine(seed, verbose: true);
        var hardware = new SimulatedDevice(m, "dev0", Vector);
        Extension pdx = LoadDriver(m, hardware);
        m.RunKernel("app", () =>
        {
            for (uint i = 0; i < 2; i++)
            {
                WRITE_REGISTER_ULONG(hardware.Registers + SimulatedDevice.DataRegister, i);
                WRITE_REGISTER_ULONG(hardware.Registers + SimulatedDevice.ControlRegister, SimulatedDevice.ControlStart | SimulatedDevice.ControlInterruptEnable);
                KeWaitForSingleObject(pdx.DpcDone, Executive, KernelMode, FALSE, null);
                DbgPrint("operation %d done at %d\n", i, (long)KeQueryInterruptTime());
            }
        });
        m.UnloadDriver("HwDrv");
        return m.Trace.Events.Select(e => e.ToString()).ToArray();
    }

    [Fact]
    public void DeviceOperations_SameSeed_IdenticalTrace()
    {
        string[] first = RunDeviceTwice(9);
        Assert.Equal(first, RunDeviceTwice(9));
        Assert.Contains(first, line => line.Contains("operation 1 done at 20000", StringComparison.Ordinal));
    }
}
