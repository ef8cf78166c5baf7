using IrpLab.Tests.Cancel;
using static IrpLab.Kernel32;
using static IrpLab.Tests.Cancel.LabHost;

namespace IrpLab.Tests.Apc;

/// <summary>
/// One request, every way of hearing about it (nt-io-semantics §2.2, §2.5, §2.6, §5.4, §5.5, §11.3, §11.4):
/// for a pended completion, an immediate success, an immediate warning and an immediate error, on reads and writes
/// of the lab device — the OVERLAPPED's event, the file handle, a ReadFileEx/WriteFileEx routine (and the native
/// ApcRoutine), a completion port packet, and the synchronous call. (The IOCTL side of the event and file-handle
/// rules is the conformance matrix's.)
/// </summary>
public sealed class NotificationFormTests
{
    private const uint PoisonError = 0x1234;
    private const nuint PoisonInformation = 0xDEAD;

    /// <summary>The outcomes: a pended success and error, and the three immediate classes.</summary>
    public enum Outcome
    {
        PendedSuccess,
        PendedError,
        ImmediateSuccess,
        ImmediateWarning,
        ImmediateError,
    }

    public static TheoryData<Outcome, bool> Outcomes()
    {
        var data = new TheoryData<Outcome, bool>();
        foreach (Outcome o in Enum.GetValues<Outcome>())
        {
            data.Add(o, true);
            data.Add(o, false);
        }

        return data;
    }

    private static (LabMode Mode, NtStatus Status) Setup(Outcome outcome) => outcome switch
    {
        Outcome.PendedSuccess => (LabMode.PendLater, NtStatus.STATUS_SUCCESS),
        Outcome.PendedError => (LabMode.PendLater, NtStatus.STATUS_DEVICE_NOT_READY),
        Outcome.ImmediateSuccess => (LabMode.Immediate, NtStatus.STATUS_SUCCESS),
        Outcome.ImmediateWarning => (LabMode.Immediate, NtStatus.STATUS_BUFFER_OVERFLOW),
        _ => (LabMode.Immediate, NtStatus.STATUS_DEVICE_NOT_READY),
    };

    private static bool Pended(Outcome o) => o is Outcome.PendedSuccess or Outcome.PendedError;

    /// <summary>§5.3 step 2: a notification is due unless an error completed without pending.</summary>
    private static bool Notified(Outcome o) => o != Outcome.ImmediateError;

    private static NtStatus Final(Outcome o) => Setup(o).Status;

    private static bool Issue(bool read, Handle h, byte[] buffer, OVERLAPPED ov) => read ? ReadFile(h, buffer, 5, ov) : WriteFile(h, buffer, 5, ov);

    /// <summary>The return of an overlapped call (§2.2 step 4): pending, TRUE, or FALSE with the mapped error.</summary>
    private static void AssertIssueResult(Outcome outcome, bool ok, uint error)
    {
        if (Pended(outcome))
        {
            Assert.False(ok);
            Assert.Equal(ERROR_IO_PENDING, error);
        }
        else if (outcome == Outcome.ImmediateSuccess)
        {
            Assert.True(ok);
            Assert.Equal(PoisonError, error);
        }
        else
        {
            Assert.False(ok);
            Assert.Equal(Ntdll.RtlNtStatusToDosErrorNoTeb(Final(outcome)), error);
        }
    }

