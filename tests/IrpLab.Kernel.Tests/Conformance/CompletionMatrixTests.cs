using System.Text;
using static IrpLab.Kernel32;

namespace IrpLab.Tests.Conformance;

/// <summary>
/// nt-io-semantics §5.4 ("who sees what"), §2.2-2.3 (kernel32's mapping) and §4.3 (copy-back), as a matrix:
/// handle kind × IOCTL method × final status class × completion mode (× event or none on overlapped handles).
/// Every case starts from poisoned state — the output buffer, OVERLAPPED.Internal/InternalHigh, the byte count,
/// the last error, an already-signaled event — and asserts exactly which of them Windows would touch.
/// The expectations are computed from the spec's rules in <see cref="Expect"/>, not from the implementation.
/// </summary>
public sealed class CompletionMatrixTests
{
    private const uint PoisonBytes = 0xCCCCCCCC;
    private const uint PoisonError = 0x1234;
    private const nuint PoisonInformation = 0xDEAD;
    private const string Original = "abcdef";

    public static readonly NtStatus[] FinalStatuses =
    [
        NtStatus.STATUS_SUCCESS,
        NtStatus.STATUS_OBJECT_NAME_EXISTS, // informational
        NtStatus.STATUS_BUFFER_OVERFLOW,    // warning
        NtStatus.STATUS_DEVICE_NOT_READY,   // error
    ];

    public static TheoryData<bool, bool, uint, NtStatus, CompletionMode> OverlappedCases()
    {
        var data = new TheoryData<bool, bool, uint, NtStatus, CompletionMode>();
        foreach (bool deterministic in new[] { true, false })
        {
            foreach (bool withEvent in new[] { true, false })
            {
                for (uint method = 0; method < 4; method++)
                {
                    foreach (NtStatus status in FinalStatuses)
                    {
                        foreach (CompletionMode mode in new[] { CompletionMode.Immediate, CompletionMode.PendInline, CompletionMode.PendLater })
                        {
                            if (!deterministic && mode == CompletionMode.PendLater)
                            {
                                continue; // real time would make the case wait a real second
                            }

                            data.Add(deterministic, withEvent, method, status, mode);
                        }
                    }
                }
            }
        }

        return data;
    }

    public static TheoryData<bool, uint, NtStatus, CompletionMode> SynchronousCases()
    {
        var data = new TheoryData<bool, uint, NtStatus, CompletionMode>();
        foreach (bool deterministic in new[] { true, false })
        {
            for (uint method = 0; method < 4; method++)
            {
                foreach (NtStatus status in FinalStatuses)
                {
                    foreach (CompletionMode mode in new[] { CompletionMode.Immediate, CompletionMode.PendInline, CompletionMode.PendLater })
                    {
                        if (!deterministic && mode == CompletionMode.PendLater)
                        {
                            continue;
                        }

                        data.Add(deterministic, method, status, mode);
                    }
                }
            }
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(OverlappedCases))]
    public void DeviceIoControl_OverlappedHandle_MatchesSemanticsTable(bool deterministic, bool withEvent, uint method, NtStatus final, CompletionMode mode)
    {
        Observed o = RunOverlapped(deterministic, withEvent, method, final, mode, returned: final, verifier: true);
        Expected e = Expect.OVERLAPPED(withEvent, method, final, mode, returned: final);
        AssertMatches(e, o);
    }

    [Theory]
    [MemberData(nameof(SynchronousCases))]
    public void DeviceIoControl_SynchronousHandle_MatchesSemanticsTable(bool deterministic, uint method, NtStatus final, CompletionMode mode)
    {
        Observed o = RunSynchronous(deterministic, method, final, mode, returned: final, verifier: true);
        Expected e = Expect.Synchronous(method, final, mode, returned: final);
        AssertMatches(e, o);
    }

    /// <summary>
    /// A driver that returns a status other than the one it completed with (Windows-validated): the native call
    /// returns the returned value, the status block gets the stored one. The verifier would stop this (0xC9/0x224),
    /// so these run with it off.
    /// </summary>
    [Theory]
    [InlineData(0u, NtStatus.STATUS_SUCCESS, NtStatus.STATUS_DEVICE_NOT_READY)]
    [InlineData(0u, NtStatus.STATUS_DEVICE_NOT_READY, NtStatus.STATUS_SUCCESS)]
    [InlineData(2u, NtStatus.STATUS_SUCCESS, NtStatus.STATUS_DEVICE_NOT_READY)]
    [InlineData(3u, NtStatus.STATUS_BUFFER_OVERFLOW, NtStatus.STATUS_SUCCESS)]
    public void DeviceIoControl_ReturnDiffersFromIoStatus_NativeReturnsReturnedIosbGetsStored(uint method, NtStatus final, NtStatus returned)
    {
        Observed overlapped = RunOverlapped(true, true, method, final, CompletionMode.ReturnOther, returned, verifier: false);
        AssertMatches(Expect.OVERLAPPED(true, method, final, CompletionMode.ReturnOther, returned), overlapped);
        Observed synchronous = RunSynchronous(true, method, final, CompletionMode.ReturnOther, returned, verifier: false);
        AssertMatches(Expect.Synchronous(method, final, CompletionMode.ReturnOther, returned), synchronous);
    }

