"""Weights a quantized checkpoint's own run keeps in the model dtype whatever its quantization_config says
(hwsim.workload.config.ModelConfig.op_weight_formats, hwsim.workload.blocks.MLA_ABSORBED), priced at 16 bits for
bytes, time and footprint.

Sources (facts, no code):
- vLLM builds RMSNorm / LayerNorm with no quant_config, their parameters in the model dtype
  (vllm/model_executor/layers/layernorm.py); a quantization method replaces linear layers' weights only. So a norm's
  gamma (and a LayerNorm's bias) is 16-bit in an fp8 ModelOpt or an int4 GPTQ checkpoint.
- vLLM's MLA backends (MLACommonBaseImpl.process_weights_after_loading, vllm/model_executor/layers/attention/
  mla_attention.py) dequantize kv_b_proj at load into W_UK_T / W_UV in the activation dtype and run the decode
  bmm's (hwsim's q_absorb and v_up rows) in 16 bits ("we currently do not have quantized bmm's"), whatever the
  quantization method; only ROCm's AITER paths requantize them. kv_b_proj itself (prefill) stays quantized.
"""

import json

import pytest

from hwsim.arch import load_arch
from hwsim.core.precision import operand_type
from hwsim.engine import Precision, evaluate
from hwsim.engine.cost import format_exception_bytes
from hwsim.engine.per_op import evaluate_per_op, for_model, op_activations, own_formats
from hwsim.workload import load_model, trace
from test_activation_exceptions import BASE  # the same tiny bf16 Llama

MODELOPT_FP8 = {"quant_method": "modelopt", "quant_algo": "FP8"}


def _ckpt(tmp_path, cfg, name="ckpt"):
    folder = tmp_path / name
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps(cfg))
    return str(folder)


def _own_and_16_bit(model, arch, tr):
    """(each op's own format, the checkpoint's own per-op run, every op at bf16 weights and 16-bit activations)."""
    formats = own_formats(tr)
    prec = for_model(model, Precision(weights=None, activations=None))[0]
    own = evaluate_per_op(arch, tr, prec, formats).ops.set_index("name")
    sixteen = evaluate(arch, tr, Precision(weights="bf16", activations="fp16", kv=prec.kv)).ops.set_index("name")
    return dict(zip(tr.ops["name"], formats)), own, sixteen


@pytest.mark.parametrize("preset", ["modelopt-fp8", "llama-2-7b-gptq"])
def test_norm_weights_stay_16_bit(tmp_path, preset):
    """Every norm of a ModelOpt FP8 (bf16) and a GPTQ int4 (fp16) checkpoint stores its weights in the model dtype:
    its row costs what `--weights bf16 --activations fp16` costs it, and its footprint is its elements × (16 − the
    main format's bits) / 8 above `params × main bits` (format_exception_bytes, simulate's footprint and serve's
    stage weights). Before, a norm took the checkpoint's main format (fp8, int4_g128): 0 extra bytes."""
    if preset == "modelopt-fp8":
        model, dtype = load_model(_ckpt(tmp_path, {**BASE, "quantization_config": MODELOPT_FP8})), "bf16"
    else:
        model, dtype = load_model(preset), "fp16"
    arch = load_arch("h100-sxm")
    tr = trace(model, "decode", batch=4, context=512)
    by, own, sixteen = _own_and_16_bit(model, arch, tr)
    ops = tr.ops
    norms = ops[(ops["op"] == "norm") & (ops["weight_elems"] > 0)]
    assert len(norms) == 2 * model.layers + 1
    assert {by[n] for n in norms["name"]} == {dtype}
    assert {by[n] for n in ops.loc[ops["kind"] == "linear", "name"] if n != "lm_head"} == {model.default_weight_format}
    for name in norms["name"]:
        assert own.loc[name, "seconds"] == sixteen.loc[name, "seconds"], name
    main = operand_type(model.default_weight_format, "weights")
    elems = int(norms["weight_elems"].sum())
    assert elems == (2 * model.layers + 1) * model.hidden
    want = elems * (16 - main.bits) / 8
    assert format_exception_bytes(model, norms, main) == pytest.approx(want, rel=1e-12)