    [Theory]
    [MemberData(nameof(Outcomes))]
    public void ReadWriteFile_OverlappedWithEvent_EventSignaledIffNotified(Outcome outcome, bool read)
    {
        var lab = new LabDriver();
        using Machine machine = NewMachine(lab);
        machine.Run("app", () =>
        {
            Handle h = Open();
            Handle ev = CreateEvent(null, TRUE, TRUE, null); // signaled: the issue must reset it
            var ov = new OVERLAPPED { hEvent = ev, InternalHigh = PoisonInformation };
            (LabMode mode, NtStatus status) = Setup(outcome);
            LabDriver.Configure(ov, mode, status, 5);
            SetLastError(PoisonError);
            bool ok = Issue(read, h, new byte[8], ov);
            AssertIssueResult(outcome, ok, GetLastError());
            Assert.Equal(!Pended(outcome) && Notified(outcome), IsSignaled(ev));

            if (Pended(outcome))
            {
                Assert.Equal(WAIT_OBJECT_0, WaitForSingleObject(ev, INFINITE));
                Assert.True(GetTickCount() >= 1000);
            }

            Assert.Equal(Notified(outcome), IsSignaled(ev));
            Assert.Equal(Notified(outcome) ? Final(outcome) : NtStatus.STATUS_PENDING, ov.Status);
            Assert.Equal(Notified(outcome) ? 5 : PoisonInformation, ov.InternalHigh);

            // §2.5: with an explicit event the file object's own event is not signaled.
            Assert.False(IsSignaled(h));
            CloseHandle(ev);
            CloseHandle(h);
        });
    }

    [Theory]
    [MemberData(nameof(Outcomes))]
    public void ReadWriteFile_OverlappedWithoutEvent_FileHandleSignaledIffNotified(Outcome outcome, bool read)
    {
        var lab = new LabDriver();
        using Machine machine = NewMachine(lab);
        machine.Run("app", () =>
        {
            Handle h = Open();
            Assert.True(IsSignaled(h)); // a fresh handle is signaled; the issue resets it
            var ov = new OVERLAPPED { InternalHigh = PoisonInformation };
            (LabMode mode, NtStatus status) = Setup(outcome);
            LabDriver.Configure(ov, mode, status, 5);
            SetLastError(PoisonError);
            bool ok = Issue(read, h, new byte[8], ov);
            AssertIssueResult(outcome, ok, GetLastError());
            Assert.Equal(!Pended(outcome) && Notified(outcome), IsSignaled(h));
            uint bytes = 0xFFFF;
            bool result = GetOverlappedResult(h, ov, ref bytes, Notified(outcome));
            if (Notified(outcome))
            {
                Assert.Equal(NtStatusClass.IsSuccess(Final(outcome)), result);
                Assert.Equal(5u, bytes);
                Assert.True(IsSignaled(h));
            }
            else
            {
                // After an immediate error Internal is still STATUS_PENDING: nothing will ever signal (§2.2 pitfall).
                Assert.False(result);
                Assert.Equal(ERROR_IO_INCOMPLETE, GetLastError());
                Assert.False(IsSignaled(h));
            }

            CloseHandle(h);
        });
    }

    [Theory]
    [MemberData(nameof(Outcomes))]
    public void ReadWriteFileEx_EachOutcome_RoutineQueuedIffNotifiedAndRunsInAlertableWaitOnly(Outcome outcome, bool read)
    {
        var lab = new LabDriver();
        using Machine machine = NewMachine(lab);
        machine.Run("app", () =>
        {
            Handle h = Open();
            var calls = new List<(uint Error, uint Bytes, OVERLAPPED Ov, uint Thread)>();
            void Routine(uint error, uint bytes, OVERLAPPED o) => calls.Add((error, bytes, o, GetCurrentThreadId()));

            var ov = new OVERLAPPED { InternalHigh = PoisonInformation };
            (LabMode mode, NtStatus status) = Setup(outcome);
            LabDriver.Configure(ov, mode, status, 5);
            SetLastError(PoisonError);
            bool ok = read ? ReadFileEx(h, new byte[8], 5, ov, Routine) : WriteFileEx(h, new byte[8], 5, ov, Routine);
            uint error = GetLastError();

            // §2.6: TRUE while pending or without an error; a warning also sets the last error (MS Learn); FALSE on an error.
            Assert.Equal(outcome != Outcome.ImmediateError, ok);
            if (outcome is Outcome.ImmediateWarning or Outcome.ImmediateError)
            {
                Assert.Equal(Ntdll.RtlNtStatusToDosErrorNoTeb(Final(outcome)), error);
            }

            // Completed (or not) — the routine waits for an alertable wait of this thread either way.
            if (Pended(outcome))
            {
                Sleep(2000);
                Assert.True(HasOverlappedIoCompleted(ov));
            }

            Assert.Empty(calls);
            Assert.Equal(Notified(outcome) ? WAIT_IO_COMPLETION : 0u, SleepEx(0, TRUE));
            if (Notified(outcome))
            {
                (uint e, uint b, OVERLAPPED o, uint thread) = Assert.Single(calls);
                Assert.Equal(Ntdll.RtlNtStatusToDosErrorNoTeb(Final(outcome)), e);
                Assert.Equal(5u, b);
                Assert.Same(ov, o);
                Assert.Equal(GetCurrentThreadId(), thread);
            }
            else
            {
                Assert.Empty(calls);
                Assert.Equal(NtStatus.STATUS_PENDING, ov.Status);
            }

            // It ran once.
            Assert.Equal(0u, SleepEx(0, TRUE));
            Assert.Equal(Notified(outcome) ? 1 : 0, calls.Count);
            CloseHandle(h);
        });
    }

