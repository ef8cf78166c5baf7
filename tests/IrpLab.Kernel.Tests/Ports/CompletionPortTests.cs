using IrpLab.Tests.Cancel;
using static IrpLab.Kernel32;
using static IrpLab.Tests.Cancel.LabHost;

namespace IrpLab.Tests.Ports;

/// <summary>
/// I/O completion ports (nt-io-semantics §11.4, §5.5): packets FIFO, waiters LIFO, the concurrency limit on running
/// associated threads, timeouts, closing the port under a waiter, PostQueuedCompletionStatus, batches with
/// GetQueuedCompletionStatusEx (and its alertable form), and the association rules.
/// </summary>
public sealed class CompletionPortTests
{
    private static Machine NewMachine(LabDriver? lab = null, ulong seed = 1)
        => lab is null ? new Machine(new MachineOptions { Deterministic = true, Seed = seed }) : LabHost.NewMachine(lab, seed);

    [Fact]
    public void GetQueuedCompletionStatus_SeveralPackets_DequeuedFifo()
    {
        using Machine machine = NewMachine();
        machine.Run("app", () =>
        {
            Handle port = CreateIoCompletionPort(INVALID_HANDLE_VALUE, NULL, 0, 1);
            Assert.False(port.IsNull);
            for (uint i = 1; i <= 5; i++)
            {
                Assert.True(PostQueuedCompletionStatus(port, i * 10, i, null));
            }

            for (uint i = 1; i <= 5; i++)
            {
                Assert.True(GetQueuedCompletionStatus(port, out uint bytes, out nuint key, out OVERLAPPED? ov, 0));
                Assert.Equal((nuint)i, key);
                Assert.Equal(i * 10, bytes);
                Assert.Null(ov);
            }

            Assert.False(GetQueuedCompletionStatus(port, out _, out _, out _, 0));
            Assert.Equal(WAIT_TIMEOUT, GetLastError());
            CloseHandle(port);
        });
    }

    [Theory]
    [InlineData(1UL)]
    [InlineData(2UL)]
    [InlineData(3UL)]
    public void GetQueuedCompletionStatus_ThreeWaiters_ReleasedLifo(ulong seed)
    {
        using Machine machine = NewMachine(seed: seed);
        machine.Run("app", () =>
        {
            Handle port = CreateIoCompletionPort(INVALID_HANDLE_VALUE, NULL, 0, 3);
            nuint[] got = new nuint[3];
            var threads = new Handle[3];
            for (int i = 0; i < 3; i++)
            {
                int index = i;
                threads[i] = StartThread(() =>
                {
                    Sleep((uint)(10 * (index + 1))); // waiter 0 first, then 1, then 2
                    Assert.True(GetQueuedCompletionStatus(port, out _, out nuint key, out _, INFINITE));
                    got[index] = key;
                });
            }

            Sleep(100);
            for (uint k = 1; k <= 3; k++)
            {
                Assert.True(PostQueuedCompletionStatus(port, 0, k, null));
            }

            Assert.Equal(WAIT_OBJECT_0, WaitForMultipleObjects(3, threads, TRUE, INFINITE));
            Assert.Equal([(nuint)3, 2, 1], got); // the last to wait got the first packet
            foreach (Handle t in threads)
            {
                CloseHandle(t);
            }

            CloseHandle(port);
        });
    }

