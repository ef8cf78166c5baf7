namespace IrpLab;

/// <summary>A completion packet: key, context (lpOverlapped), status and information.</summary>
internal readonly record struct CompletionPacket(nuint Key, object? Context, NtStatus Status, nuint Information);

/// <summary>
/// An I/O completion port (IoCompletion object over a KQUEUE). Packets are queued FIFO.
/// </summary>
internal sealed partial class CompletionPort : KernelObject
{
    private readonly Queue<CompletionPacket> _packets = new();

    internal override ObjectType Type => ObjectType.IoCompletion;

    internal int Count
    {
        get
        {
            lock (_packets)
            {
                return _packets.Count;
            }
        }
    }

    /// <summary>Queues the packet of a completed request (stage 2).</summary>
    internal void QueueIoPacket(nuint key, object? context, NtStatus status, nuint information)
    {
        lock (_packets)
        {
            _packets.Enqueue(new CompletionPacket(key, context, status, information));
        }
    }

    internal bool TryDequeue(out CompletionPacket packet)
    {
        lock (_packets)
        {
            return _packets.TryDequeue(out packet);
        }
    }
}
