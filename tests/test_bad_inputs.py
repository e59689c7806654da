"""The bad inputs issue 15 found, one test each: one line on stderr, exit 2, never a traceback, never a
plausible-looking number (tests/test_fuzz.py drives hundreds of mutations of the same kinds)."""

import json
import os
from pathlib import Path

import pytest
import yaml

from hwsim.cli import main
from hwsim.errors import HwsimError
from hwsim.paths import packaged_dir

TINY = {
    "name": "tiny",
    "model_type": "mixtral",
    "hidden_size": 64,
    "intermediate_size": 128,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "num_hidden_layers": 2,
    "vocab_size": 256,
    "num_local_experts": 4,
    "num_experts_per_tok": 2,
    "max_position_embeddings": 512,
}


def one_line_exit_2(capsys, argv, needle):
    try:
        code = main(argv)
    except SystemExit as exc:
        code = exc.code
    err = capsys.readouterr().err
    assert code == 2, err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    assert needle in err, err
    return err


@pytest.mark.parametrize(
    "setting, needle",
    [
        ("clock=.nan", "finite"),
        ("clock=1e308", "out of range"),
        ("clock=1e-320", "out of range"),
        ("compute.rows=.nan", "expected an integer"),
        ("compute.rows=.inf", "expected an integer"),
        ("compute.rows=1e308", "expected an integer"),
        ("compute.rows=99999999999999999999", "at most"),
        ("compute.pe_area=1e308 um2", "out of range"),
        ("memory.dram.energy=.nan", "finite"),
    ],
)
def test_non_finite_and_huge_arch_fields(capsys, setting, needle):
    one_line_exit_2(
        capsys, ["simulate", "--arch", "bitmod", "--gemm", "1,64,64", "--phase", "decode", "--set", setting], needle
    )


@pytest.mark.parametrize("command", ["trace", "simulate", "roofline", "allocate"])
@pytest.mark.parametrize("option, value, needle", [("--batch", "0", "positive"), ("--context", "-1", "non-negative")])
def test_workload_errors_name_the_option(command, option, value, needle, capsys):
    """trace()'s parameters are named as the option that sets them in every command taking a workload (they read
    'batch:' and 'context:', the library's names)."""
    machine = {"trace": [], "roofline": ["--arch", "h100-sxm"]}.get(command, ["--arch", "bitmod"])
    extra = ["--formats", "int4_g128,int8", "--budget", "avg_bits=6"] if command == "allocate" else []
    argv = [command, *machine, "--model", "llama-2-7b", "--phase", "decode", option, value, *extra]
    err = one_line_exit_2(capsys, argv, f"{option}: must be a {needle}")
    assert err.startswith(f"hwsim {command}: error: {option}:")


@pytest.mark.parametrize(
    "argv, needle",
    [
        (
            ["trace", "--model", "llama-2-7b", "--phase", "decode", "--batch", "99999999999999999999"],
            "--batch: must be at most",
        ),
        (
            ["trace", "--model", "llama-2-7b", "--phase", "decode", "--batch", "2147483647", "--context", "2147483647"],
            "too large to count",
        ),
        (
            ["simulate", "--arch", "bitmod", "--gemm", "99999999999,99999999999,99999999999", "--phase", "decode"],
            "--gemm: too large to count",
        ),
        (["trace", "--model", "llama-2-7b", "--phase", "decode", "--kv-bits", "nan"], "--kv-bits"),
        (["trace", "--model", "llama-2-7b", "--phase", "decode", "--kv-bits", "1e9"], "--kv-bits"),
        # one bound for every bit-width flag (hwsim.core.precision.check_bits): --kv-bits took 0.5 where --weights
        # and --kv refuse anything below 1 bit
        (
            ["trace", "--model", "llama-2-7b", "--phase", "decode", "--kv-bits", "0.5"],
            "--kv-bits: bits must be in [1, 64]",
        ),
        (
            ["simulate", "--arch", "bitmod", "--model", "llama-2-7b", "--phase", "decode", "--kv", "0.5"],
            "--kv: bits must be in [1, 64]",
        ),
        (
            ["simulate", "--arch", "bitmod", "--model", "llama-2-7b", "--phase", "decode", "--weights", "0.5"],
            "bits must be in [1, 64]",
        ),
        (
            ["simulate", "--arch", "bitmod", "--model", "llama-2-7b", "--phase", "decode", "--weights", "0"],
            "bits must be in [1, 64]",
        ),
        (["trace", "--model", "meta-llama/Llama-3.1-8B", "--phase", "decode"], "give a local folder"),
        (["pareto", "unused.parquet", "--objectives", "tokens_per_s"], "needs a direction"),
    ],
)
def test_bad_cli_values(capsys, argv, needle, tmp_path):
    one_line_exit_2(capsys, argv, needle)


@pytest.mark.parametrize(
    "field, value, needle",
    [
        ("hidden_size", 10**30, "at most"),
        ("hidden_size", 1e30, "positive integer"),
        ("num_hidden_layers", 0, "positive integer"),
        ("num_hidden_layers", -2, "positive integer"),
        ("num_attention_heads", 0, "positive integer"),
        ("num_key_value_heads", -1, "positive integer"),
        ("vocab_size", 0, "positive integer"),
        ("head_dim", 0, "positive integer"),
        ("head_dim", -16, "positive integer"),
        ("num_local_experts", 0, "positive integer"),
        ("num_local_experts", -4, "positive integer"),
        ("num_experts_per_tok", 0, "positive integer"),
        ("num_local_experts", 10**9, "at most"),
        # the 2026-12-06 audit: read as true ("false" is a non-empty string) or as no window, silently
        ("tie_word_embeddings", "false", "must be true or false, got 'false'"),
        ("tie_word_embeddings", [], "must be true or false"),
        ("sliding_window", "", "positive integer, got ''"),
        ("sliding_window", 0, "positive integer, got 0"),
        ("sliding_window", [], "positive integer"),
    ],
)
def test_bad_model_fields(capsys, tmp_path, field, value, needle):
    path = tmp_path / "m.json"  # JSON keeps 1e30 a float and 10**30 an int, as a config.json would
    path.write_text(json.dumps({**TINY, field: value}))
    err = one_line_exit_2(capsys, ["trace", "--model", str(path), "--phase", "decode"], needle)
    assert f"{field}:" in err


