namespace IrpLab;

/// <summary>
/// NTSTATUS values with their Windows names and values (ntstatus.h). Severity lives in bits 31-30:
/// 0 success, 1 informational, 2 warning, 3 error. A warning is neither NT_SUCCESS nor NT_ERROR.
/// Driver-private codes (customer bit 0x20000000 set) are written as casts: <c>(NtStatus)0xE0000001</c>.
/// </summary>
public enum NtStatus
{
    STATUS_SUCCESS = 0x00000000,
    STATUS_WAIT_0 = 0x00000000,
    STATUS_WAIT_1 = 0x00000001,
    STATUS_WAIT_2 = 0x00000002,
    STATUS_WAIT_3 = 0x00000003,
    STATUS_WAIT_63 = 0x0000003F,
    STATUS_ABANDONED = 0x00000080,
    STATUS_ABANDONED_WAIT_0 = 0x00000080,
    STATUS_ABANDONED_WAIT_63 = 0x000000BF,
    STATUS_USER_APC = 0x000000C0,
    STATUS_KERNEL_APC = 0x00000100,
    STATUS_ALERTED = 0x00000101,
    STATUS_TIMEOUT = 0x00000102,
    STATUS_PENDING = 0x00000103,
    STATUS_REPARSE = 0x00000104,
    STATUS_CONTINUE_COMPLETION = 0x00000000,
    STATUS_OBJECT_NAME_EXISTS = 0x40000000,

    STATUS_BUFFER_OVERFLOW = unchecked((int)0x80000005),
    STATUS_NO_MORE_FILES = unchecked((int)0x80000006),
    STATUS_HANDLES_CLOSED = unchecked((int)0x8000000A),
    STATUS_DEVICE_BUSY = unchecked((int)0x80000011),
    STATUS_VERIFY_REQUIRED = unchecked((int)0x80000016),
    STATUS_NO_MORE_ENTRIES = unchecked((int)0x8000001A),

    STATUS_UNSUCCESSFUL = unchecked((int)0xC0000001),
    STATUS_NOT_IMPLEMENTED = unchecked((int)0xC0000002),
    STATUS_INVALID_INFO_CLASS = unchecked((int)0xC0000003),
    STATUS_INFO_LENGTH_MISMATCH = unchecked((int)0xC0000004),
    STATUS_ACCESS_VIOLATION = unchecked((int)0xC0000005),
    STATUS_INVALID_HANDLE = unchecked((int)0xC0000008),
    STATUS_INVALID_PARAMETER = unchecked((int)0xC000000D),
    STATUS_NO_SUCH_DEVICE = unchecked((int)0xC000000E),
    STATUS_INVALID_DEVICE_REQUEST = unchecked((int)0xC0000010),
    STATUS_END_OF_FILE = unchecked((int)0xC0000011),
    STATUS_MORE_PROCESSING_REQUIRED = unchecked((int)0xC0000016),
    STATUS_NO_MEMORY = unchecked((int)0xC0000017),
    STATUS_ACCESS_DENIED = unchecked((int)0xC0000022),
    STATUS_BUFFER_TOO_SMALL = unchecked((int)0xC0000023),
    STATUS_OBJECT_TYPE_MISMATCH = unchecked((int)0xC0000024),
    STATUS_INVALID_PARAMETER_MIX = unchecked((int)0xC0000030),
    STATUS_OBJECT_NAME_INVALID = unchecked((int)0xC0000033),
    STATUS_OBJECT_NAME_NOT_FOUND = unchecked((int)0xC0000034),
    STATUS_OBJECT_NAME_COLLISION = unchecked((int)0xC0000035),
    STATUS_OBJECT_PATH_NOT_FOUND = unchecked((int)0xC000003A),
    STATUS_SHARING_VIOLATION = unchecked((int)0xC0000043),
    STATUS_MUTANT_NOT_OWNED = unchecked((int)0xC0000046),
    STATUS_SEMAPHORE_LIMIT_EXCEEDED = unchecked((int)0xC0000047),
    STATUS_THREAD_IS_TERMINATING = unchecked((int)0xC000004B),
    STATUS_DELETE_PENDING = unchecked((int)0xC0000056),
    STATUS_INTEGER_DIVIDE_BY_ZERO = unchecked((int)0xC0000094),
    STATUS_INTEGER_OVERFLOW = unchecked((int)0xC0000095),
    STATUS_INSUFFICIENT_RESOURCES = unchecked((int)0xC000009A),
    STATUS_DEVICE_NOT_CONNECTED = unchecked((int)0xC000009D),
    STATUS_DEVICE_NOT_READY = unchecked((int)0xC00000A3),
    STATUS_IO_TIMEOUT = unchecked((int)0xC00000B5),
    STATUS_NOT_SUPPORTED = unchecked((int)0xC00000BB),
    STATUS_DEVICE_DOES_NOT_EXIST = unchecked((int)0xC00000C0),
    STATUS_INVALID_USER_BUFFER = unchecked((int)0xC00000E8),
    STATUS_CANCELLED = unchecked((int)0xC0000120),
    STATUS_FILE_CLOSED = unchecked((int)0xC0000128),
    STATUS_PIPE_BROKEN = unchecked((int)0xC000014B),
    STATUS_INVALID_DEVICE_STATE = unchecked((int)0xC0000184),
    STATUS_IO_DEVICE_ERROR = unchecked((int)0xC0000185),
    STATUS_INVALID_BUFFER_SIZE = unchecked((int)0xC0000206),
    STATUS_NOT_FOUND = unchecked((int)0xC0000225),
    STATUS_DEVICE_REMOVED = unchecked((int)0xC00002B6),
    STATUS_CLR_EXCEPTION = unchecked((int)0xE0434352),
}

/// <summary>The NT_SUCCESS family of macros (ntdef.h).</summary>
public static class NtStatusClass
{
    public static bool IsSuccess(NtStatus status) => (int)status >= 0;

    public static bool IsInformation(NtStatus status) => ((uint)status >> 30) == 1;

    public static bool IsWarning(NtStatus status) => ((uint)status >> 30) == 2;

    public static bool IsError(NtStatus status) => ((uint)status >> 30) == 3;

    /// <summary>The status as Windows prints it: its name when it has one, else 0xXXXXXXXX.</summary>
    public static string Format(NtStatus status)
    {
        string hex = "0x" + ((uint)status).ToString("X8", System.Globalization.CultureInfo.InvariantCulture);
        // 0 has three names (STATUS_SUCCESS, STATUS_WAIT_0, STATUS_CONTINUE_COMPLETION); Enum.ToString picks any of them.
        return status == NtStatus.STATUS_SUCCESS ? "STATUS_SUCCESS (" + hex + ")"
            : Enum.IsDefined(status) ? status + " (" + hex + ")" : hex;
    }
}