    /// <summary>
    /// NumberOfConcurrentThreads = 1: while the associated thread that took the first packet runs, a second waiter is
    /// not released for the next packet; when that thread blocks on something else, it is.
    /// </summary>
    [Theory]
    [InlineData(1UL)]
    [InlineData(2UL)]
    [InlineData(3UL)]
    [InlineData(4UL)]
    public void GetQueuedCompletionStatus_ConcurrencyOne_SecondWaiterReleasedOnlyWhenFirstBlocks(ulong seed)
    {
        using Machine machine = NewMachine(seed: seed);
        machine.Run("app", () =>
        {
            Handle port = CreateIoCompletionPort(INVALID_HANDLE_VALUE, NULL, 0, 1);
            Handle gate = CreateEvent(null, TRUE, FALSE, null);
            Handle poll = CreateEvent(null, TRUE, FALSE, null);
            const int Steps = 50;
            int firstProgress = 0;
            bool firstBlocking = false;
            (nuint Key, int Progress, bool Blocking)? second = null;
            nuint firstKey = 0;

            Handle a = StartThread(() =>
            {
                Sleep(10);
                Assert.True(GetQueuedCompletionStatus(port, out _, out nuint key, out _, INFINITE));
                second = (key, firstProgress, firstBlocking);
                Assert.True(SetEvent(gate));
            });
            Handle b = StartThread(() =>
            {
                Sleep(20);
                Assert.True(GetQueuedCompletionStatus(port, out _, out firstKey, out _, INFINITE));

                // Running, not waiting: zero-timeout polls are system calls (scheduling points) that never block.
                for (int i = 0; i < Steps; i++)
                {
                    Assert.Equal(WAIT_TIMEOUT, WaitForSingleObject(poll, 0));
                    firstProgress++;
                }

                firstBlocking = true;
                Assert.Equal(WAIT_OBJECT_0, WaitForSingleObject(gate, INFINITE));
            });

            Sleep(100);
            Assert.True(PostQueuedCompletionStatus(port, 0, 1, null));
            Assert.True(PostQueuedCompletionStatus(port, 0, 2, null));
            Assert.Equal(WAIT_OBJECT_0, WaitForMultipleObjects(2, [a, b], TRUE, INFINITE));

            Assert.Equal((nuint)1, firstKey); // b waited last: LIFO
            Assert.Equal(((nuint)2, Steps, true), second);
            CloseHandle(a);
            CloseHandle(b);
            CloseHandle(gate);
            CloseHandle(poll);
            CloseHandle(port);
        });
    }

    /// <summary>A running associated thread that comes back to the port while packets wait takes the next one at once.</summary>
    [Fact]
    public void GetQueuedCompletionStatus_AssociatedThreadReturnsWhilePacketsQueued_TakesNextWithoutWaiting()
    {
        using Machine machine = NewMachine();
        machine.Run("app", () =>
        {
            Handle port = CreateIoCompletionPort(INVALID_HANDLE_VALUE, NULL, 0, 1);
            nuint other = 0;
            Handle waiter = StartThread(() =>
            {
                Assert.True(GetQueuedCompletionStatus(port, out _, out other, out _, INFINITE));
            });
            Sleep(10);
            Assert.True(PostQueuedCompletionStatus(port, 0, 1, null));
            Assert.True(PostQueuedCompletionStatus(port, 0, 2, null));

            // The waiter took packet 1 and is running (or has exited); this thread then takes packet 2 at once.
            Assert.Equal(WAIT_OBJECT_0, WaitForSingleObject(waiter, INFINITE));
            Assert.Equal((nuint)1, other);
            Assert.True(GetQueuedCompletionStatus(port, out _, out nuint mine, out _, 0));
            Assert.Equal((nuint)2, mine);
            CloseHandle(waiter);
            CloseHandle(port);
        });
    }

    /// <summary>
    /// §11.4: a thread is associated with one port at a time. When the thread that took port 1's packet goes to wait on
    /// port 2, it no longer counts as running for port 1, so port 1's next packet releases port 1's other waiter.
    /// </summary>
    [Fact]
    public void GetQueuedCompletionStatus_RunningThreadWaitsOnAnotherPort_FirstPortReleasesNextWaiter()
    {
        using Machine machine = NewMachine();
        machine.Run("app", () =>
        {
            Handle port1 = CreateIoCompletionPort(INVALID_HANDLE_VALUE, NULL, 0, 1);
            Handle port2 = CreateIoCompletionPort(INVALID_HANDLE_VALUE, NULL, 0, 1);

            // This thread takes packet 1 of port 1: it is now port 1's one running associated thread.
            Assert.True(PostQueuedCompletionStatus(port1, 0, 1, null));
            Assert.True(GetQueuedCompletionStatus(port1, out _, out nuint firstKey, out _, 0));
            Assert.Equal((nuint)1, firstKey);
            nuint secondKey = 0;
            Handle waiter = StartThread(() =>
            {
                Assert.True(GetQueuedCompletionStatus(port1, out _, out secondKey, out _, INFINITE));
            });
            Sleep(10);
            Assert.True(PostQueuedCompletionStatus(port1, 0, 2, null));
            Assert.Equal(WAIT_TIMEOUT, WaitForSingleObject(waiter, 0)); // held back while this thread runs (a Sleep would block it)
            Assert.Equal((nuint)0, secondKey);

            // Now this thread waits on port 2: it leaves port 1, whose waiter gets packet 2 at once.
            uint before = GetTickCount();
            Assert.False(GetQueuedCompletionStatus(port2, out _, out _, out _, 100));
            Assert.Equal(WAIT_TIMEOUT, GetLastError());
            Assert.Equal(WAIT_OBJECT_0, WaitForSingleObject(waiter, 0));
            Assert.Equal((nuint)2, secondKey);
            Assert.Equal(before + 100, GetTickCount());
            CloseHandle(waiter);
            CloseHandle(port1);
            CloseHandle(port2);
        });
    }

