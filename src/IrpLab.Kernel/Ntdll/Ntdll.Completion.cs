namespace IrpLab;

/// <summary>FILE_IO_COMPLETION_INFORMATION: what NtRemoveIoCompletionEx returns per packet.</summary>
public struct FileIoCompletionInformation
{
    public nuint KeyContext;

    public object? ApcContext;

    public NtStatus Status;

    public nuint Information;
}

/// <summary>The information classes of NtSetInformationFile and NtQueryInformationFile the model supports.</summary>
public enum FileInformationClass
{
    FileModeInformation = 16,
    FileCompletionInformation = 30,
    FileIoCompletionNotificationInformation = 41,
}

public static partial class Ntdll
{
    public const uint IO_COMPLETION_ALL_ACCESS = 0x1F0003;
    public const uint IO_COMPLETION_MODIFY_STATE = 0x0002;

    public const uint FILE_SKIP_COMPLETION_PORT_ON_SUCCESS = 0x1;
    public const uint FILE_SKIP_SET_EVENT_ON_HANDLE = 0x2;
    public const uint FILE_SKIP_SET_USER_EVENT_ON_FAST_IO = 0x4;

    /// <summary>NtCreateIoCompletion: a port whose concurrency value is Count (0 = the number of processors).</summary>
    public static NtStatus NtCreateIoCompletion(out Handle IoCompletionHandle, uint DesiredAccess, string? Name, uint Count)
    {
        KThread t = SystemCall.Enter();
        try
        {
            Machine m = t.Machine;
            var port = new CompletionPort(Count == 0 ? m.Options.Processors : (int)Count);
            if (Name is not null)
            {
                NtStatus status = m.Objects.Insert("\\BaseNamedObjects\\" + Name, port);
                if (status != NtStatus.STATUS_SUCCESS)
                {
                    IoCompletionHandle = default;
                    return status;
                }
            }

            IoCompletionHandle = m.Objects.CreateHandle(t.Process, port, DesiredAccess == 0 ? IO_COMPLETION_ALL_ACCESS : DesiredAccess);
            return NtStatus.STATUS_SUCCESS;
        }
        finally
        {
            SystemCall.Exit(t);
        }
    }

    /// <summary>NtSetIoCompletion: queues a packet (PostQueuedCompletionStatus). The values are not validated.</summary>
    public static NtStatus NtSetIoCompletion(Handle IoCompletionHandle, nuint KeyContext, object? ApcContext, NtStatus IoStatus, nuint IoStatusInformation)
    {
        KThread t = SystemCall.Enter();
        try
        {
            NtStatus status = ReferencePort(t, IoCompletionHandle, IO_COMPLETION_MODIFY_STATE, out CompletionPort? port);
            if (status != NtStatus.STATUS_SUCCESS)
            {
                return status;
            }

            KernelDispatcher d = t.Machine.Dispatcher;
            lock (d.SyncRoot)
            {
                port!.Insert(d, new CompletionPacket(KeyContext, ApcContext, IoStatus, IoStatusInformation));
            }

            t.Machine.Objects.Dereference(port!);
            t.Machine.Scheduler.Yield(t, Scheduling.SchedulingPointKind.Signal);
            return NtStatus.STATUS_SUCCESS;
        }
        finally
        {
            SystemCall.Exit(t);
        }
    }

    /// <summary>
    /// NtRemoveIoCompletion: dequeues a packet, waiting up to Timeout (null = infinite). STATUS_SUCCESS with the
    /// packet; STATUS_TIMEOUT; STATUS_ABANDONED when the port was closed.
    /// </summary>
    public static NtStatus NtRemoveIoCompletion(Handle IoCompletionHandle, out nuint KeyContext, out object? ApcContext, IoStatusBlock IoStatusBlock, long? Timeout)
    {
        KThread t = SystemCall.Enter();
        try
        {
            KeyContext = 0;
            ApcContext = null;
            NtStatus status = ReferencePort(t, IoCompletionHandle, IO_COMPLETION_MODIFY_STATE, out CompletionPort? port);
            if (status != NtStatus.STATUS_SUCCESS)
            {
                return status;
            }

            try
            {
                status = t.Machine.Dispatcher.RemovePortPacket(t, port!, false, Timeout, out CompletionPacket packet);
                if (status == NtStatus.STATUS_THREAD_IS_TERMINATING)
                {
                    throw new ThreadTerminatedException(status);
                }

                if (status == NtStatus.STATUS_SUCCESS)
                {
                    KeyContext = packet.Key;
                    ApcContext = packet.Context;
                    IoStatusBlock.Status = packet.Status;
                    IoStatusBlock.Information = packet.Information;
                }

                return status;
            }
            finally
            {
                t.Machine.Objects.Dereference(port!);
            }
        }
        finally
        {
            SystemCall.Exit(t);
        }
    }

