using System.Globalization;

namespace IrpLab.Hardware;

/// <summary>
/// A small programmable device on a simulated machine: a bank of 32-bit registers a driver reads and writes with
/// READ_REGISTER_ULONG / WRITE_REGISTER_ULONG, an operation that takes virtual time, and an interrupt line.
/// <para>
/// Programming model (byte offsets): the driver writes an input to <see cref="DataRegister"/>, sets
/// <see cref="ControlStart"/> (with <see cref="ControlInterruptEnable"/>) in <see cref="ControlRegister"/>; the device
/// is busy for <see cref="OperationTime"/> (or the microseconds in <see cref="DurationRegister"/>), then sets
/// <see cref="ResultRegister"/> to the bitwise complement of the input, counts the operation in
/// <see cref="CountRegister"/>, sets <see cref="StatusDone"/> and, if interrupts are enabled, asserts its line. The
/// ISR acknowledges by writing <see cref="StatusDone"/> to <see cref="StatusRegister"/> (write one to clear), which
/// drops a level-sensitive line. Starting while busy is ignored and counted in <see cref="Overruns"/>.
/// </para>
/// The operation's completion is a timer in the machine's timer queue, so in deterministic mode it happens in
/// virtual time when every thread waits, and the interrupt is then delivered by the machine's interrupt thread.
/// Register state is guarded by the machine's dispatcher lock (completion runs under it).
/// </summary>
public sealed class SimulatedDevice : IInterruptLine
{
    public const int ControlRegister = 0x00;
    public const int StatusRegister = 0x04;
    public const int DataRegister = 0x08;
    public const int ResultRegister = 0x0C;
    public const int CountRegister = 0x10;
    public const int DurationRegister = 0x14;

    /// <summary>Control: start an operation (reads back as 0).</summary>
    public const uint ControlStart = 0x1;

    /// <summary>Control: assert the interrupt line when an operation completes.</summary>
    public const uint ControlInterruptEnable = 0x2;

    /// <summary>Status: an operation is in progress.</summary>
    public const uint StatusBusy = 0x1;

    /// <summary>Status: an operation completed and has not been acknowledged (write 1 to clear).</summary>
    public const uint StatusDone = 0x2;

    private const int RegisterCount = 6;

    private readonly Machine _machine;
    private readonly uint[] _registers = new uint[RegisterCount];
    private readonly CompletionTimer _completion;
    private long _overruns;

    /// <param name="machine">The machine the device is plugged into.</param>
    /// <param name="name">A name for traces.</param>
    /// <param name="vector">The interrupt vector the device signals.</param>
    /// <param name="mode">Latched (an edge per completion) or level-sensitive (asserted until acknowledged).</param>
    /// <param name="operationTime">How long an operation takes, in 100 ns units (default 1 ms).</param>
    public SimulatedDevice(Machine machine, string name, uint vector, KInterruptMode mode = KInterruptMode.Latched, long operationTime = 10_000)
    {
        ArgumentNullException.ThrowIfNull(machine);
        ArgumentException.ThrowIfNullOrEmpty(name);
        ArgumentOutOfRangeException.ThrowIfNegative(operationTime);
        _machine = machine;
        Name = name;
        Vector = vector;
        InterruptMode = mode;
        OperationTime = operationTime;
        _completion = new CompletionTimer(this);
        machine.Interrupts.AddLine(this);
    }

    public string Name { get; }

    public uint Vector { get; }

    public KInterruptMode InterruptMode { get; }

    /// <summary>How long an operation takes when <see cref="DurationRegister"/> is 0, in 100 ns units.</summary>
    public long OperationTime { get; }

    /// <summary>The register bank's base address, for READ_REGISTER_ULONG(Registers + offset).</summary>
    public DeviceRegister Registers => new(this, 0);

    /// <summary>Operations completed (the COUNT register).</summary>
    public uint OperationsCompleted
    {
        get
        {
            lock (_machine.Dispatcher.SyncRoot)
            {
                return _registers[CountRegister / 4];
            }
        }
    }

    /// <summary>Starts requested while the device was busy (and ignored).</summary>
    public long Overruns => Interlocked.Read(ref _overruns);

    /// <summary>Interrupts the device raised.</summary>
    public long InterruptsRaised { get; private set; }

