using static IrpLab.NtStatus;
using static IrpLab.Wdm;

namespace IrpLab.Tests;

/// <summary>IoAllocateWorkItem / IoQueueWorkItem / IoFreeWorkItem and ExQueueWorkItem on the system worker threads.</summary>
public sealed class WorkItemTests
{
    private const long OneMillisecond = 10_000;

    private sealed class Probe
    {
        public readonly KEvent Done = new();
        public int Runs;
        public byte Irql = 0xFF;
        public bool OnServiceThread;
        public bool InSystemProcess;
        public string? ThreadName;
        public DeviceObject? Device;
        public object? Context;
        public int DeviceReferencesDuringRoutine = -1;
    }

    private static DeviceObject CreateDevice(DriverObject driver)
    {
        NtStatus status = IoCreateDevice(driver, null, null, FILE_DEVICE_UNKNOWN, 0, FALSE, out DeviceObject device);
        Assert.Equal(STATUS_SUCCESS, status);
        return device;
    }

    [Fact]
    public void IoQueueWorkItem_Queued_RoutineRunsAtPassiveLevelOnASystemWorkerHoldingADeviceReference()
    {
        using Machine m = KmTest.Machine();
        var probe = new Probe();
        object context = new();
        DeviceObject? device = null;
        int referencesAfter = -1;
        KmTest.RunAsDriver(m, "WorkDrv", driver =>
        {
            device = CreateDevice(driver);
            KeInitializeEvent(probe.Done, NotificationEvent, FALSE);
            IoWorkItem item = IoAllocateWorkItem(device);
            IoQueueWorkItem(item, (d, c) =>
            {
                KThread thread = KeGetCurrentThread();
                probe.Runs++;
                probe.Irql = KeGetCurrentIrql();
                probe.OnServiceThread = thread.IsService;
                probe.InSystemProcess = thread.Process.IsSystem;
                probe.ThreadName = thread.Name;
                probe.Device = d;
                probe.Context = c;
                probe.DeviceReferencesDuringRoutine = d.PointerCount;
                KeSetEvent(probe.Done, 0, FALSE);
            }, DelayedWorkQueue, context);
            KeWaitForSingleObject(probe.Done, Executive, KernelMode, FALSE, null);

            // Once every thread waits the worker has finished and dropped its reference.
            KeDelayExecutionThread(KernelMode, FALSE, -OneMillisecond);
            referencesAfter = device.PointerCount;
            IoFreeWorkItem(item);
        });

        Assert.Equal(1, probe.Runs);
        Assert.Equal(PASSIVE_LEVEL, probe.Irql);
        Assert.True(probe.OnServiceThread);
        Assert.True(probe.InSystemProcess);
        Assert.StartsWith("Worker:Delayed:", probe.ThreadName, StringComparison.Ordinal);
        Assert.Same(device, probe.Device);
        Assert.Same(context, probe.Context);
        Assert.Equal(1, probe.DeviceReferencesDuringRoutine);
        Assert.Equal(0, referencesAfter);
    }

    [Fact]
    public void IoQueueWorkItem_AlreadyQueued_BugChecksWorkerInvalid1()
    {
        using Machine m = KmTest.Machine(processors: 1);
        IoWorkItem? item = null;
        BugCheckInfo bc = KmTest.BugCheck(() => KmTest.RunAsDriver(m, "WorkDrv", driver =>
        {
            item = IoAllocateWorkItem(CreateDevice(driver));

            // One processor held at DISPATCH_LEVEL: no worker can take the item before the second call.
            KeRaiseIrql(DISPATCH_LEVEL, out _);
            IoQueueWorkItem(item, (d, c) => { }, CriticalWorkQueue, null);
            IoQueueWorkItem(item, (d, c) => { }, DelayedWorkQueue, null);
        }));

        Assert.Equal(BugCheckCatalogue.WORKER_INVALID, bc.Code);
        Assert.Equal(0x1UL, bc.Parameter1);
        Assert.Equal(item!.DebugAddress(m), bc.Parameter2);
        Assert.Equal((ulong)CriticalWorkQueue, bc.Parameter3);
        Assert.Equal("WorkDrv", bc.FaultingDriver);
    }