    /// <summary>
    /// NtRemoveIoCompletionEx: dequeues up to Count packets at once. STATUS_SUCCESS with at least one;
    /// STATUS_TIMEOUT; STATUS_USER_APC when alertable and user APCs ran; STATUS_ABANDONED when the port was closed.
    /// </summary>
    public static NtStatus NtRemoveIoCompletionEx(Handle IoCompletionHandle, FileIoCompletionInformation[] IoCompletionInformation, uint Count, out uint NumEntriesRemoved, long? Timeout, bool Alertable)
    {
        ArgumentNullException.ThrowIfNull(IoCompletionInformation);
        KThread t = SystemCall.Enter();
        try
        {
            NumEntriesRemoved = 0;
            if (Count == 0 || Count > IoCompletionInformation.Length)
            {
                return NtStatus.STATUS_INVALID_PARAMETER;
            }

            NtStatus status = ReferencePort(t, IoCompletionHandle, IO_COMPLETION_MODIFY_STATE, out CompletionPort? port);
            if (status != NtStatus.STATUS_SUCCESS)
            {
                return status;
            }

            try
            {
                status = t.Machine.Dispatcher.RemovePortPacket(t, port!, Alertable, Timeout, out CompletionPacket first);
                if (status == NtStatus.STATUS_USER_APC)
                {
                    t.Machine.Apcs.DeliverUserApcs(t);
                    return status;
                }

                if (status == NtStatus.STATUS_THREAD_IS_TERMINATING)
                {
                    throw new ThreadTerminatedException(status);
                }

                if (status != NtStatus.STATUS_SUCCESS)
                {
                    return status;
                }

                Set(ref IoCompletionInformation[0], first);
                uint n = 1;
                if (Count > 1)
                {
                    CompletionPacket[] more = t.PortScratch is { } scratch && scratch.Length >= Count - 1 ? scratch : (t.PortScratch = new CompletionPacket[Count - 1]);
                    int taken;
                    lock (t.Machine.Dispatcher.SyncRoot)
                    {
                        taken = port!.TakeMore(more, (int)Count - 1);
                    }

                    for (int i = 0; i < taken; i++)
                    {
                        Set(ref IoCompletionInformation[n++], more[i]);
                    }
                }

                NumEntriesRemoved = n;
                return NtStatus.STATUS_SUCCESS;
            }
            finally
            {
                t.Machine.Objects.Dereference(port!);
            }
        }
        finally
        {
            SystemCall.Exit(t);
        }

        static void Set(ref FileIoCompletionInformation entry, in CompletionPacket packet)
        {
            entry.KeyContext = packet.Key;
            entry.ApcContext = packet.Context;
            entry.Status = packet.Status;
            entry.Information = packet.Information;
        }
    }

    /// <summary>
    /// NtSetInformationFile for FileCompletionInformation (associate the file object with a port and key: rejected
    /// for a synchronous file object or one already associated) and FileIoCompletionNotificationInformation
    /// (FILE_SKIP_* modes, which can only be added).
    /// </summary>
    public static NtStatus NtSetInformationFile(Handle FileHandle, IoStatusBlock IoStatusBlock, FileInformationClass FileInformationClass, Handle Port, nuint Key, uint Flags)
    {
        KThread t = SystemCall.Enter();
        try
        {
            Machine m = t.Machine;
            NtStatus status = m.Objects.ReferenceByHandle(FileHandle, 0, ObjectType.File, t.PreviousMode, out KernelObject? obj, out _);
            if (status != NtStatus.STATUS_SUCCESS)
            {
                return status;
            }

            var fo = (FileObject)obj!;
            try
            {
                switch (FileInformationClass)
                {
                    case FileInformationClass.FileCompletionInformation:
                    {
                        if (fo.IsSynchronous || fo.CompletionPort is not null)
                        {
                            return NtStatus.STATUS_INVALID_PARAMETER;
                        }

                        status = ReferencePort(t, Port, IO_COMPLETION_MODIFY_STATE, out CompletionPort? port);
                        if (status != NtStatus.STATUS_SUCCESS)
                        {
                            return status;
                        }

                        // The association keeps its reference on the port until the file object goes away.
                        fo.CompletionPort = port;
                        fo.CompletionKey = Key;
                        break;
                    }

                    case FileInformationClass.FileIoCompletionNotificationInformation:
                        if ((Flags & ~(FILE_SKIP_COMPLETION_PORT_ON_SUCCESS | FILE_SKIP_SET_EVENT_ON_HANDLE | FILE_SKIP_SET_USER_EVENT_ON_FAST_IO)) != 0)
                        {
                            return NtStatus.STATUS_INVALID_PARAMETER;
                        }

                        if ((Flags & FILE_SKIP_COMPLETION_PORT_ON_SUCCESS) != 0)
                        {
                            fo.Flags |= FileObject.FO_SKIP_COMPLETION_PORT;
                        }

                        if ((Flags & FILE_SKIP_SET_EVENT_ON_HANDLE) != 0)
                        {
                            fo.Flags |= FileObject.FO_SKIP_SET_EVENT;
                        }

                        if ((Flags & FILE_SKIP_SET_USER_EVENT_ON_FAST_IO) != 0)
                        {
                            fo.Flags |= FileObject.FO_SKIP_SET_FAST_IO;
                        }

                        break;
                    default:
                        return NtStatus.STATUS_INVALID_INFO_CLASS;
                }

                IoStatusBlock.Status = NtStatus.STATUS_SUCCESS;
                IoStatusBlock.Information = 0;
                return NtStatus.STATUS_SUCCESS;
            }
            finally
            {
                m.Objects.Dereference(fo);
            }
        }
        finally
        {
            SystemCall.Exit(t);
        }
    }

    private static NtStatus ReferencePort(KThread t, Handle handle, uint access, out CompletionPort? port)
    {
        NtStatus status = t.Machine.Objects.ReferenceByHandle(handle, access, ObjectType.IoCompletion, t.PreviousMode, out KernelObject? obj, out _);
        port = obj as CompletionPort;
        return status;
    }
}