def test_the_main_format_is_the_linear_layers(tmp_path):
    """Norms kept at the model dtype never move the checkpoint's main format (own_formats' `main`, the format of the
    ops that read no weights, the one a serving replay or a study's `weights: model` stands for): it is counted on
    the quantization_config's rules, as before. q_proj and k_proj excluded: 5 bf16 linears (lm_head too) and the
    bf16 embeddings against 10 fp8 linears; the 5 norms, now bf16, would tip it were they counted so."""
    q = {**MODELOPT_FP8, "exclude_modules": ["lm_head", "*q_proj", "*k_proj"]}
    model = load_model(_ckpt(tmp_path, {**BASE, "quantization_config": q}))
    tr = trace(model, "decode", batch=1, context=64)
    formats = own_formats(tr)
    weighted = tr.ops["weight_elems"].to_numpy() > 0
    linear = tr.ops["kind"].to_numpy() == "linear"
    assert sum(f == "bf16" for f, w, k in zip(formats, weighted, linear) if w and not k) == 6
    assert sum(f == "bf16" for f, k in zip(formats, linear) if k) == 5
    assert sum(f == "fp8_e4m3" for f, k in zip(formats, linear) if k) == 10
    assert {f for f, w in zip(formats, weighted) if not w} == {"fp8_e4m3"}


@pytest.mark.parametrize(
    "preset,quant",
    [
        ("deepseek-v3", None),  # its own fp8 block-scaled quantization_config
        ("deepseek-v2-lite", {"quant_method": "gptq", "bits": 4, "group_size": 128, "sym": True}),
    ],
)
def test_mla_absorbed_products_run_in_16_bits(tmp_path, preset, quant):
    """DeepSeek MLA's absorbed decode products (q_absorb = W_UK, v_up = W_UV) are priced at the checkpoint dtype's
    weights and 16-bit activations, as vLLM runs them, in an fp8 and in a GPTQ checkpoint: their rows cost what
    `--weights bf16 --activations fp16` costs them. Prefill's kv_b_proj (the same weights, vLLM's quantized linear)
    keeps the checkpoint's format; the footprint counts kv_b_proj once at that format (the absorbed rows add
    nothing). Before, q_absorb and v_up took the checkpoint's fp8 / int4 weights and fp8 activations."""
    if quant is None:
        model = load_model(preset)
    else:
        import yaml

        from hwsim.paths import resolve_preset

        cfg = yaml.safe_load(resolve_preset(preset, "workloads", what="model").read_text())
        cfg = {k: v for k, v in cfg.items() if k not in ("name", "source")}
        model = load_model(_ckpt(tmp_path, {**cfg, "quantization_config": quant}, preset))
    arch = load_arch("h200-sxm")
    tr = trace(model, "decode", batch=8, context=1024)
    by, own, sixteen = _own_and_16_bit(model, arch, tr)
    absorbed = [n for n in tr.ops["name"] if n.endswith((".q_absorb", ".v_up"))]
    assert len(absorbed) == 2 * model.layers
    assert {by[n] for n in absorbed} == {"bf16"}
    assert by["layers.1.o_proj"] == model.default_weight_format != "bf16"
    for name in absorbed:
        assert own.loc[name, "seconds"] == sixteen.loc[name, "seconds"], name
    prec = for_model(model, Precision(weights=None, activations=None))[0]
    got = op_activations(tr, own_formats(tr), prec)  # None: GPTQ states no activation format, 16 bits everywhere
    assert (got is None) == (quant is not None)
    if got is not None:  # fp8's block-scaled activations reach the linears, not the absorbed products
        acts = dict(zip(tr.ops["name"], got))
        assert {acts[n] for n in absorbed} == {"fp16"} and acts["layers.1.o_proj"] == prec.activations != "fp16"
    main = operand_type(model.default_weight_format, "weights")
    rows = tr.ops[tr.ops["name"].isin(absorbed)]
    assert format_exception_bytes(model, rows, main) == 0.0
    pre = trace(model, "prefill", batch=1, seq=128)
    assert {f for n, f in zip(pre.ops["name"], own_formats(pre)) if n.endswith(".kv_b_proj")} == {main.name}
