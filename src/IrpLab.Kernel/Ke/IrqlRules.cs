namespace IrpLab;

/// <summary>IRQL rules of the DDIs that must be called at exactly DISPATCH_LEVEL (§10.1 "= DISPATCH_LEVEL").</summary>
internal static class IrqlRules
{
    /// <summary>
    /// Above DISPATCH_LEVEL is fatal with or without the verifier (as <see cref="KernelChecks.RequireIrql"/>). Below
    /// it only Driver Verifier objects (0xC4 / 0xE5): a free build of Windows does not check, and the routine works.
    /// </summary>
    public static void RequireDispatchLevel(KThread t, string routine)
    {
        KernelChecks.RequireIrql(t, IrqlLevel.Dispatch, routine);
        if (t.Irql < IrqlLevel.Dispatch && t.Machine.Verifies(t))
        {
            throw t.Machine.RaiseBugCheck(BugCheckCatalogue.DRIVER_VERIFIER_DETECTED_VIOLATION, KernelChecks.VerifierGenericIrql, t.Irql, IrqlLevel.Dispatch, 0,
                $"{routine} was called at {IrqlLevel.Name(t.Irql)}; it must be called at DISPATCH_LEVEL (raise with KeRaiseIrql or hold a spin lock).");
        }
    }
}