    /// <summary>A kernel APC (stage 2 of an I/O, say) that reaches a thread waiting on a port runs, and the wait goes on.</summary>
    [Fact]
    public void GetQueuedCompletionStatus_KernelApcDuringWait_ApcRunsAndWaitContinues()
    {
        var lab = new LabDriver();
        using Machine machine = NewMachine(lab);
        machine.Run("app", () =>
        {
            Handle h = Open();
            Handle port = CreateIoCompletionPort(INVALID_HANDLE_VALUE, NULL, 0, 0);
            bool result = false;
            nuint key = 0;
            uint when = 0;
            Handle waiter = StartThread(() =>
            {
                result = GetQueuedCompletionStatus(port, out _, out key, out _, INFINITE);
                when = GetTickCount();
            });
            Sleep(10);
            int ran = 0;
            RunInDriver(lab, h, () =>
            {
                Assert.Equal(NtStatus.STATUS_SUCCESS, Wdm.ObReferenceObjectByHandle(waiter, 0, Wdm.PsThreadType, Wdm.KernelMode, out KThread thread, null));
                machine.Apcs.QueueKernelApc(thread, () => ran++);
                Wdm.ObDereferenceObject(thread);
            });
            Sleep(10);
            Assert.Equal(1, ran);
            Assert.Equal(WAIT_TIMEOUT, WaitForSingleObject(waiter, 0));
            Assert.True(PostQueuedCompletionStatus(port, 0, 77, null));
            Assert.Equal(WAIT_OBJECT_0, WaitForSingleObject(waiter, INFINITE));
            Assert.True(result);
            Assert.Equal((nuint)77, key);
            Assert.Equal(20u, when);
            CloseHandle(waiter);
            CloseHandle(port);
            CloseHandle(h);
        });
    }

    [Theory]
    [InlineData(0u)]
    [InlineData(50u)]
    public void GetQueuedCompletionStatus_NoPacketWithinTimeout_FalseNullOverlappedWaitTimeout(uint timeout)
    {
        using Machine machine = NewMachine();
        machine.Run("app", () =>
        {
            Handle port = CreateIoCompletionPort(INVALID_HANDLE_VALUE, NULL, 0, 0);
            SetLastError(0);
            Assert.False(GetQueuedCompletionStatus(port, out uint bytes, out nuint key, out OVERLAPPED? ov, timeout));
            Assert.Null(ov);
            Assert.Equal(WAIT_TIMEOUT, GetLastError());
            Assert.Equal(timeout, GetTickCount());
            CloseHandle(port);
        });
    }

    /// <summary>
    /// The port's last handle is closed while a thread waits in GetQueuedCompletionStatus: FALSE, NULL lpOverlapped,
    /// ERROR_ABANDONED_WAIT_0 (735). A plain wait on the port handle is woken with success.
    /// </summary>
    [Fact]
    public void GetQueuedCompletionStatus_PortClosedWhileWaiting_FalseNullOverlappedAbandonedWait()
    {
        using Machine machine = NewMachine();
        machine.Run("app", () =>
        {
            Handle port = CreateIoCompletionPort(INVALID_HANDLE_VALUE, NULL, 0, 0);
            bool result = true;
            uint error = 0;
            OVERLAPPED? ov = new();
            uint plainWait = 0xFFFF;
            Handle waiter = StartThread(() =>
            {
                result = GetQueuedCompletionStatus(port, out _, out _, out ov, INFINITE);
                error = GetLastError();
            });
            Handle watcher = StartThread(() => plainWait = WaitForSingleObject(port, INFINITE));
            Sleep(10);
            Assert.True(CloseHandle(port));
            Assert.Equal(WAIT_OBJECT_0, WaitForMultipleObjects(2, [waiter, watcher], TRUE, INFINITE));
            Assert.False(result);
            Assert.Null(ov);
            Assert.Equal(ERROR_ABANDONED_WAIT_0, error);
            Assert.Equal(735u, ERROR_ABANDONED_WAIT_0);
            Assert.Equal(WAIT_OBJECT_0, plainWait);
            CloseHandle(waiter);
            CloseHandle(watcher);
        });
    }

