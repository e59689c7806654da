"""Workloads: model configurations and the op traces they execute."""

from hwsim.workload.checkpoint import checkpoint_tensors
from hwsim.workload.config import ModelConfig, from_hf_dict, load_model
from hwsim.workload.trace import PHASES, Trace, trace

__all__ = ["ModelConfig", "Trace", "PHASES", "checkpoint_tensors", "from_hf_dict", "load_model", "trace"]
