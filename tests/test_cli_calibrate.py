"""hwsim calibrate: the round trip on the shipped H100 kernel table, and one-line errors on bad input."""

from pathlib import Path

import pytest
import yaml

from hwsim.arch import load_arch
from hwsim.cli import main

KERNELS = Path(__file__).parents[1] / "hwsim" / "data" / "gpu" / "h100-sxm-kernels.csv"


def test_round_trip_reproduces_the_preset(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1767225600")  # 2026-01-01: the written bytes are reproducible
    out = tmp_path / "my-h100.yaml"
    assert (
        main(
            [
                "calibrate",
                "--arch",
                "h100-sxm",
                "--measurements",
                str(KERNELS),
                "--holdout-column",
                "split=held-out",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    text = capsys.readouterr().out
    assert "all held-out" in text and "fitted 8 field(s) on 28 of 48 rows" in text
    mine, preset = load_arch(out), load_arch("h100-sxm")
    assert mine.compute["compute_efficiency"] == pytest.approx(preset.compute["compute_efficiency"], rel=0.01)
    assert mine.compute["sms"] == preset.compute["sms"]  # datasheet fields stay
    raw = yaml.safe_load(out.read_text())
    assert (
        raw["compute"]["launch_overhead"]["source"]
        == "fitted on h100-sxm-kernels.csv (28 rows, 2026-01-01) by hwsim calibrate"
    )
    assert raw["compute"]["sms"]["source"].startswith("NVIDIA H100 whitepaper")
    first = out.read_bytes()
    main(
        [
            "calibrate",
            "--arch",
            "h100-sxm",
            "--measurements",
            str(KERNELS),
            "--holdout-column",
            "split=held-out",
            "--out",
            str(out),
        ]
    )
    assert out.read_bytes() == first


def _bad(tmp_path, capsys, text, *extra):
    f = tmp_path / "m.csv"
    f.write_text(text)
    code = main(
        ["calibrate", "--arch", "h100-sxm", "--measurements", str(f), "--out", str(tmp_path / "o.yaml"), *extra]
    )
    err = capsys.readouterr().err.strip()
    assert code == 2 and "\n" not in err and "m.csv" in err and "Traceback" not in err
    return err


@pytest.mark.parametrize(
    "text, column",
    [
        ("kind,M,N,K,dtype\ngemm,1,2,3,bf16\n", "seconds"),
        ("kind,M,N,K,dtype,seconds\ngemm,1,2,3,bf16,-1\n", "seconds"),
        ("kind,M,N,K,dtype,seconds\ngemm,1,2,3,bf16,0\n", "seconds"),
        ("kind,M,N,K,dtype,seconds\ngemm,1,2,3,int3,1e-5\n", "dtype"),
        ("kind,M,N,K,dtype,seconds\nconv,1,2,3,bf16,1e-5\n", "kind"),
        ("kind,M,N,K,dtype,seconds\nattn_decode,1,2,3,bf16,1e-5\n", "batch"),
        ("kind,M,N,K,dtype,seconds\ngemm,1,2,3,bf16,1e-5\ngemm,2,2,3,bf16,1e-5\n", "kind"),  # 2 rows, 3 params
    ],
)
def test_bad_measurements_one_line_exit_2(tmp_path, capsys, text, column):
    assert column in _bad(tmp_path, capsys, text)


def test_out_that_is_the_measurements_file_is_refused(tmp_path, capsys):
    """`--out` naming the measurements CSV (here through '..') replaced the measured times with a YAML preset: one
    line, exit 2, the CSV kept (`--out ''`, which said '.: cannot write: Device or resource busy', is refused by
    the parser: tests/test_cli_output_names.py)."""
    import shutil

    csv = tmp_path / "times.csv"
    shutil.copy(Path(__file__).parents[1] / "hwsim" / "data" / "gpu" / "h100-sxm-kernels.csv", csv)
    before = csv.read_bytes()
    out = tmp_path / "sub" / ".." / "times.csv"
    assert main(["calibrate", "--arch", "h100-sxm", "--measurements", str(csv), "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "--out" in err and "writing it would destroy it" in err, err
    assert csv.read_bytes() == before


def test_out_that_is_the_preset_it_starts_from_is_refused(tmp_path, capsys):
    """`--arch my.yaml --out my.yaml` replaced the preset with its calibrated copy (a second run then stacked
    '— calibrated' twice in its description): one line, exit 2, the preset kept."""
    import shutil

    data = Path(__file__).parents[1] / "hwsim"
    preset = tmp_path / "my-gpu.yaml"
    shutil.copy(data / "presets" / "archs" / "h100-sxm.yaml", preset)
    before = preset.read_bytes()
    csv = data / "data" / "gpu" / "h100-sxm-kernels.csv"
    argv = ["calibrate", "--arch", str(preset), "--measurements", str(csv), "--out", str(preset)]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and f"is the input {preset}: writing it would destroy it" in err, err
    assert preset.read_bytes() == before


def test_measurements_without_rows_are_refused(tmp_path, capsys):
    """A header-only CSV 'fitted 0 field(s) on 0 of 0 rows' and wrote the preset unchanged, labelled calibrated."""
    csv = tmp_path / "empty.csv"
    csv.write_text("kind,op,M,N,K,dtype,seconds\n")
    out = tmp_path / "x.yaml"
    argv = ["calibrate", "--arch", "h100-sxm", "--measurements", str(csv), "--out", str(out)]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "no measurement rows" in err, err
    assert not out.exists()
