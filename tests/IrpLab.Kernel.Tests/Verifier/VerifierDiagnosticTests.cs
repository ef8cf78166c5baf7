using IrpLab.Tests.Io;
using static IrpLab.NtStatus;
using static IrpLab.Wdm;
using K32 = IrpLab.Kernel32;

namespace IrpLab.Tests.Verifier;

/// <summary>
/// One test per entry of the diagnostics catalogue (<see cref="VerifierDiagnostics"/>; the catalogue names each test,
/// and <see cref="VerifierCatalogueTests"/> checks the names resolve). Each builds a small bad driver (or application)
/// that triggers exactly that diagnostic in deterministic mode and checks the code, the subcode and the parameters
/// that identify the culprit; then its corrected twin, which runs clean.
/// </summary>
public sealed class VerifierDiagnosticTests
{
    private static readonly uint Buffered = TestIoctls.Buffered;
    private static readonly uint Neither = CTL_CODE(FILE_DEVICE_UNKNOWN, 0x810, METHOD_NEITHER, FILE_ANY_ACCESS);
    private static readonly long? OneSecond = RELATIVE(SECONDS(1));

    // ------------------------------------------------------------------ kernel checks

    [Fact]
    public void DoubleCompletion_BugCheck0x44()
    {
        ulong irpAddress = 0;
        BugCheckInfo? bad = Ioctl(NewMachine(), Buffered, (d, irp) =>
        {
            irpAddress = Address(irp);
            TestDriver.Complete(irp, STATUS_SUCCESS);
            return TestDriver.Complete(irp, STATUS_SUCCESS);
        });
        Assert.NotNull(bad);
        Assert.Equal(BugCheckCatalogue.MULTIPLE_IRP_COMPLETE_REQUESTS, bad.Code);
        Assert.Equal(irpAddress, bad.Parameter1);
        Assert.Equal("Drv", bad.FaultingDriver);

        Assert.Null(Ioctl(NewMachine(), Buffered, (d, irp) => TestDriver.Complete(irp, STATUS_SUCCESS)));
    }

    [Fact]
    public void NoStackLocation_BugCheck0x35()
    {
        ulong irpAddress = 0;
        BugCheckInfo? bad = SendAllocatedIrp(NewMachine(), skipOwnLocation: true, irql: PASSIVE_LEVEL, a => irpAddress = a);
        Assert.NotNull(bad);
        Assert.Equal(BugCheckCatalogue.NO_MORE_IRP_STACK_LOCATIONS, bad.Code);
        Assert.Equal(irpAddress, bad.Parameter1);

        Assert.Null(SendAllocatedIrp(NewMachine(), skipOwnLocation: false, irql: PASSIVE_LEVEL, _ => { }));
    }

