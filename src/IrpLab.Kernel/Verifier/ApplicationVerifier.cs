namespace IrpLab;

/// <summary>
/// Application-side misuse of overlapped I/O (STYLE.md pitfalls 8 and 9). Windows does not stop on these: the
/// application corrupts its own memory, waits forever, or reads a wrong result later. With the machine's verifier on
/// they are reported as <see cref="TraceEventKind.VerifierWarning"/> events named after the catalogue
/// (<see cref="VerifierDiagnostics"/>) and the application goes on. Kernel32 finds the misuse it can see from user mode
/// (an auto-reset event in GetOverlappedResult, a NULL OVERLAPPED on an overlapped handle) and reports it with
/// Ntdll.RtlApplicationVerifierStop; the I/O manager, which knows which requests are in flight, checks a new request's
/// status block (the OVERLAPPED), event and buffers against them when it is issued.
/// </summary>
internal static class ApplicationVerifier
{
    public const string OverlappedReusedWhilePending = "OVERLAPPED_REUSED_WHILE_PENDING";
    public const string EventSharedByConcurrentRequests = "EVENT_SHARED_BY_CONCURRENT_REQUESTS";

    /// <summary>Records one warning (nothing without the verifier).</summary>
    public static void Stop(KThread t, string code, string message)
    {
        Machine m = t.Machine;
        if (m.VerifierEnabled)
        {
            m.Trace.Record(TraceEventKind.VerifierWarning, code + ": " + message + " [" + t + " in " + t.Process.Name + "]");
        }
    }

    /// <summary>
    /// A user-mode read, write or device-control request is about to be issued: warns when its status block, its
    /// event or one of its buffers belongs to a request of the same process that is still in flight.
    /// </summary>
    public static void BeforeIssue(KThread t, KEvent? userEvent, ref IoRequest request)
    {
        Machine m = t.Machine;
        var inFlight = new List<Irp>();
        m.Io.CollectProcessIrps(t.Process, inFlight);
        if (inFlight.Count == 0)
        {
            return;
        }

        string service = ServiceName(request.Major);
        byte[]? newOutput = request.OutputLength > 0 ? request.OutputBuffer : null;
        byte[]? newInput = request.InputLength > 0 ? request.InputBuffer : null;
        bool statusBlockReported = false;
        bool bufferReported = false;
        bool eventReported = false;
        foreach (Irp irp in inFlight)
        {
            bool sameStatusBlock = ReferenceEquals(irp.UserIosb, request.IoStatusBlock);
            if (sameStatusBlock && !statusBlockReported)
            {
                statusBlockReported = true;
                Stop(t, OverlappedReusedWhilePending,
                    $"{service} was given the OVERLAPPED (I/O status block) of {Describe(irp)}, which is still pending: its completion will write this request's status and byte count, and signal or post for the wrong request. Give each request in flight its own OVERLAPPED; reuse one only after its completion was observed (also after CancelIo).");
            }

            if (!bufferReported && Conflicts(irp, newOutput, newInput))
            {
                bufferReported = true;
                Stop(t, OverlappedReusedWhilePending,
                    $"{service} was given a buffer that {Describe(irp)}, still pending, is using: the two requests overwrite each other's data. Give each request in flight its own buffer; reuse it only after the completion was observed (also after CancelIo).");
            }

            if (!eventReported && !sameStatusBlock && userEvent is not null && ReferenceEquals(irp.UserEvent, userEvent))
            {
                eventReported = true;
                Stop(t, EventSharedByConcurrentRequests,
                    $"{service} was given the event of {Describe(irp)}, which is still pending: the I/O manager resets the event now, and its one signal cannot tell the two completions apart. Give each request in flight its own event.");
            }
        }
    }

    private static string Describe(Irp irp)
        => irp + " (" + IoManager.MajorFunctionName(irp.Stack[irp.StackCount - 1].MajorFunction)
            + (irp.Tail.Overlay.Thread is KThread by ? " issued by " + by : string.Empty) + ")";

    /// <summary>The new request writes a buffer the earlier one uses, or reads a buffer the earlier one writes.</summary>
    private static bool Conflicts(Irp irp, byte[]? newOutput, byte[]? newInput)
    {
        if (newOutput is null && newInput is null)
        {
            return false;
        }

        if (irp.UserBuffer is UserBuffer user && Overlaps(user.Memory, user.IsOutput))
        {
            return true;
        }

        if (irp.MdlAddress is Mdl mdl && Overlaps(mdl.Buffer, mdl.ForWrite))
        {
            return true;
        }

        if (irp.CallerOutput is byte[] output && Overlaps(output, true))
        {
            return true;
        }

        return irp.Stack[irp.StackCount - 1].Parameters.DeviceIoControl.Type3InputBuffer is UserBuffer type3 && Overlaps(type3.Memory, false);

        bool Overlaps(byte[] buffer, bool earlierOutput)
            => ReferenceEquals(buffer, newOutput) || (earlierOutput && ReferenceEquals(buffer, newInput));
    }

    private static string ServiceName(byte major) => major switch
    {
        IoManager.IRP_MJ_READ => "NtReadFile",
        IoManager.IRP_MJ_WRITE => "NtWriteFile",
        _ => "NtDeviceIoControlFile",
    };
}
