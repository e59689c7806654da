"""hwsim formats: list number formats, show one, compare several on a tensor source."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from hwsim.cli.output import emit_json, records

if TYPE_CHECKING:  # hwsim.formats is imported by the subcommand that needs it
    from hwsim.formats import Format

HELP = "list number formats, show one format's grid, or compare formats' error on a tensor source"
EXAMPLES = ("hwsim formats list", "hwsim formats compare --formats int4_g128,nf4_g64,mxfp4 --tensor llm-weights")

# grids longer than this are summarised in the text view (the JSON always carries every value)
_SHOW_MAX = 64

# compare's parameter, and the library function a message points to → what sets them here
FLAGS = {
    "source": "--tensor",
    "tensor": "--tensor",
    "formats": "--formats",
    "seed": "--seed",
    "act_format": "--activations",
    "kv_format": "--kv",
    "method": "--method",
    "hwsim.accuracy.llm.evaluate": "hwsim accuracy --model DIR",
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", required=True, metavar="list|show|compare")
    p = sub.add_parser("list", help="canonical format names with bits per element and family")
    p.add_argument("--json", action="store_true", help="one JSON document on stdout")
    p = sub.add_parser("show", help="one format: attributes and sorted value grid")
    p.add_argument("name", help="a format name, e.g. int4_g128, fp8_e4m3, mxfp4, nf4_g64")
    p.add_argument("--json", action="store_true", help="one JSON document on stdout")
    p = sub.add_parser("compare", help="quantization error of several formats on one tensor source")
    p.add_argument("--formats", required=True, help="comma-separated format names, e.g. int8_pc,int4_g128,nf4_g64")
    p.add_argument(
        "--tensor",
        required=True,
        metavar="SOURCE",
        help="gaussian | student-t | llm-weights | llm-activations | minilm | PATH.safetensors[:TENSOR]",
    )
    p.add_argument("--seed", type=int, default=0, help="seed of synthetic tensors and stochastic rounding (default 0)")
    p.add_argument(
        "--activations",
        metavar="FORMAT",
        help="minilm only: also quantize every linear layer's input (int8_pc: per token)",
    )
    p.add_argument("--kv", metavar="FORMAT", help="minilm only: also quantize keys and values per token and head")
    p.add_argument(
        "--method",
        default="rtn",
        metavar="M",
        help="minilm only: rtn (default), gptq, awq, smoothquant, rotate, or '+'-joined, e.g. rotate+gptq",
    )
    p.add_argument("--json", action="store_true", help="one JSON document on stdout")


def _attributes(fmt: Format) -> dict:
    return {
        "name": fmt.name,
        "family": fmt.family,
        "bits_per_element": float(fmt.bits_per_element),
        "element_bits": int(fmt.element_bits),
        "exponent_bits": int(fmt.exponent_bits),
        "mantissa_bits": int(fmt.mantissa_bits),
        "signed": bool(fmt.signed),
        "is_float": bool(fmt.is_float),
        "group_size": fmt.group_size,
        "scale_bits": int(fmt.scale_bits),
        "scale_format": None if fmt.scale_format is None else fmt.scale_format.name,
    }


def _list(args: argparse.Namespace) -> int:
    from hwsim.formats import get_format, list_formats

    rows = [
        {k: v for k, v in _attributes(get_format(n)).items() if k in ("name", "bits_per_element", "family")}
        for n in list_formats()
    ]
    if args.json:
        emit_json(rows)
        return 0
    print(f"{'name':<18} {'bits/elem':>9}  family")
    for r in rows:
        print(f"{r['name']:<18} {r['bits_per_element']:>9.4g}  {r['family']}")
    return 0


def _show(args: argparse.Namespace) -> int:
    from hwsim.formats import get_format

    fmt = get_format(args.name)
    grid = fmt.values()
    doc = {**_attributes(fmt), "values": None if grid is None else [float(v) for v in grid]}
    if args.json:
        emit_json(doc)
        return 0
    for key, value in doc.items():
        if key != "values":
            print(f"{key:>16}: {value}")
    if grid is None:
        print(f"{'values':>16}: (not enumerated)")
    elif grid.size <= _SHOW_MAX:
        print(f"{'values':>16}: {' '.join(f'{v:g}' for v in grid)}")
    else:
        head = " ".join(f"{v:g}" for v in grid[:4])
        tail = " ".join(f"{v:g}" for v in grid[-4:])
        print(f"{'values':>16}: {grid.size} values: {head} … {tail}  (--json lists all)")
    return 0


def _compare(args: argparse.Namespace) -> int:
    from hwsim.accuracy.compare import compare

    df = compare(
        args.formats, args.tensor, args.seed, act_format=args.activations, method=args.method, kv_format=args.kv
    )
    if args.json:
        emit_json(records(df))
        return 0
    import pandas as pd

    with pd.option_context("display.width", 200, "display.float_format", "{:.6g}".format):
        print(df.to_string(index=False))
    return 0


def run(args: argparse.Namespace) -> int:
    return {"list": _list, "show": _show, "compare": _compare}[args.action](args)
