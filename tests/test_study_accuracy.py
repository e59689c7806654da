"""Studies measure accuracy end to end where asked (issue 13): a user's decoder checkpoint
(`accuracy: {source: model}`, the tiny test checkpoints of tests/data/tiny_llm) with the method as a
swept precision axis; weight-only sources refuse methods and label themselves as proxies."""

from pathlib import Path

import pytest

from hwsim.errors import HwsimError
from hwsim.study import load_study
from hwsim.sweep import run_sweep

DATA = Path(__file__).parent / "data" / "tiny_llm"


def _study(tmp_path, accuracy: str, precisions: str = "weights: [int4_g32, int8_pc]\n  method: [rtn, gptq]"):
    f = tmp_path / "s.yaml"
    f.write_text(f"""name: acc
architectures:
  - preset: bitmod
workloads:
  - model: llama-2-7b
    phase: decode
precisions:
  {precisions}
accuracy:
{accuracy}
outputs:
  dir: {tmp_path / "out"}
  plot: false
""")
    return load_study(f)


def test_model_source_sweeps_methods(tmp_path):
    acc = (
        f"  source: model\n  path: {DATA / 'qwen3'}\n  text: {DATA / 'text.txt'}\n"
        f"  calibration: {DATA / 'calibration.txt'}\n  max_tokens: 100"
    )
    t = run_sweep(_study(tmp_path, acc), tmp_path / "out", progress=False).table()
    assert len(t) == 4 and set(t["method"]) == {"rtn", "gptq"}
    # the method changes accuracy, not (yet) cost; int8 loses far less than int4
    by = t.set_index(["weights", "method"])
    assert by.loc[("int4_g32", "rtn"), "seconds"] == by.loc[("int4_g32", "gptq"), "seconds"]
    assert (by.loc["int8_pc", "acc_kl"] < by.loc["int4_g32", "acc_kl"].to_numpy()).all()
    assert (t["acc_baseline_perplexity"] == t["acc_baseline_perplexity"].iloc[0]).all()
    assert t["acc_source"].str.contains("end to end").all()


def test_weight_only_source_is_labelled_and_refuses_methods(tmp_path):
    s = _study(tmp_path, "  source: synthetic", "weights: [int4_g32, int8_pc]")
    t = run_sweep(s, tmp_path / "out", progress=False).table()
    assert t["acc_source"].str.contains("proxy").all() and (t["method"] == "rtn").all()
    with pytest.raises(HwsimError, match="end-to-end source"):
        run_sweep(_study(tmp_path, "  source: synthetic"), tmp_path / "out2", progress=False)


def test_bad_accuracy_entries_name_the_field(tmp_path):
    with pytest.raises(HwsimError, match="needs path .* and text"):
        _study(tmp_path, f"  source: model\n  path: {DATA / 'qwen3'}")
    with pytest.raises(HwsimError, match="accuracy.text"):
        _study(tmp_path, f"  source: model\n  path: {DATA / 'qwen3'}\n  text: {tmp_path / 'missing.txt'}")
    with pytest.raises(HwsimError, match="precisions.method"):
        _study(tmp_path, "  source: minilm", "weights: int4_g32\n  method: [gptqq]")


def test_rotation_method_costs_its_online_hadamards(tmp_path):
    """A rotating method adds QuaRot's online Hadamards to the costed trace (hwsim.workload.rotation)."""
    s = _study(tmp_path, "  source: none", "weights: int4_g128\n  kv: [fp16, int4_g128]\n  method: [rtn, rotate+gptq]")
    t = run_sweep(s, tmp_path / "out", progress=False).table().set_index(["kv", "method"])
    for kv in ("fp16", "int4_g128"):
        assert t.loc[(kv, "rotate+gptq"), "energy_j"] > t.loc[(kv, "rtn"), "energy_j"]
    # the q/k rotation is only there for a quantized cache
    extra = {
        kv: t.loc[(kv, "rotate+gptq"), "energy_j"] - t.loc[(kv, "rtn"), "energy_j"] for kv in ("fp16", "int4_g128")
    }
    assert extra["int4_g128"] > extra["fp16"]