    [Fact]
    public void PostQueuedCompletionStatus_KeyBytesAndCookie_ComeBackUnchanged()
    {
        using Machine machine = NewMachine();
        machine.Run("app", () =>
        {
            Handle port = CreateIoCompletionPort(INVALID_HANDLE_VALUE, NULL, 0, 0);
            var cookie = new OVERLAPPED { Internal = 0x1234 };
            Assert.True(PostQueuedCompletionStatus(port, 77, 0xABC, cookie));
            Assert.True(PostQueuedCompletionStatus(port, 0, 0, null));
            Assert.True(GetQueuedCompletionStatus(port, out uint bytes, out nuint key, out OVERLAPPED? ov, 0));
            Assert.Equal(77u, bytes);
            Assert.Equal((nuint)0xABC, key);
            Assert.Same(cookie, ov);
            Assert.Equal((nuint)0x1234, cookie.Internal); // not validated, not touched
            Assert.True(GetQueuedCompletionStatus(port, out _, out _, out OVERLAPPED? none, 0));
            Assert.Null(none);
            CloseHandle(port);
            Assert.False(PostQueuedCompletionStatus(port, 0, 0, null));
            Assert.Equal(ERROR_INVALID_HANDLE, GetLastError());
        });
    }

    /// <summary>GetQueuedCompletionStatusEx: TRUE with up to ulCount entries, failed I/Os included (check each Internal).</summary>
    [Fact]
    public void GetQueuedCompletionStatusEx_MixedPackets_BatchesIncludeFailedEntries()
    {
        var lab = new LabDriver();
        using Machine machine = NewMachine(lab);
        machine.Run("app", () =>
        {
            Handle h = Open();
            Handle port = CreateIoCompletionPort(h, NULL, 9, 0);
            var cancelled = new OVERLAPPED();
            var succeeded = new OVERLAPPED();
            LabDriver.Configure(cancelled, LabMode.Queue, NtStatus.STATUS_SUCCESS, 3);
            LabDriver.Configure(succeeded, LabMode.Queue, NtStatus.STATUS_SUCCESS, 3);
            var posted1 = new OVERLAPPED();
            var posted2 = new OVERLAPPED();
            Assert.True(PostQueuedCompletionStatus(port, 1, 100, posted1));
            Assert.False(ReadFile(h, new byte[8], 8, cancelled));
            Assert.False(ReadFile(h, new byte[8], 8, succeeded));
            Assert.True(CancelIoEx(h, cancelled));
            Assert.True(PostQueuedCompletionStatus(port, 2, 200, posted2));
            CompleteQueued(h, NtStatus.STATUS_SUCCESS);

            var entries = new OverlappedEntry[8];
            Assert.True(GetQueuedCompletionStatusEx(port, entries, 3, out uint removed, 0, FALSE));
            Assert.Equal(3u, removed);
            Assert.Same(posted1, entries[0].lpOverlapped);
            Assert.Equal((nuint)100, entries[0].lpCompletionKey);
            Assert.Equal(1u, entries[0].dwNumberOfBytesTransferred);
            Assert.Same(cancelled, entries[1].lpOverlapped);
            Assert.Equal((nuint)9, entries[1].lpCompletionKey);
            Assert.Equal(NtStatus.STATUS_CANCELLED, entries[1].lpOverlapped!.Status);
            Assert.Equal(0u, entries[1].dwNumberOfBytesTransferred);
            Assert.Same(posted2, entries[2].lpOverlapped);

            Assert.True(GetQueuedCompletionStatusEx(port, entries, 8, out removed, INFINITE, FALSE));
            Assert.Equal(1u, removed);
            Assert.Same(succeeded, entries[0].lpOverlapped);
            Assert.Equal(3u, entries[0].dwNumberOfBytesTransferred);
            Assert.Equal(NtStatus.STATUS_SUCCESS, succeeded.Status);

            Assert.False(GetQueuedCompletionStatusEx(port, entries, 8, out removed, 0, FALSE));
            Assert.Equal(0u, removed);
            Assert.Equal(WAIT_TIMEOUT, GetLastError());
            CloseHandle(h);
            CloseHandle(port);
        });
    }

