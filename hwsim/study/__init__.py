"""Studies: the YAML description of a design space, validated, and its expansion into design points."""

from hwsim.study.params import Param
from hwsim.study.samplers import design_points, n_points
from hwsim.study.schema import (
    Accuracy,
    Constraint,
    Design,
    Outputs,
    PrecisionChoice,
    Recheck,
    Sampler,
    Study,
    Workload,
    load_study,
    parse_study,
)

__all__ = [
    "Accuracy",
    "Constraint",
    "Design",
    "Outputs",
    "Param",
    "PrecisionChoice",
    "Recheck",
    "Sampler",
    "Study",
    "Workload",
    "design_points",
    "load_study",
    "n_points",
    "parse_study",
]