    bool IInterruptLine.IsAsserted
        => InterruptMode == KInterruptMode.LevelSensitive
            && (_registers[StatusRegister / 4] & StatusDone) != 0
            && (_registers[ControlRegister / 4] & ControlInterruptEnable) != 0;

    /// <summary>
    /// The hardware side of a test: the device signals an interrupt now, as if an event happened (sets
    /// <see cref="StatusDone"/>; a level-sensitive line stays asserted until acknowledged).
    /// </summary>
    public void RaiseInterrupt()
    {
        lock (_machine.Dispatcher.SyncRoot)
        {
            _registers[StatusRegister / 4] |= StatusDone;
            InterruptsRaised++;
        }

        _machine.Interrupts.Assert(Vector);
    }

    internal uint Read(int offset)
    {
        int index = Index(offset);
        lock (_machine.Dispatcher.SyncRoot)
        {
            return index == ControlRegister / 4 ? _registers[index] & ~ControlStart : _registers[index];
        }
    }

    internal void Write(int offset, uint value)
    {
        int index = Index(offset);
        lock (_machine.Dispatcher.SyncRoot)
        {
            switch (offset)
            {
                case StatusRegister:
                    // Write one to clear: acknowledging DONE drops a level-sensitive line.
                    _registers[index] &= ~(value & StatusDone);
                    return;
                case ResultRegister:
                case CountRegister:
                    return;
                case ControlRegister:
                    _registers[index] = value & ControlInterruptEnable;
                    if ((value & ControlStart) != 0)
                    {
                        Start();
                    }

                    return;
                default:
                    _registers[index] = value;
                    return;
            }
        }
    }

    /// <summary>Starts an operation (dispatcher lock held).</summary>
    private void Start()
    {
        ref uint status = ref _registers[StatusRegister / 4];
        if ((status & StatusBusy) != 0)
        {
            Interlocked.Increment(ref _overruns);
            return;
        }

        status |= StatusBusy;
        uint micros = _registers[DurationRegister / 4];
        long duration = micros != 0 ? micros * 10L : OperationTime;
        long due = _machine.Clock.InterruptTime + duration;
        _machine.Dispatcher.Timers.Arm(_completion, due);
        _machine.Scheduler.TimerArmed(due);
    }

    /// <summary>The operation finished (dispatcher lock held, in the scheduler or the clock thread).</summary>
    private void Complete()
    {
        ref uint status = ref _registers[StatusRegister / 4];
        status = (status & ~StatusBusy) | StatusDone;
        _registers[ResultRegister / 4] = ~_registers[DataRegister / 4];
        _registers[CountRegister / 4]++;
        if ((_registers[ControlRegister / 4] & ControlInterruptEnable) != 0)
        {
            InterruptsRaised++;
            _machine.Interrupts.Assert(Vector);
        }
    }

    private static int Index(int offset)
    {
        if (offset < 0 || offset >= RegisterCount * 4 || (offset & 3) != 0)
        {
            throw new ArgumentOutOfRangeException(nameof(offset), offset,
                "Not a register of this device (registers are 32-bit, at offsets 0x00 to 0x14).");
        }

        return offset / 4;
    }

    public override string ToString() => string.Create(CultureInfo.InvariantCulture, $"device {Name} (vector {Vector})");

    private sealed class CompletionTimer : TimerEntry
    {
        private readonly SimulatedDevice _device;

        public CompletionTimer(SimulatedDevice device)
        {
            _device = device;
        }

        internal override void Expire(KernelDispatcher dispatcher) => _device.Complete();

        internal override string Describe() => "operation of " + _device;
    }
}

/// <summary>A register address of a simulated device: what a driver's PULONG register pointer is in C.</summary>
public readonly record struct DeviceRegister(SimulatedDevice Device, int Offset)
{
    public static DeviceRegister operator +(DeviceRegister register, int offset) => register.Add(offset);

    /// <summary>The register <paramref name="offset"/> bytes further on.</summary>
    public DeviceRegister Add(int offset) => new(Device, Offset + offset);

    public override string ToString() => string.Create(CultureInfo.InvariantCulture, $"{Device.Name}+0x{Offset:X2}");
}