    [Fact]
    public void ReadFileEx_CompletedWhileIssuerWaitsNonAlertably_RoutineWaitsForIssuersAlertableWait()
    {
        var lab = new LabDriver();
        using Machine machine = NewMachine(lab);
        machine.Run("app", () =>
        {
            Handle h = Open();
            uint issuer = GetCurrentThreadId();
            var ranOn = new List<uint>();
            var ov = new OVERLAPPED();
            LabDriver.Configure(ov, LabMode.PendLater, NtStatus.STATUS_SUCCESS, 3);
            Assert.True(ReadFileEx(h, new byte[8], 8, ov, (e, b, o) => ranOn.Add(GetCurrentThreadId())));

            // Another thread's alertable wait does not run it.
            Handle other = StartThread(() => Assert.Equal(0u, SleepEx(3000, TRUE)));

            // A non-alertable wait through the completion does not run it: not the wait on the handle, not Sleep.
            Assert.Equal(WAIT_OBJECT_0, WaitForSingleObject(h, INFINITE));
            Sleep(100);
            Assert.Equal(WAIT_OBJECT_0, WaitForSingleObject(other, INFINITE));
            Assert.Empty(ranOn);

            // An alertable wait with a timeout ends early with WAIT_IO_COMPLETION, on the issuing thread.
            uint before = GetTickCount();
            Assert.Equal(WAIT_IO_COMPLETION, SleepEx(10_000, TRUE));
            Assert.Equal(before, GetTickCount());
            Assert.Equal([issuer], ranOn);
            CloseHandle(other);
            CloseHandle(h);
        });
    }

    [Fact]
    public void ReadFileEx_IssuerExitsBeforeAlertableWait_RoutineDiscarded()
    {
        var lab = new LabDriver();
        using Machine machine = NewMachine(lab);
        machine.Run("app", () =>
        {
            Handle h = Open();
            int ran = 0;
            var ov = new OVERLAPPED();
            Handle worker = StartThread(() =>
            {
                LabDriver.Configure(ov, LabMode.Immediate, NtStatus.STATUS_SUCCESS, 4);
                Assert.True(ReadFileEx(h, new byte[8], 8, ov, (e, b, o) => ran++));
            });
            Assert.Equal(WAIT_OBJECT_0, WaitForSingleObject(worker, INFINITE));
            Assert.Equal(0u, SleepEx(0, TRUE));
            Assert.Equal(0, ran);
            Assert.Equal(NtStatus.STATUS_SUCCESS, ov.Status);
            CloseHandle(worker);
            CloseHandle(h);
        });
    }