    /// <summary>The native level on a synchronous handle: the caller's IOSB is written iff the final status is not an error.</summary>
    [Theory]
    [InlineData(NtStatus.STATUS_SUCCESS, CompletionMode.Immediate)]
    [InlineData(NtStatus.STATUS_SUCCESS, CompletionMode.PendLater)]
    [InlineData(NtStatus.STATUS_BUFFER_OVERFLOW, CompletionMode.Immediate)]
    [InlineData(NtStatus.STATUS_BUFFER_OVERFLOW, CompletionMode.PendLater)]
    [InlineData(NtStatus.STATUS_DEVICE_NOT_READY, CompletionMode.Immediate)]
    [InlineData(NtStatus.STATUS_DEVICE_NOT_READY, CompletionMode.PendLater)]
    public void NtDeviceIoControlFile_SynchronousHandle_IosbWrittenIffNotError(NtStatus final, CompletionMode mode)
    {
        NtStatus native = default;
        var iosb = new IoStatusBlock { Status = (NtStatus)unchecked((int)0xBAADF00D), Information = PoisonInformation };
        using Machine machine = NewMachine(true, true);
        machine.Run("app", () =>
        {
            Handle h = CreateFile(@"\\.\Conform", GENERIC_READ | GENERIC_WRITE, 0, null, OPEN_EXISTING, 0, NULL);
            byte[] output = new byte[7];
            native = Ntdll.NtDeviceIoControlFile(h, NULL, null, null, iosb, ConformanceDriver.Ioctl(0), ConformanceDriver.Input(mode, final, final), ConformanceDriver.InputLength, output, 7);
            CloseHandle(h);
        });

        Assert.Equal(final, native);
        if (NtStatusClass.IsError(final))
        {
            Assert.Equal(unchecked((int)0xBAADF00D), (int)iosb.Status);
            Assert.Equal(PoisonInformation, iosb.Information);
        }
        else
        {
            Assert.Equal(final, iosb.Status);
            Assert.Equal((nuint)3, iosb.Information);
        }
    }

    private static Machine NewMachine(bool deterministic, bool verifier)
    {
        var machine = new Machine(new MachineOptions { Deterministic = deterministic, Seed = 5, Verifier = verifier });
        Assert.Equal(NtStatus.STATUS_SUCCESS, machine.LoadDriver("Conform", ConformanceDriver.DriverEntry));
        return machine;
    }

    private static Observed RunOverlapped(bool deterministic, bool withEvent, uint method, NtStatus final, CompletionMode mode, NtStatus returned, bool verifier)
    {
        var o = new Observed();
        using Machine machine = NewMachine(deterministic, verifier);
        machine.Run("app", () =>
        {
            Handle h = CreateFile(@"\\.\Conform", GENERIC_READ | GENERIC_WRITE, 0, null, OPEN_EXISTING, FILE_FLAG_OVERLAPPED, NULL);
            Assert.NotEqual(INVALID_HANDLE_VALUE, h);
            Handle ev = withEvent ? CreateEvent(null, TRUE, TRUE, null) : NULL;
            var ov = new OVERLAPPED { hEvent = ev, Internal = 0xBAADF00D, InternalHigh = PoisonInformation };
            byte[] output = Encoding.ASCII.GetBytes(Original + "\0");
            uint bytes = PoisonBytes;
            SetLastError(PoisonError);

            o.Result = DeviceIoControl(h, ConformanceDriver.Ioctl(method), ConformanceDriver.Input(mode, final, returned), ConformanceDriver.InputLength, output, 7, ref bytes, ov);
            o.LastError = GetLastError();
            o.Bytes = bytes;
            if (mode == CompletionMode.PendLater)
            {
                Sleep(2000);
            }

            o.Internal = (NtStatus)(uint)ov.Internal;
            o.InternalHigh = ov.InternalHigh;
            o.Output = Encoding.ASCII.GetString(output, 0, 6);
            o.EventSignaled = withEvent && WaitForSingleObject(ev, 0) == WAIT_OBJECT_0;
            o.FileSignaled = WaitForSingleObject(h, 0) == WAIT_OBJECT_0;
            if (withEvent)
            {
                CloseHandle(ev);
            }

            CloseHandle(h);
        });
        return o;
    }

