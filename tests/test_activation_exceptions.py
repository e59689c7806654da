"""Where a checkpoint's own activation format does not reach (hwsim.engine.per_op.op_activations): the modules it
leaves unquantized, attention and every op that is no linear layer (norms, the MLP's activation, rotary, residual
adds), in every command that prices it (simulate, roofline, generate / serve, sweeps), whichever weights are given.

Sources (facts, no code): vLLM builds a module its quantization config skips (ModelOpt's exclude_modules,
compressed-tensors' ignore, modules_to_not_convert, lm_head by default) with UnquantizedLinearMethod, which runs a
plain 16-bit GEMM: 16-bit activations as well as weights. A quantized linear method quantizes its own input (its
apply), so RMSNorm, SiluAndMul, rotary and the residual stream run on the model dtype's 16-bit tensors. Attention's
own matmuls are no linear layer and run in the model dtype, except that with an FP8 KV cache vLLM's
FlashAttention-3 backend quantizes the query to FP8 as well (vLLM docs, "Quantized KV Cache": "queries are quantized
to FP8 in addition to keys and values"). vLLM's deepseek_v2.py builds DeepSeek-V2/V3/V3.2's MoE gate with no
quant_config (a bf16 GEMM, fp32 logits), as do qwen2_moe.py, mixtral.py and llama4.py (ReplicatedLinear with
quant_config=None) and gpt_oss.py (a torch.nn.Linear); qwen3_moe.py passes the quant_config. An explicit --activations keeps its meaning: every op at that format
(docs/serving.md, Activations)."""

import json

import pytest