    /// <summary>Alertable GetQueuedCompletionStatusEx: a user APC ends the wait — FALSE, WAIT_IO_COMPLETION, the APC has run.</summary>
    [Theory]
    [InlineData(0u)]
    [InlineData(INFINITE)]
    public void GetQueuedCompletionStatusEx_AlertableWithQueuedApc_FalseWaitIoCompletion(uint timeout)
    {
        using Machine machine = NewMachine();
        machine.Run("app", () =>
        {
            Handle port = CreateIoCompletionPort(INVALID_HANDLE_VALUE, NULL, 0, 0);
            var ran = new List<nuint>();
            Assert.True(QueueUserAPC(data => ran.Add(data), GetCurrentThread(), 5));

            // Not alertable: the APC waits.
            var entries = new OverlappedEntry[4];
            Assert.False(GetQueuedCompletionStatusEx(port, entries, 4, out uint removed, 0, FALSE));
            Assert.Equal(WAIT_TIMEOUT, GetLastError());
            Assert.Empty(ran);

            Assert.False(GetQueuedCompletionStatusEx(port, entries, 4, out removed, timeout, TRUE));
            Assert.Equal(WAIT_IO_COMPLETION, GetLastError());
            Assert.Equal(0u, removed);
            Assert.Equal([(nuint)5], ran);
            CloseHandle(port);
        });
    }

    /// <summary>A ReadFileEx routine completing while the issuer waits alertably on an empty port ends that wait.</summary>
    [Fact]
    public void GetQueuedCompletionStatusEx_ReadFileExCompletesDuringAlertableWait_RoutineRunsWaitIoCompletion()
    {
        var lab = new LabDriver();
        using Machine machine = NewMachine(lab);
        machine.Run("app", () =>
        {
            Handle h = Open();
            Handle port = CreateIoCompletionPort(INVALID_HANDLE_VALUE, NULL, 0, 0);
            var ov = new OVERLAPPED();
            LabDriver.Configure(ov, LabMode.PendLater, NtStatus.STATUS_SUCCESS, 2);
            int ran = 0;
            Assert.True(ReadFileEx(h, new byte[4], 4, ov, (e, b, o) => ran++));

            // A non-alertable wait on the port does not run it.
            Assert.False(GetQueuedCompletionStatus(port, out _, out _, out _, 1500));
            Assert.Equal(WAIT_TIMEOUT, GetLastError());
            Assert.Equal(0, ran);

            var entries = new OverlappedEntry[1];
            Assert.False(GetQueuedCompletionStatusEx(port, entries, 1, out _, INFINITE, TRUE));
            Assert.Equal(WAIT_IO_COMPLETION, GetLastError());
            Assert.Equal(1, ran);
            CloseHandle(h);
            CloseHandle(port);
        });
    }

