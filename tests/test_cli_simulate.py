"""`hwsim simulate`: JSON shape and one-line errors with exit 2."""

import json

import pytest

from hwsim.cli import main


def run(capsys, *argv):
    rc = main(["simulate", *argv])
    out = capsys.readouterr()
    return rc, out.out, out.err


def test_gemm_json(capsys):
    rc, out, err = run(
        capsys, "--arch", "bitmod", "--gemm", "256,4096,4096", "--phase", "prefill", "--weights", "4.0625", "--json"
    )
    assert rc == 0 and err == ""
    doc = json.loads(out)
    assert set(doc) == {"arch", "totals", "bytes_by_level", "energy_j_by_part", "ops"} and doc["arch"] == "bitmod"
    assert set(doc["totals"]) == {"cycles", "compute_cycles", "memory_cycles", "seconds", "energy_j", "area_mm2"}
    op = doc["ops"][0]
    assert set(op) == {"name", "kind", "cycles", "compute_cycles", "memory_cycles", "seconds", "energy_j", "bound"}
    # ceil(4096/4)·ceil(4096/32)·ceil(256/32)·ceil(4/2) = 1024·128·8·2
    assert op["compute_cycles"] == 2_097_152 and op["bound"] == "compute"
    assert doc["totals"]["seconds"] == pytest.approx(op["cycles"] * 1e-9)


def test_model_only_attention_with_set(capsys):
    rc, out, _ = run(
        capsys,
        "--arch",
        "bitmod-ant",
        "--model",
        "llama-2-7b",
        "--phase",
        "decode",
        "--only",
        "attention",
        "--set",
        "compute.rows=64",
        "--set",
        "compute.cols=16",
        "--json",
    )
    doc = json.loads(out)
    assert rc == 0 and len(doc["ops"]) == 64 and {o["kind"] for o in doc["ops"]} == {"attention"}


def test_text_output(capsys):
    rc, out, _ = run(capsys, "--arch", "bitmod", "--gemm", "1,4096,4096", "--phase", "decode")
    assert rc == 0 and "total:" in out and "mm²" in out


def test_text_output_of_a_design_without_an_area(capsys):
    """An FPGA has no area (NaN: it reports utilisation): the totals and --explain lines said 'nan mm²'."""
    rc, out, _ = run(
        capsys, "--arch", "u280", "--gemm", "1,4096,4096", "--phase", "decode", "--weights", "int8", "--explain"
    )
    assert rc == 0 and "area n/a" in out and "engine total n/a" in out and "nan" not in out.lower()


@pytest.mark.parametrize(
    "argv, needle",
    [
        (["--arch", "bitmod", "--gemm", "1,4096", "--phase", "decode"], "--gemm: expected three positive integers"),
        (["--arch", "bitmod", "--gemm", "0,4,4", "--phase", "decode"], "--gemm: m must be a positive integer"),
        (["--arch", "bitmod", "--phase", "decode"], "give exactly one of --model or --gemm"),
        (
            ["--arch", "bitmod", "--gemm", "1,4,4", "--phase", "decode", "--set", "compute.rowz=3"],
            "archs/bitmod.yaml: compute.rowz: unknown field",
        ),
        (
            ["--arch", "bitmod", "--gemm", "1,4,4", "--phase", "decode", "--set", "clock=1 GB"],
            "clock: '1 GB' is not a frequency",
        ),
        (
            ["--arch", "bitmod", "--gemm", "1,4,4", "--phase", "decode", "--set", "rows"],
            "--set: expected dotted.key=value",
        ),
        (["--arch", "nope", "--gemm", "1,4,4", "--phase", "decode"], "unknown arch 'nope'"),
        (["--arch", "bitmod", "--gemm", "1,4,4", "--phase", "decode", "--weights", "zz9"], "--weights"),
    ],
)
def test_bad_input_one_line_exit_2(capsys, argv, needle):
    rc, out, err = run(capsys, *argv)
    assert rc == 2 and out == ""
    assert needle in err and err.count("\n") == 1 and "Traceback" not in err


def test_cycle_engine_from_the_cli_agrees_with_the_analytical_one(capsys):
    """--engine cycle gives the same JSON shape; on a large GEMM the engines agree within 5% (docs/cycle.md)."""
    argv = ["--arch", "tpu-like", "--gemm", "256,4096,4096", "--phase", "prefill", "--json"]
    rc, out, _ = run(capsys, *argv)
    rc_c, out_c, _ = run(capsys, *argv, "--engine", "cycle")
    analytical, cycle = json.loads(out)["totals"], json.loads(out_c)["totals"]
    assert rc == rc_c == 0 and set(cycle) == set(analytical)
    assert abs(cycle["cycles"] - analytical["cycles"]) / analytical["cycles"] < 0.05


def test_text_output_shows_family_point_totals(capsys):
    """FPGA designs report feasibility in the plain-text summary too, not only in --json."""
    assert (
        main(
            [
                "simulate",
                "--arch",
                "flightllm-u280",
                "--gemm",
                "1,4096,4096",
                "--phase",
                "decode",
                "--weights",
                "int4_g128",
                "--activations",
                "int8",
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "feasible: True" in out and "limiting_resource:" in out
