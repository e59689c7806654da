"""A checkpoint's quantization_config decides its weight formats unless the user overrides them (issue 15):
GPTQ, AWQ, bitsandbytes, fp8, compressed-tensors, BitNet; module exceptions become per-op formats."""
import json

import pytest

from hwsim.cli import main
from hwsim.engine import evaluate
from hwsim.workload import from_hf_dict, trace

BASE = {"model_type": "llama", "hidden_size": 64, "intermediate_size": 128, "num_attention_heads": 4,
        "num_hidden_layers": 2, "vocab_size": 256, "torch_dtype": "float16"}


def formats_of(cfg: dict) -> dict[str, str]:
    m = from_hf_dict(cfg)
    tr = trace(m, "decode")
    return dict(zip(tr.ops["name"], m.op_weight_formats(tr.ops["name"])))


@pytest.mark.parametrize("q, main_fmt, head", [
    ({"quant_method": "gptq", "bits": 4, "group_size": 128, "sym": True}, "int4_g128", "fp16"),
    ({"quant_method": "gptq", "bits": 4, "group_size": 128, "sym": True, "lm_head": True}, "int4_g128", "int4_g128"),
    ({"quant_method": "gptq", "bits": 8, "group_size": -1, "sym": False}, "int8a_pc", "fp16"),
    ({"quant_method": "awq", "bits": 4, "group_size": 64, "zero_point": True}, "int4a_g64", "fp16"),
    ({"quant_method": "bitsandbytes", "load_in_4bit": True, "bnb_4bit_quant_type": "nf4"}, "nf4_g64", "fp16"),
    ({"quant_method": "bitsandbytes", "load_in_8bit": True}, "int8_pc", "fp16"),
    ({"quant_method": "fp8", "modules_to_not_convert": ["lm_head"]}, "fp8_e4m3", "fp16"),
    ({"quant_method": "bitnet"}, "ternary", "fp16"),
    ({"quant_method": "compressed-tensors", "ignore": ["lm_head"], "config_groups": {"group_0": {
        "targets": ["Linear"], "weights": {"num_bits": 4, "type": "int", "symmetric": True, "strategy": "group",
                                           "group_size": 128}}}}, "int4_g128", "fp16"),
    ({"quant_method": "compressed-tensors", "ignore": [], "config_groups": {"g": {
        "targets": ["Linear"], "weights": {"num_bits": 8, "type": "float", "strategy": "channel"}}}},
     "fp8_e4m3", "fp8_e4m3"),
])
def test_methods(q, main_fmt, head):
    fmts = formats_of({**BASE, "quantization_config": q})
    assert fmts["layers.0.q_proj"] == fmts["layers.1.mlp.down_proj"] == main_fmt
    assert fmts["lm_head"] == head
    assert fmts["embed_tokens"] == "fp16"  # embeddings stay in the checkpoint's dtype


def test_per_module_exceptions():
    fmts = formats_of({**BASE, "quantization_config": {
        "quant_method": "gptq", "bits": 4, "group_size": 128, "sym": True,
        "dynamic": {r"+:model\.layers\.1\..*": {"bits": 8}, r"-:.*\.o_proj": {}}}})
    assert fmts["layers.0.q_proj"] == "int4_g128" and fmts["layers.1.q_proj"] == "int8_g128"
    assert fmts["layers.0.o_proj"] == "fp16"  # '-:' leaves the module unquantized
    fmts = formats_of({**BASE, "quantization_config": {
        "quant_method": "bitsandbytes", "load_in_8bit": True, "llm_int8_skip_modules": ["lm_head", "down_proj"]}})
    assert fmts["layers.0.mlp.down_proj"] == "fp16" and fmts["layers.0.mlp.up_proj"] == "int8_pc"
    fmts = formats_of({**BASE, "quantization_config": {"quant_method": "compressed-tensors", "ignore": [
        "re:.*gate_proj"], "config_groups": {"g": {"targets": ["Linear"], "weights": {"num_bits": 4}}}}})
    assert fmts["layers.0.mlp.gate_proj"] == "fp16" and fmts["layers.0.mlp.up_proj"] == "int4_pc"


def _sim(capsys, *extra):
    assert main(["simulate", "--arch", "bitmod", "--model", "llama-2-7b-gptq", "--phase", "decode", "--json",
                 *extra]) == 0
    return json.loads(capsys.readouterr().out)["totals"]


def test_gptq_preset_no_longer_costs_as_fp16(capsys):
    own, fp16, int4 = _sim(capsys), _sim(capsys, "--weights", "fp16"), _sim(capsys, "--weights", "int4_g128")
    assert own["energy_j"] < 0.35 * fp16["energy_j"]
    # GPTQ keeps lm_head in fp16: a little more than every op at int4
    assert int4["energy_j"] < own["energy_j"] < 1.1 * int4["energy_j"]


def test_bitnet_on_a_lut_preset(capsys):
    """Ternary weights run on the LUT core; the bf16 head and embeddings it cannot run are said, not hidden."""
    assert main(["simulate", "--arch", "lut-tensor-core", "--model", "bitnet-b1.58-2b4t", "--phase", "decode"]) == 0
    out = capsys.readouterr()
    assert "total:" in out.out and "cannot run bf16 weights" in out.err and out.err.count("\n") == 1


def test_roofline_allocate_and_sweep_use_the_checkpoint_format(capsys, tmp_path):
    assert main(["roofline", "--arch", "h100-sxm", "--model", "llama-2-7b-gptq", "--phase", "decode", "--json"]) == 0
    assert "int4_g128" in json.dumps(json.loads(capsys.readouterr().out)["summary"])
    study = tmp_path / "s.yaml"
    study.write_text("architectures: [{preset: bitmod}]\nworkloads: [{model: [llama-2-7b-gptq, llama-2-7b], "
                     "phase: decode}]\nobjectives: [seconds:min, energy_j:min]\noutputs: {plot: false}\n")
    assert main(["sweep", str(study), "--out", str(tmp_path / "o"), "--json", "--no-progress"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert {r["model"]: r["weights"] for r in rows} == {"llama-2-7b-gptq": "int4_g128", "llama-2-7b": "fp16"}


def test_python_api_takes_names():
    tr = trace("llama-2-7b", "decode")
    a = evaluate("bitmod", tr, "int4_g128").totals
    from hwsim.arch import load_arch
    from hwsim.engine import Precision

    b = evaluate(load_arch("bitmod"), tr, Precision(weights="int4_g128")).totals
    assert a == b
