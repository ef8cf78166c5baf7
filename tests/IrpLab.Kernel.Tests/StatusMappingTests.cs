using static IrpLab.Kernel32;

namespace IrpLab.Tests;

/// <summary>RtlNtStatusToDosError (nt-io-semantics §12.2) and the NT_SUCCESS family (§0, §12.1).</summary>
public sealed class StatusMappingTests
{
    /// <summary>The rows of §12.2 that have a Win32 error.</summary>
    public static TheoryData<uint, uint> Rows => new()
    {
        { 0x00000000, 0 },
        { 0x00000102, 1460 },
        { 0x00000103, 997 },
        { 0x80000005, 234 },
        { 0x80000006, 18 },
        { 0x80000011, 170 },
        { 0x80000016, 1110 },
        { 0x8000001A, 259 },
        { 0xC0000001, 31 },
        { 0xC0000002, 1 },
        { 0xC0000003, 87 },
        { 0xC0000004, 24 },
        { 0xC0000005, 998 },
        { 0xC0000008, 6 },
        { 0xC000000D, 87 },
        { 0xC000000E, 2 },
        { 0xC0000010, 1 },
        { 0xC0000011, 38 },
        { 0xC0000016, 234 },
        { 0xC0000017, 8 },
        { 0xC0000022, 5 },
        { 0xC0000023, 122 },
        { 0xC0000024, 6 },
        { 0xC0000030, 87 },
        { 0xC0000034, 2 },
        { 0xC0000035, 183 },
        { 0xC000003A, 3 },
        { 0xC0000043, 32 },
        { 0xC000004B, 5 },
        { 0xC0000056, 5 },
        { 0xC000009A, 1450 },
        { 0xC000009D, 1167 },
        { 0xC00000A3, 21 },
        { 0xC00000B5, 121 },
        { 0xC00000BB, 50 },
        { 0xC00000C0, 55 },
        { 0xC00000E8, 1784 },
        { 0xC0000120, 995 },
        { 0xC0000128, 6 },
        { 0xC000014B, 109 },
        { 0xC0000184, 22 },
        { 0xC0000185, 1117 },
        { 0xC0000206, 1784 },
        { 0xC0000225, 1168 },
        { 0xC00002B6, 1617 },
    };

    [Theory]
    [MemberData(nameof(Rows))]
    public void RtlNtStatusToDosError_TableRow_MapsToItsWin32Error(uint status, uint error)
    {
        Assert.Equal(error, Ntdll.RtlNtStatusToDosErrorNoTeb((NtStatus)status));
        Assert.Equal(error, Ntdll.RtlNtStatusToDosError((NtStatus)status));
    }

    [Theory]
    [InlineData(0xE0000001u)]
    [InlineData(0x20000005u)]
    [InlineData(0xA0001234u)]
    [InlineData(0xF0000042u)]
    public void RtlNtStatusToDosError_CustomerBit_PassesThroughUnchanged(uint status)
    {
        // §12.1: driver-private codes (customer bit 0x20000000) reach GetLastError as they are.
        Assert.Equal(status, Ntdll.RtlNtStatusToDosErrorNoTeb((NtStatus)status));
    }

    [Theory]
    [InlineData(0xD0000008u, 6u)]
    [InlineData(0xD000000Du, 87u)]
    [InlineData(0xD0000120u, 995u)]
    public void RtlNtStatusToDosError_SeverityD_IsTreatedAsC(uint status, uint error)
    {
        Assert.Equal(error, Ntdll.RtlNtStatusToDosErrorNoTeb((NtStatus)status));
    }

    [Theory]
    [InlineData(0xC0010005u, 5u)]
    [InlineData(0x80070057u, 87u)]
    [InlineData(0xC007000Eu, 14u)]
    public void RtlNtStatusToDosError_WrappedWin32Error_ReturnsTheLowWord(uint status, uint error)
    {
        Assert.Equal(error, Ntdll.RtlNtStatusToDosErrorNoTeb((NtStatus)status));
    }

    [Theory]
    [InlineData(0xC0FFFFFFu)]
    [InlineData(0x8000FFFFu)]
    [InlineData(0x40001234u)]
    [InlineData(0x00000080u)] // STATUS_ABANDONED_WAIT_0 (Wine: 317)
    [InlineData(0x000000C0u)] // STATUS_USER_APC (Wine: 317)
    [InlineData(0x00000101u)] // STATUS_ALERTED (Wine: 317, Windows UNCONFIRMED)
    public void RtlNtStatusToDosError_NoMapping_ReturnsErrorMrMidNotFound(uint status)
    {
        Assert.Equal(317u, Ntdll.RtlNtStatusToDosErrorNoTeb((NtStatus)status));
        Assert.Equal(ERROR_MR_MID_NOT_FOUND, Ntdll.RtlNtStatusToDosErrorNoTeb((NtStatus)status));
    }

    [Fact]
    public void RtlNtStatusToDosError_InAThread_RemembersTheLastNtStatus()
    {
        using Machine machine = TestMachine.Deterministic();
        machine.Run("app", () =>
        {
            Assert.Equal(ERROR_OPERATION_ABORTED, Ntdll.RtlNtStatusToDosError(NtStatus.STATUS_CANCELLED));
            Assert.Equal(NtStatus.STATUS_CANCELLED, Ntdll.RtlGetLastNtStatus());
            Assert.Equal(2u, Ntdll.RtlNtStatusToDosErrorNoTeb(NtStatus.STATUS_OBJECT_NAME_NOT_FOUND));
            Assert.Equal(NtStatus.STATUS_CANCELLED, Ntdll.RtlGetLastNtStatus());
        });
    }

    [Theory]
    [InlineData(0x00000000u, true, false, false, false)]
    [InlineData(0x00000103u, true, false, false, false)]
    [InlineData(0x40000000u, true, true, false, false)]
    [InlineData(0x80000005u, false, false, true, false)]
    [InlineData(0xC0000023u, false, false, false, true)]
    public void NtStatusClass_Severity_FollowsBits31And30(uint status, bool success, bool information, bool warning, bool error)
    {
        var s = (NtStatus)status;
        Assert.Equal((success, information, warning, error), (Wdm.NT_SUCCESS(s), Wdm.NT_INFORMATION(s), Wdm.NT_WARNING(s), Wdm.NT_ERROR(s)));
    }

    [Fact]
    public void NtStatus_WaitValues_MatchTheWin32WaitResults()
    {
        // §11.2: kernel32 passes the wait statuses through numerically.
        Assert.Equal(WAIT_OBJECT_0, (uint)NtStatus.STATUS_WAIT_0);
        Assert.Equal(WAIT_ABANDONED_0, (uint)NtStatus.STATUS_ABANDONED_WAIT_0);
        Assert.Equal(WAIT_IO_COMPLETION, (uint)NtStatus.STATUS_USER_APC);
        Assert.Equal(WAIT_TIMEOUT, (uint)NtStatus.STATUS_TIMEOUT);
    }
}
