namespace IrpLab;

/// <summary>EVENT_INFORMATION_CLASS: what NtQueryEvent returns.</summary>
public enum EventInformationClass
{
    EventBasicInformation = 0,
}

/// <summary>EVENT_BASIC_INFORMATION: the event's type and its current state.</summary>
public struct EventBasicInformation
{
    public EventType EventType;

    public int EventState;
}

/// <summary>FILE_MODE_INFORMATION: the file object's mode (FILE_SYNCHRONOUS_IO_ALERT, FILE_SYNCHRONOUS_IO_NONALERT, ...).</summary>
public struct FileModeInformation
{
    public uint Mode;
}

/// <summary>Queries, and the application verifier's entry points.</summary>
public static partial class Ntdll
{
    public const uint EVENT_QUERY_STATE = 0x0001;

    /// <summary>NtGlobalFlag bit: Application Verifier is enabled for the process (the machine's verifier is on).</summary>
    public const uint FLG_APPLICATION_VERIFIER = 0x100;

    /// <summary>
    /// RtlGetNtGlobalFlags: the process's NtGlobalFlag, read from the PEB (no system call). FLG_APPLICATION_VERIFIER
    /// is set when the machine's verifier is on.
    /// </summary>
    public static uint RtlGetNtGlobalFlags() => KThread.Current.Machine.VerifierEnabled ? FLG_APPLICATION_VERIFIER : 0;

    /// <summary>
    /// In the spirit of ntdll's RtlApplicationVerifierStop: reports an application-side misuse that a verifier check
    /// found. On Windows, Application Verifier breaks into the debugger; here the stop is recorded as a
    /// <see cref="TraceEventKind.VerifierWarning"/> event ("Code: Message") and the application goes on. Nothing is
    /// recorded unless the machine's verifier is on. (The Windows routine takes a numeric code and four parameters
    /// with descriptions; the model's stops are named by the catalogue, VerifierDiagnostics.)
    /// </summary>
    public static void RtlApplicationVerifierStop(string Code, string Message)
    {
        ArgumentException.ThrowIfNullOrEmpty(Code);
        ArgumentNullException.ThrowIfNull(Message);
        ApplicationVerifier.Stop(KThread.Current, Code, Message);
    }

    /// <summary>NtQueryEvent (EventBasicInformation): the event's type (notification or synchronization) and state. Needs EVENT_QUERY_STATE.</summary>
    public static NtStatus NtQueryEvent(Handle EventHandle, EventInformationClass EventInformationClass, out EventBasicInformation EventInformation)
    {
        EventInformation = default;
        KThread t = SystemCall.Enter();
        try
        {
            if (EventInformationClass != EventInformationClass.EventBasicInformation)
            {
                return NtStatus.STATUS_INVALID_INFO_CLASS;
            }

            Machine m = t.Machine;
            NtStatus status = m.Objects.ReferenceByHandle(EventHandle, EVENT_QUERY_STATE, ObjectType.Event, t.PreviousMode, out KernelObject? obj, out _);
            if (status != NtStatus.STATUS_SUCCESS)
            {
                return status;
            }

            var ev = (KEvent)obj!;
            EventInformation.EventType = ev.EventType;
            EventInformation.EventState = Volatile.Read(ref ev.SignalState);
            m.Objects.Dereference(ev);
            return NtStatus.STATUS_SUCCESS;
        }
        finally
        {
            SystemCall.Exit(t);
        }
    }

    /// <summary>
    /// NtQueryInformationFile for FileModeInformation: FILE_SYNCHRONOUS_IO_ALERT or FILE_SYNCHRONOUS_IO_NONALERT for a
    /// synchronous file object (none for one opened for overlapped I/O), plus FILE_WRITE_THROUGH and
    /// FILE_NO_INTERMEDIATE_BUFFERING. Other classes are STATUS_INVALID_INFO_CLASS.
    /// </summary>
    public static NtStatus NtQueryInformationFile(Handle FileHandle, IoStatusBlock IoStatusBlock, out FileModeInformation FileInformation, FileInformationClass FileInformationClass)
    {
        ArgumentNullException.ThrowIfNull(IoStatusBlock);
        FileInformation = default;
        KThread t = SystemCall.Enter();
        try
        {
            if (FileInformationClass != FileInformationClass.FileModeInformation)
            {
                return NtStatus.STATUS_INVALID_INFO_CLASS;
            }

            Machine m = t.Machine;
            NtStatus status = m.Objects.ReferenceByHandle(FileHandle, 0, ObjectType.File, t.PreviousMode, out KernelObject? obj, out _);
            if (status != NtStatus.STATUS_SUCCESS)
            {
                return status;
            }

            var fo = (FileObject)obj!;
            uint mode = 0;
            if ((fo.Flags & FileObject.FO_SYNCHRONOUS_IO) != 0)
            {
                mode |= (fo.Flags & FileObject.FO_ALERTABLE_IO) != 0 ? FILE_SYNCHRONOUS_IO_ALERT : FILE_SYNCHRONOUS_IO_NONALERT;
            }

            if ((fo.Flags & FileObject.FO_WRITE_THROUGH) != 0)
            {
                mode |= FILE_WRITE_THROUGH;
            }

            if ((fo.Flags & FileObject.FO_NO_INTERMEDIATE_BUFFERING) != 0)
            {
                mode |= FILE_NO_INTERMEDIATE_BUFFERING;
            }

            FileInformation.Mode = mode;
            m.Objects.Dereference(fo);
            IoStatusBlock.Status = NtStatus.STATUS_SUCCESS;
            IoStatusBlock.Information = 4;
            return NtStatus.STATUS_SUCCESS;
        }
        finally
        {
            SystemCall.Exit(t);
        }
    }
}
