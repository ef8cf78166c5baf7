using static IrpLab.Kernel32;

namespace IrpLab.Tests.Fidelity;

/// <summary>Waits given the pseudo handles of the current process and thread (docs/reference/kernel-fidelity.md §1).</summary>
public sealed class PseudoHandleWaitTests
{
    [Theory]
    [InlineData(true, -1)]
    [InlineData(true, -2)]
    [InlineData(false, -1)]
    [InlineData(false, -2)]
    public void WaitForMultipleObjects_PseudoHandle_FailsWithInvalidHandleAndConsumesNothing(bool deterministic, long pseudo)
    {
        using Machine machine = TestMachine.Create(deterministic);
        machine.Run("app", () =>
        {
            Handle pseudoHandle = pseudo == -1 ? GetCurrentProcess() : GetCurrentThread();
            Assert.Equal(pseudo, (long)pseudoHandle.Value);

            // An auto-reset event signaled before the pseudo handle: a wait that ran would consume it.
            Handle ev = CreateEvent(null, FALSE, TRUE, null);
            SetLastError(0xDEADBEEF);
            Assert.Equal(WAIT_FAILED, WaitForMultipleObjects(2, [ev, pseudoHandle], FALSE, 100));
            Assert.Equal(ERROR_INVALID_HANDLE, GetLastError());
            Assert.Equal(WAIT_OBJECT_0, WaitForSingleObject(ev, 0));

            SetLastError(0xDEADBEEF);
            Assert.Equal(WAIT_FAILED, WaitForMultipleObjects(1, [pseudoHandle], TRUE, 100));
            Assert.Equal(ERROR_INVALID_HANDLE, GetLastError());
            Assert.True(CloseHandle(ev));
        });
    }

    [Theory]
    [InlineData(-1)]
    [InlineData(-2)]
    public void NtWaitForMultipleObjects_PseudoHandle_ReturnsStatusInvalidHandle(long pseudo)
    {
        using Machine machine = TestMachine.Deterministic();
        machine.Run("app", () =>
        {
            Handle pseudoHandle = pseudo == -1 ? Ntdll.NtCurrentProcess() : Ntdll.NtCurrentThread();
            Assert.Equal(NtStatus.STATUS_INVALID_HANDLE, Ntdll.NtWaitForMultipleObjects(1, [pseudoHandle], WaitType.WaitAny, false, -100 * 10_000L));
        });
    }

    [Theory]
    [InlineData(-1)]
    [InlineData(-2)]
    public void WaitForSingleObject_PseudoHandleOfRunningProcessOrThread_IsAValidWaitThatTimesOut(long pseudo)
    {
        using Machine machine = TestMachine.Deterministic();
        machine.Run("app", () =>
        {
            Handle pseudoHandle = pseudo == -1 ? GetCurrentProcess() : GetCurrentThread();
            SetLastError(0xDEADBEEF);
            Assert.Equal(WAIT_TIMEOUT, WaitForSingleObject(pseudoHandle, 100));
            Assert.Equal(0xDEADBEEFu, GetLastError());
        });
    }
}
