"""The CLI contract across every command (DESIGN.md): a user error prints ONE line on stderr naming the
file/field, exits 2, and never a traceback; --json prints one JSON document and nothing else on stdout."""

import json
import subprocess
import sys

import pytest

from hwsim.cli import main

BAD = [
    (["trace", "--model", "llama-2-7b", "--phase", "decode", "--batch", "x"], "--batch"),
    (["trace", "--model", "no-such-model", "--phase", "decode"], "unknown model"),
    (["simulate", "--arch", "bitmod", "--gemm", "1,2", "--phase", "decode"], "--gemm"),
    (
        ["simulate", "--arch", "bitmod", "--model", "llama-2-7b", "--phase", "decode", "--set", "compute.rowz=3"],
        "compute.rowz",
    ),
    (
        ["simulate", "--arch", "bitmod", "--model", "llama-2-7b", "--phase", "decode", "--weights", "int4_g12x"],
        "--weights",
    ),
    (["simulate", "--arch", "no-such-arch", "--gemm", "1,2,3", "--phase", "decode"], "unknown"),
    (
        [
            "roofline",
            "--arch",
            "h100-sxm",
            "--model",
            "llama-2-7b",
            "--phase",
            "decode",
            "--plot",
            "/proc/nonexistent/x.png",
        ],
        "--plot",
    ),
    (
        [
            "allocate",
            "--arch",
            "bitmod",
            "--model",
            "llama-2-7b",
            "--phase",
            "decode",
            "--formats",
            "int4_g128,int8",
            "--budget",
            "bogus=2",
        ],
        "--budget",
    ),
    (["sweep", "/nonexistent/study.yaml"], "no such file"),
    (["pareto", "/nonexistent/results.parquet", "--objectives", "a:min"], "nonexistent"),
    (["formats", "show", "not_a_format"], "not_a_format"),
    (["formats", "compare", "--formats", "int4", "--tensor", "/nonexistent.safetensors"], "no such file"),
]


@pytest.mark.parametrize("argv,needle", BAD, ids=[" ".join(a[:2]) + f"-{i}" for i, (a, _) in enumerate(BAD)])
def test_user_errors_one_line_exit_2(argv, needle, capsys):
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse's own errors
        code = exc.code
    err = capsys.readouterr().err
    assert code == 2
    assert len(err.strip().splitlines()) == 1, err
    assert needle in err and "Traceback" not in err


def test_unwritable_arch_yaml_and_wrong_unit(tmp_path, capsys):
    spec = tmp_path / "x.yaml"
    spec.write_text("name: x\nfamily: bitserial\nclock: {value: '1 GB', source: 'test'}\n")
    assert main(["simulate", "--arch", str(spec), "--gemm", "1,2,3", "--phase", "decode"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"hwsim simulate: error: {spec}: clock:") and "frequency" in err


@pytest.mark.parametrize(
    "argv",
    [
        ["trace", "--model", "llama-2-7b", "--phase", "decode", "--json"],
        ["simulate", "--arch", "bitmod", "--model", "llama-2-7b", "--phase", "decode", "--json"],
        ["roofline", "--arch", "h100-sxm", "--model", "llama-2-7b", "--phase", "decode", "--json"],
        ["formats", "show", "mxfp4", "--json"],
    ],
)
def test_json_is_the_only_stdout(argv, capsys):
    assert main(argv) == 0
    json.loads(capsys.readouterr().out)  # the whole of stdout parses as one document


def test_console_script_has_no_traceback_on_user_error():
    """Through a real process: nothing escapes as a traceback, the exit status is 2."""
    proc = subprocess.run(
        [sys.executable, "-m", "hwsim", "simulate", "--arch", "bitmod", "--phase", "decode", "--gemm", "0,1,1"],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2
    assert len(proc.stderr.strip().splitlines()) == 1 and "Traceback" not in proc.stderr


def test_binary_file_as_model_or_arch(tmp_path, capsys):
    blob = tmp_path / "model.safetensors"
    blob.write_bytes(b"\x00\x01\xff\xfe binary")
    for argv in (
        ["trace", "--model", str(blob), "--phase", "decode"],
        ["simulate", "--arch", str(blob), "--gemm", "1,1,1", "--phase", "decode"],
    ):
        assert main(argv) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and "not a text file" in err and "checkpoint" in err


@pytest.mark.parametrize(
    "argv, option",
    [
        (
            ["simulate", "--arch", "bitmod", "--model", "gpt-2", "--phase", "decode", "--weights", "int4_g128"],
            "--weights",
        ),
        (["pareto", "results", "--objectives", "seconds:min"], "--objectives"),
        (["serve", "--arch", "h100-sxm", "--model", "gpt-2", "--max-num-seqs", "8"], "--max-num-seqs"),
        (["sweep", "no-such-study.yaml", "--scheduler", "a"], "--scheduler"),  # without the check: nothing runs
    ],
)
def test_a_one_value_option_given_twice_is_refused(argv, option, capsys):
    """argparse kept the last value silently: `--weights int4_g128 ... --weights int8` costed int8. Refused at
    parse time (nothing runs), naming both values; the same value twice and repeatable options stay fine."""
    with pytest.raises(SystemExit) as info:
        main([*argv, option, "9" if option == "--max-num-seqs" else "other"])
    err = capsys.readouterr().err
    assert info.value.code == 2 and err.count("\n") == 1, err
    first = argv[argv.index(option) + 1]
    first, other = (8, 9) if option == "--max-num-seqs" else (first, "other")  # typed values as argparse holds them
    assert f"argument {option}: given twice ({first!r}, {other!r}): keep one" in err


def test_the_same_value_twice_and_repeatable_options_still_run(capsys):
    argv = ["simulate", "--arch", "bitmod", "--gemm", "1,64,64", "--phase", "decode", "--weights", "int8"]
    assert main([*argv, "--weights", "int8", "--set", "compute.rows=8", "--set", "compute.cols=8", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["totals"]["cycles"] > 0