    [Fact]
    public void IoQueueWorkItem_FromItsOwnRoutine_RunsAgain()
    {
        using Machine m = KmTest.Machine();
        var done = new KEvent();
        int runs = 0;
        KmTest.RunAsDriver(m, "WorkDrv", driver =>
        {
            KeInitializeEvent(done, NotificationEvent, FALSE);
            IoWorkItem item = IoAllocateWorkItem(CreateDevice(driver));
            IoWorkItemRoutine? routine = null;
            routine = (d, c) =>
            {
                // The item left the queue before the routine started: queueing it again is legal.
                if (++runs < 3)
                {
                    IoQueueWorkItem(item, routine!, DelayedWorkQueue, null);
                }
                else
                {
                    IoFreeWorkItem(item);
                    KeSetEvent(done, 0, FALSE);
                }
            };
            IoQueueWorkItem(item, routine, DelayedWorkQueue, null);
            KeWaitForSingleObject(done, Executive, KernelMode, FALSE, null);
        });

        Assert.Equal(3, runs);
        Assert.Null(m.BugCheck);
    }

    [Fact]
    public void IoFreeWorkItem_WhileQueued_BugChecksWorkerInvalid2()
    {
        using Machine m = KmTest.Machine(processors: 1);
        BugCheckInfo bc = KmTest.BugCheck(() => KmTest.RunAsDriver(m, "WorkDrv", driver =>
        {
            IoWorkItem item = IoAllocateWorkItem(CreateDevice(driver));
            KeRaiseIrql(DISPATCH_LEVEL, out _);
            IoQueueWorkItem(item, (d, c) => { }, DelayedWorkQueue, null);
            IoFreeWorkItem(item);
        }));

        Assert.Equal(BugCheckCatalogue.WORKER_INVALID, bc.Code);
        Assert.Equal(0x2UL, bc.Parameter1);
    }

    [Fact]
    public void IoQueueWorkItem_InvalidQueueType_BugChecksWorkerInvalid6()
    {
        using Machine m = KmTest.Machine();
        BugCheckInfo bc = KmTest.BugCheck(() => KmTest.RunAsDriver(m, "WorkDrv", driver =>
            IoQueueWorkItem(IoAllocateWorkItem(CreateDevice(driver)), (d, c) => { }, (WorkQueueType)7, null)));
        Assert.Equal(BugCheckCatalogue.WORKER_INVALID, bc.Code);
        Assert.Equal(0x6UL, bc.Parameter1);
        Assert.Equal(7UL, bc.Parameter3);
    }

    [Fact]
    public void WorkItemRoutine_ReturnsAtDispatchLevel_BugChecksWorkerThreadReturnedAtBadIrql()
    {
        using Machine m = KmTest.Machine();
        var done = new KEvent();
        BugCheckInfo bc = KmTest.BugCheck(() => KmTest.RunAsDriver(m, "WorkDrv", driver =>
        {
            KeInitializeEvent(done, NotificationEvent, FALSE);
            IoQueueWorkItem(IoAllocateWorkItem(CreateDevice(driver)), (d, c) =>
            {
                KeRaiseIrql(DISPATCH_LEVEL, out _);
                KeSetEvent(done, 0, FALSE);
            }, DelayedWorkQueue, null);
            KeWaitForSingleObject(done, Executive, KernelMode, FALSE, null);
            KeDelayExecutionThread(KernelMode, FALSE, -OneMillisecond);
        }));

        Assert.Equal(BugCheckCatalogue.WORKER_THREAD_RETURNED_AT_BAD_IRQL, bc.Code);
        Assert.Equal((ulong)DISPATCH_LEVEL, bc.Parameter2);
        Assert.Equal("WorkDrv", bc.FaultingDriver);
    }

    [Theory]
    [InlineData(1UL)]
    [InlineData(2UL)]
    [InlineData(3UL)]
    public void ExQueueWorkItem_TwoItemsOnOneQueue_RunConcurrentlyOnTheTwoWorkers(ulong seed)
    {
        using Machine m = KmTest.Machine(seed);
        var fromSecond = new KEvent();
        var bothDone = new KSemaphore();
        WorkQueueItem first = new(), second = new();
        var levels = new List<byte>();
        m.RunKernel("test", () =>
        {
            KeInitializeEvent(fromSecond, NotificationEvent, FALSE);
            KeInitializeSemaphore(bothDone, 0, 2);

            // The first routine waits for the second: with a single worker this would never finish.
            ExInitializeWorkItem(first, _ =>
            {
                levels.Add(KeGetCurrentIrql());
                KeWaitForSingleObject(fromSecond, Executive, KernelMode, FALSE, null);
                KeReleaseSemaphore(bothDone, 0, 1, FALSE);
            }, null);
            ExInitializeWorkItem(second, _ =>
            {
                levels.Add(KeGetCurrentIrql());
                KeSetEvent(fromSecond, 0, FALSE);
                KeReleaseSemaphore(bothDone, 0, 1, FALSE);
            }, null);
            ExQueueWorkItem(first, CriticalWorkQueue);
            ExQueueWorkItem(second, CriticalWorkQueue);
            KeWaitForSingleObject(bothDone, Executive, KernelMode, FALSE, null);
            KeWaitForSingleObject(bothDone, Executive, KernelMode, FALSE, null);
        });

        Assert.Equal([PASSIVE_LEVEL, PASSIVE_LEVEL], levels);
        Assert.False(first.IsQueued);
        Assert.False(second.IsQueued);
    }

