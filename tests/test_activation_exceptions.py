"""Where a checkpoint's own activation format does not reach (hwsim.engine.per_op.op_activations): the modules it
leaves unquantized and attention.

Sources (facts, no code): vLLM builds a module its quantization config skips (ModelOpt's exclude_modules,
compressed-tensors' ignore, modules_to_not_convert, lm_head by default) with UnquantizedLinearMethod, which runs a
plain 16-bit GEMM: 16-bit activations as well as weights. Attention's own matmuls are no linear layer and run in
the model dtype, except that with an FP8 KV cache vLLM's FlashAttention-3 backend quantizes the query to FP8 as well
(vLLM docs, "Quantized KV Cache": "queries are quantized to FP8 in addition to keys and values"). An explicit
--activations keeps its meaning: every op at that format (docs/serving.md, Activations)."""

import json

import pytest

from hwsim.arch import load_arch
from hwsim.cli import main
from hwsim.engine import Precision
from hwsim.engine.per_op import evaluate_per_op, for_model, own_formats, sweep_cost_per_op
from hwsim.workload import load_model, trace

BASE = {
    "model_type": "llama",
    "hidden_size": 512,
    "intermediate_size": 1024,
    "num_attention_heads": 8,
    "num_hidden_layers": 2,
    "vocab_size": 4096,
    "torch_dtype": "bfloat16",
}
# ModelOpt FP8 (W8A8, static per-tensor input scales), layer 1's MLP left unquantized beside lm_head
FP8 = {"quant_method": "modelopt", "quant_algo": "FP8", "exclude_modules": ["lm_head", "model.layers.1.mlp*"]}


def _ckpt(tmp_path, q, name="ckpt"):
    folder = tmp_path / name
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({**BASE, "quantization_config": q}))
    return str(folder)


def _rows(capsys, argv):
    assert main([*argv, "--json"]) == 0
    return {o["name"]: o for o in json.loads(capsys.readouterr().out)["ops"]}


RUN = ["simulate", "--arch", "h100-sxm", "--phase", "prefill", "--seq", "1024"]


def test_excluded_modules_and_attention_take_16_bit_activations(tmp_path, capsys):
    """Each op of the checkpoint's own run is, to the last bit, the same op of `--activations fp8_e4m3` (the
    quantized linears) or `--activations fp16` (layer 1's excluded MLP, lm_head, the bf16 embeddings, attention at
    a 16-bit KV cache); before, every op took fp8_e4m3."""
    ckpt = _ckpt(tmp_path, FP8)
    own, fp8, fp16 = (
        _rows(capsys, [*RUN, "--model", ckpt, *a])
        for a in ([], ["--activations", "fp8_e4m3"], ["--activations", "fp16"])
    )
    sixteen = {"lm_head", "embed_tokens", "layers.1.mlp.gate_proj", "layers.1.mlp.up_proj", "layers.1.mlp.down_proj"}
    assert sixteen <= set(own)
    checked = 0
    for name, op in own.items():
        want = fp16 if name in sixteen or op["kind"] == "attention" else fp8
        assert op["seconds"] == want[name]["seconds"], name
        checked += op["kind"] == "attention"
    assert checked > 0
    # the exceptions are real: the excluded MLP and attention differ between the two explicit runs
    assert fp8["layers.1.mlp.down_proj"]["seconds"] != fp16["layers.1.mlp.down_proj"]["seconds"]
    assert any(o["kind"] == "attention" and o["seconds"] != fp16[n]["seconds"] for n, o in fp8.items())
    assert own["layers.0.mlp.down_proj"]["seconds"] == fp8["layers.0.mlp.down_proj"]["seconds"]


def test_an_fp8_kv_cache_puts_the_query_at_fp8(tmp_path, capsys):
    """kv_cache_quant_algo FP8: attention runs on an fp8 query (FlashAttention-3 with an FP8 cache), the same rows
    as `--activations fp8_e4m3`; the linears are unchanged by the cache."""
    ckpt = _ckpt(tmp_path, {**FP8, "kv_cache_quant_algo": "FP8"})
    own, fp8 = (_rows(capsys, [*RUN, "--model", ckpt, *a]) for a in ([], ["--activations", "fp8_e4m3"]))
    attention = [n for n, o in own.items() if o["kind"] == "attention"]
    assert attention and all(own[n]["seconds"] == fp8[n]["seconds"] for n in attention)
    assert own["lm_head"]["seconds"] != fp8["lm_head"]["seconds"]  # lm_head still 16-bit


def test_sweeps_take_the_same_exceptions(tmp_path):
    """sweep_cost_per_op (studies, sweeps) sums to evaluate_per_op's totals for the checkpoint's own activations,
    not to those of one fp8 format everywhere."""
    model = load_model(_ckpt(tmp_path, FP8))
    arch = load_arch("h100-sxm")
    tr = trace(model, "prefill", batch=1, seq=512)
    prec = for_model(model, Precision(weights=None, activations=None))[0]
    formats = own_formats(tr)
    one = evaluate_per_op(arch, tr, prec, formats).totals["seconds"]
    swept = sweep_cost_per_op(arch, {"compute.sms": [132]}, tr, prec, formats)["seconds"].iloc[0]
    assert swept == pytest.approx(one, rel=1e-12)
    forced = evaluate_per_op(arch, tr, Precision(weights=prec.weights, activations="fp8_e4m3", kv=prec.kv), formats)
    assert one != forced.totals["seconds"]
