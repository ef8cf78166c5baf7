namespace IrpLab;

public static partial class Ntdll
{
    public const uint THREAD_TERMINATE = 0x0001;

    /// <summary>
    /// NtCancelIoFile: cancels the calling thread's requests on this handle's file object. STATUS_SUCCESS even if
    /// nothing was found. The requests then complete with STATUS_CANCELLED (ERROR_OPERATION_ABORTED).
    /// </summary>
    public static NtStatus NtCancelIoFile(Handle FileHandle, IoStatusBlock IoStatusBlock)
    {
        KThread t = SystemCall.Enter();
        try
        {
            NtStatus status = t.Machine.Objects.ReferenceByHandle(FileHandle, 0, ObjectType.File, t.PreviousMode, out KernelObject? obj, out _);
            if (status != NtStatus.STATUS_SUCCESS)
            {
                return status;
            }

            try
            {
                t.Machine.Io.CancelThreadFileIo(t, (FileObject)obj!, null);
                IoStatusBlock.Status = NtStatus.STATUS_SUCCESS;
                IoStatusBlock.Information = 0;
                return NtStatus.STATUS_SUCCESS;
            }
            finally
            {
                t.Machine.Objects.Dereference(obj!);
            }
        }
        finally
        {
            SystemCall.Exit(t);
        }
    }

    /// <summary>
    /// NtCancelIoFileEx: cancels the requests on this file object issued by any thread of the process — only the one
    /// whose status block is IoRequestToCancel when it is given. STATUS_NOT_FOUND when nothing matched. Does not wait.
    /// </summary>
    public static NtStatus NtCancelIoFileEx(Handle FileHandle, IoStatusBlock? IoRequestToCancel, IoStatusBlock IoStatusBlock)
    {
        KThread t = SystemCall.Enter();
        try
        {
            NtStatus status = t.Machine.Objects.ReferenceByHandle(FileHandle, 0, ObjectType.File, t.PreviousMode, out KernelObject? obj, out _);
            if (status != NtStatus.STATUS_SUCCESS)
            {
                return status;
            }

            try
            {
                var fo = (FileObject)obj!;
                int found = 0;

                // Thread by thread, as Windows does: I/O started meanwhile on another thread may escape.
                KThread? thread;
                for (int i = 0; (thread = t.Process.ThreadAt(i)) is not null; i++)
                {
                    found += t.Machine.Io.CancelThreadFileIo(thread, fo, IoRequestToCancel);
                }

                if (found == 0)
                {
                    return NtStatus.STATUS_NOT_FOUND;
                }

                IoStatusBlock.Status = NtStatus.STATUS_SUCCESS;
                IoStatusBlock.Information = 0;
                return NtStatus.STATUS_SUCCESS;
            }
            finally
            {
                t.Machine.Objects.Dereference(obj!);
            }
        }
        finally
        {
            SystemCall.Exit(t);
        }
    }

    /// <summary>
    /// NtCancelSynchronousIoFile: cancels the synchronous request the target thread is blocked in (a request on a
    /// synchronous file object, or a create). Needs THREAD_TERMINATE. STATUS_NOT_FOUND if it is not blocked in one.
    /// UNCONFIRMED beyond MS Learn which requests qualify; we take those two kinds (see CancelScope.Synchronous).
    /// </summary>
    public static NtStatus NtCancelSynchronousIoFile(Handle ThreadHandle, IoStatusBlock? IoRequestToCancel, IoStatusBlock IoStatusBlock)
    {
        KThread t = SystemCall.Enter();
        try
        {
            NtStatus status = t.Machine.Objects.ReferenceByHandle(ThreadHandle, THREAD_TERMINATE, ObjectType.Thread, t.PreviousMode, out KernelObject? obj, out _);
            if (status != NtStatus.STATUS_SUCCESS)
            {
                return status;
            }

            try
            {
                var target = (KThread)obj!;
                int found = t.Machine.Io.CancelThreadIrps(target, CancelScope.Synchronous, null, IoRequestToCancel);
                if (found == 0)
                {
                    return NtStatus.STATUS_NOT_FOUND;
                }

                IoStatusBlock.Status = NtStatus.STATUS_SUCCESS;
                return NtStatus.STATUS_SUCCESS;
            }
            finally
            {
                t.Machine.Objects.Dereference(obj!);
            }
        }
        finally
        {
            SystemCall.Exit(t);
        }
    }
}
