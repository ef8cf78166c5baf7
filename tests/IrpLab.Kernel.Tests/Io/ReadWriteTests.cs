using System.Text;
using static IrpLab.Kernel32;

namespace IrpLab.Tests.Io;

/// <summary>ReadFile and WriteFile: end of file (§2.2, §2.3) and the three buffering methods (§4.1).</summary>
public sealed class ReadWriteTests
{
    private static byte[] Ascii(string s) => Encoding.ASCII.GetBytes(s);

    private static string Ascii(byte[] b) => Encoding.ASCII.GetString(b);

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void ReadFile_SynchronousAtEndOfFile_TrueWithZeroBytes(bool pend)
    {
        using Machine m = TestMachines.Deterministic();
        var driver = new TestDriver("Eof").On(Wdm.IRP_MJ_READ, (d, irp) => pend
            ? TestDriver.PendAndComplete(irp, 10, p => p.IoStatus.Status = NtStatus.STATUS_END_OF_FILE)
            : TestDriver.Complete(irp, NtStatus.STATUS_END_OF_FILE));
        driver.Load(m);
        (bool ok, uint bytes) = m.RunAndReturn(() =>
        {
            Handle h = OpenTests.Open(driver.Win32Name);
            uint n = 99;
            bool r = ReadFile(h, new byte[8], 8, ref n, null);
            CloseHandle(h);
            return (r, n);
        });

        // §2.3: the classic end-of-file test — a synchronous read at EOF succeeds with zero bytes.
        Assert.True(ok);
        Assert.Equal(0u, bytes);
    }

    [Fact]
    public void ReadFile_OverlappedAtEndOfFile_FalseHandleEof()
    {
        using Machine m = TestMachines.Deterministic();
        var driver = new TestDriver("EofAsync").On(Wdm.IRP_MJ_READ, (d, irp) => TestDriver.Complete(irp, NtStatus.STATUS_END_OF_FILE));
        driver.Load(m);
        (bool ok, uint error, nuint internalStatus, uint wait) = m.RunAndReturn(() =>
        {
            Handle h = OpenTests.Open(driver.Win32Name, flags: FILE_FLAG_OVERLAPPED);
            Handle ev = CreateEvent(null, true, false, null);
            var ov = new OVERLAPPED { hEvent = ev };
            bool r = ReadFile(h, new byte[8], 8, ov);
            uint e = GetLastError();
            uint w = WaitForSingleObject(ev, 0);
            CloseHandle(ev);
            CloseHandle(h);
            return (r, e, ov.Internal, w);
        });

        // §2.2 item 6: overlapped and an immediate STATUS_END_OF_FILE → FALSE, ERROR_HANDLE_EOF; an immediate error
        // writes no status block and sets no event.
        Assert.False(ok);
        Assert.Equal(ERROR_HANDLE_EOF, error);
        Assert.Equal((nuint)(uint)NtStatus.STATUS_PENDING, internalStatus);
        Assert.Equal(WAIT_TIMEOUT, wait);
    }

    [Fact]
    public void ReadFile_OverlappedPendedEndOfFile_GetOverlappedResultHandleEof()
    {
        using Machine m = TestMachines.Deterministic();
        var driver = new TestDriver("EofLater").On(Wdm.IRP_MJ_READ, (d, irp) =>
            TestDriver.PendAndComplete(irp, 10, p => p.IoStatus.Status = NtStatus.STATUS_END_OF_FILE));
        driver.Load(m);
        (uint issueError, bool ok, uint error) = m.RunAndReturn(() =>
        {
            Handle h = OpenTests.Open(driver.Win32Name, flags: FILE_FLAG_OVERLAPPED);
            var ov = new OVERLAPPED();
            Assert.False(ReadFile(h, new byte[8], 8, ov));
            uint ie = GetLastError();
            uint n = 0;
            bool r = GetOverlappedResult(h, ov, ref n, true);
            uint e = GetLastError();
            CloseHandle(h);
            return (ie, r, e);
        });

        Assert.Equal(ERROR_IO_PENDING, issueError);
        Assert.False(ok);
        Assert.Equal(ERROR_HANDLE_EOF, error);
    }