def test_context_beyond_max_position_embeddings_warns(capsys, tmp_path):
    path = tmp_path / "m.yaml"
    path.write_text(yaml.safe_dump(TINY))
    assert main(["trace", "--model", str(path), "--phase", "decode", "--context", "600"]) == 0
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "warning:" in err and "max_position_embeddings (512)" in err
    assert main(["trace", "--model", str(path), "--phase", "decode", "--context", "500"]) == 0
    assert capsys.readouterr().err == ""


def test_a_warning_is_said_once_a_run(capsys, tmp_path):
    """A sweep traces a workload beyond its trained context both to plan and to cost it: the user reads the one
    fact once, not once per place that raised it."""
    path = tmp_path / "m.yaml"
    path.write_text(yaml.safe_dump(TINY))
    study = tmp_path / "s.yaml"
    study.write_text(
        yaml.safe_dump(
            {
                "name": "s",
                "architectures": [{"preset": "bitmod", "sweep": {"compute.rows": [16, 32]}}],
                "workloads": [{"model": str(path), "phase": "decode", "context": 600}],
                "precisions": {"weights": ["int4_g128", "int8"]},
                "objectives": ["tokens_per_s:max", "area_mm2:min"],
            }
        )
    )
    assert main(["sweep", str(study), "--out", str(tmp_path / "o"), "--no-progress"]) == 0
    err = capsys.readouterr().err
    assert err.count("warning:") == 1 and "max_position_embeddings (512)" in err


@pytest.mark.parametrize(
    "body, needle",
    [
        ("a: " + "[" * 20000 + "]" * 20000, "nested too deeply"),
        ("a:\n" + "".join("  " * i + f"k{i}:\n" for i in range(1, 1500)), "nested too deeply"),
    ],
)
def test_deep_nesting(capsys, tmp_path, body, needle):
    for suffix in (".yaml", ".json"):
        path = tmp_path / f"s{suffix}"
        path.write_text(body if suffix == ".yaml" else '{"a": ' + "[" * 5000 + "]" * 5000 + "}")
        for argv in (
            ["sweep", str(path), "--out", str(tmp_path / "o")],
            ["simulate", "--arch", str(path), "--gemm", "1,2,3", "--phase", "decode"],
        ):
            one_line_exit_2(capsys, argv, "nested too deeply")
    assert not (tmp_path / "o").exists()


def test_non_utf8_study(capsys, tmp_path):
    path = tmp_path / "s.yaml"
    path.write_bytes("name: caf\xe9\narchitectures: [{preset: bitmod}]\n".encode("latin-1"))
    one_line_exit_2(capsys, ["sweep", str(path), "--out", str(tmp_path / "o")], "not a text file (not UTF-8 at byte")


def _bomb(levels: int = 9) -> str:
    lines = ["l0: &l0 [" + ", ".join(["lol"] * 10) + "]"]
    lines += [f"l{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * 10) + "]" for i in range(1, levels)]
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("kind", ["study", "arch", "model"])
def test_alias_bomb_under_a_valid_key(capsys, tmp_path, kind):
    """10^9 values after expansion: refused while reading, and the message never prints the expanded value."""
    key = {
        "study": "name: *l8\narchitectures: [{preset: bitmod}]\n",
        "arch": "name: *l8\nfamily: bitserial\n",
        "model": "model_type: llama\nhidden_size: *l8\n",
    }[kind]
    path = tmp_path / "bomb.yaml"
    path.write_text(_bomb() + key)
    argv = {
        "study": ["sweep", str(path), "--out", str(tmp_path / "o")],
        "arch": ["simulate", "--arch", str(path), "--gemm", "1,2,3", "--phase", "decode"],
        "model": ["trace", "--model", str(path), "--phase", "decode"],
    }[kind]
    err = one_line_exit_2(capsys, argv, "expands to more than 1,000,000 values")
    assert len(err) < 400 and "lol" not in err


def test_self_referencing_yaml(capsys, tmp_path):
    path = tmp_path / "loop.yaml"
    path.write_text("a: &a [1, *a]\n")
    one_line_exit_2(capsys, ["trace", "--model", str(path), "--phase", "decode"], "")


def test_error_messages_stay_one_readable_line():
    err = HwsimError("got " + "x" * 5000 + "\nsecond line", file="f.yaml", field="a")
    assert "\n" not in str(err) and len(str(err)) <= 600 and str(err).startswith("f.yaml: a: got xxx")


# --- the user-error audit of 2026-12-05: inputs a new user gives, each once a traceback or a silent result ---

STUDY = {
    "name": "t",
    "architectures": [{"preset": "bitmod"}],
    "workloads": [{"model": "gpt-2", "phase": "decode", "context": 16}],
    "precisions": {"weights": "int4_g128"},
    "outputs": {"plot": False},
}
SERVE = ["serve", "--arch", "bitmod", "--model", "gpt-2", "--rate", "1", "--num-requests", "3", "--kv-blocks", "100"]
GEMM = ["--gemm", "1,64,64", "--phase", "decode"]


@pytest.mark.parametrize(
    "argv, needle",
    [
        ([*SERVE, "--seed", "-1"], "--seed: must be a non-negative integer"),  # was numpy's ValueError
        (
            ["allocate", "--arch", "bitmod", "--model", "gpt-2", "--phase", "decode", "--formats", "int4,int8"]
            + ["--budget", "avg_bits=6", "--seed", "-1"],
            "--seed: must be a non-negative integer",  # was taken silently
        ),
        (["formats", "compare", "--formats", "int4", "--tensor", "gaussian", "--seed", "-1"], "--seed: must be"),
        (["formats", "compare", "--formats", "int4", "--tensor", "gaussian:0"], "--tensor: gaussian is a built-in"),
        (["simulate", "--arch", "", *GEMM], "empty arch name"),  # was '.: cannot read: Is a directory'
        (["trace", "--model", "", "--phase", "decode"], "empty model name"),  # was 'checkpoint folder has no…'
        (["simulate", "--arch", "bitmod", *GEMM, "--weights", ""], "--weights: a format name must be a non-empty"),
    ],
)
def test_audit_cli_values(capsys, argv, needle):
    one_line_exit_2(capsys, argv, needle)