from hwsim.arch import load_arch
from hwsim.cli import main
from hwsim.engine import Precision, evaluate
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
    a 16-bit KV cache, the norms and other elementwise ops); before, every op took fp8_e4m3."""
    ckpt = _ckpt(tmp_path, FP8)
    own, fp8, fp16 = (
        _rows(capsys, [*RUN, "--model", ckpt, *a])
        for a in ([], ["--activations", "fp8_e4m3"], ["--activations", "fp16"])
    )
    sixteen = {"lm_head", "embed_tokens", "layers.1.mlp.gate_proj", "layers.1.mlp.up_proj", "layers.1.mlp.down_proj"}
    assert sixteen <= set(own)
    checked = 0
    for name, op in own.items():
        want = fp8 if op["kind"] == "linear" and name not in sixteen else fp16
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


def test_norms_run_on_16_bit_tensors(tmp_path, capsys):
    """The norms (and the MLP's activation, rotary, residual adds) of the checkpoint's own run are the `--activations
    fp16` run's rows, not the fp8 run's: an RMSNorm reads and writes the bf16 residual stream, the fp8 quantization
    is the next linear's. The rule is not idle: the norm's bytes (its memory cycles) differ between the two explicit
    runs. Before, the norms kept the checkpoint's fp8 format (half the bytes)."""
    ckpt = _ckpt(tmp_path, FP8)
    own, fp8, fp16 = (
        _rows(capsys, [*RUN, "--model", ckpt, *a])
        for a in ([], ["--activations", "fp8_e4m3"], ["--activations", "fp16"])
    )
    norms = [n for n in own if n.endswith("norm")]
    assert len(norms) == 5  # two per layer and the final one
    for name in norms:
        assert fp8[name]["memory_cycles"] < fp16[name]["memory_cycles"], name
        assert (own[name]["memory_cycles"], own[name]["seconds"]) == (
            fp16[name]["memory_cycles"],
            fp16[name]["seconds"],
        )
    others = [n for n, o in own.items() if o["kind"] == "elementwise" and n not in norms]
    assert others and all(own[n]["seconds"] == fp16[n]["seconds"] for n in others)


def _roofline_rows(capsys, argv):
    assert main(["roofline", *argv, "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    level = doc["summary"][0]["backing_level"]
    return {o["name"]: o for o in doc["ops"] if o["level"] == level}


@pytest.mark.parametrize("kv", ["", "FP8"])
@pytest.mark.parametrize("weights", [[], ["--weights", "int4_g128"]])
def test_roofline_prices_each_op_as_simulate(tmp_path, capsys, kv, weights):
    """hwsim roofline takes the checkpoint's activations per op through the same rule as simulate: every op's
    activation format (its `activations` column: fp8 on the quantized linears, 16-bit on the excluded MLP, lm_head,
    the embeddings, the norms and attention, fp8 on attention with an fp8 KV cache) and its engine time (attained_s)
    are simulate's, with the checkpoint's own weights or an explicit --weights. Before, every row took the
    checkpoint's fp8 (roofline resolved the precision first)."""
    ckpt = _ckpt(tmp_path, {**FP8, "kv_cache_quant_algo": kv or None})
    argv = ["--arch", "h100-sxm", "--model", ckpt, "--phase", "prefill", "--seq", "256", *weights]
    sim = _rows(capsys, ["simulate", *argv])
    rl = _roofline_rows(capsys, argv)
    assert set(rl) == set(sim)
    model = load_model(ckpt)
    tr = trace(model, "prefill", batch=1, seq=256)
    fp8_query = "fp8_e4m3" if kv else "fp16"
    for name, row in rl.items():
        linear_q = row["kind"] == "linear" and name != "lm_head" and not name.startswith("layers.1.mlp")
        want = "fp8_e4m3" if linear_q else fp8_query if row["kind"] == "attention" else "fp16"
        assert row["activations"] == want, name
        assert row["attained_s"] == sim[name]["seconds"], name
    assert len(tr.ops) >= len(rl)


def test_explicit_weights_keep_the_checkpoints_activations_per_op(tmp_path, capsys):
    """--weights without --activations changes the weights only: the activations stay the checkpoint's, per op. Each
    op of `--weights int4_g128` is the same op of `--weights int4_g128 --activations fp8_e4m3` (the quantized
    linears) or `... --activations fp16` (the modules the checkpoint leaves unquantized, attention, norms). Before,
    the per-op path was skipped and every op took fp8_e4m3 (lm_head at fp8 activations, which vLLM never runs)."""
    ckpt = _ckpt(tmp_path, FP8)
    w = ["--model", ckpt, "--weights", "int4_g128"]
    own, fp8, fp16 = (
        _rows(capsys, [*RUN, *w, *a]) for a in ([], ["--activations", "fp8_e4m3"], ["--activations", "fp16"])
    )
    assert "weights" not in own["lm_head"]  # one weight format: no per-op weights column, as before
    for name, op in own.items():
        quantized = op["kind"] == "linear" and name != "lm_head" and not name.startswith("layers.1.mlp")
        assert op["seconds"] == (fp8 if quantized else fp16)[name]["seconds"], name
    assert fp8["lm_head"]["seconds"] != fp16["lm_head"]["seconds"]


def test_serving_and_sweeps_take_the_same_rule_with_explicit_weights(tmp_path):
    """A serving step (hwsim.serve.stepcost: generate / serve) and a sweep (sweep_cost_per_op: studies) of the
    checkpoint at --weights int4_g128 take the checkpoint's activations per op: one decode step of 4 sequences at
    context 300 costs the quantized linears' rows of an all-fp8_e4m3 run plus every other row of an all-fp16 run.
    Before, the step took fp8 on every op."""
    import numpy as np

    from hwsim.serve.parallel import machine_cost

    model = load_model(_ckpt(tmp_path, FP8))
    arch = load_arch("h100-sxm")
    given = Precision(weights="int4_g128", activations=None, kv=None)  # as generate / serve pass no --activations
    prec = for_model(model, given)[0]
    tr = trace(model, "decode", batch=4, context=300)
    rows = {
        a: evaluate(arch, tr, Precision(weights="int4_g128", activations=a, kv=prec.kv)).ops
        for a in ("fp8_e4m3", "fp16")
    }
    names, kinds = rows["fp16"]["name"], rows["fp16"]["kind"]
    quantized = (kinds == "linear") & (names != "lm_head") & ~names.str.startswith("layers.1.mlp")
    want = rows["fp8_e4m3"]["seconds"][quantized].sum() + rows["fp16"]["seconds"][~quantized].sum()
    sc = machine_cost(arch, model, given, None, None)
    got = float(sc.iteration(np.ones(4, dtype=np.int64), np.full(4, 300), 4).seconds)
    assert got == pytest.approx(want, rel=1e-9)
    assert got != pytest.approx(rows["fp8_e4m3"]["seconds"].sum(), rel=1e-6)
    assert evaluate_per_op(arch, tr, prec, None).totals["seconds"] == pytest.approx(want, rel=1e-12)
    swept = sweep_cost_per_op(arch, {"compute.sms": [132]}, tr, prec, None)["seconds"].iloc[0]
    assert swept == pytest.approx(want, rel=1e-12)


def test_explain_asks_for_one_activation_format(tmp_path, capsys):
    """--explain itemises one precision for every op; the checkpoint's activations are per op, so it asks for
    --activations in one line (exit 2), as it asks for --weights where the weights are mixed (tests/test_explain.py).
    Before, `--weights F --explain` itemised every op at the checkpoint's fp8, a table simulate no longer prints."""
    ckpt = _ckpt(tmp_path, FP8)
    argv = [*RUN, "--model", ckpt, "--weights", "fp8_e4m3", "--explain"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "--activations" in err and len(err.strip().splitlines()) == 1
    assert main([*argv, "--activations", "fp8_e4m3"]) == 0
    assert "sources:" in capsys.readouterr().out


DEEPSEEK_FP8 = {"quant_method": "fp8", "fmt": "e4m3", "activation_scheme": "dynamic", "weight_block_size": [128, 128]}


def _preset_ckpt(tmp_path, preset, model_type=None):
    """A checkpoint folder of a workload preset's config.json fields with DeepSeek-V3's fp8 quantization_config (and
    `model_type` instead of its own, where given)."""
    import yaml

    from hwsim.paths import resolve_preset

    cfg = yaml.safe_load(resolve_preset(preset, "workloads", what="model").read_text())
    cfg = {k: v for k, v in cfg.items() if k not in ("name", "source", "quantization_config")}
    if model_type is not None:
        cfg["model_type"] = model_type
    return _write(tmp_path, {**cfg, "quantization_config": DEEPSEEK_FP8}, f"{preset}-{model_type}")


def _write(tmp_path, cfg, name):
    folder = tmp_path / name
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps(cfg))
    return str(folder)


def test_deepseek_router_is_unquantized(tmp_path):
    """DeepSeek-V3's MoE gate stays bf16 in an fp8 checkpoint (vLLM's deepseek_v2.py builds it without a
    quant_config), so it is priced at bf16 weights and 16-bit activations: the preset's 58 router rows (61 layers,
    the first 3 dense) are bf16 and costed as `--weights bf16 --activations fp16` costs them; the experts stay fp8.
    The other model types whose vLLM MoE block builds the router without a quant_config (blocks.ROUTER_UNQUANTIZED:
    qwen2_moe.py, mixtral.py, gpt_oss.py, llama4.py) keep it at the checkpoint's dtype too (before, only DeepSeek's
    did: a Mixtral or Qwen2-MoE fp8 checkpoint's router was fp8); Qwen3-MoE's, built with the quant_config, keeps the
    checkpoint's format unless its skip list names it."""
    model = load_model("deepseek-v3")
    arch = load_arch("h200-sxm")
    tr = trace(model, "decode", batch=1, context=64)
    formats = own_formats(tr)
    ops = tr.ops
    by = dict(zip(ops["name"], formats))
    routers = [n for n in ops["name"] if n.endswith(".router")]
    assert len(routers) == 58 and {by[n] for n in routers} == {"bf16"}
    assert by["layers.3.experts.up_proj"] == by["layers.3.shared.up_proj"] == "fp8_e4m3"
    prec = for_model(model, Precision(weights=None, activations=None))[0]
    own = evaluate_per_op(arch, tr, prec, formats).ops.set_index("name")
    sixteen = evaluate(arch, tr, Precision(weights="bf16", activations="fp16", kv=prec.kv)).ops.set_index("name")
    assert all(own.loc[n, "seconds"] == sixteen.loc[n, "seconds"] for n in routers)
    for preset, want in (
        ("deepseek-v2-lite", "bf16"),
        ("mixtral-8x7b", "bf16"),
        ("gpt-oss-20b", "bf16"),
        ("qwen3-30b-a3b", "fp8_e4m3"),
    ):
        got = trace(load_model(_preset_ckpt(tmp_path, preset)), "decode")
        assert {f for n, f in zip(got.ops["name"], own_formats(got)) if n.endswith(".router")} == {want}, preset
    # Qwen2-MoE and Llama-4 (no presets): the router of a fp8 checkpoint of the same shapes, under their model types
    for model_type in ("qwen2_moe", "llama4_text"):
        m = load_model(_preset_ckpt(tmp_path, "mixtral-8x7b", model_type))
        got = trace(m, "decode")
        routers = {f for n, f in zip(got.ops["name"], own_formats(got)) if n.endswith(".router")}
        assert routers == {"bf16"}, model_type