    private static Observed RunSynchronous(bool deterministic, uint method, NtStatus final, CompletionMode mode, NtStatus returned, bool verifier)
    {
        var o = new Observed();
        using Machine machine = NewMachine(deterministic, verifier);
        machine.Run("app", () =>
        {
            Handle h = CreateFile(@"\\.\Conform", GENERIC_READ | GENERIC_WRITE, 0, null, OPEN_EXISTING, 0, NULL);
            Assert.NotEqual(INVALID_HANDLE_VALUE, h);
            byte[] output = Encoding.ASCII.GetBytes(Original + "\0");
            uint bytes = PoisonBytes;
            SetLastError(PoisonError);

            o.Result = DeviceIoControl(h, ConformanceDriver.Ioctl(method), ConformanceDriver.Input(mode, final, returned), ConformanceDriver.InputLength, output, 7, ref bytes, null);
            o.LastError = GetLastError();
            o.Bytes = bytes;
            o.Output = Encoding.ASCII.GetString(output, 0, 6);
            o.FileSignaled = WaitForSingleObject(h, 0) == WAIT_OBJECT_0;
            CloseHandle(h);
        });
        return o;
    }

    private static void AssertMatches(Expected e, Observed o)
    {
        Assert.Equal(e.Result, o.Result);
        Assert.Equal(e.LastError, o.LastError);
        if (e.Bytes is uint bytes)
        {
            Assert.Equal(bytes, o.Bytes);
        }

        if (e.Internal is NtStatus internalStatus)
        {
            Assert.Equal(internalStatus, o.Internal);
            Assert.Equal(e.InternalHigh, o.InternalHigh);
            Assert.Equal(e.EventSignaled, o.EventSignaled);
        }

        Assert.Equal(e.FileSignaled, o.FileSignaled);
        Assert.Equal(e.Output, o.Output);
    }

    private sealed class Observed
    {
        public bool Result;
        public uint LastError;
        public uint Bytes;
        public NtStatus Internal;
        public nuint InternalHigh;
        public string Output = string.Empty;
        public bool EventSignaled;
        public bool FileSignaled;
    }

    private sealed record Expected(bool Result, uint LastError, uint? Bytes, NtStatus? Internal, nuint InternalHigh, bool EventSignaled, bool FileSignaled, string Output);

    /// <summary>The rules, written out from nt-io-semantics.md.</summary>
    private static class Expect
    {
        private static bool IsError(NtStatus s) => NtStatusClass.IsError(s);

        private static bool IsSuccess(NtStatus s) => NtStatusClass.IsSuccess(s);

        /// <summary>§4.3: buffered copies Information (3) bytes unless the status is an error; direct and neither wrote in place.</summary>
        private static string Output(uint method, NtStatus final)
            => method != 0 ? "ghijkl" : IsError(final) ? Original : "ghidef";

        public static Expected OVERLAPPED(bool withEvent, uint method, NtStatus final, CompletionMode mode, NtStatus returned)
        {
            bool pended = mode is CompletionMode.PendInline or CompletionMode.PendLater;
            NtStatus native = pended ? NtStatus.STATUS_PENDING : returned;

            // §5.3 step 2: a notification is due unless the final status is an error of a request that was not pended.
            bool notify = !IsError(final) || pended;

            // §2.2 step 4: PENDING → FALSE/ERROR_IO_PENDING; success → TRUE, last error untouched; else FALSE + mapped error.
            bool result = IsSuccess(native) && native != NtStatus.STATUS_PENDING;
            uint lastError = native == NtStatus.STATUS_PENDING ? ERROR_IO_PENDING : result ? PoisonError : Ntdll.RtlNtStatusToDosErrorNoTeb(native);

            // §2.2 step 5: the byte count is InternalHigh as it stands at return whenever the native status is not an error.
            bool writtenBeforeReturn = notify && mode != CompletionMode.PendLater;
            uint? bytes = IsError(native) ? PoisonBytes : writtenBeforeReturn ? 3u : (uint)PoisonInformation;

            // §2.2 step 1: kernel32 set Internal = STATUS_PENDING; only a notification overwrites it.
            NtStatus internalStatus = notify ? final : NtStatus.STATUS_PENDING;
            nuint internalHigh = notify ? 3 : PoisonInformation;

            // §2.5: the event is reset at issue and set with the notification; with an explicit event the file object is not signaled.
            bool eventSignaled = withEvent && notify;
            bool fileSignaled = !withEvent && notify;
            return new Expected(result, lastError, bytes, internalStatus, internalHigh, eventSignaled, fileSignaled, Output(method, final));
        }

        public static Expected Synchronous(uint method, NtStatus final, CompletionMode mode, NtStatus returned)
        {
            bool pended = mode is CompletionMode.PendInline or CompletionMode.PendLater;

            // §2.3: the native call returns the final status after the I/O manager's wait, else the returned value.
            NtStatus native = pended ? final : returned;
            bool result = IsSuccess(native);
            uint lastError = result ? PoisonError : Ntdll.RtlNtStatusToDosErrorNoTeb(native);

            // The byte count is left alone when the native status is an error; it is the IOSB's Information otherwise,
            // which is only meaningful when the final status is not an error either (else it is garbage: not asserted).
            uint? bytes = IsError(native) ? PoisonBytes : IsError(final) ? null : 3u;

            // §5.3: the file object is signaled by a notification, or for a pended request on a synchronous file object.
            bool fileSignaled = !IsError(final) || pended;
            return new Expected(result, lastError, bytes, null, 0, false, fileSignaled, Output(method, final));
        }
    }
}