def test_measurements_folder_is_one_line(capsys, tmp_path):
    argv = ["calibrate", "--arch", "h100-sxm", "--measurements", str(tmp_path), "--out", str(tmp_path / "x.yaml")]
    one_line_exit_2(capsys, argv, "cannot read")  # was IsADirectoryError


@pytest.mark.parametrize("flow", [False, True])
def test_a_key_given_twice_is_refused(capsys, tmp_path, flow):
    """YAML keeps the last of two equal keys without a word: a second `clock:` or `sweep:` dropped the first."""
    path = tmp_path / "a.yaml"
    path.write_text(
        Path(packaged_dir("archs") / "bitmod.yaml").read_text()
        + ("compute: {rows: 8, rows: 16}\n" if flow else "clock: 2 GHz\n")
    )
    err = one_line_exit_2(capsys, ["simulate", "--arch", str(path), *GEMM], "given twice")
    assert ("'compute'" if flow else "'clock'") in err


def _study(tmp_path, **changes):
    body = {**STUDY, **changes}
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(body))
    return ["sweep", str(path), "--out", str(tmp_path / "o"), "--no-progress"]


@pytest.mark.parametrize(
    "changes, needle",
    [
        ({"constraints": {"area_mm2": {"max": float("nan")}}}, "area_mm2.max: expected a number, got NaN"),
        ({"workloads": [{"model": "gpt-2", "phase": "decode", "seq": 128}]}, "workloads[0].seq: seq is the prefill"),
        ({"precisions": {}}, "precisions: must not be empty"),
        # 2026-12-06: the 16 became text with the name, and the error named '16' ("expected an integer, got '16'")
        (
            {"architectures": [{"preset": "bitmod", "sweep": {"compute.rows": [16, "abc"]}}]},
            "compute.rows: values mix numbers and names (abc)",
        ),
    ],
)
def test_audit_study_fields(capsys, tmp_path, changes, needle):
    one_line_exit_2(capsys, _study(tmp_path, **changes), needle)
    assert not (tmp_path / "o").exists()


def test_seq_with_prefill_and_decode_is_still_allowed(tmp_path):
    from hwsim.study import load_study

    path = Path(_study(tmp_path, workloads=[{"model": "gpt-2", "phase": ["prefill", "decode"], "seq": 64}])[1])
    assert {(w.phase, w.seq) for w in load_study(path).workloads} == {("prefill", 64), ("decode", 1)}


def test_no_feasible_row_warns_and_pareto_refuses_it(capsys, tmp_path):
    assert main(_study(tmp_path, constraints={"area_mm2": {"max": 1e-9}})) == 0
    err = capsys.readouterr().err
    assert "warning:" in err and "none of the 1 rows meets them (area_mm2)" in err
    argv = ["pareto", str(tmp_path / "o"), "--objectives", "seconds:min,energy_j:min"]
    one_line_exit_2(capsys, [*argv, "--feasible-only"], "--feasible-only: none of the 1 rows is feasible")
    assert main(argv) == 0  # every row, feasible or not


def test_pareto_of_a_table_without_rows(capsys, tmp_path):
    path = tmp_path / "r.csv"
    path.write_text("seconds,energy_j\n")
    one_line_exit_2(capsys, ["pareto", str(path), "--objectives", "seconds:min"], "has no rows")


def _library_calls():
    """Calls a notebook makes with a wrong argument; each raised AttributeError, IndexError, TypeError or
    ZeroDivisionError deep inside, or returned an empty result."""
    from hwsim.arch import load_arch
    from hwsim.engine import evaluate, gemm_ops, sweep_cost
    from hwsim.roofline import roofline
    from hwsim.workload.trace import trace

    tr = trace("gpt-2", "decode", context=16)
    arch = load_arch("bitmod")
    return [
        (lambda: evaluate(None, tr), "arch: expected an Accelerator, a preset name or a YAML path, got NoneType"),
        (lambda: evaluate(arch, tr, [4]), "precision: expected a Precision, a format name or a number of bits"),
        (lambda: evaluate(arch, tr, True), "precision: expected a Precision"),
        (lambda: sweep_cost(arch, {"compute.rows": [16]}, tr, {"weights": 4}), "precision: expected a Precision"),
        (lambda: sweep_cost(arch, [("compute.rows", [16])], tr), "grid: expected a mapping of dotted path"),
        (lambda: sweep_cost(42, {"compute.rows": [16]}, tr), "arch: expected an Accelerator"),
        (lambda: roofline(arch, tr.ops.iloc[:0]), "trace: has no ops"),
        (lambda: roofline([], tr), "arch: give at least one"),
        (lambda: roofline(arch, tr, []), "precision: give at least one"),
        (lambda: roofline(arch, tr, weight_formats="int4"), "weight_formats: expected one weight format per op"),
        (lambda: load_arch("bitmod", [("compute.rows", 4)]), "overrides: expected a mapping of dotted path"),
        (lambda: load_arch("bitmod", {1: 4}), "overrides: expected a mapping of dotted path"),
        (lambda: gemm_ops([("g", "a", 1, 1)]), "shapes: m must be a positive integer, got 'a'"),
        (lambda: gemm_ops([("g", float("nan"), 1, 1)]), "shapes: m must be a positive integer, got nan"),
        (lambda: gemm_ops([("g", 1, 1)]), "shapes: each shape is (name, m, n, k)"),
        (lambda: gemm_ops([]), "shapes: give at least one"),
    ]


@pytest.mark.parametrize("case", range(16))
def test_library_entry_points_raise_hwsim_errors(case):
    call, needle = _library_calls()[case]
    with pytest.raises(HwsimError) as info:
        call()
    assert needle in str(info.value)


