"""`hwsim formats list | show | compare` through hwsim.cli.main, text and JSON, and bad input."""

import json

import numpy as np
import pytest
from safetensors.numpy import save_file

from hwsim.cli import main


def _json(capsys, argv):
    assert main(argv) == 0
    return json.loads(capsys.readouterr().out)


def test_list_json_has_canonical_names(capsys):
    rows = _json(capsys, ["formats", "list", "--json"])
    by = {r["name"]: r for r in rows}
    assert by["int4_g128"]["bits_per_element"] == 4.125 and by["int4_g128"]["family"] == "int"
    assert by["mxfp4"]["bits_per_element"] == 4.25 and by["mxfp4"]["family"] == "mx"
    assert by["bitmod_fp4_g128"]["bits_per_element"] == 4.0625
    assert set(rows[0]) == {"name", "bits_per_element", "family"}


def test_list_text(capsys):
    assert main(["formats", "list"]) == 0
    out = capsys.readouterr().out
    assert "nf4_g64" in out and "4.25" in out


def test_show_json_e2m1_grid(capsys):
    doc = _json(capsys, ["formats", "show", "fp4_e2m1", "--json"])
    # OCP MX v1.0 FP4 E2M1 positive values {0, 0.5, 1, 1.5, 2, 3, 4, 6} (REFERENCES.md)
    assert doc["values"] == sorted({s * v for s in (-1, 1) for v in (0, 0.5, 1, 1.5, 2, 3, 4, 6)})
    assert doc["name"] == "fp4_e2m1" and doc["bits_per_element"] == 4.0 and doc["exponent_bits"] == 2


def test_show_text_summarises_long_grids(capsys):
    assert main(["formats", "show", "fp8_e4m3"]) == 0
    out = capsys.readouterr().out
    assert "253 values" in out and "448" in out  # E4M3: 2·126 finite non-zero + 0; max 448


def test_compare_json_rows(capsys):
    rows = _json(
        capsys,
        ["formats", "compare", "--formats", "int8_pc,int4_g128", "--tensor", "gaussian", "--seed", "3", "--json"],
    )
    assert [r["format"] for r in rows] == ["int8_pc", "int4_g128"]
    assert rows[0]["mse"] < rows[1]["mse"] and rows[0]["sqnr_db"] > rows[1]["sqnr_db"]
    assert {"format", "bits_per_element", "mse", "sqnr_db", "max_abs_err"} <= set(rows[0])


def test_compare_text_and_safetensors_tensor(capsys, tmp_path):
    f = tmp_path / "w.safetensors"
    save_file({"w": np.random.default_rng(0).normal(size=(4, 128)).astype(np.float32)}, str(f))
    assert main(["formats", "compare", "--formats", "nf4_g64", "--tensor", f"{f}:w"]) == 0
    assert "nf4_g64" in capsys.readouterr().out


@pytest.mark.parametrize(
    "argv, needle",
    [
        (["formats", "show", "int4_q128"], "int4_q128"),
        (["formats", "compare", "--formats", "nf9", "--tensor", "gaussian"], "nf9"),
        (["formats", "compare", "--formats", "int8", "--tensor", "/no/such.safetensors"], "no such file"),
        (["formats", "compare", "--formats", "int8", "--tensor", "TMP:missing"], "no tensor named 'missing'"),
        (["formats", "compare", "--formats", "int8", "--tensor", "gaussian", "--seed", "-1"], "seed"),
        (["formats", "compare", "--formats", "int8", "--tensor", "gaussian", "--seed", "x"], "--seed"),
        (["formats", "frobnicate"], "invalid choice"),
        # the option the user gave is the one named (a KV format was reported as act_format)
        (["formats", "compare", "--formats", "int8", "--tensor", "gaussian", "--kv", "int4_pc"], "--kv: a KV format"),
        (
            ["formats", "compare", "--formats", "int8", "--tensor", "gaussian", "--activations", "int8"],
            "--activations:",
        ),
        (["formats", "compare", "--formats", "int8", "--tensor", "gaussian", "--method", "gptq"], "--method: method"),
    ],
)
def test_bad_input_one_line_exit_2(capsys, tmp_path, argv, needle):
    f = tmp_path / "t.safetensors"
    save_file({"w": np.ones((2, 2), np.float32)}, str(f))
    try:  # HwsimError returns 2; argparse errors exit 2 through SystemExit
        rc = main([a.replace("TMP", str(f)) for a in argv])
    except SystemExit as exc:
        rc = exc.code
    cap = capsys.readouterr()
    assert rc == 2 and cap.out == ""
    lines = cap.err.strip().splitlines()
    assert len(lines) == 1 and needle in lines[0] and "Traceback" not in cap.err
