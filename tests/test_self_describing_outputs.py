"""Outputs describe themselves (issue 15): a sweep's manifest says what made it, swept quantities carry their
unit in the column name beside the YAML's own spelling, and `simulate --json` has the bytes per memory level and
the energy split the Python API has."""

import hashlib
import json

import pandas as pd
import pytest

from hwsim import __version__
from hwsim.cli import main

STUDY = """
name: units
architectures:
  - preset: bitmod
    sweep:
      compute.rows: [16, 32]
      memory.dram.bandwidth: ["128 bit/cycle", "256 bit/cycle"]
      clock: {min: 0.5 GHz, max: 1 GHz, num: 2}
workloads: [{model: llama-2-7b, phase: decode}]
precisions: {weights: [int4_g128]}
objectives: [tokens_per_s:max, area_mm2:min]
outputs: {plot: false}
"""


@pytest.fixture(scope="module")
def swept(tmp_path_factory):
    root = tmp_path_factory.mktemp("units")
    study = root / "s.yaml"
    study.write_text(STUDY)
    assert main(["sweep", str(study), "--out", str(root / "o"), "--no-progress"]) == 0
    return study, root / "o"


def test_manifest_records_how_the_results_were_made(swept):
    study, out = swept
    made = json.loads((out / "manifest.json").read_text())["provenance"]
    assert made["hwsim_version"] == __version__
    assert made["command"] and made["machine"]["python"] and made["machine"]["cpus"] >= 1
    assert made["git_commit"] is None or len(made["git_commit"].removesuffix("+dirty")) == 40
    inputs = made["inputs"]
    assert inputs["study"]["sha256"] == hashlib.sha256(study.read_bytes()).hexdigest()
    assert {"arch:bitmod", "model:llama-2-7b"} <= set(inputs) and all(len(v["sha256"]) == 64 for v in inputs.values())


def test_swept_quantities_carry_units_and_the_yaml_spelling(swept):
    _, out = swept
    t = pd.read_parquet(out / "results.parquet")
    assert sorted(set(t["memory.dram.bandwidth"])) == ["128 bit/cycle", "256 bit/cycle"]
    assert sorted(set(t["memory.dram.bandwidth_B_per_cycle"])) == [16.0, 32.0]  # 128 bit = 16 B
    assert sorted(set(t["clock_Hz"])) == [5e8, 1e9] and "clock" not in t.columns  # a range: no spelling to keep
    assert sorted(set(t["compute.rows"])) == [16, 32]  # a plain count keeps its name


def test_simulate_json_has_bytes_per_level_and_energy_split(capsys):
    assert main(["simulate", "--arch", "bitmod", "--model", "llama-2-7b", "--phase", "decode", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert set(doc["bytes_by_level"]) == {"dram", "weight_sram", "input_sram"}
    assert doc["bytes_by_level"]["dram"] > 6.7e9  # at least every fp16 weight once
    parts = doc["energy_j_by_part"]
    assert {"compute", "dram", "static"} <= set(parts)
    assert sum(parts.values()) == pytest.approx(doc["totals"]["energy_j"], rel=1e-9)


def test_provenance_records_a_checkpoints_hf_quant_config_like_its_config_json(tmp_path):
    """A checkpoint folder is read from its config.json and, where present, ModelOpt's hf_quant_config.json
    (hwsim.workload.config.model_files, as vLLM's get_config reads it): the manifest hashes both, so an edit to
    either shows in the provenance."""
    from hwsim.study import load_study
    from hwsim.sweep.provenance import provenance

    ckpt = tmp_path / "ckpt"
    ckpt.mkdir()
    cfg = {"model_type": "llama", "hidden_size": 64, "intermediate_size": 128, "num_attention_heads": 4}
    (ckpt / "config.json").write_text(json.dumps({**cfg, "num_hidden_layers": 2, "vocab_size": 256}))
    side = ckpt / "hf_quant_config.json"
    side.write_text(json.dumps({"producer": {"name": "modelopt"}, "quantization": {"quant_algo": "FP8"}}))
    study = tmp_path / "s.yaml"
    study.write_text(STUDY.replace("model: llama-2-7b", f"model: {ckpt}"))

    def inputs():
        made = provenance(load_study(study))["inputs"]
        return {k: v["sha256"] for k, v in made.items() if k.startswith("model:")}

    before = inputs()
    assert set(before) == {f"model:{ckpt}", f"model:{ckpt}:hf_quant_config.json"}
    assert before[f"model:{ckpt}:hf_quant_config.json"] == hashlib.sha256(side.read_bytes()).hexdigest()
    side.write_text(json.dumps({"producer": {"name": "modelopt"}, "quantization": {"quant_algo": "NVFP4"}}))
    after = inputs()
    assert after[f"model:{ckpt}"] == before[f"model:{ckpt}"]
    assert after[f"model:{ckpt}:hf_quant_config.json"] != before[f"model:{ckpt}:hf_quant_config.json"]
    side.unlink()  # no sidecar: config.json alone, as before ModelOpt's file was read
    assert set(inputs()) == {f"model:{ckpt}"}


def test_resume_refuses_a_changed_config_json_or_hf_quant_config(tmp_path, capsys):
    """The rows follow the model's files, which the study's fingerprint does not hash: `--resume` compares each
    input's SHA-256 with the manifest's provenance, so an edited config.json (here 2 → 4 layers) or ModelOpt
    hf_quant_config.json (FP8 → NVFP4 weights) is refused in one line naming the file, not mixed into old rows."""
    ckpt = tmp_path / "ckpt"
    ckpt.mkdir()
    cfg = {"model_type": "llama", "hidden_size": 64, "intermediate_size": 128, "num_attention_heads": 4}
    config = ckpt / "config.json"
    config.write_text(json.dumps({**cfg, "num_hidden_layers": 2, "vocab_size": 256}))
    side = ckpt / "hf_quant_config.json"
    fp8 = json.dumps({"producer": {"name": "modelopt"}, "quantization": {"quant_algo": "FP8"}})
    side.write_text(fp8)
    study = tmp_path / "s.yaml"
    study.write_text(STUDY.replace("model: llama-2-7b", f"model: {ckpt}").replace("[int4_g128]", "[fp8_e4m3]"))
    argv = ["sweep", str(study), "--out", str(tmp_path / "o"), "--no-progress"]
    assert main(argv) == 0
    assert main([*argv, "--resume"]) == 0 and "already complete" in capsys.readouterr().out
    for edited, text in [
        (side, fp8.replace("FP8", "NVFP4")),
        (config, json.dumps({**cfg, "num_hidden_layers": 4, "vocab_size": 256})),
    ]:
        original = edited.read_text()
        edited.write_text(text)
        assert main([*argv, "--resume"]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and f"{edited} changed since the finished sweep" in err[0], err
        edited.write_text(original)
    side.unlink()  # a sidecar gone is a change too: the folder's quantization came from it
    assert main([*argv, "--resume"]) == 2 and "hf_quant_config.json changed" in capsys.readouterr().err