    public static TheoryData<uint, uint, string> ReadCases => new()
    {
        // §4.3 (Windows-validated for IOCTLs; the same copy-back rule governs buffered reads, §4.1 / §5.3 item 1):
        // buffered copies Information bytes unless the status is an error; direct and neither write the caller's
        // memory themselves, whatever the status.
        { Wdm.DO_BUFFERED_IO, (uint)NtStatus.STATUS_SUCCESS, "ghidef\0" },
        { Wdm.DO_BUFFERED_IO, 0x80000005u, "ghidef\0" }, // STATUS_BUFFER_OVERFLOW: a warning copies
        { Wdm.DO_BUFFERED_IO, 0xC000000Du, "abcdef\0" }, // STATUS_INVALID_PARAMETER: an error copies nothing
        { Wdm.DO_DIRECT_IO, (uint)NtStatus.STATUS_SUCCESS, "ghijkl\0" },
        { Wdm.DO_DIRECT_IO, 0xC000000Du, "ghijkl\0" },
        { 0u, (uint)NtStatus.STATUS_SUCCESS, "ghijkl\0" },
        { 0u, 0xC000000Du, "ghijkl\0" },
    };

    [Theory]
    [MemberData(nameof(ReadCases))]
    public void ReadFile_EachBufferingMethod_DataLandsAsWindowsWouldLeaveIt(uint deviceFlags, uint status, string expected)
    {
        using Machine m = TestMachines.Deterministic();
        (bool SystemBuffer, bool Mdl, bool UserBuffer)? seen = null;
        var driver = new TestDriver("Reader") { DeviceFlags = deviceFlags }.On(Wdm.IRP_MJ_READ, (d, irp) =>
        {
            seen = (irp.AssociatedIrp.SystemBuffer is not null, irp.MdlAddress is not null, irp.UserBuffer is not null);
            byte[] reply = Ascii("ghijkl");
            if ((d.Flags & Wdm.DO_BUFFERED_IO) != 0)
            {
                Wdm.RtlCopyMemory(irp.AssociatedIrp.SystemBuffer!, reply, reply.Length);
            }
            else if ((d.Flags & Wdm.DO_DIRECT_IO) != 0)
            {
                Assert.Equal(7u, Wdm.MmGetMdlByteCount(irp.MdlAddress!));
                Wdm.RtlCopyMemory(Wdm.MmGetSystemAddressForMdlSafe(irp.MdlAddress!, Wdm.NormalPagePriority), reply, reply.Length);
            }
            else
            {
                Wdm.ProbeForWrite(irp.UserBuffer, 7, 1);
                Wdm.RtlCopyMemory(irp.UserBuffer!.Array, reply, reply.Length);
            }

            return TestDriver.Complete(irp, (NtStatus)status, 3);
        });
        driver.Load(m);
        (bool ok, uint error, string data) = m.RunAndReturn(() =>
        {
            Handle h = OpenTests.Open(driver.Win32Name);
            byte[] buffer = Ascii("abcdef\0");
            bool r = ReadFile(h, buffer, 7, null);
            uint e = GetLastError();
            CloseHandle(h);
            return (r, e, Ascii(buffer));
        });

        Assert.Equal(expected, data);
        Assert.Equal(NtStatusClass.IsSuccess((NtStatus)status), ok);
        if (!ok)
        {
            Assert.Equal(Ntdll.RtlNtStatusToDosErrorNoTeb((NtStatus)status), error);
        }

        // §4.1: buffered reads get a system buffer (and keep the caller's buffer as UserBuffer for the copy-back);
        // direct reads an MDL; neither reads only the raw UserBuffer.
        (bool, bool, bool) shape = deviceFlags switch
        {
            Wdm.DO_BUFFERED_IO => (true, false, true),
            Wdm.DO_DIRECT_IO => (false, true, false),
            _ => (false, false, true),
        };
        Assert.Equal(shape, seen!.Value);
    }

    [Fact]
    public void ReadFile_Buffered_IrpCarriesSystemBufferAndReadFlags()
    {
        using Machine m = TestMachines.Deterministic();
        (uint Flags, int SystemLength, bool HasMdl, bool HasUserBuffer, uint Length, long Offset)? seen = null;
        var driver = new TestDriver("BufferedShape").On(Wdm.IRP_MJ_READ, (d, irp) =>
        {
            IoStackLocation sl = Wdm.IoGetCurrentIrpStackLocation(irp);
            seen = (irp.Flags, irp.AssociatedIrp.SystemBuffer?.Length ?? -1, irp.MdlAddress is not null, irp.UserBuffer is not null, sl.Parameters.Read.Length, sl.Parameters.Read.ByteOffset.QuadPart);
            return TestDriver.Complete(irp, NtStatus.STATUS_SUCCESS);
        });
        driver.Load(m);
        m.Run("app", () =>
        {
            Handle h = OpenTests.Open(driver.Win32Name, flags: FILE_FLAG_OVERLAPPED);
            var ov = new OVERLAPPED { Offset = 0x10, OffsetHigh = 1 };
            Assert.True(ReadFile(h, new byte[12], 12, ov));
            CloseHandle(h);
        });

        uint expected = Wdm.IRP_BUFFERED_IO | Wdm.IRP_DEALLOCATE_BUFFER | Wdm.IRP_INPUT_OPERATION | Wdm.IRP_READ_OPERATION | Wdm.IRP_DEFER_IO_COMPLETION;
        Assert.Equal(expected, seen!.Value.Flags);
        Assert.Equal(12, seen.Value.SystemLength);
        Assert.False(seen.Value.HasMdl);
        Assert.True(seen.Value.HasUserBuffer);
        Assert.Equal(12u, seen.Value.Length);
        Assert.Equal(0x1_0000_0010L, seen.Value.Offset);
    }

