"""`hwsim trace`: JSON contract and one-line errors with exit code 2."""

import json

import pytest

from hwsim.cli import main


def test_trace_json(capsys):
    assert main(["trace", "--model", "llama-2-7b", "--phase", "decode", "--context", "256", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["model"] == "llama-2-7b" and doc["phase"] == "decode"
    assert doc["totals"]["params"] == 6_738_415_616
    assert doc["totals"]["kv_cache_bytes"] == 2 * 32 * 257 * 4096 * 2
    q = next(op for op in doc["ops"] if op["name"] == "layers.0.q_proj")
    assert (q["m"], q["n"], q["k"], q["kind"]) == (1, 4096, 4096, "linear")


def test_trace_table_and_csv(capsys, tmp_path):
    out = tmp_path / "ops.csv"
    assert main(["trace", "--model", "mixtral-8x7b", "--phase", "prefill", "--seq", "8", "--csv", str(out)]) == 0
    text = capsys.readouterr().out
    assert "experts.up_proj" in text and "active_params_per_token" in text
    assert out.read_text().startswith("name,layer,kind,op,m,n,k,count")


@pytest.mark.parametrize(
    "argv,needle",
    [
        (["--model", "nope-7b", "--phase", "decode"], "unknown model"),
        (["--model", "/no/such/config.json", "--phase", "decode"], "no such file"),
        (["--model", "llama-2-7b", "--phase", "prefill", "--batch", "0"], "batch"),
        (["--model", "llama-2-7b", "--phase", "prefill", "--seq", "-3"], "seq"),
        (["--model", "llama-2-7b", "--phase", "sideways"], "invalid choice"),
    ],
)
def test_trace_user_errors(capsys, argv, needle):
    with pytest.raises(SystemExit) if "sideways" in argv else _no_raise():
        code = main(["trace", *argv])
        assert code == 2
    err = capsys.readouterr().err
    assert needle in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err


class _no_raise:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def test_csv_naming_the_model_config_is_refused(tmp_path, capsys):
    """`--model DIR --csv DIR/config.json` replaced the checkpoint's config with the op table: one line, exit 2,
    the config kept."""
    import shutil
    from pathlib import Path

    folder = tmp_path / "ck"
    folder.mkdir()
    config = folder / "config.json"
    shutil.copy(Path(__file__).parent / "data" / "hf_configs" / "gemma-2b.json", config)
    before = config.read_bytes()
    assert main(["trace", "--model", str(folder), "--phase", "decode", "--csv", str(config)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "--csv: is the input" in err and "would destroy it" in err, err
    assert config.read_bytes() == before