    [Fact]
    public void ExQueueWorkItem_AlreadyQueued_BugChecksWorkerInvalid1()
    {
        using Machine m = KmTest.Machine(processors: 1);
        var item = new WorkQueueItem();
        BugCheckInfo bc = KmTest.BugCheck(() => m.RunKernel("test", () =>
        {
            ExInitializeWorkItem(item, _ => { }, null);
            KeRaiseIrql(DISPATCH_LEVEL, out _);
            ExQueueWorkItem(item, DelayedWorkQueue);
            ExQueueWorkItem(item, DelayedWorkQueue);
        }));

        Assert.Equal(BugCheckCatalogue.WORKER_INVALID, bc.Code);
        Assert.Equal(0x1UL, bc.Parameter1);
        Assert.Equal((ulong)DelayedWorkQueue, bc.Parameter3);
    }

    private sealed class Gate
    {
        public readonly KEvent Release = new();
        public readonly KSemaphore Started = new();
        public readonly KSemaphore Finished = new();
    }

    private static void BlockingWorkRoutine(object? Parameter)
    {
        var gate = (Gate)Parameter!;
        KeReleaseSemaphore(gate.Started, 0, 1, FALSE);
        KeWaitForSingleObject(gate.Release, Executive, KernelMode, FALSE, null);
        KeReleaseSemaphore(gate.Finished, 0, 1, FALSE);
    }

    private enum UnloadWait
    {
        None = 0,

        /// <summary>Wait for the routines' last signal: they may still be returning through the image.</summary>
        ForSignal = 1,

        /// <summary>Wait for the signal, then until every thread is idle: the routines have returned.</summary>
        UntilReturned = 2,
    }

    private static void LoadDriverWithExWorkItems(Machine m, UnloadWait wait)
    {
        var gate = new Gate();
        WorkQueueItem[] items = [new(), new(), new()];
        KmTest.RunAsDriver(m, "WorkDrv", driver =>
        {
            KeInitializeEvent(gate.Release, NotificationEvent, FALSE);
            KeInitializeSemaphore(gate.Started, 0, 3);
            KeInitializeSemaphore(gate.Finished, 0, 3);
            foreach (WorkQueueItem item in items)
            {
                ExInitializeWorkItem(item, BlockingWorkRoutine, gate);
            }

            driver.DriverUnload = _ =>
            {
                foreach (WorkQueueItem item in items)
                {
                    ExQueueWorkItem(item, DelayedWorkQueue);
                }

                // Both delayed workers are now inside the routine; the third item waits in the queue.
                KeWaitForSingleObject(gate.Started, Executive, KernelMode, FALSE, null);
                KeWaitForSingleObject(gate.Started, Executive, KernelMode, FALSE, null);
                if (wait == UnloadWait.None)
                {
                    return;
                }

                KeSetEvent(gate.Release, 0, FALSE);
                for (int i = 0; i < items.Length; i++)
                {
                    KeWaitForSingleObject(gate.Finished, Executive, KernelMode, FALSE, null);
                }

                if (wait == UnloadWait.UntilReturned)
                {
                    // Virtual time moves only when every thread waits: the workers are idle again.
                    KeDelayExecutionThread(KernelMode, FALSE, -OneMillisecond);
                }
            };
        });
    }

    [Fact]
    public void DriverUnload_WithExecutiveWorkItemsRunningAndQueued_BugChecksCE()
    {
        using Machine m = KmTest.Machine();
        LoadDriverWithExWorkItems(m, UnloadWait.None);
        BugCheckInfo bc = KmTest.BugCheck(() => m.UnloadDriver("WorkDrv"));
        Assert.Equal(BugCheckCatalogue.DRIVER_UNLOADED_WITHOUT_CANCELLING_PENDING_OPERATIONS, bc.Code);
        Assert.Contains("executive work item " + nameof(BlockingWorkRoutine), bc.Diagnosis, StringComparison.Ordinal);
        Assert.Contains("still running", bc.Diagnosis, StringComparison.Ordinal);
        Assert.Contains(") queued", bc.Diagnosis, StringComparison.Ordinal);
    }

