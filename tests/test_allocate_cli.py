"""`hwsim allocate` end to end on a tiny model: JSON contract, budgets with units, exit codes."""

import json

import pytest
from test_allocate_model import tiny_config

from hwsim.cli import main

BASE = ["allocate", "--arch", "bitmod", "--phase", "decode", "--formats", "int3_g128,int4_g128,int8"]


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    return tiny_config(tmp_path_factory.mktemp("cli"))


def run(capsys, *args):
    code = main(list(args))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_json_contract_and_budget(model, capsys):
    code, out, err = run(capsys, *BASE, "--model", model, "--budget", "avg_bits=4.5", "--json")
    assert code == 0 and err == ""
    doc = json.loads(out)
    assert list(doc) == ["status", "objective", "assignment", "totals"]  # wall time only under --timing
    assert doc["status"] == "optimal" and set(doc["totals"]) == {
        "avg_bits",
        "memory_bytes",
        "seconds",
        "energy_j",
        "error",
    }
    assert len(doc["assignment"]) == 14 and set(doc["assignment"].values()) <= {"int3_g128", "int4_g128", "int8"}
    assert doc["totals"]["avg_bits"] <= 4.5 and doc["objective"] == doc["totals"]["error"]
    assert "int8" in doc["assignment"].values()  # 4.5 bits leaves room to raise some ops above int4


def test_latency_objective_with_error_budget_and_units(model, capsys):
    code, out, _ = run(
        capsys,
        *BASE,
        "--model",
        model,
        "--objective",
        "seconds",
        "--budget",
        "error=1.0",
        "--budget",
        "seconds=1 s",
        "--granularity",
        "layer",
        "--json",
    )
    doc = json.loads(out)
    assert code == 0 and doc["totals"]["error"] <= 1.0 and doc["objective"] == doc["totals"]["seconds"]
    by_layer = {k.split(".")[1]: set() for k in doc["assignment"]}
    for k, f in doc["assignment"].items():
        by_layer[k.split(".")[1]].add(f)
    assert all(len(v) == 1 for v in by_layer.values())  # one format per layer


def test_infeasible_budget_exits_3_with_tightest_value(model, capsys):
    code, out, err = run(capsys, *BASE, "--model", model, "--budget", "avg_bits=2", "--json")
    assert code == 3
    assert err.count("\n") == 1 and "avg_bits=2 is infeasible: the tightest feasible avg_bits is 3.125" in err
    assert json.loads(out) == {
        "status": "infeasible",
        "message": err.split("infeasible: ", 1)[1].strip(),
        "tightest": {"avg_bits": 3.125},
    }


@pytest.mark.parametrize(
    "args, message",
    [
        (["--budget", "latency=3"], "--budget: expected KEY=VALUE with KEY one of"),
        (["--budget", "seconds=3 GHz"], "--budget seconds"),
        (["--formats", "int4_g128,int9x"], "formats: unknown or invalid format 'int9x'"),
        (["--frontier", "avg_bits:0"], "--frontier: N must be an integer in 1..1,000"),
        # no upper bound ran 100,000 CBC solves (past 2 minutes); 1001 is the first refused
        (["--frontier", "avg_bits:1001"], "--frontier: N must be an integer in 1..1,000"),
        # the budget on the swept key was dropped silently
        (["--frontier", "avg_bits:3", "--budget", "avg_bits=4"], "--budget: a budget on avg_bits and a frontier"),
        # an empty name between commas was dropped silently
        (["--formats", "int4_g128,,int8"], "--formats: an empty format name"),
        (["--formats", "int4_g128,int8,"], "--formats: an empty format name"),
        (["--kv-formats", "fp16,,int8"], "--kv-formats: an empty format name"),
        (["--group", "qkv=q_proj,,v_proj"], "--group: an empty role name"),
        (["--checkpoint", "/nonexistent/folder"], "/nonexistent/folder: no such file or folder"),
    ],
)
def test_user_errors_are_one_line_exit_2(model, capsys, args, message):
    base = BASE[:-2] if "--formats" in args else BASE  # one value an option (a second --formats is refused)
    code, out, err = run(capsys, *base, "--model", model, *args)
    assert code == 2 and out == "" and err.count("\n") == 1 and message in err


