"""Serving-level answers from the analytical engine: generation of one request, request streams
served by an iteration-level scheduler, multi-device parallelism, speculative decoding (docs/serving.md)."""

from hwsim.serve.generate import Generation, generate
from hwsim.serve.stepcost import Cost, StepCost

__all__ = ["Cost", "Generation", "StepCost", "generate"]