    [Fact]
    public void DriverUnload_WaitsOnlyForTheRoutinesLastSignal_RacesWithTheirReturn()
    {
        // The routine's last act signals the unload routine, which may then return while a worker is still on its way
        // out of the routine: in the driver's image. Some schedules hit it, some do not.
        int bugChecks = 0;
        int clean = 0;
        for (ulong seed = 1; seed <= 12; seed++)
        {
            using Machine m = KmTest.Machine(seed);
            LoadDriverWithExWorkItems(m, UnloadWait.ForSignal);
            try
            {
                m.UnloadDriver("WorkDrv");
                clean++;
            }
            catch (BugCheckException e)
            {
                Assert.Equal(BugCheckCatalogue.DRIVER_UNLOADED_WITHOUT_CANCELLING_PENDING_OPERATIONS, e.BugCheck.Code);
                Assert.Contains("still running", e.BugCheck.Diagnosis, StringComparison.Ordinal);
                bugChecks++;
            }
        }

        Assert.True(bugChecks > 0, "no schedule caught the unload racing the routines' return");
        Assert.True(clean > 0, "every schedule caught the race");
    }

    [Fact]
    public void DriverUnload_AfterItsExecutiveWorkItemsReturned_UnloadsCleanly()
    {
        using Machine m = KmTest.Machine();
        LoadDriverWithExWorkItems(m, UnloadWait.UntilReturned);
        Assert.Equal(STATUS_SUCCESS, m.UnloadDriver("WorkDrv"));
        Assert.Null(m.BugCheck);
    }

    [Fact]
    public void DriverUnload_WithIoWorkItemsRunningAndQueued_StaysLoadedUntilTheyRan()
    {
        using Machine m = KmTest.Machine();
        var release = new KEvent();
        var started = new KSemaphore();
        var finished = new KSemaphore();
        var seen = new List<DeviceObject>();
        DeviceObject? device = null;
        KmTest.RunAsDriver(m, "WorkDrv", driver =>
        {
            KeInitializeEvent(release, NotificationEvent, FALSE);
            KeInitializeSemaphore(started, 0, 3);
            KeInitializeSemaphore(finished, 0, 3);
            device = CreateDevice(driver);
            driver.DriverUnload = d =>
            {
                DeviceObject dev = d.DeviceObject!;
                for (int i = 0; i < 3; i++)
                {
                    IoWorkItem item = IoAllocateWorkItem(dev);
                    IoQueueWorkItem(item, (deviceObject, c) =>
                    {
                        KeReleaseSemaphore(started, 0, 1, FALSE);
                        KeWaitForSingleObject(release, Executive, KernelMode, FALSE, null);
                        seen.Add(deviceObject);
                        IoFreeWorkItem(item);
                        KeReleaseSemaphore(finished, 0, 1, FALSE);
                    }, DelayedWorkQueue, null);
                }

                // Two routines run (blocked), the third item is queued, and the device goes delete-pending.
                KeWaitForSingleObject(started, Executive, KernelMode, FALSE, null);
                KeWaitForSingleObject(started, Executive, KernelMode, FALSE, null);
                IoDeleteDevice(dev);
            };
        });

        // The items' device references keep the image loaded: no 0xCE, and the routines still run.
        Assert.Equal(STATUS_SUCCESS, m.UnloadDriver("WorkDrv"));
        m.RunKernel("after", () =>
        {
            KeSetEvent(release, 0, FALSE);
            for (int i = 0; i < 3; i++)
            {
                KeWaitForSingleObject(finished, Executive, KernelMode, FALSE, null);
            }
        });
        Assert.Equal(3, seen.Count);
        Assert.All(seen, d => Assert.Same(device, d));
        Assert.Null(m.BugCheck);
    }

    [Fact]
    public void IoQueueWorkItem_RealMode_RunsTheRoutine()
    {
        using var m = new Machine(new MachineOptions { Deterministic = false, Processors = 2 });
        var done = new KEvent();
        byte irql = 0xFF;
        KmTest.RunAsDriver(m, "WorkDrv", driver =>
        {
            KeInitializeEvent(done, NotificationEvent, FALSE);
            IoWorkItem item = IoAllocateWorkItem(CreateDevice(driver));
            IoQueueWorkItem(item, (d, c) =>
            {
                irql = KeGetCurrentIrql();
                KeSetEvent(done, 0, FALSE);
            }, CriticalWorkQueue, null);
            KeWaitForSingleObject(done, Executive, KernelMode, FALSE, null);
        });

        Assert.Equal(PASSIVE_LEVEL, irql);
        Assert.Null(m.BugCheck);
    }
}
