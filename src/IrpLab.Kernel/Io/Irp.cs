namespace IrpLab;

/// <summary>IRP: an I/O request packet (fields and stack locations in the Io facets of this type).</summary>
public sealed partial class Irp : KernelObject
{
    internal override ObjectType Type => ObjectType.Device;
}
