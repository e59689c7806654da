"""Sweeps: a study's design points through the cost engine into a tidy, resumable results table."""

from hwsim.sweep.evaluate import engine_evaluator, workload_columns
from hwsim.sweep.io import read_table
from hwsim.sweep.runner import SweepResult, run_sweep
from hwsim.sweep.tasks import Task, plan

__all__ = ["SweepResult", "Task", "engine_evaluator", "plan", "read_table", "run_sweep", "workload_columns"]
