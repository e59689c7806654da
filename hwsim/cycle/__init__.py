"""The cycle-level engine (docs/cycle.md)."""