def test_frontier_points_are_bounded_in_the_library(model):
    from hwsim.allocate import build_problem, resolve_trace
    from hwsim.allocate.frontier import MAX_POINTS, frontier
    from hwsim.arch import load_arch
    from hwsim.errors import HwsimError

    problem = build_problem(load_arch("bitmod"), resolve_trace(model, "decode"), ["int4_g128", "int8"])
    for bad in (0, MAX_POINTS + 1, 2.5, True):
        with pytest.raises(HwsimError, match="points: must be an integer in 1..1,000"):
            frontier(problem, "avg_bits", "error", bad)


def test_frontier_json(model, capsys):
    code, out, _ = run(capsys, *BASE, "--model", model, "--frontier", "avg_bits:4", "--json")
    doc = json.loads(out)
    assert code == 0 and doc["sweep"] == "avg_bits"
    kinds = [p["kind"] for p in doc["points"]]
    assert kinds == ["mixed"] * 4 + ["uniform"] * 3
    errs = [p["error"] for p in doc["points"][:4]]
    assert errs == sorted(errs, reverse=True)


def test_lut_arch_without_fixed_weights_names_that_option(model, capsys):
    """T-MAC cannot run fp16 weights; the user never gave --weights, so the error must name --fixed-weights."""
    args = ["allocate", "--arch", "tmac-m2-ultra", "--model", model, "--phase", "decode", "--formats", "int4_g128"]
    code, out, err = run(capsys, *args)
    assert code == 2 and out == "" and err.count("\n") == 1
    assert "--fixed-weights: " in err and "'fp16'" in err and "--weights" not in err
    assert "give integer weights (e.g. int4_g128" in err  # what is allowed
    code, out, err = run(capsys, *args[:-1], "fp16,int4_g128", "--fixed-weights", "int8")
    assert code == 2 and "--formats: " in err and "drop it from --formats" in err
    code, out, err = run(capsys, *args, "--fixed-weights", "int8", "--json")
    assert code == 0 and err == "" and json.loads(out)["status"] == "optimal"


def test_same_inputs_same_bytes(model, capsys):
    """The project's rule "the same study gives the same bytes": `--json` carried `solve_seconds` (CBC's wall
    time), so two runs of one command differed (Llama-2-7B on bitmod, decode, avg_bits=4: 0.195 s, then another
    value). Wall time now appears only under --timing, for a single solve, a frontier and the text report."""
    for extra in (["--json"], [], ["--frontier", "avg_bits:3", "--json"], ["--frontier", "avg_bits:3"]):
        args = [*BASE, "--model", model, "--budget", "seconds=1 s", *extra]
        if "--frontier" not in extra:
            args += ["--budget", "avg_bits=4.5"]
        first, second = run(capsys, *args), run(capsys, *args)
        assert first == second and first[0] == 0 and first[2] == "", extra
        assert "solve_seconds" not in first[1] and "solved in" not in first[1]
    code, out, _ = run(capsys, *BASE, "--model", model, "--budget", "avg_bits=4.5", "--json", "--timing")
    doc = json.loads(out)
    assert code == 0 and list(doc) == ["status", "objective", "solve_seconds", "assignment", "totals"]
    assert 0 < doc["solve_seconds"] < 60
    code, out, _ = run(capsys, *BASE, "--model", model, "--frontier", "avg_bits:2", "--json", "--timing")
    points = json.loads(out)["points"]
    assert code == 0 and all(p["solve_seconds"] > 0 for p in points if p["kind"] == "mixed")
    code, out, _ = run(capsys, *BASE, "--model", model, "--budget", "avg_bits=4.5", "--timing")
    assert code == 0 and "solved in" in out


def test_frontier_text_has_no_nan(model, capsys):
    """The text table printed NaN as the format of every mixed point (and for an infeasible point's totals)."""
    code, out, _ = run(capsys, *BASE, "--model", model, "--frontier", "avg_bits:3")
    lines = out.splitlines()
    assert code == 0 and "nan" not in out.lower() and len(lines) == 1 + 3 + 3, out
    assert all(line.split()[:2] == ["mixed", "-"] for line in lines[1:4]), out