def test_library_takes_a_format_name_and_numpy_integers():
    """What evaluate() always took is taken by sweep_cost and roofline too, and np.int64 overrides are integers."""
    import numpy as np

    from hwsim.arch import load_arch
    from hwsim.engine import Precision, evaluate, sweep_cost
    from hwsim.roofline import roofline
    from hwsim.workload.trace import trace

    tr = trace("gpt-2", "decode", context=16)
    int4 = evaluate("bitmod", tr, "int4_g128").totals["seconds"]
    assert int4 < evaluate("bitmod", tr).totals["seconds"]
    assert sweep_cost("bitmod", {"compute.rows": [32]}, tr, "int4_g128")["seconds"].iloc[0] == pytest.approx(int4)
    assert (
        roofline("bitmod", tr, 4).summary["precision"].tolist()
        == roofline("bitmod", tr, Precision(weights=4)).summary["precision"].tolist()
    )
    assert load_arch("bitmod", {"compute.rows": np.int64(8)}).compute["rows"] == 8


def test_set_twice_is_refused(capsys):
    argv = ["simulate", "--arch", "bitmod", *GEMM, "--set", "compute.rows=8", "--set", "compute.rows=16"]
    one_line_exit_2(capsys, argv, "--set: compute.rows is set twice ('8', '16')")


def test_a_misspelt_optional_model_field_warns(capsys, tmp_path):
    """`num_key_value_head` (no s) was ignored without a word: the model ran as MHA with 4 KV heads, not 2."""
    path = tmp_path / "m.json"
    cfg = {k: v for k, v in TINY.items() if k != "num_key_value_heads"}
    path.write_text(json.dumps({**cfg, "num_key_value_head": 2}))
    assert main(["trace", "--model", str(path), "--phase", "decode"]) == 0
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "warning:" in err
    assert "num_key_value_head: not a field; did you mean num_key_value_heads?" in err
    path.write_text(json.dumps({**cfg, "num_key_value_heads": 2, "unrelated_field": 1}))
    assert main(["trace", "--model", str(path), "--phase", "decode"]) == 0
    assert capsys.readouterr().err == ""


GENERATE = ["generate", "--arch", "bitmod", "--model", "gpt-2", "--prompt", "8", "--output", "4"]


@pytest.mark.parametrize(
    "argv, needle",
    [  # each was taken and silently ignored
        ([*GENERATE, "--ttft-slo", "1"], "--ttft-slo: a target of --devices-needed"),
        ([*GENERATE, "--max-devices", "-1"], "--max-devices: a bound of --devices-needed"),  # 2026-12-06 audit
        ([*GENERATE, "--spec-tokens", "3"], "--spec-tokens: needs a --draft model"),
        ([*SERVE, "--spec-tokens", "3"], "--spec-tokens: needs a --draft model"),
        (
            ["allocate", "--arch", "bitmod", "--model", "gpt-2", "--phase", "decode", "--formats", "int4,int8"]
            + ["--budget", "avg_bits=5", "--budget", "avg_bits=6"],
            "--budget: avg_bits is given twice",
        ),
    ],
)
def test_options_that_would_be_ignored_are_refused(capsys, argv, needle):
    one_line_exit_2(capsys, argv, needle)


def test_a_precision_given_twice_is_named_as_such(capsys):
    argv = ["roofline", "--arch", "bitmod", "--model", "gpt-2", "--phase", "decode", "--weights", "int4"]
    err = one_line_exit_2(capsys, [*argv, "--weights", "int4"], "W int4 / A fp16 / KV fp16 is given twice")
    assert "--arch" not in err  # it blamed the machine's name


def test_gpt2_context_beyond_n_positions_warns(capsys):
    assert main(["trace", "--model", "gpt-2", "--phase", "decode", "--context", "1100"]) == 0
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "beyond its n_positions (1,024)" in err
    assert main(["trace", "--model", "gpt-2", "--phase", "decode", "--context", "1000"]) == 0
    assert capsys.readouterr().err == ""


TINY_LLM = Path(__file__).parent / "data" / "tiny_llm"


@pytest.mark.parametrize(
    "extra, needle",
    [
        (["--text", "FOLDER"], "--text: cannot read"),  # was IsADirectoryError
        (["--text", str(TINY_LLM / "text.txt"), "--kv", "int99"], "--kv: unknown or invalid format"),  # 'format:'
    ],
)
def test_accuracy_names_its_options(capsys, tmp_path, extra, needle):
    argv = ["accuracy", "--model", str(TINY_LLM / "llama"), *[str(tmp_path) if a == "FOLDER" else a for a in extra]]
    one_line_exit_2(capsys, argv, needle)


def test_holdout_column_matching_no_row_is_refused(capsys, tmp_path):
    """A typo held out nothing: the fit was reported as if checked against held-out rows."""
    csv = packaged_dir("archs").parent.parent / "data" / "gpu" / "h100-sxm-kernels.csv"
    argv = ["calibrate", "--arch", "h100-sxm", "--measurements", str(csv), "--out", str(tmp_path / "c.yaml")]
    one_line_exit_2(capsys, [*argv, "--holdout-column", "kind=gem"], "no row has kind = gem (did you mean gemm?)")
    assert not (tmp_path / "c.yaml").exists()


def test_arrivals_beyond_float_resolution_are_refused(capsys, tmp_path):
    """At rate 1e-300 arrivals sat near 1e300 s, where a decode step vanishes: TTFT and TPOT medians read 0."""
    argv = ["serve", "--arch", "bitmod", "--model", "gpt-2", "--kv-blocks", "100"]
    one_line_exit_2(capsys, [*argv, "--rate", "1e-300", "--num-requests", "3"], "--rate: 3 requests at 1e-300/s")
    path = tmp_path / "r.jsonl"
    path.write_text('{"arrival_time": 1e300, "input_tokens": 10, "output_tokens": 3}\n')
    one_line_exit_2(capsys, [*argv, "--requests", str(path)], "arrival_time: line 1: must be a time in [0, 1e+09]")


def test_generation_beyond_the_trained_context_warns(capsys):
    argv = ["generate", "--arch", "bitmod", "--model", "llama-2-7b", "--output", "2", "--prompt"]
    assert main([*argv, "4096"]) == 0
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "= 4,097 is beyond its max_position_embeddings (4,096)" in err
    assert main([*argv, "4095"]) == 0
    assert capsys.readouterr().err == ""