    [Theory]
    [MemberData(nameof(Outcomes))]
    public void NtReadFileAndNtDeviceIoControlFile_ApcRoutine_CalledWithContextStatusBlockAndZero(Outcome outcome, bool read)
    {
        var lab = new LabDriver();
        using Machine machine = NewMachine(lab);
        machine.Run("app", () =>
        {
            Handle h = Open();
            var calls = new List<(object? Context, IoStatusBlock Iosb, uint Reserved, NtStatus Status, nuint Information)>();
            IoApcRoutine apc = (context, iosb, reserved) => calls.Add((context, iosb, reserved, iosb.Status, iosb.Information));
            var iosb = new IoStatusBlock { Status = (NtStatus)0x0BADF00D, Information = PoisonInformation };
            object context = new();
            (LabMode mode, NtStatus status) = Setup(outcome);
            NtStatus native = read
                ? Ntdll.NtReadFile(h, NULL, apc, context, iosb, new byte[8], 5, LabDriver.Offset(mode, status, 5), null)
                : Ntdll.NtDeviceIoControlFile(h, NULL, apc, context, iosb, LabDriver.IOCTL_BEHAVE, LabDriver.BehaveInput(mode, status, 5), 8, new byte[8], 5);
            Assert.Equal(Pended(outcome) ? NtStatus.STATUS_PENDING : status, native);
            if (Pended(outcome))
            {
                Sleep(2000);
            }

            Assert.Empty(calls);
            Assert.Equal(Notified(outcome) ? NtStatus.STATUS_USER_APC : NtStatus.STATUS_SUCCESS, Ntdll.NtDelayExecution(true, 0));
            if (Notified(outcome))
            {
                var call = Assert.Single(calls);
                Assert.Same(context, call.Context);
                Assert.Same(iosb, call.Iosb);
                Assert.Equal(0u, call.Reserved);
                Assert.Equal(status, call.Status);
                Assert.Equal((nuint)5, call.Information);
            }
            else
            {
                Assert.Empty(calls);
                Assert.Equal((NtStatus)0x0BADF00D, iosb.Status);
            }

            CloseHandle(h);
        });
    }

    public static TheoryData<Outcome, bool> PortCases() => Outcomes();

    /// <summary>
    /// §5.4/§5.5/§11.4: an immediate error queues nothing; an immediate success queues a packet unless
    /// FILE_SKIP_COMPLETION_PORT_ON_SUCCESS; a non-pending warning queues one even then (the Windows 8+ rule); a pended
    /// request always does.
    /// </summary>
    [Theory]
    [MemberData(nameof(PortCases))]
    public void ReadFile_PortAssociated_PacketQueuedPerSkipRule(Outcome outcome, bool skipOnSuccess)
    {
        var lab = new LabDriver();
        using Machine machine = NewMachine(lab);
        machine.Run("app", () =>
        {
            Handle h = Open();
            Handle port = CreateIoCompletionPort(h, NULL, 7, 0);
            Assert.False(port.IsNull);
            if (skipOnSuccess)
            {
                Assert.True(SetFileCompletionNotificationModes(h, (byte)FILE_SKIP_COMPLETION_PORT_ON_SUCCESS));
            }

            var ov = new OVERLAPPED();
            (LabMode mode, NtStatus status) = Setup(outcome);
            LabDriver.Configure(ov, mode, status, 5);
            SetLastError(PoisonError);
            bool ok = ReadFile(h, new byte[8], 8, ov);
            AssertIssueResult(outcome, ok, GetLastError());

            bool expectPacket = Pended(outcome) || outcome == Outcome.ImmediateWarning
                || (outcome == Outcome.ImmediateSuccess && !skipOnSuccess);
            bool dequeued = GetQueuedCompletionStatus(port, out uint bytes, out nuint key, out OVERLAPPED? got, Pended(outcome) ? 5000u : 0u);
            if (expectPacket)
            {
                Assert.Same(ov, got);
                Assert.Equal((nuint)7, key);
                Assert.Equal(5u, bytes);
                Assert.Equal(NtStatusClass.IsSuccess(status), dequeued);
                if (!dequeued)
                {
                    Assert.Equal(Ntdll.RtlNtStatusToDosErrorNoTeb(status), GetLastError());
                }
            }
            else
            {
                Assert.False(dequeued);
                Assert.Null(got);
                Assert.Equal(WAIT_TIMEOUT, GetLastError());
            }

            // One packet at most.
            Assert.False(GetQueuedCompletionStatus(port, out _, out _, out OVERLAPPED? none, 0));
            Assert.Null(none);
            CloseHandle(h);
            CloseHandle(port);
        });
    }