    [Fact]
    public void CreateIoCompletionPort_SynchronousHandleOrSecondAssociation_ErrorInvalidParameter()
    {
        var lab = new LabDriver();
        using Machine machine = NewMachine(lab);
        machine.Run("app", () =>
        {
            Handle sync = Open(overlapped: false);
            Assert.True(CreateIoCompletionPort(sync, NULL, 1, 0).IsNull);
            Assert.Equal(ERROR_INVALID_PARAMETER, GetLastError());

            Handle h = Open();
            Handle port = CreateIoCompletionPort(h, NULL, 1, 0);
            Assert.False(port.IsNull);
            Assert.True(CreateIoCompletionPort(h, port, 2, 0).IsNull);
            Assert.Equal(ERROR_INVALID_PARAMETER, GetLastError());
            Handle other = CreateIoCompletionPort(INVALID_HANDLE_VALUE, NULL, 0, 0);
            Assert.True(CreateIoCompletionPort(h, other, 3, 0).IsNull);
            Assert.Equal(ERROR_INVALID_PARAMETER, GetLastError());

            // A second file joins the existing port: the same port handle comes back.
            Handle h2 = Open();
            Assert.Equal(port, CreateIoCompletionPort(h2, port, 4, 0));
            Assert.True(CreateIoCompletionPort(INVALID_HANDLE_VALUE, port, 0, 0).IsNull);
            Assert.Equal(ERROR_INVALID_PARAMETER, GetLastError());

            // The first association (key 1) is the one in force.
            var ov = new OVERLAPPED();
            LabDriver.Configure(ov, LabMode.Immediate, NtStatus.STATUS_SUCCESS, 1);
            Assert.True(ReadFile(h, new byte[4], 4, ov));
            Assert.True(GetQueuedCompletionStatus(port, out _, out nuint key, out _, 0));
            Assert.Equal((nuint)1, key);
            CloseHandle(sync);
            CloseHandle(h);
            CloseHandle(h2);
            CloseHandle(other);
            CloseHandle(port);
        });
    }

    [Fact]
    public void ReadFileEx_PortAssociatedHandle_FailsInvalidParameterRoutineNeverRuns()
    {
        var lab = new LabDriver();
        using Machine machine = NewMachine(lab);
        machine.Run("app", () =>
        {
            Handle h = Open();
            Handle port = CreateIoCompletionPort(h, NULL, 1, 0);
            var ov = new OVERLAPPED();
            LabDriver.Configure(ov, LabMode.Immediate, NtStatus.STATUS_SUCCESS, 1);
            int ran = 0;
            Assert.False(ReadFileEx(h, new byte[4], 4, ov, (e, b, o) => ran++));
            Assert.Equal(ERROR_INVALID_PARAMETER, GetLastError());
            Assert.False(WriteFileEx(h, new byte[4], 4, ov, (e, b, o) => ran++));
            Assert.Equal(ERROR_INVALID_PARAMETER, GetLastError());
            Assert.Equal(0u, SleepEx(0, TRUE));
            Assert.Equal(0, ran);
            Assert.False(GetQueuedCompletionStatus(port, out _, out _, out _, 0));
            Assert.Equal(Array.Empty<string>(), lab.Log.Where(l => !l.StartsWith("create", StringComparison.Ordinal)));
            CloseHandle(h);
            CloseHandle(port);
        });
    }

    /// <summary>§5.5: FILE_SKIP_SET_EVENT_ON_HANDLE — the file handle is not signaled by a completion; an OVERLAPPED event still is.</summary>
    [Fact]
    public void SetFileCompletionNotificationModes_SkipSetEventOnHandle_HandleNotSignaledUserEventStillSet()
    {
        var lab = new LabDriver();
        using Machine machine = NewMachine(lab);
        machine.Run("app", () =>
        {
            Handle h = Open();
            Assert.True(SetFileCompletionNotificationModes(h, (byte)FILE_SKIP_SET_EVENT_ON_HANDLE));
            var ov = new OVERLAPPED();
            LabDriver.Configure(ov, LabMode.PendLater, NtStatus.STATUS_SUCCESS, 1);
            Assert.False(ReadFile(h, new byte[4], 4, ov));
            Sleep(2000);
            Assert.Equal(NtStatus.STATUS_SUCCESS, ov.Status);
            Assert.False(IsSignaled(h));

            OVERLAPPED withEvent = Read(h, LabMode.PendLater, NtStatus.STATUS_SUCCESS, 1);
            Assert.Equal(WAIT_OBJECT_0, WaitForSingleObject(withEvent.hEvent, INFINITE));
            Assert.False(IsSignaled(h));

            // Modes are only ever added.
            Assert.True(SetFileCompletionNotificationModes(h, 0));
            OVERLAPPED again = Read(h, LabMode.Immediate, NtStatus.STATUS_SUCCESS, 1, withEvent: false);
            Assert.Equal(NtStatus.STATUS_SUCCESS, again.Status);
            Assert.False(IsSignaled(h));
            CloseHandle(h);
        });
    }
}
