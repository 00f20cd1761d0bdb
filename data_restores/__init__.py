"""Record restores (contract section 10): bring rows of chosen tables back to a data backup point.

This package holds the pure core: `plan` (what each row needs), `counts` (the COUNTS shape),
`schema` (the target's metadata a plan reads) and `apply_order` (the conditional writes, batched,
in an order that never writes a child before its parent). Design: docs/record-restore.md.
"""
