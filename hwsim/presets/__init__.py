"""Shipped presets (package data): archs/ (accelerator specs), workloads/ (model presets), studies/ (sweeps).
Looked up by name through hwsim.paths."""
