"""Fuzzing the user-facing surface (issue 15): mutated arch presets, model configs, studies, result tables,
malformed files and CLI arguments, run in-process through `hwsim.cli.main`. Every case must either exit 0
with finite, non-negative totals, or exit 2 with exactly one line on stderr; never a traceback.

Cases are drawn from a seeded generator (same cases every run, no timing) so a failure names its case id.
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import random
import re
from pathlib import Path

import pytest
import yaml

from hwsim.cli import main
from hwsim.paths import packaged_dir, preset_names

SEED = 15
# odd values a user (or a typo) puts where a number belongs
BAD_NUMBERS = [
    ".nan",
    ".inf",
    "-.inf",
    "1e308",
    "1.0e308",
    "-1",
    "0",
    "-0.5",
    "0.5",
    "99999999999999999999",
    "1000000000000000000000000000000",
    "1.0e30",
    "abc",
    "''",
    "[]",
    "{}",
    "null",
    "true",
    "1e-320",
    "-99999999999999999999",
    "[1, 2]",
    "{value: .nan}",
    "'12 GHz'",
    "'-3 mm2'",
]
BAD_ARGS = [
    "nan",
    "inf",
    "-inf",
    "-1",
    "0",
    "1e308",
    "99999999999999999999",
    "",
    "abc",
    "0.5",
    "1,2,3",
    "-99999999999999999999",
    "1e-320",
    "99999999999",
    "2147483648",
    "x" * 300,
    "é",
    "1_0",
]

TINY_MODEL = {
    "name": "tiny",
    "model_type": "llama",
    "hidden_size": 64,
    "intermediate_size": 128,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "num_hidden_layers": 2,
    "vocab_size": 256,
    "max_position_embeddings": 512,
}
TINY_MOE = {**TINY_MODEL, "name": "tiny-moe", "model_type": "mixtral", "num_local_experts": 4, "num_experts_per_tok": 2}
TINY_STUDY = {
    "name": "fuzz",
    "architectures": [{"preset": "bitmod", "sweep": {"compute.rows": [16, 32], "compute.cols": [8, 16]}}],
    "workloads": [{"model": "MODEL", "phase": "decode", "batch": [1, 4], "context": 64}],
    "precisions": {"weights": ["int4_g128", "int8"]},
    "objectives": ["tokens_per_s:max", "area_mm2:min"],
    "outputs": {"plot": None},
}


def run_cli(argv: list[str]) -> tuple[int | None, str, str, str | None]:
    """(exit code, stdout, stderr, traceback text or None) of one in-process CLI call."""
    out, err = io.StringIO(), io.StringIO()
    crash = None
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(argv)
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 2
        except Exception as exc:  # noqa: BLE001 - exactly what the fuzz test looks for
            import traceback

            code, crash = None, "".join(traceback.format_exception_only(type(exc), exc)).strip()[:300]
    return code, out.getvalue(), err.getvalue(), crash


def _numbers(doc, path=""):
    if isinstance(doc, dict):
        for k, v in doc.items():
            yield from _numbers(v, f"{path}.{k}")
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            yield from _numbers(v, f"{path}[{i}]")
    elif isinstance(doc, (int, float)) and not isinstance(doc, bool):
        yield path, doc


def verdict(argv: list[str], totals_key: str | None = "totals") -> str | None:
    """None when the call behaved; else what went wrong."""
    code, out, err, crash = run_cli(argv)
    if crash:
        return f"traceback: {crash}"
    if code == 2:
        lines = err.strip().splitlines()
        if len(lines) != 1:
            return f"exit 2 with {len(lines)} stderr lines: {err[:300]!r}"
        if len(lines[0]) > 2000:
            return f"exit 2 with a {len(lines[0])}-character line"
        return None
    if code == 3 and argv[0] == "allocate":  # an infeasible budget: documented, one line
        return None if err.count("\n") == 1 else f"exit 3 with {err[:300]!r}"
    if code != 0:
        return f"exit {code}: {err[:300]!r}"
    if "--json" in argv and totals_key:
        doc = json.loads(out)
        totals = doc.get(totals_key) if isinstance(doc, dict) else None
        if totals is None:
            return None
        for path, value in _numbers(totals):
            if not math.isfinite(value) or value < 0:
                return f"exit 0 with {path} = {value}"
        # an FPGA has no silicon area of its own: area_mm2 is null there by design (utilisation instead)
        nulls = [k for k, v in totals.items() if v is None and not (k == "area_mm2" and "util_dsp" in totals)]
        if nulls:
            return f"exit 0 with NaN totals {nulls}"
        if argv[0] == "simulate" and not (totals["cycles"] > 0 and totals["energy_j"] > 0):  # work costs something
            return f"exit 0 with cycles {totals['cycles']}, energy {totals['energy_j']}"
    return None


# --- case generators ---------------------------------------------------------------------------------


def _leaves(node, path=()):
    """Paths of scalar leaves (a {value:, source:} constant counts as one leaf)."""
    if isinstance(node, dict):
        if "value" in node and not isinstance(node["value"], (dict, list)):
            yield path + ("value",)
            return
        for k, v in node.items():
            if k not in ("source", "name", "description", "family"):
                yield from _leaves(v, path + (k,))
    elif isinstance(node, (int, float, str)) and not isinstance(node, bool):
        yield path


def _set_at(tree, path, value):
    node = tree
    for p in path[:-1]:
        node = node[p]
    node[path[-1]] = value


def _mutated(data: dict, rng: random.Random, numeric_only: bool = True):
    leaves = [p for p in _leaves(data) if not numeric_only or _is_number(_get(data, p))]
    path = rng.choice(leaves)
    bad = yaml.safe_load(rng.choice(BAD_NUMBERS))
    tree = json.loads(json.dumps(data))
    _set_at(tree, path, bad)
    return tree, ".".join(map(str, path)), bad


def _get(tree, path):
    for p in path:
        tree = tree[p]
    return tree


def _is_number(v) -> bool:
    if isinstance(v, bool):
        return False
    if isinstance(v, (int, float)):
        return True
    return isinstance(v, str) and bool(re.match(r"^\s*[-+]?[\d.]", v))


def arch_cases(rng: random.Random, n: int):
    names = preset_names("archs")
    for i in range(n):
        name = names[i % len(names)]
        data = yaml.safe_load((packaged_dir("archs") / f"{name}.yaml").read_text())
        tree, where, bad = _mutated(data, rng)
        yield f"arch-{i}-{name}-{where}={bad!r}"[:120], ("arch", tree)


def model_cases(rng: random.Random, n: int):
    for i in range(n):
        base = TINY_MOE if i % 3 == 0 else TINY_MODEL
        tree, where, bad = _mutated(base, rng)
        yield f"model-{i}-{where}={bad!r}", ("model", tree)


def study_cases(rng: random.Random, n: int):
    mutations = [
        (
            "architectures.0.sweep.compute.rows",
            [
                [16.0, 32.0],
                [0, 16],
                [-16],
                [1e308],
                [".nan"],
                {"min": 16, "max": 64},
                {"min": 16, "max": 64, "num": 3},
                {"min": 1.5, "max": 3, "num": 2},
                [99999999999999999999],
                ["16 GHz"],
                [],
            ],
        ),
        ("workloads.0.batch", [[0], [-1], [1.5], [99999999999999999999], ["x"], [None], 1e308]),
        ("workloads.0.context", [-5, 1e308, 10**20, "abc", 100000]),
        ("objectives", [["tokens_per_s"], ["tokens_per_s:up"], ["nope:max"], [], "tokens_per_s:max"]),
        ("precisions.weights", [["int0"], ["0.5"], [0.5], ["int4_g0"], [""], [None]]),
        (
            "architectures.0.sweep.memory.dram.bandwidth",
            [["-1 bit/cycle"], ["nan bit/cycle"], ["1e308 bit/cycle"], [0]],
        ),
        ("outputs.chunk_size", [0, -1, 1.5, 10**30]),
    ]
    for i in range(n):
        where, values = mutations[i % len(mutations)]
        bad = rng.choice(values)
        tree = json.loads(json.dumps(TINY_STUDY))
        node = tree
        keys = where.split(".")
        for k in keys[:-1]:
            node = node[int(k)] if k.isdigit() else node.setdefault(k, {})
        node[keys[-1]] = bad
        yield f"study-{i}-{where}={bad!r}"[:120], ("study", tree)


CLI_TEMPLATES = [
    ["trace", "--model", "MODEL", "--phase", "decode", "--batch", "{}", "--json"],
    ["trace", "--model", "MODEL", "--phase", "prefill", "--seq", "{}", "--json"],
    ["trace", "--model", "MODEL", "--phase", "decode", "--context", "{}", "--json"],
    ["trace", "--model", "MODEL", "--phase", "decode", "--kv-bits", "{}", "--json"],
    ["trace", "--model", "{}", "--phase", "decode"],
    ["simulate", "--arch", "bitmod", "--gemm", "{},64,64", "--phase", "decode", "--json"],
    ["simulate", "--arch", "tpu-like", "--gemm", "16,{},64", "--phase", "prefill", "--json"],
    ["simulate", "--arch", "bitmod", "--model", "MODEL", "--phase", "decode", "--weights", "{}", "--json"],
    ["simulate", "--arch", "tpu-like", "--model", "MODEL", "--phase", "decode", "--activations", "{}", "--json"],
    ["simulate", "--arch", "bitmod", "--model", "MODEL", "--phase", "decode", "--kv", "{}", "--json"],
    ["simulate", "--arch", "bitmod", "--model", "MODEL", "--phase", "decode", "--set", "compute.rows={}", "--json"],
    ["simulate", "--arch", "bitmod", "--model", "MODEL", "--phase", "decode", "--set", "clock={}", "--json"],
    ["simulate", "--arch", "h100-sxm", "--model", "MODEL", "--phase", "decode", "--batch", "{}", "--json"],
    ["simulate", "--arch", "u280", "--gemm", "1,64,{}", "--phase", "decode", "--json"],
    ["simulate", "--arch", "lut-tensor-core", "--model", "MODEL", "--phase", "decode", "--weights", "{}", "--json"],
    ["simulate", "--arch", "{}", "--gemm", "1,64,64", "--phase", "decode"],
    ["roofline", "--arch", "h100-sxm", "--model", "MODEL", "--phase", "decode", "--batch", "{}", "--json"],
    ["roofline", "--arch", "bitmod", "--model", "MODEL", "--phase", "decode", "--weights", "{}", "--json"],
    [
        "allocate",
        "--arch",
        "bitmod",
        "--model",
        "MODEL",
        "--phase",
        "decode",
        "--formats",
        "int4_g128,int8",
        "--budget",
        "avg_bits={}",
        "--json",
    ],
    ["allocate", "--arch", "bitmod", "--model", "MODEL", "--phase", "decode", "--formats", "{}", "--json"],
    ["formats", "show", "{}"],
    ["formats", "compare", "--formats", "int4_g128,{}", "--tensor", "gaussian"],
    ["pareto", "RESULTS", "--objectives", "{}"],
    ["pareto", "RESULTS", "--objectives", "tokens_per_s:max,area_mm2:min", "--plot", "{}"],
    ["presets", "{}"],
    ["sweep", "STUDY", "--workers", "{}", "--out", "OUT"],
    ["sweep", "STUDY", "--executor", "dask", "--scheduler", "{}", "--out", "OUT"],
]


def cli_cases(rng: random.Random, n: int):
    for i in range(n):
        tpl = CLI_TEMPLATES[i % len(CLI_TEMPLATES)]
        bad = rng.choice(BAD_ARGS)
        yield f"cli-{i}-{tpl[0]}-{bad[:20]!r}", ("cli", [a.replace("{}", bad) for a in tpl])


def file_cases():
    deep_yaml = "a: " + "[" * 20000 + "]" * 20000 + "\n"
    deep_json = '{"a": ' + "[" * 20000 + "]" * 20000 + "}"
    bomb = "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, "
        f"*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}]\n"
        for i in range(8)
    )
    bodies = {
        "deep-yaml": deep_yaml.encode(),
        "deep-json": deep_json.encode(),
        "latin1": "name: caf\xe9\n".encode("latin-1"),
        "binary": bytes(range(256)),
        "empty": b"",
        "list": b"- 1\n- 2\n",
        "tab": b"a:\n\t- 1\n",
        "bomb": bomb.encode(),
    }
    for kind in ("arch", "model", "study", "results"):
        for label, body in bodies.items():
            yield f"file-{kind}-{label}", ("file", kind, label, body)
    # the alias bomb under a valid key of each kind of file
    bomb_under = (
        "x: &x ["
        + ", ".join(["y"] * 10)
        + "]\n"
        + "".join(f"x{i}: &x{i} [" + ", ".join([f"*x{'' if i == 0 else i - 1}"] * 10) + "]\n" for i in range(8))
    )
    yield (
        "file-study-bomb-under-key",
        ("file", "study", "bomb-key", (bomb_under + "name: *x7\narchitectures: [{preset: bitmod}]\n").encode()),
    )
    yield (
        "file-arch-bomb-under-key",
        ("file", "arch", "bomb-key", (bomb_under + "name: *x7\nfamily: bitserial\n").encode()),
    )
    yield (
        "file-model-bomb-under-key",
        ("file", "model", "bomb-key", (bomb_under + "model_type: llama\nhidden_size: *x7\n").encode()),
    )


def all_cases():
    rng = random.Random(SEED)
    cases = [*arch_cases(rng, 330), *model_cases(rng, 150), *study_cases(rng, 70), *cli_cases(rng, 270), *file_cases()]
    return cases


CASES = all_cases()
GROUPS = 8


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    root = tmp_path_factory.mktemp("fuzz")
    model = root / "tiny.yaml"
    model.write_text(yaml.safe_dump(TINY_MODEL))
    study = root / "study.yaml"
    study.write_text(yaml.safe_dump({**TINY_STUDY, "workloads": [{**TINY_STUDY["workloads"][0], "model": str(model)}]}))
    results = root / "results"
    code, _, err, crash = run_cli(["sweep", str(study), "--out", str(results), "--no-progress"])
    assert code == 0 and crash is None, err
    return {"root": root, "model": str(model), "study": str(study), "results": str(results)}


def run_case(case, env) -> str | None:
    root: Path = env["root"]
    kind = case[0]
    sub = root / f"c{abs(hash(repr(case))) % 10**9}"
    sub.mkdir(exist_ok=True)
    if kind == "arch":
        path = sub / "arch.yaml"
        path.write_text(yaml.safe_dump(case[1], allow_unicode=True))
        return verdict(["simulate", "--arch", str(path), "--gemm", "16,128,128", "--phase", "decode", "--json"])
    if kind == "model":
        path = sub / "model.yaml"
        path.write_text(yaml.safe_dump(case[1], allow_unicode=True))
        return verdict(["trace", "--model", str(path), "--phase", "decode", "--batch", "2", "--json"]) or verdict(
            ["simulate", "--arch", "bitmod", "--model", str(path), "--phase", "prefill", "--seq", "8", "--json"]
        )
    if kind == "study":
        tree = json.loads(json.dumps(case[1]).replace('"MODEL"', json.dumps(env["model"])))
        path = sub / "study.yaml"
        path.write_text(yaml.safe_dump(tree, allow_unicode=True))
        return verdict(["sweep", str(path), "--out", str(sub / "out"), "--no-progress", "--json"], None)
    if kind == "cli":
        argv = [
            a.replace("MODEL", env["model"])
            .replace("RESULTS", env["results"])
            .replace("STUDY", env["study"])
            .replace("OUT", str(sub / "out"))
            for a in case[1]
        ]
        return verdict(argv)
    _, what, label, body = case
    suffix = ".json" if "json" in label else (".parquet" if what == "results" and label == "binary" else ".yaml")
    path = sub / f"input{suffix}"
    if what == "results":
        path = sub / "input.csv"
    path.write_bytes(body)
    argv = {
        "arch": ["simulate", "--arch", str(path), "--gemm", "1,64,64", "--phase", "decode"],
        "model": ["trace", "--model", str(path), "--phase", "decode"],
        "study": ["sweep", str(path), "--out", str(sub / "out"), "--no-progress"],
        "results": ["pareto", str(path), "--objectives", "a:min,b:max"],
    }[what]
    return verdict(argv)


def test_enough_cases():
    assert len(CASES) >= 800


@pytest.mark.parametrize("group", range(GROUPS))
def test_fuzz(group, env):
    failures = []
    for i, (name, case) in enumerate(CASES):
        if i % GROUPS != group:
            continue
        problem = run_case(case, env)
        if problem:
            failures.append(f"{name}: {problem}")
    assert not failures, f"{len(failures)} failing cases:\n" + "\n".join(failures[:60])
