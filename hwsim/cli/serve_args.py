"""Options shared by `hwsim generate` and `hwsim serve`: the machine, the model and the precision."""
from __future__ import annotations

import argparse

from hwsim.arch import load_arch, parse_overrides
from hwsim.engine import Precision
from hwsim.workload import load_model


def add_machine_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--arch", required=True, help="preset name (archs/) or a YAML path")
    p.add_argument("--model", required=True,
                   help="preset name (workloads/), a YAML preset, an HF config.json or a checkpoint folder")
    p.add_argument("--weights", default="fp16", help="weight format name or bits (default fp16)")
    p.add_argument("--activations", default="fp16", help="activation format name or bits (default fp16)")
    p.add_argument("--kv", default="fp16", help="KV-cache format name or bits (default fp16)")
    p.add_argument("--set", action="append", default=[], metavar="dotted.key=value",
                   help="override a field of the arch spec (repeatable)")
    p.add_argument("--json", action="store_true", help="print one JSON document")


def machine_from_args(args: argparse.Namespace):
    """(arch, model, precision) from the shared options; HwsimError on bad input."""
    arch = load_arch(args.arch, parse_overrides(args.set))
    model = load_model(args.model)
    prec = Precision(weights=args.weights, activations=args.activations, kv=args.kv)
    return arch, model, prec