def test_serve_options_that_would_be_ignored_are_refused(capsys, tmp_path):
    """--memory-utilization beside --kv-blocks, and the generated stream's options beside a --requests file,
    were taken and ignored."""
    one_line_exit_2(capsys, [*SERVE, "--memory-utilization", "0.5"], "--memory-utilization: --kv-blocks gives")
    path = tmp_path / "r.jsonl"
    path.write_text('{"arrival_time": 0, "input_tokens": 10, "output_tokens": 3}\n')
    argv = ["serve", "--arch", "bitmod", "--model", "gpt-2", "--kv-blocks", "100", "--requests", str(path)]
    one_line_exit_2(capsys, [*argv, "--input-len", "64"], "--input-len: shapes a generated stream")
    assert main(argv) == 0


def test_study_name_that_escapes_results_is_refused(capsys, tmp_path):
    body = {**STUDY, "name": "../../x", "outputs": {"plot": False}}
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(body))
    one_line_exit_2(capsys, ["sweep", str(path), "--no-progress"], "name: names the output folder results/NAME")
    assert main(["sweep", str(path), "--no-progress", "--out", str(tmp_path / "cli")]) == 0  # --out: a label
    capsys.readouterr()
    body["outputs"] = {"plot": False, "dir": str(tmp_path / "o")}  # a name is only a label then
    path.write_text(yaml.safe_dump(body))
    from hwsim.study import load_study

    assert load_study(path).name == "../../x"


@pytest.mark.parametrize("option", ["--max-tokens", "--window"])
def test_allocate_text_options_without_text_are_refused(capsys, option):
    argv = ["allocate", "--arch", "bitmod", "--model", "gpt-2", "--phase", "decode", "--formats", "int4,int8"]
    one_line_exit_2(capsys, [*argv, "--budget", "avg_bits=6", option, "64"], f"{option}: applies to a decoder")


def test_sweep_and_pareto_library_arguments(tmp_path):
    """run_sweep takes a study file as `hwsim sweep` does (was AttributeError); front_mask names an empty
    objective list (was numpy's ValueError) and a non-DataFrame (was AttributeError)."""
    import pandas as pd

    from hwsim.pareto import front_mask
    from hwsim.sweep import run_sweep

    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(STUDY))
    assert run_sweep(str(path), tmp_path / "o", progress=False).rows == 1
    with pytest.raises(HwsimError, match="expected a Study or a study file, got int"):
        run_sweep(3, tmp_path / "p")
    with pytest.raises(HwsimError, match="at least one objective"):
        front_mask(pd.DataFrame({"a": [1.0]}), [])
    with pytest.raises(HwsimError, match="df: expected a results DataFrame, got list"):
        front_mask([1.0], "a:min")


def test_serving_beyond_the_trained_context_warns(capsys):
    argv = [*SERVE[:-2], "--kv-blocks", "1000", "--output-len", "4", "--input-len"]
    assert main([*argv, "1100"]) == 0
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "= 1,103 is beyond its n_positions (1,024)" in err
    assert main([*argv, "1000"]) == 0
    assert capsys.readouterr().err == ""


@pytest.mark.parametrize(
    "column, value, message",
    [
        ("m", float("nan"), "column 'm' has nan at row 1"),
        ("macs", -5.0, "column 'macs' has -5 at row 1"),
        ("kv_read_elems", float("inf"), "column 'kv_read_elems' has inf at row 1"),
        ("kind", "linaer", "kind 'linaer'; allowed: embedding, linear, attention, elementwise"),
    ],
)
def test_hand_made_ops_table_with_impossible_values_is_refused(column, value, message):
    """A hand-made ops table whose counts are NaN, negative or infinite, or whose kind is unknown, is refused
    by name (it cost to NaN or negative cycles, or an op of no kind costing nothing)."""
    from hwsim.engine import evaluate, gemm_ops

    df = gemm_ops([("a", 4, 8, 16), ("b", 2, 2, 2)])
    df[column] = df[column].astype(object if column == "kind" else float)
    df.loc[1, column] = value
    with pytest.raises(HwsimError, match=message):
        evaluate("tpu-like", df)
    assert evaluate("tpu-like", gemm_ops([("a", 4, 8, 16)])).totals["cycles"] > 0


_TINY = "tests/data/tiny_llm/llama"
_ALLOC = ["allocate", "--arch", "bitmod", "--phase", "prefill", "--seq", "32", "--formats", "int4_g32"]


@pytest.mark.parametrize(
    "argv,option",
    [  # each read '' as the current folder: '.: no config.json', '--text: cannot read: Is a directory', …
        (["accuracy", "--model", "", "--text", f"{_TINY}/../text.txt"], "--model"),
        (["accuracy", "--model", _TINY, "--text", ""], "--text"),
        (
            ["accuracy", "--model", _TINY, "--text", f"{_TINY}/../text.txt", "--calibration", "", "--method", "gptq"],
            "--calibration",
        ),
        ([*_ALLOC, "--budget", "avg_bits=5", "--checkpoint", ""], "--checkpoint"),  # was 'model: give a model'
        ([*_ALLOC, "--budget", "avg_bits=5", "--checkpoint", _TINY, "--text", ""], "--text"),
        ([*_ALLOC, "--budget", "avg_bits=5", "--model", "llama-2-7b", "--sensitivity", ""], "--sensitivity"),
        (["formats", "compare", "--formats", "int4", "--tensor", ""], "--tensor"),
        (["calibrate", "--arch", "h100-sxm", "--measurements", "", "--out", "x.yaml"], "--measurements"),
    ],
)
def test_an_empty_input_name_is_named_as_such(capsys, argv, option):
    err = one_line_exit_2(capsys, argv, "an empty file or folder name")
    assert f"{option}: an empty" in err, err


@pytest.mark.parametrize(
    "argv,needle",
    [  # accuracy and allocate named their --method errors 'method:' (formats compare said --method)
        (
            [
                "accuracy",
                "--model",
                _TINY,
                "--text",
                f"{_TINY}/../text.txt",
                "--weights",
                "ternary",
                "--method",
                "gptq",
            ],
            "--method: gptq does not apply",
        ),
        ([*_ALLOC, "--budget", "avg_bits=5", "--checkpoint", _TINY, "--method", "bogus"], "--method: unknown method"),
        (
            [*_ALLOC, "--budget", "avg_bits=5", "--checkpoint", _TINY, "--group", "qkv=q_proj,foo"],
            "--group: group 'qkv'",
        ),
        # --group with --granularity layer was taken and ignored (each layer one unit)
        (
            [
                *_ALLOC,
                "--budget",
                "avg_bits=5",
                "--checkpoint",
                _TINY,
                "--group",
                "qkv=q_proj,k_proj",
                "--granularity",
                "layer",
            ],
            "--group: groups share a format among roles at --granularity op",
        ),
    ],
)
def test_quantization_options_are_named_in_errors(capsys, argv, needle):
    one_line_exit_2(capsys, argv, needle)