    /// <summary>§2.2/§2.5: hEvent with its low bit set: no packet (ApcContext NULL), but the event is still set.</summary>
    [Theory]
    [InlineData(LabMode.PendLater)]
    [InlineData(LabMode.Immediate)]
    public void ReadFile_TaggedEventOnPortHandle_NoPacketEventStillSet(LabMode mode)
    {
        var lab = new LabDriver();
        using Machine machine = NewMachine(lab);
        machine.Run("app", () =>
        {
            Handle h = Open();
            Handle port = CreateIoCompletionPort(h, NULL, 1, 0);
            Handle ev = CreateEvent(null, TRUE, FALSE, null);
            var ov = new OVERLAPPED { hEvent = Tagged(ev) };
            LabDriver.Configure(ov, mode, NtStatus.STATUS_SUCCESS, 2);
            bool ok = ReadFile(h, new byte[8], 8, ov);
            Assert.Equal(mode == LabMode.Immediate, ok);
            Assert.Equal(WAIT_OBJECT_0, WaitForSingleObject(ev, 5000));
            Assert.Equal(NtStatus.STATUS_SUCCESS, ov.Status);
            Assert.False(GetQueuedCompletionStatus(port, out _, out _, out OVERLAPPED? got, 2000));
            Assert.Null(got);
            Assert.Equal(WAIT_TIMEOUT, GetLastError());
            CloseHandle(ev);
            CloseHandle(h);
            CloseHandle(port);
        });
    }

    /// <summary>§2.3: the synchronous forms wait for a pended request and report the final status.</summary>
    [Theory]
    [InlineData(Outcome.PendedSuccess)]
    [InlineData(Outcome.PendedError)]
    [InlineData(Outcome.ImmediateSuccess)]
    [InlineData(Outcome.ImmediateWarning)]
    [InlineData(Outcome.ImmediateError)]
    public void ReadFile_SynchronousHandle_ReturnsFinalStatusAfterWaiting(Outcome outcome)
    {
        var lab = new LabDriver();
        using Machine machine = NewMachine(lab);
        machine.Run("app", () =>
        {
            Handle h = Open(overlapped: false);
            (LabMode mode, NtStatus status) = Setup(outcome);
            var ov = new OVERLAPPED(); // a synchronous handle takes the offset from it and still waits
            LabDriver.Configure(ov, mode, status, 5);
            SetLastError(PoisonError);
            uint bytes = 0xFFFF;
            byte[] buffer = new byte[8];
            bool ok = ReadFile(h, buffer, 8, ref bytes, ov);
            Assert.Equal(NtStatusClass.IsSuccess(status), ok);
            Assert.Equal(ok ? PoisonError : Ntdll.RtlNtStatusToDosErrorNoTeb(status), GetLastError());
            Assert.Equal(Pended(outcome) ? 1000u : 0u, GetTickCount());
            Assert.Equal(NtStatusClass.IsError(status) ? NtStatus.STATUS_PENDING : status, ov.Status);
            if (ok)
            {
                Assert.Equal(5u, bytes);
                Assert.Equal("abcde", System.Text.Encoding.ASCII.GetString(buffer, 0, 5));
            }

            CloseHandle(h);
        });
    }
}