    [Fact]
    public void WaitAtDispatchWithoutVerifier_BugCheck0x0A()
    {
        ulong eventAddress = 0;
        BugCheckInfo? bad = RunKernel(NewMachine(verifier: false), () =>
        {
            KEvent ev = K.Event(NotificationEvent);
            eventAddress = AddressOf(ev);
            KeRaiseIrql(DISPATCH_LEVEL, out _);
            KeWaitForSingleObject(ev, Executive, KernelMode, FALSE, OneSecond);
        });
        Assert.NotNull(bad);
        Assert.Equal(BugCheckCatalogue.IRQL_NOT_LESS_OR_EQUAL, bad.Code);
        Assert.Equal(eventAddress, bad.Parameter1);
        Assert.Equal(DISPATCH_LEVEL, bad.Parameter2);

        NtStatus waited = STATUS_SUCCESS;
        Assert.Null(RunKernel(NewMachine(verifier: false), () => waited = KeWaitForSingleObject(K.Event(NotificationEvent), Executive, KernelMode, FALSE, OneSecond)));
        Assert.Equal(STATUS_TIMEOUT, waited);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void UserBufferAtDispatch_BugCheck0xD1(bool verifier)
    {
        // The bug: the METHOD_NEITHER output buffer is written while holding a spin lock. User memory is pageable.
        KSpinLock spinLock = new();
        BugCheckInfo? bad = Ioctl(NewMachine(verifier), Neither, (d, irp) =>
        {
            ProbeForWrite(irp.UserBuffer, 16, 1);
            KeAcquireSpinLock(spinLock, out byte old);
            irp.UserBuffer!.Array[0] = 0x5A;
            KeReleaseSpinLock(spinLock, old);
            return TestDriver.Complete(irp, STATUS_SUCCESS, 1);
        });
        Assert.NotNull(bad);
        Assert.Equal(BugCheckCatalogue.DRIVER_IRQL_NOT_LESS_OR_EQUAL, bad.Code);
        Assert.True(bad.Parameter1 is > 0 and < 0x8000_0000_0000_0000UL, "P1 is a user-mode address");
        Assert.Equal(DISPATCH_LEVEL, bad.Parameter2);
        Assert.Equal(1UL, bad.Parameter3);
        Assert.Equal("Drv", bad.FaultingDriver);

        // The twin computes under the lock and writes the user buffer at PASSIVE_LEVEL.
        spinLock = new();
        Assert.Null(Ioctl(NewMachine(verifier), Neither, (d, irp) =>
        {
            ProbeForWrite(irp.UserBuffer, 16, 1);
            KeAcquireSpinLock(spinLock, out byte old);
            byte value = 0x5A;
            KeReleaseSpinLock(spinLock, old);
            irp.UserBuffer!.Array[0] = value;
            return TestDriver.Complete(irp, STATUS_SUCCESS, 1);
        }));
    }

    [Fact]
    public void RecursiveSpinLock_BugCheck0x0F()
    {
        KSpinLock spinLock = new();
        int threadId = 0;
        ulong lockAddress = 0;
        BugCheckInfo? bad = RunKernel(NewMachine(), () =>
        {
            threadId = KeGetCurrentThread().Id;
            lockAddress = AddressOf(spinLock);
            KeAcquireSpinLock(spinLock, out _);
            KeAcquireSpinLock(spinLock, out _);
        });
        Assert.NotNull(bad);
        Assert.Equal(BugCheckCatalogue.SPIN_LOCK_ALREADY_OWNED, bad.Code);
        Assert.Equal(lockAddress, bad.Parameter1);
        Assert.Equal((ulong)threadId, bad.Parameter2);

        spinLock = new();
        Assert.Null(RunKernel(NewMachine(), () =>
        {
            KeAcquireSpinLock(spinLock, out byte old);
            KeReleaseSpinLock(spinLock, old);
            KeAcquireSpinLock(spinLock, out old);
            KeReleaseSpinLock(spinLock, old);
        }));
    }

    [Fact]
    public void ReleaseNotOwned_BugCheck0x10()
    {
        KSpinLock spinLock = new();
        ulong lockAddress = 0;
        BugCheckInfo? bad = RunKernel(NewMachine(), () =>
        {
            lockAddress = AddressOf(spinLock);
            KeAcquireSpinLock(spinLock, out byte old);
            KeReleaseSpinLock(spinLock, old);
            KeReleaseSpinLock(spinLock, old);
        });
        Assert.NotNull(bad);
        Assert.Equal(BugCheckCatalogue.SPIN_LOCK_NOT_OWNED, bad.Code);
        Assert.Equal(lockAddress, bad.Parameter1);

        spinLock = new();
        Assert.Null(RunKernel(NewMachine(), () =>
        {
            KeAcquireSpinLock(spinLock, out byte old);
            KeReleaseSpinLock(spinLock, old);
        }));
    }

    [Fact]
    public void WaitInDpcWithoutVerifier_BugCheck0xB8()
    {
        BugCheckInfo? bad = RunDpc(NewMachine(verifier: false), ev => KeWaitForSingleObject(ev, Executive, KernelMode, FALSE, OneSecond));
        Assert.NotNull(bad);
        Assert.Equal(BugCheckCatalogue.ATTEMPTED_SWITCH_FROM_DPC, bad.Code);
        Assert.NotEqual(0UL, bad.Parameter1);

        // At DISPATCH_LEVEL only a poll (a zero timeout) is legal.
        NtStatus polled = STATUS_SUCCESS;
        Assert.Null(RunDpc(NewMachine(verifier: false), ev => polled = KeWaitForSingleObject(ev, Executive, KernelMode, FALSE, 0)));
        Assert.Equal(STATUS_TIMEOUT, polled);
    }

    [Fact]
    public void DispatchThrows_BugCheck0x1E()
    {
        var table = new byte[4];
        BugCheckInfo? bad = Ioctl(NewMachine(), Buffered, (d, irp) =>
        {
            // The bug: an index from the request, not checked against the table.
            table[IoGetCurrentIrpStackLocation(irp).Parameters.DeviceIoControl.InputBufferLength + 4] = 1;
            return TestDriver.Complete(irp, STATUS_SUCCESS);
        });
        Assert.NotNull(bad);
        Assert.Equal(BugCheckCatalogue.KMODE_EXCEPTION_NOT_HANDLED, bad.Code);
        Assert.Equal(unchecked((ulong)(uint)STATUS_ACCESS_VIOLATION), bad.Parameter1);
        Assert.Equal("Drv", bad.FaultingDriver);

        Assert.Null(Ioctl(NewMachine(), Buffered, (d, irp) =>
        {
            uint index = IoGetCurrentIrpStackLocation(irp).Parameters.DeviceIoControl.InputBufferLength + 4;
            return index < table.Length ? TestDriver.Complete(irp, STATUS_SUCCESS) : TestDriver.Complete(irp, STATUS_INVALID_PARAMETER);
        }));
    }

    [Fact]
    public void SystemThreadThrows_BugCheck0x7E()
    {
        var table = new byte[4];
        BugCheckInfo? bad = RunKernel(NewMachine(), () => K.Join(K.StartThread(() => table[table.Length] = 1)));
        Assert.NotNull(bad);
        Assert.Equal(BugCheckCatalogue.SYSTEM_THREAD_EXCEPTION_NOT_HANDLED, bad.Code);
        Assert.Equal(unchecked((ulong)(uint)STATUS_ACCESS_VIOLATION), bad.Parameter1);

        Assert.Null(RunKernel(NewMachine(), () => K.Join(K.StartThread(() => table[table.Length - 1] = 1))));
    }

    [Fact]
    public void UnloadWithPendingIrp_BugCheck0xCE()
    {
        // The bug: Target's unload routine forgets the IRP it holds for a client driver.
        ulong irpAddress = 0;
        using (Machine m = NewMachine())
        {
            var target = new TestDriver("Target").On(IRP_MJ_DEVICE_CONTROL, (d, irp) =>
            {
                irpAddress = Address(irp);
                IoMarkIrpPending(irp);
                return STATUS_PENDING;
            });
            target.Load(m);
            target.Driver.DriverUnload = TargetUnload;
            StartClient(m, target);
            BugCheckInfo bad = KmTest.BugCheck(() => m.UnloadDriver("Target"));
            Assert.Equal(BugCheckCatalogue.DRIVER_UNLOADED_WITHOUT_CANCELLING_PENDING_OPERATIONS, bad.Code);
            Assert.Equal(irpAddress, bad.Parameter1);
            Assert.Equal("Target", bad.FaultingDriver);
            Assert.Contains("pending in", bad.Diagnosis, StringComparison.Ordinal);
        }

        // The twin completes what it holds (STATUS_CANCELLED) in its unload routine.
        using (Machine m = NewMachine())
        {
            Irp? held = null;
            var target = new TestDriver("Target").On(IRP_MJ_DEVICE_CONTROL, (d, irp) =>
            {
                IoMarkIrpPending(irp);
                held = irp;
                return STATUS_PENDING;
            });
            target.Load(m);
            target.Driver.DriverUnload = driver =>
            {
                Irp irp = held!;
                held = null;
                TestDriver.Complete(irp, STATUS_CANCELLED);
                TargetUnload(driver);
            };
            IoStatusBlock iosb = StartClient(m, target);
            Assert.Equal(STATUS_SUCCESS, m.UnloadDriver("Target"));
            m.Kernel(K.LetOthersRun);
            Assert.Equal(STATUS_CANCELLED, iosb.Status);
            Assert.Null(m.BugCheck);
        }
    }

    // ------------------------------------------------------------------ 0xC4: IRQL, spin locks, waits, DDIs, deadlocks

    [Fact]
    public void RaiseToLowerIrql_BugCheck0xC4_30()
    {
        BugCheckInfo? bad = RunKernel(NewMachine(), () =>
        {
            KeRaiseIrql(DISPATCH_LEVEL, out _);
            KeRaiseIrql(PASSIVE_LEVEL, out _);
        });
        AssertVerifier(bad, 0x30);
        Assert.Equal(DISPATCH_LEVEL, bad!.Parameter2);
        Assert.Equal(PASSIVE_LEVEL, bad.Parameter3);

        Assert.Null(RunKernel(NewMachine(), () =>
        {
            KeRaiseIrql(DISPATCH_LEVEL, out byte old);
            KeLowerIrql(old);
        }));
    }

    [Fact]
    public void LowerToHigherIrql_BugCheck0xC4_31()
    {
        BugCheckInfo? bad = RunKernel(NewMachine(), () => KeLowerIrql(DISPATCH_LEVEL));
        AssertVerifier(bad, 0x31);
        Assert.Equal(PASSIVE_LEVEL, bad!.Parameter2);
        Assert.Equal(DISPATCH_LEVEL, bad.Parameter3);

        Assert.Null(RunKernel(NewMachine(), () =>
        {
            byte old = KeRaiseIrqlToDpcLevel();
            KeLowerIrql(old);
        }));
    }

    [Fact]
    public void ReleaseAtWrongIrql_BugCheck0xC4_32()
    {
        KSpinLock spinLock = new();
        ulong lockAddress = 0;
        BugCheckInfo? bad = RunKernel(NewMachine(), () =>
        {
            lockAddress = AddressOf(spinLock);
            KeAcquireSpinLock(spinLock, out byte old);
            KeLowerIrql(old);
            KeReleaseSpinLock(spinLock, old);
        });
        AssertVerifier(bad, 0x32);
        Assert.Equal(PASSIVE_LEVEL, bad!.Parameter2);
        Assert.Equal(lockAddress, bad.Parameter3);

        spinLock = new();
        Assert.Null(RunKernel(NewMachine(), () =>
        {
            KeAcquireSpinLock(spinLock, out byte old);
            KeReleaseSpinLock(spinLock, old);
        }));
    }

    [Fact]
    public void ReleaseFromDpcLevelAtPassive_BugCheck0xC4_41()
    {
        KSpinLock spinLock = new();
        ulong lockAddress = 0;
        BugCheckInfo? bad = RunKernel(NewMachine(), () =>
        {
            lockAddress = AddressOf(spinLock);
            KeRaiseIrql(DISPATCH_LEVEL, out byte old);
            KeAcquireSpinLockAtDpcLevel(spinLock);
            KeLowerIrql(old);
            KeReleaseSpinLockFromDpcLevel(spinLock);
        });
        AssertVerifier(bad, 0x41);
        Assert.Equal(PASSIVE_LEVEL, bad!.Parameter2);
        Assert.Equal(lockAddress, bad.Parameter3);

        spinLock = new();
        Assert.Null(RunKernel(NewMachine(), () =>
        {
            KeRaiseIrql(DISPATCH_LEVEL, out byte old);
            KeAcquireSpinLockAtDpcLevel(spinLock);
            KeReleaseSpinLockFromDpcLevel(spinLock);
            KeLowerIrql(old);
        }));
    }

    [Fact]
    public void WaitAtDispatch_BugCheck0xC4_122()
    {
        ulong eventAddress = 0;
        BugCheckInfo? bad = RunKernel(NewMachine(), () =>
        {
            KEvent ev = K.Event(NotificationEvent);
            eventAddress = AddressOf(ev);
            KeRaiseIrql(DISPATCH_LEVEL, out _);
            KeWaitForSingleObject(ev, Executive, KernelMode, FALSE, OneSecond);
        });
        AssertVerifier(bad, 0x122);
        Assert.Equal(DISPATCH_LEVEL, bad!.Parameter2);
        Assert.Equal(eventAddress, bad.Parameter3);
        Assert.Equal(unchecked((ulong)OneSecond!.Value), bad.Parameter4);

        NtStatus polled = STATUS_SUCCESS;
        Assert.Null(RunKernel(NewMachine(), () =>
        {
            KEvent ev = K.Event(NotificationEvent);
            KeRaiseIrql(DISPATCH_LEVEL, out byte old);
            polled = KeWaitForSingleObject(ev, Executive, KernelMode, FALSE, 0);
            KeLowerIrql(old);
        }));
        Assert.Equal(STATUS_TIMEOUT, polled);
    }

    [Fact]
    public void DdiAtWrongIrql_BugCheck0xC4_E5()
    {
        BugCheckInfo? bad = RunKernel(NewMachine(), () =>
        {
            KeRaiseIrql(DISPATCH_LEVEL, out _);
            PsCreateSystemThread(out Handle _, THREAD_ALL_ACCESS, null, null, null, (KStartRoutine)(_ => { }), null);
        });
        AssertVerifier(bad, 0xE5);
        Assert.Equal(DISPATCH_LEVEL, bad!.Parameter2);
        Assert.Equal(PASSIVE_LEVEL, bad.Parameter3);

        Assert.Null(RunKernel(NewMachine(), () => K.Join(K.StartThread(() => { }))));
    }

    [Fact]
    public void LockOrderInversion_BugCheck0xC4_1001()
    {
        // The bug: the dispatch routine takes its queue lock, then the cancel spin lock; the cancel routine, called
        // holding the cancel spin lock, takes the queue lock. One request and one CancelIo, in sequence, are enough:
        // the second order closes a cycle in the verifier's lock graph, though no two threads ever collided.
        var bad = new LockOrderDriver(cancelTakesQueueLockUnderCancelLock: true);
        using (Machine m = NewMachine())
        {
            BugCheckInfo? stop = bad.Run(m);
            AssertVerifier(stop, 0x1001);
            Assert.Equal(bad.QueueLock.DebugAddress(m), stop!.Parameter2);
            Assert.Equal(m.Io.CancelSpinLock.DebugAddress(m), stop.Parameter3);
            Assert.Equal("Locks", stop.FaultingDriver);
            Assert.Contains("the cancel spin lock", stop.Diagnosis, StringComparison.Ordinal);
        }

        // The twin's cancel routine releases the cancel spin lock before it takes the queue lock.
        var twin = new LockOrderDriver(cancelTakesQueueLockUnderCancelLock: false);
        using (Machine m = NewMachine())
        {
            Assert.Null(twin.Run(m));
            Assert.True(twin.Cancelled);
        }
    }

    // ------------------------------------------------------------------ 0xC9: the IRP protocol

    [Fact]
    public void DispatchChangesIrql_BugCheck0xC9_05()
    {
        ulong device = 0;
        BugCheckInfo? bad = Ioctl(NewMachine(), Buffered, (d, irp) =>
        {
            device = d.DebugAddress(irp.Machine);
            KeRaiseIrql(DISPATCH_LEVEL, out _);
            return TestDriver.Complete(irp, STATUS_SUCCESS);
        });
        AssertIo(bad, 0x05);
        Assert.Equal(device, bad!.Parameter2);
        Assert.Equal(PASSIVE_LEVEL, bad.Parameter3);
        Assert.Equal(DISPATCH_LEVEL, bad.Parameter4);

        Assert.Null(Ioctl(NewMachine(), Buffered, (d, irp) =>
        {
            KeRaiseIrql(DISPATCH_LEVEL, out byte old);
            NtStatus status = TestDriver.Complete(irp, STATUS_SUCCESS);
            KeLowerIrql(old);
            return status;
        }));
    }

    [Fact]
    public void CompleteWithPending_BugCheck0xC9_06()
    {
        ulong irpAddress = 0;
        BugCheckInfo? bad = Ioctl(NewMachine(), Buffered, (d, irp) =>
        {
            irpAddress = Address(irp);
            return TestDriver.Complete(irp, STATUS_PENDING);
        });
        AssertIo(bad, 0x06);
        Assert.Equal((ulong)(uint)STATUS_PENDING, bad!.Parameter2);
        Assert.Equal(irpAddress, bad.Parameter3);

        Assert.Null(Ioctl(NewMachine(), Buffered, (d, irp) => TestDriver.Complete(irp, STATUS_SUCCESS)));
    }

    [Fact]
    public void CompleteWithCancelRoutine_BugCheck0xC9_07()
    {
        ulong irpAddress = 0;
        BugCheckInfo? bad = Ioctl(NewMachine(), Buffered, (d, irp) =>
        {
            irpAddress = Address(irp);
            IoSetCancelRoutine(irp, CancelAndComplete);
            return TestDriver.Complete(irp, STATUS_SUCCESS);
        });
        AssertIo(bad, 0x07);
        Assert.Equal(IoVerifier.RoutineAddress(new DriverCancel(CancelAndComplete)), bad!.Parameter2);
        Assert.Equal(irpAddress, bad.Parameter3);

        Assert.Null(Ioctl(NewMachine(), Buffered, (d, irp) =>
        {
            IoSetCancelRoutine(irp, CancelAndComplete);
            return IoSetCancelRoutine(irp, null) is not null ? TestDriver.Complete(irp, STATUS_SUCCESS) : STATUS_PENDING;
        }));
    }

    [Fact]
    public void CompleteAboveDispatch_BugCheck0xC9_0E()
    {
        const byte DeviceIrql = 5;
        ulong irpAddress = 0;
        BugCheckInfo? bad = Ioctl(NewMachine(), Buffered, (d, irp) =>
        {
            irpAddress = Address(irp);
            KeRaiseIrql(DeviceIrql, out byte old);
            NtStatus status = TestDriver.Complete(irp, STATUS_SUCCESS);
            KeLowerIrql(old);
            return status;
        });
        AssertIo(bad, 0x0E);
        Assert.Equal(DeviceIrql, bad!.Parameter2);
        Assert.Equal(irpAddress, bad.Parameter3);

        Assert.Null(Ioctl(NewMachine(), Buffered, (d, irp) =>
        {
            KeRaiseIrql(DeviceIrql, out byte old);
            KeLowerIrql(old);
            return TestDriver.Complete(irp, STATUS_SUCCESS);
        }));
    }

    [Fact]
    public void CallDriverAboveDispatch_BugCheck0xC9_10()
    {
        const byte DeviceIrql = 5;
        ulong irpAddress = 0;
        BugCheckInfo? bad = SendAllocatedIrp(NewMachine(), skipOwnLocation: false, irql: DeviceIrql, a => irpAddress = a);
        AssertIo(bad, 0x10);
        Assert.Equal(DeviceIrql, bad!.Parameter2);
        Assert.Equal(irpAddress, bad.Parameter3);

        Assert.Null(SendAllocatedIrp(NewMachine(), skipOwnLocation: false, irql: PASSIVE_LEVEL, _ => { }));
    }

    [Fact]
    public void ForwardWithCancelRoutine_BugCheck0xC9_203()
    {
        ulong irpAddress = 0;
        ulong lowerAddress = 0;
        BugCheckInfo? bad = Filtered(NewMachine(), (filter, irp) =>
        {
            irpAddress = Address(irp);
            lowerAddress = filter.Lower.DebugAddress(irp.Machine);
            IoSetCancelRoutine(irp, CancelAndComplete);
            IoSkipCurrentIrpStackLocation(irp);
            return IoCallDriver(filter.Lower, irp);
        });
        AssertIo(bad, 0x203);
        Assert.Equal(irpAddress, bad!.Parameter3);
        Assert.Equal(lowerAddress, bad.Parameter4);
        Assert.Equal("Filter", bad.FaultingDriver);

        Assert.Null(Filtered(NewMachine(), (filter, irp) =>
        {
            IoSetCancelRoutine(irp, CancelAndComplete);
            if (IoSetCancelRoutine(irp, null) is null)
            {
                return STATUS_PENDING;
            }

            IoSkipCurrentIrpStackLocation(irp);
            return IoCallDriver(filter.Lower, irp);
        }));
    }

    [Fact]
    public void ReturnDiffersFromIoStatus_BugCheck0xC9_224()
    {
        ulong irpAddress = 0;
        BugCheckInfo? bad = Ioctl(NewMachine(), Buffered, (d, irp) =>
        {
            irpAddress = Address(irp);
            TestDriver.Complete(irp, STATUS_SUCCESS);
            return STATUS_UNSUCCESSFUL;
        });
        AssertIo(bad, 0x224);
        Assert.Equal(irpAddress, bad!.Parameter3);
        Assert.Equal((ulong)(uint)STATUS_SUCCESS, bad.Parameter4);

        Assert.Null(Ioctl(NewMachine(), Buffered, (d, irp) =>
        {
            NtStatus status = STATUS_SUCCESS;
            TestDriver.Complete(irp, status);
            return status;
        }));
    }

    [Fact]
    public void NeitherCompletedNorPended_BugCheck0xC9_226()
    {
        ulong irpAddress = 0;
        ulong device = 0;
        BugCheckInfo? bad = Ioctl(NewMachine(), Buffered, (d, irp) =>
        {
            irpAddress = Address(irp);
            device = d.DebugAddress(irp.Machine);
            irp.IoStatus.Status = STATUS_SUCCESS;
            return STATUS_SUCCESS;
        });
        AssertIo(bad, 0x226);
        Assert.Equal(irpAddress, bad!.Parameter3);
        Assert.Equal(device, bad.Parameter4);

        Assert.Null(Ioctl(NewMachine(), Buffered, (d, irp) => TestDriver.Complete(irp, STATUS_SUCCESS)));
    }

    [Fact]
    public void PendingWithoutMark_BugCheck0xC9_23D()
    {
        ulong irpAddress = 0;
        BugCheckInfo? bad = Ioctl(NewMachine(), Buffered, (d, irp) =>
        {
            // The bug: the IRP goes to a system thread and STATUS_PENDING is returned, without IoMarkIrpPending.
            irpAddress = Address(irp);
            PsCreateSystemThread(out Handle thread, THREAD_ALL_ACCESS, null, null, null, (Irp pending) =>
            {
                KeDelayExecutionThread(KernelMode, FALSE, RELATIVE(MILLISECONDS(10)));
                TestDriver.Complete(pending, STATUS_SUCCESS);
            }, irp);
            ZwClose(thread);
            return STATUS_PENDING;
        });
        AssertIo(bad, 0x23D);
        Assert.Equal(irpAddress, bad!.Parameter3);
        Assert.Equal((ulong)(uint)STATUS_PENDING, bad.Parameter4);

        Assert.Null(Ioctl(NewMachine(), Buffered, (d, irp) => TestDriver.PendAndComplete(irp, 10, i => i.IoStatus.Status = STATUS_SUCCESS)));
    }

    [Fact]
    public void MarkedButNotPending_BugCheck0xC9_23E()
    {
        ulong irpAddress = 0;
        BugCheckInfo? bad = Ioctl(NewMachine(), Buffered, (d, irp) =>
        {
            irpAddress = Address(irp);
            IoMarkIrpPending(irp);
            return TestDriver.Complete(irp, STATUS_SUCCESS);
        });
        AssertIo(bad, 0x23E);
        Assert.Equal(irpAddress, bad!.Parameter3);
        Assert.Equal((ulong)(uint)STATUS_SUCCESS, bad.Parameter4);

        Assert.Null(Ioctl(NewMachine(), Buffered, (d, irp) =>
        {
            IoMarkIrpPending(irp);
            TestDriver.Complete(irp, STATUS_SUCCESS);
            return STATUS_PENDING;
        }));
    }

    [Fact]
    public void InformationTooLarge_BugCheck0xC9_312()
    {
        ulong irpAddress = 0;
        BugCheckInfo? bad = Ioctl(NewMachine(), Buffered, (d, irp) =>
        {
            irpAddress = Address(irp);
            return TestDriver.Complete(irp, STATUS_SUCCESS, 64);
        });
        AssertIo(bad, 0x312);
        Assert.Equal(irpAddress, bad!.Parameter3);
        Assert.Equal(64UL, bad.Parameter4);

        Assert.Null(Ioctl(NewMachine(), Buffered, (d, irp) =>
            TestDriver.Complete(irp, STATUS_SUCCESS, IoGetCurrentIrpStackLocation(irp).Parameters.DeviceIoControl.OutputBufferLength)));
    }

    [Fact]
    public void CompletionRoutineChangesIrql_BugCheck0xC4_FA()
    {
        BugCheckInfo? bad = Filtered(NewMachine(), (filter, irp) =>
        {
            IoCopyCurrentIrpStackLocationToNext(irp);
            IoSetCompletionRoutine(irp, RaisingCompletion, null, TRUE, TRUE, TRUE);
            return IoCallDriver(filter.Lower, irp);
        });
        AssertVerifier(bad, 0xFA);
        Assert.Equal(IoVerifier.RoutineAddress(new IoCompletionRoutine(RaisingCompletion)), bad!.Parameter2);
        Assert.Equal(PASSIVE_LEVEL, bad.Parameter3);
        Assert.Equal(DISPATCH_LEVEL, bad.Parameter4);
        Assert.Equal("Filter", bad.FaultingDriver);

        Assert.Null(Filtered(NewMachine(), (filter, irp) =>
        {
            IoCopyCurrentIrpStackLocationToNext(irp);
            IoSetCompletionRoutine(irp, BalancedCompletion, null, TRUE, TRUE, TRUE);
            return IoCallDriver(filter.Lower, irp);
        }));
    }

    // ------------------------------------------------------------------ IrpLab's own codes

    [Fact]
    public void IrpQueuedAfterCleanup_BugCheckIrpLab1()
    {
        var bad = new QueueingDriver(drainAtCleanup: false);
        using (Machine m = NewMachine())
        {
            BugCheckInfo? stop = bad.Run(m);
            Assert.NotNull(stop);
            Assert.Equal(IrpLabBugChecks.IRP_QUEUED_AFTER_CLEANUP, stop.Code);
            Assert.Equal(bad.IrpAddress, stop.Parameter1);
            Assert.Equal(bad.FileObjectAddress, stop.Parameter2);
            Assert.Equal(bad.Driver.Device.DebugAddress(m), stop.Parameter3);
        }

        var twin = new QueueingDriver(drainAtCleanup: true);
        using (Machine m = NewMachine())
        {
            Assert.Null(twin.Run(m));
            Assert.True(twin.Cancelled);
        }
    }

    [Fact]
    public void UnprobedUserBuffer_BugCheckIrpLab2()
    {
        BugCheckInfo? bad = Ioctl(NewMachine(), Neither, (d, irp) =>
        {
            irp.UserBuffer!.Array[0] = 1;
            return TestDriver.Complete(irp, STATUS_SUCCESS, 1);
        });
        Assert.NotNull(bad);
        Assert.Equal(IrpLabBugChecks.USER_BUFFER_NOT_PROBED, bad.Code);
        Assert.Equal(16UL, bad.Parameter2);

        Assert.Null(Ioctl(NewMachine(), Neither, (d, irp) =>
        {
            try
            {
                ProbeForWrite(irp.UserBuffer, IoGetCurrentIrpStackLocation(irp).Parameters.DeviceIoControl.OutputBufferLength, 1);
            }
            catch (NtStatusException e)
            {
                return TestDriver.Complete(irp, e.Status);
            }

            irp.UserBuffer!.Array[0] = 1;
            return TestDriver.Complete(irp, STATUS_SUCCESS, 1);
        }));
    }

    [Fact]
    public void UserBufferFromSystemThread_BugCheckIrpLab3()
    {
        // The bug: a system thread (the System process) fills a METHOD_NEITHER buffer of the requesting process.
        int requester = 0;
        int system = 0;
        BugCheckInfo? bad = Ioctl(NewMachine(), Neither, (d, irp) =>
        {
            requester = PsGetCurrentProcess().Id;
            ProbeForWrite(irp.UserBuffer, 16, 1);
            return PendToThread(irp, pending =>
            {
                system = PsGetCurrentProcess().Id;
                pending.UserBuffer!.Array[0] = 1;
            });
        });
        Assert.NotNull(bad);
        Assert.Equal(IrpLabBugChecks.USER_BUFFER_OUTSIDE_REQUESTOR_CONTEXT, bad.Code);
        Assert.Equal((ulong)requester, bad.Parameter2);
        Assert.Equal((ulong)system, bad.Parameter3);
        Assert.NotEqual(requester, system);

        // The twin uses buffered I/O: the thread fills the system buffer, which the I/O manager copies back.
        Assert.Null(Ioctl(NewMachine(), Buffered, (d, irp) => PendToThread(irp, pending => pending.AssociatedIrp.SystemBuffer![0] = 1)));
    }

    // ------------------------------------------------------------------ application warnings

    [Fact]
    public void OverlappedReused_Warns()
    {
        // The bug, twice: the OVERLAPPED of a pending read given to a second read; then a pending read's buffer.
        (string[] warnings, BugCheckInfo? stop) = RunOverlapped(NewMachine(), h =>
        {
            Handle ev = K32.CreateEvent(null, TRUE, FALSE, null);
            var ov = new OVERLAPPED { hEvent = ev };
            byte[] a = new byte[8];
            byte[] b = new byte[8];
            Assert.False(K32.ReadFile(h, a, 8, ov));
            Assert.False(K32.ReadFile(h, b, 8, ov));
            K32.Sleep(500);
        });
        Assert.Null(stop);
        Assert.Equal(["OVERLAPPED_REUSED_WHILE_PENDING"], Codes(warnings));
        Assert.Contains("OVERLAPPED (I/O status block)", warnings[0], StringComparison.Ordinal);

        (warnings, stop) = RunOverlapped(NewMachine(), h =>
        {
            byte[] a = new byte[8];
            var ov1 = new OVERLAPPED { hEvent = K32.CreateEvent(null, TRUE, FALSE, null) };
            var ov2 = new OVERLAPPED { hEvent = K32.CreateEvent(null, TRUE, FALSE, null) };
            Assert.False(K32.ReadFile(h, a, 8, ov1));
            Assert.False(K32.ReadFile(h, a, 8, ov2));
            K32.Sleep(500);
        });
        Assert.Null(stop);
        Assert.Equal(["OVERLAPPED_REUSED_WHILE_PENDING"], Codes(warnings));
        Assert.Contains("buffer", warnings[0], StringComparison.Ordinal);

        // The twin: one OVERLAPPED, event and buffer per request in flight; the OVERLAPPED reused after completion.
        (warnings, stop) = RunOverlapped(NewMachine(), h =>
        {
            var ov1 = new OVERLAPPED { hEvent = K32.CreateEvent(null, TRUE, FALSE, null) };
            var ov2 = new OVERLAPPED { hEvent = K32.CreateEvent(null, TRUE, FALSE, null) };
            byte[] a = new byte[8];
            byte[] b = new byte[8];
            uint n = 0;
            Assert.False(K32.ReadFile(h, a, 8, ov1));
            Assert.False(K32.ReadFile(h, b, 8, ov2));
            Assert.True(K32.GetOverlappedResult(h, ov1, ref n, TRUE));
            Assert.True(K32.GetOverlappedResult(h, ov2, ref n, TRUE));
            Assert.False(K32.ReadFile(h, a, 8, ov1));
            Assert.True(K32.GetOverlappedResult(h, ov1, ref n, TRUE));
        });
        Assert.Null(stop);
        Assert.Empty(warnings);
    }

    [Fact]
    public void AutoResetEventInGetOverlappedResult_Warns()
    {
        uint bytes = 0;
        (string[] warnings, BugCheckInfo? stop) = RunOverlapped(NewMachine(), h =>
        {
            var ov = new OVERLAPPED { hEvent = K32.CreateEvent(null, FALSE, FALSE, null) };
            Assert.False(K32.ReadFile(h, new byte[8], 8, ov));
            Assert.True(K32.GetOverlappedResult(h, ov, ref bytes, TRUE));
        });
        Assert.Null(stop);
        Assert.Equal(["AUTO_RESET_EVENT_IN_GETOVERLAPPEDRESULT"], Codes(warnings));
        Assert.Equal(8u, bytes);

        (warnings, stop) = RunOverlapped(NewMachine(), h =>
        {
            var ov = new OVERLAPPED { hEvent = K32.CreateEvent(null, TRUE, FALSE, null) };
            Assert.False(K32.ReadFile(h, new byte[8], 8, ov));
            Assert.True(K32.GetOverlappedResult(h, ov, ref bytes, TRUE));
        });
        Assert.Null(stop);
        Assert.Empty(warnings);
    }

    [Fact]
    public void EventSharedByConcurrentRequests_Warns()
    {
        (string[] warnings, BugCheckInfo? stop) = RunOverlapped(NewMachine(), h =>
        {
            Handle ev = K32.CreateEvent(null, TRUE, FALSE, null);
            var ov1 = new OVERLAPPED { hEvent = ev };
            var ov2 = new OVERLAPPED { hEvent = ev };
            Assert.False(K32.ReadFile(h, new byte[8], 8, ov1));
            Assert.False(K32.ReadFile(h, new byte[8], 8, ov2));
            K32.Sleep(500);
        });
        Assert.Null(stop);
        Assert.Equal(["EVENT_SHARED_BY_CONCURRENT_REQUESTS"], Codes(warnings));

        (warnings, stop) = RunOverlapped(NewMachine(), h =>
        {
            var ov1 = new OVERLAPPED { hEvent = K32.CreateEvent(null, TRUE, FALSE, null) };
            var ov2 = new OVERLAPPED { hEvent = K32.CreateEvent(null, TRUE, FALSE, null) };
            Assert.False(K32.ReadFile(h, new byte[8], 8, ov1));
            Assert.False(K32.ReadFile(h, new byte[8], 8, ov2));
            Assert.Equal(K32.WAIT_OBJECT_0, K32.WaitForMultipleObjects(2, [ov1.hEvent, ov2.hEvent], TRUE, K32.INFINITE));
        });
        Assert.Null(stop);
        Assert.Empty(warnings);
    }

    [Fact]
    public void NullOverlappedOnOverlappedHandle_Warns()
    {
        uint error = 0;
        (string[] warnings, BugCheckInfo? stop) = RunOverlapped(NewMachine(), h =>
        {
            uint n = 0;
            Assert.False(K32.ReadFile(h, new byte[8], 8, ref n, null));
            error = K32.GetLastError();
        });
        Assert.Null(stop);
        Assert.Equal(["NULL_OVERLAPPED_ON_OVERLAPPED_HANDLE"], Codes(warnings));
        Assert.Equal(K32.ERROR_INVALID_PARAMETER, error);

        // The twin: without an OVERLAPPED, a handle opened without FILE_FLAG_OVERLAPPED.
        (warnings, stop) = RunOverlapped(NewMachine(), h =>
        {
            uint n = 0;
            Assert.True(K32.ReadFile(h, new byte[8], 8, ref n, null));
            Assert.Equal(8u, n);
        }, overlappedHandle: false);
        Assert.Null(stop);
        Assert.Empty(warnings);
    }

    // ------------------------------------------------------------------ drivers and helpers

    private static Machine NewMachine(bool verifier = true)
        => new(new MachineOptions { Deterministic = true, Seed = 1, Verifier = verifier, MaxSteps = 500_000, CaptureTrace = true });

    private static ulong Address(Irp irp) => irp.DebugAddress(irp.Machine);

    /// <summary>An object's debug address, from inside the machine.</summary>
    private static ulong AddressOf(KernelObject o) => o.DebugAddress(KeGetCurrentThread().Machine);

    private static BugCheckInfo? Catch(Action run)
    {
        try
        {
            run();
            return null;
        }
        catch (BugCheckException e)
        {
            return e.BugCheck;
        }
    }

    private static BugCheckInfo? RunKernel(Machine m, Action body)
    {
        using (m)
        {
            return Catch(() => m.Kernel(body));
        }
    }

    private static void AssertVerifier(BugCheckInfo? stop, uint subcode)
    {
        Assert.NotNull(stop);
        Assert.Equal(BugCheckCatalogue.DRIVER_VERIFIER_DETECTED_VIOLATION, stop.Code);
        Assert.Equal(subcode, stop.Parameter1);
    }

    private static void AssertIo(BugCheckInfo? stop, uint subcode)
    {
        Assert.NotNull(stop);
        Assert.Equal(BugCheckCatalogue.DRIVER_VERIFIER_IOMANAGER_VIOLATION, stop.Code);
        Assert.Equal(subcode, stop.Parameter1);
    }

    /// <summary>Loads driver "Drv" whose IRP_MJ_DEVICE_CONTROL is <paramref name="dispatch"/>; an application sends one IOCTL (4 bytes in, 16 out) on a synchronous handle.</summary>
    private static BugCheckInfo? Ioctl(Machine m, uint code, DriverDispatch dispatch)
    {
        using (m)
        {
            var driver = new TestDriver("Drv").On(IRP_MJ_DEVICE_CONTROL, dispatch);
            driver.Load(m);
            return Catch(() => m.Run("app", () =>
            {
                Handle h = OpenTests.Open(driver.Win32Name);
                uint n = 0;
                K32.DeviceIoControl(h, code, [1, 2, 3, 4], 4, new byte[16], 16, ref n, null);
                K32.CloseHandle(h);
            }));
        }
    }

    /// <summary>Driver "Drv" (completes IOCTLs) under filter "Filter" whose dispatch routine is given; an application sends one IOCTL.</summary>
    private static BugCheckInfo? Filtered(Machine m, Func<FilterDriver, Irp, NtStatus> dispatch)
    {
        using (m)
        {
            var lower = new TestDriver("Drv").On(IRP_MJ_DEVICE_CONTROL, TestDriver.CompleteSuccess);
            lower.Load(m);
            var filter = new FilterDriver("Filter", lower.Device);
            filter.Dispatch = (d, irp) => IoGetCurrentIrpStackLocation(irp).MajorFunction == IRP_MJ_DEVICE_CONTROL
                ? dispatch(filter, irp)
                : PassDown(filter, irp);
            filter.Load(m);
            return Catch(() => m.Run("app", () =>
            {
                Handle h = OpenTests.Open(lower.Win32Name);
                uint n = 0;
                K32.DeviceIoControl(h, Buffered, null, 0, new byte[16], 16, ref n, null);
                K32.CloseHandle(h);
            }));
        }
    }

    private static NtStatus PassDown(FilterDriver filter, Irp irp)
    {
        IoSkipCurrentIrpStackLocation(irp);
        return IoCallDriver(filter.Lower, irp);
    }

    /// <summary>
    /// Kernel code sends an IoAllocateIrp packet to driver "Drv" at <paramref name="irql"/>, reclaiming it in its
    /// completion routine; with <paramref name="skipOwnLocation"/> it first takes the only location for itself.
    /// </summary>
    private static BugCheckInfo? SendAllocatedIrp(Machine m, bool skipOwnLocation, byte irql, Action<ulong> irpAddress)
    {
        using (m)
        {
            var driver = new TestDriver("Drv").On(IRP_MJ_DEVICE_CONTROL, TestDriver.CompleteSuccess);
            driver.Load(m);
            return Catch(() => m.Kernel(() =>
            {
                Irp irp = IoAllocateIrp(driver.Device.StackSize, FALSE);
                irpAddress(Address(irp));
                if (skipOwnLocation)
                {
                    IoSetNextIrpStackLocation(irp);
                }
                else
                {
                    IoGetNextIrpStackLocation(irp).MajorFunction = IRP_MJ_DEVICE_CONTROL;
                    IoSetCompletionRoutine(irp, FreeIrp, null, TRUE, TRUE, TRUE);
                }

                KeRaiseIrql(irql, out byte old);
                IoCallDriver(driver.Device, irp);
                KeLowerIrql(old);
            }));
        }
    }

    private static NtStatus FreeIrp(DeviceObject? device, Irp irp, object? context)
    {
        IoFreeIrp(irp);
        return STATUS_MORE_PROCESSING_REQUIRED;
    }

    private static NtStatus RaisingCompletion(DeviceObject? device, Irp irp, object? context)
    {
        KeRaiseIrql(DISPATCH_LEVEL, out _);
        return STATUS_CONTINUE_COMPLETION;
    }

    private static NtStatus BalancedCompletion(DeviceObject? device, Irp irp, object? context)
    {
        KeRaiseIrql(DISPATCH_LEVEL, out byte old);
        KeLowerIrql(old);
        return STATUS_CONTINUE_COMPLETION;
    }

    private static void CancelAndComplete(DeviceObject device, Irp irp)
    {
        IoReleaseCancelSpinLock(irp.CancelIrql);
        TestDriver.Complete(irp, STATUS_CANCELLED);
    }

    /// <summary>Marks the IRP pending; a system thread runs <paramref name="work"/> 10 ms later and completes it with one byte.</summary>
    private static NtStatus PendToThread(Irp irp, Action<Irp> work)
        => TestDriver.PendAndComplete(irp, 10, pending =>
        {
            work(pending);
            pending.IoStatus.Status = STATUS_SUCCESS;
            pending.IoStatus.Information = 1;
        });

    /// <summary>Queues a DPC whose routine runs <paramref name="inDpc"/> with an unsignaled event, and flushes it.</summary>
    private static BugCheckInfo? RunDpc(Machine m, Action<KEvent> inDpc)
        => RunKernel(m, () =>
        {
            KEvent ev = K.Event(NotificationEvent);
            var dpc = new KDpc();
            KeInitializeDpc(dpc, (d, context, a1, a2) => inDpc((KEvent)context!), ev);
            KeInsertQueueDpc(dpc, null, null);
            KeFlushQueuedDpcs();
        });

    private static void TargetUnload(DriverObject driver)
    {
        IoDeleteSymbolicLink("\\DosDevices\\" + driver.Name);
        IoDeleteDevice(driver.DeviceObject!);
    }

    /// <summary>
    /// Loads driver "Client", whose system thread sends Target an IOCTL it built with IoBuildDeviceIoControlRequest
    /// and waits for it; returns once the request is issued, with the status block the client will see.
    /// </summary>
    private static IoStatusBlock StartClient(Machine m, TestDriver target)
    {
        var iosb = new IoStatusBlock();
        KmTest.RunAsDriver(m, "Client", _ =>
        {
            KEvent issued = K.Event(NotificationEvent);
            PsCreateSystemThread(out Handle thread, THREAD_ALL_ACCESS, null, null, null, (KStartRoutine)(_ =>
            {
                KEvent done = K.Event(NotificationEvent);
                Irp irp = IoBuildDeviceIoControlRequest(Buffered, target.Device, null, 0, null, 0, FALSE, done, iosb);
                NtStatus status = IoCallDriver(target.Device, irp);
                KeSetEvent(issued, IO_NO_INCREMENT, FALSE);
                if (status == STATUS_PENDING)
                {
                    KeWaitForSingleObject(done, Executive, KernelMode, FALSE, null);
                }
            }), null);
            ZwClose(thread);
            KeWaitForSingleObject(issued, Executive, KernelMode, FALSE, null);
        });
        return iosb;
    }

    /// <summary>
    /// Runs an application against driver "Slow", whose reads complete 100 ms later with the full length, on a handle
    /// opened with (or without) FILE_FLAG_OVERLAPPED. Returns the verifier warnings recorded and the bug check, if any.
    /// </summary>
    private static (string[] Warnings, BugCheckInfo? Stop) RunOverlapped(Machine m, Action<Handle> app, bool overlappedHandle = true)
    {
        using (m)
        {
            var driver = new TestDriver("Slow").On(IRP_MJ_READ, (d, irp) =>
                TestDriver.PendAndComplete(irp, 100, pending =>
                {
                    pending.IoStatus.Status = STATUS_SUCCESS;
                    pending.IoStatus.Information = IoGetCurrentIrpStackLocation(pending).Parameters.Read.Length;
                }));
            driver.Load(m);
            BugCheckInfo? stop = Catch(() => m.Run("app", () =>
            {
                Handle h = OpenTests.Open(driver.Win32Name, flags: overlappedHandle ? K32.FILE_FLAG_OVERLAPPED : 0);
                app(h);
                K32.CloseHandle(h);
            }));
            string[] warnings = [.. m.Trace.Events.Where(e => e.Kind == TraceEventKind.VerifierWarning).Select(e => e.Text)];
            return (warnings, stop);
        }
    }

    private static string[] Codes(string[] warnings) => [.. warnings.Select(w => w[..w.IndexOf(':', StringComparison.Ordinal)])];

    /// <summary>
    /// A driver that queues IOCTLs cancelably (its queue lock, then the cancel spin lock) and an application that sends
    /// one and cancels it with CancelIo.
    /// </summary>
    private sealed class LockOrderDriver(bool cancelTakesQueueLockUnderCancelLock)
    {
        public KSpinLock QueueLock { get; } = new();

        public bool Cancelled { get; private set; }

        private Irp? _pending;

        public BugCheckInfo? Run(Machine m)
        {
            var driver = new TestDriver("Locks");
            driver.Load(m);
            driver.Driver.MajorFunction[IRP_MJ_DEVICE_CONTROL] = Dispatch;
            return Catch(() => m.Run("app", () =>
            {
                Handle h = OpenTests.Open(driver.Win32Name, flags: K32.FILE_FLAG_OVERLAPPED);
                var ov = new OVERLAPPED { hEvent = K32.CreateEvent(null, TRUE, FALSE, null) };
                uint n = 0;
                Assert.False(K32.DeviceIoControl(h, Buffered, null, 0, null, 0, ov));
                K32.CancelIo(h);
                Assert.False(K32.GetOverlappedResult(h, ov, ref n, TRUE));
                Cancelled = K32.GetLastError() == K32.ERROR_OPERATION_ABORTED;
                K32.CloseHandle(h);
            }));
        }

        private NtStatus Dispatch(DeviceObject device, Irp irp)
        {
            KeAcquireSpinLock(QueueLock, out byte old);
            IoAcquireCancelSpinLock(out byte cancelIrql);
            IoSetCancelRoutine(irp, Cancel);
            IoMarkIrpPending(irp);
            _pending = irp;
            IoReleaseCancelSpinLock(cancelIrql);
            KeReleaseSpinLock(QueueLock, old);
            return STATUS_PENDING;
        }

        private void Cancel(DeviceObject device, Irp irp)
        {
            if (cancelTakesQueueLockUnderCancelLock)
            {
                KeAcquireSpinLockAtDpcLevel(QueueLock);
                _pending = null;
                KeReleaseSpinLockFromDpcLevel(QueueLock);
                IoReleaseCancelSpinLock(irp.CancelIrql);
            }
            else
            {
                IoReleaseCancelSpinLock(irp.CancelIrql);
                KeAcquireSpinLock(QueueLock, out byte old);
                _pending = null;
                KeReleaseSpinLock(QueueLock, old);
            }

            TestDriver.Complete(irp, STATUS_CANCELLED);
        }
    }

    /// <summary>
    /// A driver that queues IOCTLs with a cancel routine; its cleanup routine either drains the queue (the twin) or
    /// only completes the cleanup IRP (the bug). The application sends one IOCTL and closes the handle.
    /// </summary>
    private sealed class QueueingDriver(bool drainAtCleanup)
    {
        private readonly List<Irp> _queue = [];

        public TestDriver Driver { get; private set; } = null!;

        public ulong IrpAddress { get; private set; }

        public ulong FileObjectAddress { get; private set; }

        /// <summary>The application saw its request complete with STATUS_CANCELLED.</summary>
        public bool Cancelled { get; private set; }

        public BugCheckInfo? Run(Machine m)
        {
            Driver = new TestDriver("Queue").On(IRP_MJ_DEVICE_CONTROL, Dispatch).On(IRP_MJ_CLEANUP, Cleanup);
            Driver.Load(m);
            return Catch(() => m.Run("app", () =>
            {
                Handle h = OpenTests.Open(Driver.Win32Name, flags: K32.FILE_FLAG_OVERLAPPED);
                var ov = new OVERLAPPED { hEvent = K32.CreateEvent(null, TRUE, FALSE, null) };
                Assert.False(K32.DeviceIoControl(h, Buffered, null, 0, null, 0, ov));
                K32.CloseHandle(h);
                Assert.Equal(K32.WAIT_OBJECT_0, K32.WaitForSingleObject(ov.hEvent, K32.INFINITE));
                Cancelled = ov.Status == STATUS_CANCELLED;
            }));
        }

        private NtStatus Dispatch(DeviceObject device, Irp irp)
        {
            IrpAddress = Address(irp);
            FileObjectAddress = IoGetCurrentIrpStackLocation(irp).FileObject!.DebugAddress(irp.Machine);
            lock (_queue)
            {
                _queue.Add(irp);
            }

            IoSetCancelRoutine(irp, Cancel);
            IoMarkIrpPending(irp);
            return STATUS_PENDING;
        }

        private void Cancel(DeviceObject device, Irp irp)
        {
            IoReleaseCancelSpinLock(irp.CancelIrql);
            lock (_queue)
            {
                _queue.Remove(irp);
            }

            TestDriver.Complete(irp, STATUS_CANCELLED);
        }

        private NtStatus Cleanup(DeviceObject device, Irp irp)
        {
            if (drainAtCleanup)
            {
                Irp[] queued;
                lock (_queue)
                {
                    queued = [.. _queue];
                    _queue.Clear();
                }

                foreach (Irp q in queued)
                {
                    if (IoSetCancelRoutine(q, null) is not null)
                    {
                        TestDriver.Complete(q, STATUS_CANCELLED);
                    }
                }
            }

            return TestDriver.Complete(irp, STATUS_SUCCESS);
        }
    }
}