@pytest.mark.parametrize("method, needle", [("gptx", "unknown method 'gptx'"), ("", "a method is names joined")])
def test_simulate_names_its_method_option(capsys, method, needle):
    """parse_method's field `method` reached the user as 'method:', not the option that sets it."""
    argv = ["simulate", "--arch", "bitmod", "--model", "gpt-2", "--phase", "decode", "--method", method]
    err = one_line_exit_2(capsys, argv, needle)
    assert err.startswith("hwsim simulate: error: --method: "), err


# --- the bad-input audit of 2026-12-06: a throwaway driver ran ~12,000 mutated flags, studies, arch presets, model
# configs and files through the CLI; each case below was a traceback (or a hang) there ---

LONG = "x" * 300  # one name part beyond the 255 bytes file systems allow: pathlib's exists/is_dir raise OSError on it


@pytest.mark.parametrize(
    "arch, sampler, needle",
    [
        # a huge integer past the first value of a swept list: numpy's int64 OverflowError in the grid
        ({"compute.rows": [16, 10**30]}, {"kind": "grid"}, "compute.rows: must be at most 1,099,511,627,776"),
        # an integer range beyond float64's exact integers: a cast warning, then garbage samples
        ({"compute.rows": {"min": 8, "max": 10**30, "integer": True}}, {"kind": "random", "samples": 2}, "±2^53"),
    ],
)
def test_huge_swept_integers(capsys, tmp_path, arch, sampler, needle):
    argv = _study(tmp_path, architectures=[{"preset": "bitmod", "sweep": arch}], sampler=sampler)
    one_line_exit_2(capsys, argv, needle)


def test_a_huge_integer_on_a_float_field_sweeps_as_set_takes_it(tmp_path):
    """clock: [1 GHz, 10^30] as plain integers: the second no longer overflows int64; it runs as --set clock=1e30."""
    import pandas as pd

    argv = _study(tmp_path, architectures=[{"preset": "bitmod", "sweep": {"clock": [10**9, 10**30]}}])
    assert main([*argv, "--json"]) == 0
    assert sorted(pd.read_parquet(tmp_path / "o" / "results.parquet")["clock"]) == [1e9, 1e30]


@pytest.mark.parametrize("key", ["max_num_seqs", "kv_blocks"])
def test_serving_counts_beyond_int64_are_refused(capsys, tmp_path, key):
    """max_num_seqs: 10^30 replayed every point, then pyarrow's OverflowError writing the int64 column."""
    entry = {"kind": "serving", "model": "gpt-2", "requests": {"rate": 1, "num_requests": 3}, key: 10**30}
    argv = _study(tmp_path, workloads=[entry], objectives=["tpot_p99_s:min", "area_mm2:min"])
    one_line_exit_2(capsys, argv, f"workloads[0].{key}: must be at most 9,223,372,036,854,775,807 (2^63 - 1)")


@pytest.mark.parametrize("key", ["path", "text", "calibration"])
def test_study_model_accuracy_paths_too_long_to_be_files(capsys, tmp_path, key):
    ckpt = packaged_dir("archs").parents[2] / "tests" / "data" / "tiny_llm"
    acc = {"source": "model", "path": str(ckpt / "llama"), "text": str(ckpt / "text.txt"), key: LONG}
    one_line_exit_2(capsys, _study(tmp_path, accuracy=acc), f"accuracy.{key}: no such")


@pytest.mark.parametrize(
    "argv, needle",
    [
        (["formats", "compare", "--formats", "int8", "--tensor", LONG], "--tensor: name too long to be a file"),
        (["formats", "compare", "--formats", "int8", "--tensor", LONG + ":w"], "--tensor: name too long"),
        (["formats", "compare", "--formats", "int8", "--tensor", ":w"], ":w: --tensor: no such file"),  # named '.'
        (["accuracy", "--model", LONG, "--text", "tests/data/tiny_llm/text.txt"], "--model: name too long"),
        (["calibrate", "--arch", "h100-sxm", "--measurements", LONG, "--out", "c.yaml"], "--measurements: name too"),
        (
            ["calibrate", "--arch", "h100-sxm", "--measurements", "hwsim/data/gpu/h100-sxm-kernels.csv"]
            + ["--out", LONG + ".yaml"],
            "--out: cannot write: File name too long",
        ),
    ],
)
def test_names_too_long_to_be_files(capsys, monkeypatch, argv, needle):
    monkeypatch.chdir(packaged_dir("archs").parents[2])
    one_line_exit_2(capsys, argv, needle)


@pytest.mark.parametrize("command", [GENERATE, SERVE])
@pytest.mark.parametrize("k, needle", [("257", "got 257"), ("99999999999999999999", "got 1e+20")])
def test_spec_tokens_are_bounded(capsys, command, k, needle):
    """--spec-tokens 10^20 overflowed int64 mid-run; 10^4 ran ~2 min: one draft step per token every round."""
    argv = [*command, "--draft", "gpt-2", "--acceptance", "0.5", "--spec-tokens", k]
    one_line_exit_2(capsys, argv, f"--spec-tokens: must be at most 256 draft tokens per step, {needle}")


@pytest.mark.parametrize(
    "name, body, needle",
    [
        ("s.csv", "name,sensitivity\n*,caf\xe9\n".encode("latin-1"), "not UTF-8 at byte"),  # was UnicodeDecodeError
        ("s.json", '{"*": 1}'.encode("utf-16"), "a sensitivity table must be CSV or JSON saved as UTF-8"),
        ("s.csv", b"name,sensitivity\n*," + b"1" * 200_000 + b"\n", "not a CSV table: field larger"),  # csv.Error
    ],
)
def test_unreadable_sensitivity_tables(capsys, tmp_path, name, body, needle):
    path = tmp_path / name
    path.write_bytes(body)
    argv = ["allocate", "--arch", "bitmod", "--model", "gpt-2", "--phase", "decode", "--formats", "int4_g128,int8"]
    one_line_exit_2(capsys, [*argv, "--budget", "avg_bits=6", "--proxy", "table", "--sensitivity", str(path)], needle)


