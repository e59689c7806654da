"""`hwsim simulate`, `roofline`, `allocate` and `sweep` on an MLA model (DeepSeek-V2-Lite), a shared-expert MoE
(Qwen1.5-MoE-A2.7B from its config.json) and a sliding-window model (Gemma-2-9B)."""

import json
from pathlib import Path

import pytest

from hwsim.cli import main

MODELS = {
    "mla": "deepseek-v2-lite",
    "shared_moe": str(Path(__file__).parent / "data" / "hf_configs" / "qwen1.5-moe-a2.7b.json"),
    "sliding": "gemma-2-9b",
}


@pytest.mark.parametrize("model", MODELS.values(), ids=MODELS.keys())
def test_simulate(model, capsys):
    assert (
        main(["simulate", "--arch", "a100-sxm", "--model", model, "--phase", "decode", "--context", "4096", "--json"])
        == 0
    )
    out = json.loads(capsys.readouterr().out)
    assert out["totals"]["seconds"] > 0 and out["totals"]["footprint_bytes"] > 0


@pytest.mark.parametrize("model", MODELS.values(), ids=MODELS.keys())
def test_roofline(model, capsys):
    assert (
        main(
            [
                "roofline",
                "--arch",
                "h100-sxm",
                "--model",
                model,
                "--phase",
                "decode",
                "--weights",
                "int4_g128",
                "--json",
            ]
        )
        == 0
    )
    out = json.loads(capsys.readouterr().out)
    assert out["summary"][0]["phase"] == "decode"


@pytest.mark.parametrize("model", MODELS.values(), ids=MODELS.keys())
def test_allocate(model, capsys):
    assert (
        main(
            [
                "allocate",
                "--arch",
                "bitmod",
                "--model",
                model,
                "--phase",
                "decode",
                "--formats",
                "int4_g128,int8",
                "--budget",
                "avg_bits=6",
                "--json",
            ]
        )
        == 0
    )
    out = json.loads(capsys.readouterr().out)
    assert out["status"] == "optimal" and set(out["assignment"].values()) <= {"int4_g128", "int8"}


@pytest.mark.parametrize("model", MODELS.values(), ids=MODELS.keys())
def test_sweep(model, tmp_path, capsys):
    study = tmp_path / "s.yaml"
    study.write_text(f"""
architectures:
  - preset: bitmod
    sweep: {{compute.rows: [16, 64]}}
workloads: [{{model: "{model}", phase: decode, context: 1024}}]
precisions: {{weights: [int4_g128]}}
objectives: [seconds:min, energy_j:min]
outputs: {{plot: false}}
""")
    assert main(["sweep", str(study), "--out", str(tmp_path / "o"), "--json", "--no-progress"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert rows and all(r["seconds"] > 0 for r in rows)
