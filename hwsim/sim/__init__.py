"""Cycle-level building blocks the families' cycle models are made of (below the families; the
cycle engine, hwsim.cycle, sits above them): numba tile loops (tiles), simpy stage pipelines
(pipelines), and the shared op simulations and context (models)."""