    public static TheoryData<uint> Methods => new() { Wdm.DO_BUFFERED_IO, Wdm.DO_DIRECT_IO, 0u };

    [Theory]
    [MemberData(nameof(Methods))]
    public void WriteFile_EachBufferingMethod_DriverSeesTheCallersData(uint deviceFlags)
    {
        using Machine m = TestMachines.Deterministic();
        string? received = null;
        uint flags = 0;
        var driver = new TestDriver("Writer") { DeviceFlags = deviceFlags }.On(Wdm.IRP_MJ_WRITE, (d, irp) =>
        {
            uint length = Wdm.IoGetCurrentIrpStackLocation(irp).Parameters.Write.Length;
            byte[] data = new byte[length];
            if ((d.Flags & Wdm.DO_BUFFERED_IO) != 0)
            {
                Wdm.RtlCopyMemory(data, irp.AssociatedIrp.SystemBuffer!, (int)length);
            }
            else if ((d.Flags & Wdm.DO_DIRECT_IO) != 0)
            {
                Wdm.RtlCopyMemory(data, Wdm.MmGetSystemAddressForMdlSafe(irp.MdlAddress!, Wdm.NormalPagePriority), (int)length);
            }
            else
            {
                Wdm.ProbeForRead(irp.UserBuffer, length, 1);
                Wdm.RtlCopyMemory(data, irp.UserBuffer!.Array, (int)length);
            }

            received = Ascii(data);
            flags = irp.Flags;
            return TestDriver.Complete(irp, NtStatus.STATUS_SUCCESS, length);
        });
        driver.Load(m);
        (bool ok, uint written, string after) = m.RunAndReturn(() =>
        {
            Handle h = OpenTests.Open(driver.Win32Name);
            byte[] buffer = Ascii("payload");
            uint n = 0;
            bool r = WriteFile(h, buffer, 7, ref n, null);
            CloseHandle(h);
            return (r, n, Ascii(buffer));
        });

        Assert.True(ok);
        Assert.Equal(7u, written);
        Assert.Equal("payload", received);
        Assert.Equal("payload", after);

        // §4.1: a buffered write has no IRP_INPUT_OPERATION, so nothing is copied back.
        Assert.Equal(Wdm.IRP_WRITE_OPERATION | Wdm.IRP_DEFER_IO_COMPLETION, flags & (Wdm.IRP_WRITE_OPERATION | Wdm.IRP_DEFER_IO_COMPLETION));
        Assert.Equal(0u, flags & Wdm.IRP_INPUT_OPERATION);
    }

    [Theory]
    [MemberData(nameof(Methods))]
    public void ReadFile_ZeroLength_NoSystemBufferNoMdl(uint deviceFlags)
    {
        using Machine m = TestMachines.Deterministic();
        (bool HasSystemBuffer, bool HasMdl, bool HasUserBuffer, uint Length)? seen = null;
        var driver = new TestDriver("Empty") { DeviceFlags = deviceFlags }.On(Wdm.IRP_MJ_READ, (d, irp) =>
        {
            seen = (irp.AssociatedIrp.SystemBuffer is not null, irp.MdlAddress is not null, irp.UserBuffer is not null, Wdm.IoGetCurrentIrpStackLocation(irp).Parameters.Read.Length);
            return TestDriver.Complete(irp, NtStatus.STATUS_SUCCESS);
        });
        driver.Load(m);
        (bool ok, uint bytes) = m.RunAndReturn(() =>
        {
            Handle h = OpenTests.Open(driver.Win32Name);
            uint n = 5;
            bool r = ReadFile(h, new byte[4], 0, ref n, null);
            CloseHandle(h);
            return (r, n);
        });

        // §4.1: SystemBuffer is NULL if Length is 0; MdlAddress likewise.
        Assert.True(ok);
        Assert.Equal(0u, bytes);
        Assert.Equal((false, false, 0u), (seen!.Value.HasSystemBuffer, seen.Value.HasMdl, seen.Value.Length));
    }
}