BIG = "9" * 5000  # beyond Python's 4300-digit limit on int(str): the parsers' ValueError was a traceback


@pytest.mark.parametrize(
    "name, body, argv, needle",
    [
        (
            "m.json",
            '{"model_type": "llama", "hidden_size": ' + BIG + "}",
            ["trace", "--phase", "decode"],
            "4300 digits",
        ),
        ("m.yaml", "model_type: llama\nhidden_size: " + BIG + "\n", ["trace", "--phase", "decode"], "4300 digits"),
        ("m.yaml", "model_type: llama\nhidden_size: 2024-13-45\n", ["trace", "--phase", "decode"], "month must be"),
    ],
)
def test_values_a_parser_matches_but_python_cannot_build(capsys, tmp_path, name, body, argv, needle):
    path = tmp_path / name
    path.write_text(body)
    err = one_line_exit_2(capsys, [*argv, "--model", str(path)], f"{path}: cannot read a value: ")
    assert needle in err, err


@pytest.mark.parametrize(
    "line, needle",
    [
        ('{"arrival_time": 0, "input_tokens": NaN, "output_tokens": 2}', "input_tokens: line 1: must be a positive"),
        ('{"arrival_time": 0, "input_tokens": 4, "output_tokens": Infinity}', "output_tokens: line 1: must be"),
        ('{"arrival_time": 0, "input_tokens": 8, "output_tokens": 2, "prefix": "p", "prefix_len": NaN}', "prefix_len"),
        ('{"arrival_time": 0, "input_tokens": ' + BIG + ', "output_tokens": 2}', "line 1: an integer of more than"),
    ],
)
def test_request_file_numbers_python_json_reads(capsys, tmp_path, line, needle):
    """json reads NaN and Infinity (int(nan) was a ValueError traceback) and refuses 5000-digit integers itself."""
    path = tmp_path / "r.jsonl"
    path.write_text(line + "\n")
    one_line_exit_2(capsys, ["serve", "--arch", "h100-sxm", "--model", "gpt-2", "--requests", str(path)], needle)


@pytest.mark.parametrize(
    "line, needle",
    [
        (
            '{"arrival_time": 0, "input_tokens": 8, "output_tokens": 2, "Id": "a"}',
            "Id: line 2: unknown key 'Id' (did you mean id?); allowed: arrival_time, input_tokens,",
        ),
        ('{"arrival_time": 0, "input_tokens": 8, "output_tokens": 2, "prefx": "p"}', "line 2: unknown key 'prefx'"),
        ('{"arrival_time": 0, "input_tokens": 8, "input_toks": 9, "output_tokens": 2}', "input_tokens and input_toks"),
    ],
)
def test_request_line_key_that_would_be_dropped(capsys, tmp_path, line, needle):
    """docs/serving.md lists a request line's keys; a misspelt `id` was dropped silently (a later turn's prefix
    then named nothing), and of input_tokens and input_toks the second was ignored."""
    path = tmp_path / "r.jsonl"
    path.write_text('{"arrival_time": 0, "input_tokens": 8, "output_tokens": 2}\n' + line + "\n")
    one_line_exit_2(capsys, ["serve", "--arch", "h100-sxm", "--model", "gpt-2", "--requests", str(path)], needle)


def test_set_with_an_integer_python_cannot_read(capsys):
    one_line_exit_2(
        capsys, ["simulate", "--arch", "bitmod", *GEMM, "--set", f"compute.rows={BIG}"], "expected an integer"
    )


@pytest.mark.parametrize(
    "index",
    [b'{"weight_map": {"w": 5}}', b'{"weight_map": ["a.safetensors"]}', b'{"weight_map": "a"}', b"\xff\xfe{}"],
)
def test_checkpoint_index_without_a_weight_map_of_names(capsys, tmp_path, index):
    """A number or a list as the weight map was a TypeError / AttributeError traceback, a UTF-16 file a
    UnicodeDecodeError one."""
    (tmp_path / "model.safetensors.index.json").write_bytes(index)
    argv = ["formats", "compare", "--formats", "int8", "--tensor", str(tmp_path)]
    one_line_exit_2(capsys, argv, "weight_map: expected a JSON object with a 'weight_map' of tensor names to shard")


@pytest.mark.parametrize(
    "body, needle",
    [(b'{"a": "caf\xe9"}', "not a text file (not UTF-8 at byte 10)"), (b'{"a": ' + BIG.encode() + b"}", "4300 digits")],
)
def test_accuracy_checkpoint_config_unreadable(capsys, tmp_path, body, needle):
    import shutil

    data = packaged_dir("archs").parents[2] / "tests" / "data" / "tiny_llm"
    shutil.copytree(data / "llama", tmp_path / "ck")
    (tmp_path / "ck" / "config.json").write_bytes(body)
    one_line_exit_2(capsys, ["accuracy", "--model", str(tmp_path / "ck"), "--text", str(data / "text.txt")], needle)


@pytest.mark.parametrize("target", ["fifo", "/dev/hwsim-audit.csv"])
@pytest.mark.parametrize("command", ["trace", "calibrate"])
def test_outputs_onto_devices_are_refused(capsys, monkeypatch, tmp_path, target, command):
    """An output is written beside its path and renamed onto it: run as root, `--csv /dev/full` replaced the device
    node with a regular file (and /dev/stdout's link likewise); a user without root got 'Permission denied'. (A pipe
    and a new name in /dev stand in for the devices here, so that a regression breaks no device.)"""
    monkeypatch.chdir(packaged_dir("archs").parents[2])
    if target == "fifo":
        target = str(tmp_path / "out.csv")
        os.mkfifo(target)
    argv = {
        "trace": ["trace", "--model", "gpt-2", "--phase", "decode", "--csv", target],
        "calibrate": ["calibrate", "--arch", "h100-sxm", "--measurements", "hwsim/data/gpu/h100-sxm-kernels.csv"]
        + ["--out", target],
    }[command]
    try:
        one_line_exit_2(capsys, argv, "is a device, a pipe or in /dev")
    finally:
        if target.startswith("/dev/") and os.path.isfile(target):
            os.remove(target)


