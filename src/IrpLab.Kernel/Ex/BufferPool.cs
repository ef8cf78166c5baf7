namespace IrpLab;

/// <summary>
/// System buffers of buffered I/O, pooled by exact length so that a steady stream of same-sized requests
/// allocates nothing. A recycled buffer is not cleared: as on Windows, bytes beyond what the I/O manager copied in
/// are whatever was there before, and a driver must not return them.
/// </summary>
internal sealed class BufferPool
{
    private const int MaxPerSize = 64;
    private readonly Lock _lock = new();
    private readonly Dictionary<int, Stack<byte[]>> _free = [];

    public byte[] Rent(int length)
    {
        // The common case, a thread reusing the buffer it just returned, takes no lock.
        if (KThread.CurrentOrNull is KThread t && t.CachedBuffer is byte[] cached && cached.Length == length)
        {
            t.CachedBuffer = null;
            return cached;
        }

        lock (_lock)
        {
            if (_free.TryGetValue(length, out Stack<byte[]>? stack) && stack.Count > 0)
            {
                return stack.Pop();
            }
        }

        return new byte[length];
    }

    public void Return(byte[] buffer)
    {
        if (KThread.CurrentOrNull is KThread t && t.CachedBuffer is null)
        {
            t.CachedBuffer = buffer;
            return;
        }

        lock (_lock)
        {
            if (!_free.TryGetValue(buffer.Length, out Stack<byte[]>? stack))
            {
                stack = new Stack<byte[]>();
                _free.Add(buffer.Length, stack);
            }

            if (stack.Count < MaxPerSize)
            {
                stack.Push(buffer);
            }
        }
    }
}
