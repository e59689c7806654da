"""Library errors name library parameters; the CLI names the options that set them (issue 12).

The same mistake made through the library and through the CLI: the library's message names the parameter
(its field, and any parameter it mentions as `name`), the CLI's names the option, on one line, exit 2.
A scan of hwsim/ keeps option names out of library errors.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from hwsim.accuracy.llm import checked_window, read_config
from hwsim.arch import load_arch, parse_overrides
from hwsim.core.ops import gemm_ops
from hwsim.errors import HwsimError
from hwsim.plotting import check_plot_path
from hwsim.serve.links import link_for
from hwsim.serve.requests import poisson_requests
from hwsim.serve.shard import Parallel
from hwsim.sweep.executors import check_executor
from test_bad_inputs import one_line_exit_2

TINY_LLAMA = Path(__file__).parent / "data" / "tiny_llm" / "llama"
SERVE = ["serve", "--model", "llama-3-8b", "--rate", "1", "--num-requests", "2"]


CASES = [
    (
        lambda: parse_overrides(["rows"]),
        "overrides: expected dotted.key=value",
        ["simulate", "--arch", "bitmod", "--gemm", "1,4,4", "--phase", "decode", "--set", "rows"],
        "--set: expected dotted.key=value",
    ),
    (
        lambda: gemm_ops([("gemm", 0, 4, 4)]),
        "shapes: m must be a positive integer",
        ["simulate", "--arch", "bitmod", "--gemm", "0,4,4", "--phase", "decode"],
        "--gemm: m must be a positive integer",
    ),
    (
        lambda: Parallel(tp=2, ep=4).validate(),
        "ep: expert parallelism runs over the tensor-parallel group: `ep` must be 1 or `tp` (2), got 4",
        [*SERVE, "--arch", "h100-sxm", "--tp", "2", "--ep", "4"],
        "--ep: expert parallelism runs over the tensor-parallel group: --ep must be 1 or --tp (2), got 4",
    ),
    (
        lambda: link_for(load_arch("bitmod"), None),
        "link: bitmod names no link between devices: give `link` (",
        [*SERVE, "--arch", "bitmod", "--tp", "2"],
        "--link: bitmod names no link between devices: give --link (",
    ),
    (
        lambda: poisson_requests(rate=0, num=2),
        "rate: must be a positive number of requests per second",
        ["serve", "--arch", "h100-sxm", "--model", "llama-3-8b", "--rate", "0"],
        "--rate: must be a positive number of requests per second",
    ),
    (
        lambda: check_executor(0, "local", None),
        "workers: must be an integer in 1..",
        ["sweep", "quickstart", "--workers", "0"],
        "--workers: must be an integer in 1..",
    ),
    (
        lambda: check_executor(1, "local", "tcp://127.0.0.1:8786"),
        "scheduler: `scheduler` applies to `executor` dask only",
        ["sweep", "quickstart", "--scheduler", "tcp://127.0.0.1:8786"],
        "--scheduler: --scheduler applies to --executor dask only",
    ),
    (
        lambda: checked_window(read_config(TINY_LLAMA), -4, None),
        "max_tokens: must be an integer ≥ 2, got -4",
        [
            "allocate",
            "--arch",
            "bitmod",
            "--phase",
            "decode",
            "--context",
            "8",
            "--formats",
            "int4_g128,int8_pc",
            "--budget",
            "avg_bits=5",
            "--checkpoint",
            str(TINY_LLAMA),
            "--text",
            str(TINY_LLAMA.parent / "text.txt"),
            "--max-tokens",
            "-4",
        ],
        "--max-tokens: must be an integer ≥ 2, got -4",
    ),
    (
        lambda: check_plot_path("front.jpg"),
        "front.jpg: path: plot file must end in .png, .pdf or .svg",
        ["roofline", "--arch", "bitmod", "--model", "llama-2-7b", "--phase", "decode", "--plot", "front.jpg"],
        "front.jpg: --plot: plot file must end in .png, .pdf or .svg",
    ),
]


@pytest.mark.parametrize("call, library, argv, cli", CASES, ids=[c[2][0] + f"-{i}" for i, c in enumerate(CASES)])
def test_library_names_parameters_cli_names_options(call, library, argv, cli, capsys):
    with pytest.raises(HwsimError) as exc:
        call()
    assert library in str(exc.value)
    assert "--" not in str(exc.value)
    one_line_exit_2(capsys, argv, cli)


def test_a_library_function_named_in_a_message_becomes_the_command():
    """formats compare: a method that needs activations points to the decoder-checkpoint path, by its
    library function in Python and by its command on the command line."""
    from hwsim.accuracy.compare import compare

    with pytest.raises(HwsimError, match=re.escape("use `source` minilm (or `hwsim.accuracy.llm.evaluate` for")):
        compare(["int8"], "gaussian", method="gptq")


def test_cli_names_the_command_for_a_library_function(capsys):
    one_line_exit_2(
        capsys,
        ["formats", "compare", "--formats", "int8", "--tensor", "gaussian", "--method", "gptq"],
        "use --tensor minilm (or hwsim accuracy --model DIR for a decoder checkpoint)",
    )


def test_renamed_maps_mentions_and_keeps_unmapped_ones():
    err = HwsimError("give `kv_blocks` or more `memory`", file="a.yaml", field="kv_blocks")
    cli = err.renamed({"kv_blocks": "--kv-blocks"})
    assert str(cli) == "a.yaml: --kv-blocks: give --kv-blocks or more `memory`"
    assert cli.file == "a.yaml" and cli.field == "--kv-blocks"
    only_mention = HwsimError("use `tp`", field="model").renamed({"tp": "--tp"})
    assert str(only_mention) == "model: use --tp"
    untouched = HwsimError("no `x` here", field="y")
    assert untouched.renamed({"tp": "--tp"}) is untouched


ROOT = Path(__file__).resolve().parents[1] / "hwsim"
OPTION = re.compile(r"(?:^|[\s(`/])(--[a-z][\w-]*)")
FOREIGN = {"--local-dir"}  # other tools' options a message quotes (huggingface-cli download … --local-dir)


def _strings(node: ast.AST):
    for sub in ast.walk(node):
        if isinstance(sub, ast.Constant) and isinstance(sub.value, str):
            yield sub.value


def test_no_library_error_names_a_command_line_option():
    """Every HwsimError raised in hwsim/ outside hwsim/cli/: no '--option' in its message or field (the CLI
    maps parameters to options); another tool's command a message quotes is allowed (FOREIGN)."""
    bad = []
    for path in sorted(ROOT.rglob("*.py")):
        if "cli" in path.relative_to(ROOT).parts[:1]:
            continue
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Call) and getattr(node.func, "id", getattr(node.func, "attr", "")) == "HwsimError":
                bad += [
                    f"{path.relative_to(ROOT.parent)}:{node.lineno}: {s!r}"
                    for s in _strings(node)
                    if set(OPTION.findall(s)) - FOREIGN
                ]
    assert not bad, "library errors naming CLI options:\n" + "\n".join(bad)