def test_link_constant_with_a_misspelt_key(capsys, tmp_path):
    """`bandwidth: {valeu: ..., value: ..., source: ...}` in a link YAML: the arch loader refuses it, the link
    loader dropped the key silently."""
    path = tmp_path / "l.yaml"
    path.write_text(
        (packaged_dir("links") / "nvlink4.yaml").read_text().replace("bandwidth: {", "bandwidth: {valeu: 1, ")
    )
    argv = ["generate", "--arch", "h100-sxm", "--model", "gpt-2", "--prompt", "8", "--output", "2", "--tp", "2"]
    one_line_exit_2(capsys, [*argv, "--link", str(path)], "bandwidth: a constant takes only 'value' and 'source'")


def test_sensitivity_true_is_not_one(capsys, tmp_path):
    path = tmp_path / "s.json"
    path.write_text('{"*": true}')
    argv = ["allocate", "--arch", "bitmod", "--model", "gpt-2", "--phase", "decode", "--formats", "int4_g128,int8"]
    argv += ["--budget", "avg_bits=6", "--proxy", "table", "--sensitivity", str(path)]
    one_line_exit_2(capsys, argv, "sensitivity must be a finite number ≥ 0, got True")


@pytest.mark.parametrize("damage", ["list", "provenance"])
def test_resume_with_a_damaged_manifest(capsys, tmp_path, damage):
    """A manifest.json that is a JSON list, or whose provenance is not a mapping: AttributeError tracebacks on
    `--resume`; the first is refused as unreadable, the second resumes as a manifest without provenance does."""
    argv = _study(tmp_path)
    assert main(argv) == 0
    manifest = tmp_path / "o" / "manifest.json"
    doc = json.loads(manifest.read_text())
    manifest.write_text("[]" if damage == "list" else json.dumps({**doc, "provenance": "x"}))
    capsys.readouterr()
    if damage == "list":
        one_line_exit_2(capsys, [*argv, "--resume"], "manifest.json: unreadable sweep manifest (not a JSON object)")
    else:
        assert main([*argv, "--resume"]) == 0


_ALLOC_GPT2 = ["allocate", "--arch", "bitmod", "--model", "gpt-2", "--phase", "decode", "--formats", "int4,int8"]


@pytest.mark.parametrize(
    "argv, needle",
    [  # each '' (an unset shell variable) was read as the option not given, silently
        ([*_ALLOC_GPT2, "--budget", "avg_bits=6", "--kv-formats", ""], "--kv-formats: give at least one"),
        ([*_ALLOC_GPT2, "--budget", "avg_bits=6", "--frontier", ""], "--frontier: KEY must be one of"),
        ([*_ALLOC_GPT2, "--budget", "avg_bits=6", "--fixed-weights", ""], "--fixed-weights: a format name must be"),
        ([*GENERATE, "--tp", "2", "--link", ""], "--link: an empty link name"),
        ([*SERVE, "--link", ""], "--link: an empty link name"),
    ],
)
def test_empty_option_values_are_not_absent_ones(capsys, argv, needle):
    one_line_exit_2(capsys, argv, needle)


def test_a_json_model_config_with_a_key_given_twice(capsys, tmp_path):
    """json keeps the last of two equal keys silently (the YAML loader refuses them): a hand-edited config.json with a
    second "hidden_size" was costed with that one."""
    path = tmp_path / "config.json"
    path.write_text(json.dumps(TINY)[:-1] + ', "hidden_size": 128}')
    one_line_exit_2(capsys, ["trace", "--model", str(path), "--phase", "decode"], "key 'hidden_size' given twice")


@pytest.mark.parametrize("name, body", [("s.json", '{"*": 1, "*": 2}'), ("s.csv", "name,sensitivity\n*,1\n*,2\n")])
def test_a_sensitivity_given_twice(capsys, tmp_path, name, body):
    """The last (JSON) or a later row (CSV) of one name won silently."""
    path = tmp_path / name
    path.write_text(body)
    argv = ["allocate", "--arch", "bitmod", "--model", "gpt-2", "--phase", "decode", "--formats", "int4_g128,int8"]
    argv += ["--budget", "avg_bits=6", "--proxy", "table", "--sensitivity", str(path)]
    one_line_exit_2(capsys, argv, "*: given twice: keep one sensitivity per name")


def test_a_results_csv_with_a_column_given_twice(capsys, tmp_path):
    """pandas renames the second 'a' to 'a.1', and the objective 'a' took the first column silently."""
    path = tmp_path / "r.csv"
    path.write_text("a,a,b\n1,2,3\n")
    one_line_exit_2(
        capsys, ["pareto", str(path), "--objectives", "a:min,b:max"], "column 'a' given twice in the header"
    )


@pytest.mark.parametrize("damage", ["empty", "truncated", "absent"])
def test_allocate_broken_checkpoint_is_the_only_line(capsys, tmp_path, damage):
    """The 2026-12-06 audit: the tiny checkpoint (max_position_embeddings 64) at decode's default context built its
    trace first and warned 'beyond its max_position_embeddings' before the checkpoint's one-line error; the
    headers are read before the trace now."""
    import shutil

    ck = tmp_path / "ck"
    shutil.copytree(_TINY, ck)
    weights = ck / "model.safetensors"
    body = weights.read_bytes()
    if damage == "absent":
        weights.unlink()
    else:
        weights.write_bytes(b"" if damage == "empty" else body[: len(body) // 2])
    needle = {"empty": "not a safetensors file", "truncated": "truncated: tensor", "absent": "no *.safetensors"}
    argv = ["allocate", "--arch", "bitmod", "--model", str(ck), "--phase", "decode", "--formats", "int4_g128,int8"]
    one_line_exit_2(capsys, [*argv, "--budget", "avg_bits=6", "--checkpoint", str(ck)], needle[damage])
