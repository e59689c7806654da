"""generate, serve and serving studies cost a quantized checkpoint at its own per-op formats when no weight
format is given, as simulate does (README: "Every command costs each op at its own format through one mechanism
(hwsim.engine.per_op)"); they priced every weight at fp16 before. Formats from each library's documented
quantization_config keys (hwsim.workload.quant): GPTQModel keeps lm_head unquantized unless `lm_head: true`;
ModelOpt's hf_quant_config `exclude_modules` keeps the named modules at the checkpoint's torch_dtype; transformers
never quantizes embed_tokens (`get_keys_to_not_convert`)."""

import json
import math

import numpy as np
import pytest

from hwsim.arch import load_arch
from hwsim.cli import main
from hwsim.core.precision import operand_type
from hwsim.engine import Precision
from hwsim.engine.cost import format_exception_bytes
from hwsim.engine.per_op import evaluate_per_op, own_formats
from hwsim.serve.generate import generate
from hwsim.serve.graphs import graph_replay
from hwsim.serve.kvcache import capacity_blocks, kv_bytes_per_token
from hwsim.serve.links import link_for
from hwsim.serve.parallel import ParallelStepCost
from hwsim.serve.replay import serve
from hwsim.serve.requests import poisson_requests
from hwsim.serve.shard import Parallel, shard_model, stage_params, stage_ranges, stage_weight_bytes
from hwsim.serve.stepcost import StepCost
from hwsim.workload import from_hf_dict, load_model, trace
from tiny_configs import TINY_LLAMA

GPTQ = "llama-2-7b-gptq"  # workloads/llama-2-7b-gptq.yaml: TheBloke/Llama-2-7B-GPTQ, 4 bits, groups of 128
LLAMA = {**TINY_LLAMA, "torch_dtype": "float16"}
# GPTQModel `dynamic`: layer 1 at 8 bits, the rest at 4 (a per-layer format the step rows must keep apart)
MIXED = {
    **LLAMA,
    "quantization_config": {
        "quant_method": "gptq",
        "bits": 4,
        "group_size": 128,
        "sym": True,
        "dynamic": {r"+:model\.layers\.1\..*": {"bits": 8}},
    },
}
# NVIDIA ModelOpt FP8 export of a bf16 model with its head excluded
MODELOPT = {
    **LLAMA,
    "torch_dtype": "bfloat16",
    "quantization_config": {"quant_method": "modelopt", "quant_algo": "FP8", "exclude_modules": ["lm_head"]},
}


def _cli(capsys, command, *argv):
    assert main([command, "--arch", "h100-sxm", "--model", GPTQ, *argv, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_generate_costs_a_gptq_checkpoint_at_its_own_formats(capsys):
    """TPOT of llama-2-7b-gptq on h100-sxm: 9.47 ms before (every weight fp16), 5.32 ms at its own formats, 5.23 ms
    with every weight int4: its fp16 lm_head (131 M weights) is what separates the last two."""
    run = ("--prompt", "512", "--output", "64")
    own, fp16, int4 = (
        _cli(capsys, "generate", *run, *w) for w in ((), ("--weights", "fp16"), ("--weights", "int4_g128"))
    )
    assert (own["weights"], fp16["weights"], int4["weights"]) == ("int4_g128+fp16", "fp16", "int4_g128")
    assert int4["tpot_s"] < own["tpot_s"] < 1.05 * int4["tpot_s"] and own["tpot_s"] < 0.6 * fp16["tpot_s"]
    assert int4["energy_j"] < own["energy_j"] < 1.05 * int4["energy_j"]


def test_generate_steps_are_simulates_per_op_costs():
    """Every step of a generation is the per-op cost of its real trace (hwsim.engine.per_op, what simulate gives),
    on a checkpoint with layers stored in two formats (the step rows of layers 0 and 1 must not merge)."""
    model = from_hf_dict(MIXED)
    for arch in (load_arch("h100-sxm"), load_arch("bitmod")):
        sc = StepCost(arch, model, Precision(weights=None))
        gen = generate(sc, prompt=40, output=4, batch=2)
        main_fmt = Precision(weights="int4_g128")
        for ctx, got in ((0, gen.prefill_s), *zip(gen.step_context.tolist(), gen.step_s.tolist())):
            t = trace(model, "prefill", batch=2, seq=40 if ctx == 0 else 1, context=ctx)
            want = evaluate_per_op(arch, t, main_fmt, own_formats(t)).totals["seconds"]
            assert got == pytest.approx(want, rel=1e-12)
        every = generate(StepCost(arch, model, Precision(weights="int4_g128")), prompt=40, output=4, batch=2)
        assert gen.tpot_s != every.tpot_s


def test_serve_costs_a_gptq_checkpoint_at_its_own_formats(capsys):
    """The replay and the KV cache of the checkpoint as it ships: its fp16 embed_tokens and lm_head (2 × 32000 ×
    4096 weights) hold 16 − 4.125 bits more per weight than int4_g128 would, that many fewer KV blocks."""
    run = ("--rate", "4", "--num-requests", "30", "--input-len", "uniform:64:256", "--output-len", "uniform:8:32")
    own, fp16, int4 = (_cli(capsys, "serve", *run, *w) for w in ((), ("--weights", "fp16"), ("--weights", "int4_g128")))
    assert own["weights"] == "int4_g128+fp16"
    assert int4["tpot_s"]["mean"] < own["tpot_s"]["mean"] < 1.05 * int4["tpot_s"]["mean"]
    assert own["tpot_s"]["mean"] < 0.7 * fp16["tpot_s"]["mean"]
    model = load_model(GPTQ)
    block = kv_bytes_per_token(model, 16) * 16  # K and V of a block of 16 tokens, fp16
    extra = 2 * model.vocab * model.hidden * (16 - operand_type("int4_g128").bits) / 8
    assert fp16["kv_capacity_blocks"] < own["kv_capacity_blocks"] < int4["kv_capacity_blocks"]
    assert int4["kv_capacity_blocks"] - own["kv_capacity_blocks"] == pytest.approx(extra / block, abs=1)


def test_modelopt_fp8_head_excluded_is_bf16_in_steps_and_in_the_cache():
    model = from_hf_dict(MODELOPT)
    arch = load_arch("h100-sxm")
    own, bf16, fp8 = (StepCost(arch, model, Precision(weights=w)) for w in (None, "bf16", "fp8_e4m3"))
    s = np.arange(1, 9)
    assert np.array_equal(own.seq(s).seconds, bf16.seq(s).seconds)  # sequence rows: lm_head alone
    assert np.all(np.asarray(own.seq(s).seconds) > np.asarray(fp8.seq(s).seconds))
    # stored bytes: every parameter at fp8 but the bf16 head and token table (vocab × hidden each) and the norms'
    # weights (hidden each: two a layer and the final one), which stay in the model dtype
    fp8_bits, bf16_bits = operand_type("fp8_e4m3").bits, operand_type("bf16").bits
    sixteen = 2 * model.vocab * model.hidden + (2 * model.layers + 1) * model.hidden
    want = math.ceil(model.params * fp8_bits / 8 + sixteen * (bf16_bits - fp8_bits) / 8)
    blocks, info = capacity_blocks(arch, model, Precision(weights=None), 16, 0.9, 2048)
    assert info["weights_bytes"] == want
    assert capacity_blocks(arch, model, Precision(weights="bf16"), 16, 0.9, 2048)[0] < blocks
    assert blocks < capacity_blocks(arch, model, Precision(weights="fp8_e4m3"), 16, 0.9, 2048)[0]


def test_a_plain_model_is_unchanged():
    """No quantization_config: weights None is fp16, exactly as every command costed it before."""
    arch, model = load_arch("h100-sxm"), load_model("llama-2-7b")
    reqs = poisson_requests(4.0, 20, "uniform:64:256", "uniform:8:32", seed=1)
    own = serve(arch, model, reqs, Precision(weights=None)).summary
    fp16 = serve(arch, model, reqs, Precision()).summary
    assert own == fp16 and own["weights"] == "fp16"
    a = generate(StepCost(arch, model, Precision(weights=None)), 300, 20)
    b = generate(StepCost(arch, model, Precision(weights="fp16")), 300, 20)
    assert a.summary() == b.summary()


def test_shards_and_stages_keep_each_op_at_its_format():
    """Tensor and pipeline shards: each device's rows keep their ops' formats (composition checked against real
    per-op traces), and each stage stores its own ops' exceptions: stage 0 the fp16 token table, stage 1 the
    8-bit layer and the fp16 lm_head."""
    model, arch = from_hf_dict(MIXED), load_arch("h100-sxm")
    for par in (Parallel(tp=2), Parallel(pp=2), Parallel(tp=2, pp=2)):
        pc = ParallelStepCost(arch, model, Precision(weights=None), par, link_for(arch, None))
        assert all(st.check_error < 1e-9 and st._main == "int4_g128" for st in pc.stages)
    shard = shard_model(model, Parallel(pp=2))
    b4, b8, b16 = (operand_type(f).bits for f in ("int4_g128", "int8_g128", "fp16"))
    ranges = stage_ranges(model.layers, 2)
    # the norms' weights stay in the model dtype (two of hidden a layer, the final one on the last stage), layer 1's
    # rule takes its linears only
    norms = [r * 2 * model.hidden for r in (ranges[0][1] - ranges[0][0], ranges[1][1] - ranges[1][0])]
    norms[1] += model.hidden
    layer1 = model.blocks[1].params(model.hidden, model.norm) - 2 * model.hidden
    table = model.vocab * model.hidden
    want = [
        math.ceil(stage_params(shard, ranges[0], 2) * b4 / 8 + (table + norms[0]) * (b16 - b4) / 8),
        math.ceil(
            stage_params(shard, ranges[1], 2) * b4 / 8 + layer1 * (b8 - b4) / 8 + (table + norms[1]) * (b16 - b4) / 8
        ),
    ]
    assert stage_weight_bytes(shard, ranges, 2, operand_type("int4_g128"), True) == want


def test_a_draft_is_costed_and_stored_at_its_own_formats():
    arch, target, draft = load_arch("h100-sxm"), load_model("llama-2-13b"), load_model(GPTQ)
    own = StepCost(arch, draft, Precision(weights=None))
    assert own._main == "int4_g128"
    _, alone = capacity_blocks(arch, target, Precision(weights=None), 16, 0.9, 2048)
    _, both = capacity_blocks(arch, target, Precision(weights=None), 16, 0.9, 2048, draft=draft)
    _, d = capacity_blocks(arch, draft, Precision(weights=None), 16, 0.9, 2048)
    assert both["weights_bytes"] - alone["weights_bytes"] == d["weights_bytes"]


def test_a_tied_table_is_stored_once():
    """BitNet b1.58 2B4T ties lm_head to its bf16 embed_tokens: one table of vocab × hidden stored in bf16 (the
    footprint counted it twice before, once for embed and once for the head that reads it)."""
    model = load_model("bitnet-b1.58-2b4t")
    assert model.tie_embeddings
    ternary = operand_type("ternary")
    ops = trace(model, "decode").ops
    ops = ops[ops["kind"] != "elementwise"]  # the norms' bf16 weights aside (tests/test_checkpoint_16bit_tensors.py)
    want = model.vocab * model.hidden * (operand_type("bf16").bits - ternary.bits) / 8
    assert format_exception_bytes(model, ops, ternary) == pytest.approx(want, rel=1e-12)
    # a last pipeline stage keeps a copy of the tied table: at the head's format there
    assert format_exception_bytes(model, ops, ternary, tied_copy=True) == pytest.approx(2 * want, rel=1e-12)


STUDY = """
name: quantized-serving
architectures: [{preset: h100-sxm}]
workloads:
  - kind: serving
    model: llama-2-7b-gptq
    requests: {rate: 4, num_requests: 8, input_len: "uniform:64:256", output_len: "uniform:4:16", seed: 2}
    max_num_seqs: 8
objectives: [tpot_p99_s:min, total_area_mm2:min]
outputs: {plot: false}
"""


def test_a_study_serves_the_checkpoint_at_its_own_formats(tmp_path):
    from hwsim.study import load_study
    from hwsim.sweep import run_sweep

    p = tmp_path / "s.yaml"
    p.write_text(STUDY)
    s = load_study(p)
    row = run_sweep(s, tmp_path / "out", progress=False).table().iloc[0]
    assert (row["weights"], row["weight_mix"]) == ("int4_g128", "int4_g128+fp16")
    # a study's serving workloads run the CUDA-graph replay machine (hwsim.serve.graphs)
    arch, model, reqs = graph_replay(load_arch("h100-sxm")), load_model(GPTQ), s.workloads[0].stream()
    direct = serve(arch, model, reqs, Precision(weights=None)).summary
    assert row["tpot_p99_s"] == direct["tpot_s"]["p99"] and row["kv_capacity_blocks"] == direct["kv_capacity_blocks"]
    every = serve(arch, model, reqs, Precision(weights="int4_g128")).summary
    assert row["kv_capacity_blocks"] < every["kv_capacity_blocks"]


# The ModelOpt FP8 export above as ModelOpt writes it by default: kv_cache_quant_algo FP8 in its hf_quant_config
# (modelopt/torch/export/model_config.py KV_CACHE_FP8; vLLM's modelopt.py reads it as an fp8 e4m3 cache). Without
# --kv every command takes the cache format from it (hwsim.engine.per_op.model_kv), and --kv still overrides it.
MODELOPT_KV = {**MODELOPT, "quantization_config": {**MODELOPT["quantization_config"], "kv_cache_quant_algo": "FP8"}}


def _checkpoint(tmp_path, cfg, name):
    """A checkpoint folder with `cfg` as its config.json; every one is named `ckpt` (reports name the folder)."""
    folder = tmp_path / name / "ckpt"
    folder.mkdir(parents=True)
    (folder / "config.json").write_text(json.dumps(cfg))
    return str(folder)


def _json(capsys, argv):
    assert main([*argv, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_simulate_takes_the_checkpoints_fp8_kv_cache(tmp_path, capsys):
    """Decode at context 2048: the cache's bytes in the footprint halve (1 byte an element, not 2), and the run is
    `--kv fp8_e4m3`'s exactly; `--kv fp16` is the checkpoint without the field, as every run was before."""
    with_kv, without = _checkpoint(tmp_path, MODELOPT_KV, "kv"), _checkpoint(tmp_path, MODELOPT, "plain")
    run = ["simulate", "--arch", "h100-sxm", "--phase", "decode", "--context", "2048"]
    own = _json(capsys, [*run, "--model", with_kv])
    fp8 = _json(capsys, [*run, "--model", without, "--kv", "fp8_e4m3"])
    fp16 = _json(capsys, [*run, "--model", with_kv, "--kv", "fp16"])
    before = _json(capsys, [*run, "--model", without])
    assert own["totals"] == fp8["totals"] and fp16["totals"] == before["totals"]
    model = from_hf_dict(MODELOPT)
    cache = kv_bytes_per_token(model, 16) * (2048 + 1)  # K and V of 2049 tokens, fp16
    assert before["totals"]["footprint_bytes"] - own["totals"]["footprint_bytes"] == pytest.approx(cache / 2)
    assert own["totals"]["seconds"] < before["totals"]["seconds"]


def test_serve_sizes_the_cache_at_the_checkpoints_fp8_kv(tmp_path, capsys):
    """The stored bytes decide the blocks: an fp8 block is half an fp16 one, so the same memory holds twice the
    blocks (to the one block of rounding); the replay is `--kv fp8_e4m3`'s, and `--kv fp16` overrides."""
    with_kv, without = _checkpoint(tmp_path, MODELOPT_KV, "kv"), _checkpoint(tmp_path, MODELOPT, "plain")
    run = ["serve", "--arch", "h100-sxm", "--rate", "4", "--num-requests", "10", "--input-len", "128"]
    run += ["--output-len", "16"]
    own = _json(capsys, [*run, "--model", with_kv])
    fp8 = _json(capsys, [*run, "--model", without, "--kv", "fp8_e4m3"])
    fp16 = _json(capsys, [*run, "--model", with_kv, "--kv", "fp16"])
    assert own == fp8 and own["weights"] == "fp8_e4m3+bf16"
    assert own["kv_capacity_blocks"] == pytest.approx(2 * fp16["kv_capacity_blocks"], abs=1)
    assert own["kv_peak_bytes"] == fp16["kv_peak_bytes"] / 2
    model, arch = from_hf_dict(MODELOPT_KV), load_arch("h100-sxm")
    assert model.kv_format == "fp8_e4m3"
    got = capacity_blocks(arch, model, Precision(weights=None, kv=None), 16, 0.9, 2048)
    assert got == capacity_blocks(arch, model, Precision(weights=None, kv="fp8_e4m3"), 16, 0.9, 2048)
    assert got[1]["kv_block_bytes"] == kv_bytes_per_token(model, 8) * 16


def test_generate_roofline_and_a_study_take_the_checkpoints_kv_too(tmp_path, capsys):
    with_kv = _checkpoint(tmp_path, MODELOPT_KV, "kv")
    run = ["generate", "--arch", "h100-sxm", "--model", with_kv, "--prompt", "512", "--output", "8"]
    assert _json(capsys, run) == _json(capsys, [*run, "--kv", "fp8_e4m3"]) != _json(capsys, [*run, "--kv", "fp16"])
    rl = _json(capsys, ["roofline", "--arch", "h100-sxm", "--model", with_kv, "--phase", "decode"])
    # ModelOpt FP8 is W8A8: its activations are the checkpoint's fp8 too (tests/test_checkpoint_activations.py)
    assert {s["precision"] for s in rl["summary"]} == {"W fp8_e4m3+bf16 / A fp8_e4m3 / KV fp8_e4m3"}
    from hwsim.study.schema import PrecisionChoice, Workload
    from hwsim.sweep.evaluate import concrete

    w = Workload(model=with_kv, phase="decode")
    assert concrete(PrecisionChoice(), w).kv == "fp8_e4m3"  # `kv: model`, the default
    assert concrete(PrecisionChoice(kv="fp16"), w).kv == "fp16"
    assert concrete(PrecisionChoice(), Workload(model=GPTQ, phase="decode")).kv == "fp16"  # no KV field


def test_a_compressed_tensors_kv_cache_scheme(tmp_path, capsys):
    """llm-compressor's FP8 KV recipe writes kv_cache_scheme {num_bits: 8, type: float, strategy: tensor}: an
    fp8 e4m3 cache (compressed-tensors FP8_E4M3_DATA), priced as `--kv fp8_e4m3`."""
    cfg = {
        **LLAMA,
        "quantization_config": {
            "quant_method": "compressed-tensors",
            "config_groups": {"g": {"targets": ["Linear"], "weights": {"num_bits": 8, "type": "float"}}},
            "ignore": ["lm_head"],
            "kv_cache_scheme": {"num_bits": 8, "type": "float", "strategy": "tensor", "dynamic": False},
        },
    }
    ckpt = _checkpoint(tmp_path, cfg, "ct")
    run = ["serve", "--arch", "h100-sxm", "--model", ckpt, "--rate", "4", "--num-requests", "6"]
    run += ["--input-len", "64", "--output-len", "8"]
    own, fp8, fp16 = _json(capsys, run), _json(capsys, [*run, "--kv", "fp8_e4m3"]), _json(capsys, [*run, "--kv", "16"])
    assert own == fp8 and own["kv_capacity_blocks"] == pytest.approx(2 * fp16["kv_capacity_blocks"], abs=1)


def test_generate_and_serve_report_the_kv_cache_format(tmp_path, capsys):
    """Beside `weights`, the cache format each run used: the checkpoint's fp8 (ModelOpt kv_cache_quant_algo FP8),
    `--kv`'s where given, fp16 for a checkpoint that states none, in the text line and under `kv` in --json."""
    with_kv, without = _checkpoint(tmp_path, MODELOPT_KV, "kv"), _checkpoint(tmp_path, MODELOPT, "plain")
    gen = ["generate", "--arch", "h100-sxm", "--prompt", "128", "--output", "8"]
    srv = ["serve", "--arch", "h100-sxm", "--rate", "4", "--num-requests", "4", "--input-len", "64"]
    srv += ["--output-len", "8"]
    for run in (gen, srv):
        got = [_json(capsys, [*run, *m])["kv"] for m in (["--model", with_kv], ["--model", with_kv, "--kv", "fp16"])]
        assert got + [_json(capsys, [*run, "--model", without])["kv"]] == ["fp8_e4m3", "fp16", "fp16"]
    assert main([*gen, "--model", with_kv]) == 0
    line = "(fp8_e4m3+bf16 weights, fp8_e4m3 activations, fp8_e4m3 KV cache): batch 1"
    assert line in capsys.readouterr().out.splitlines()[0]
    assert main([*srv, "--model", with_kv]) == 0
    line = "(weights fp8_e4m3+bf16, activations fp8_e4m3, KV cache fp8_e4m3): 4 requests"
    assert line in capsys.readouterr().out.splitlines()[0]
    sizing = [*gen, "--model", with_kv, "--devices-needed", "--max-devices", "2"]
    assert _json(capsys, sizing)["kv"] == "fp8_e4m3"


def test_gemma4_per_layer_table_is_priced_as_its_own_table():
    """Gemma-4 E2B (tests/data/hf_configs/gemma-4-e2b-it.json) as a ModelOpt FP8 export excluding lm_head and
    embed_tokens_per_layer (kept at 16 bits): the 8 bits an excepted weight adds are over the token table
    (262,144 × 1,536 = 402,653,184, the tied head stores nothing of its own) and the per-layer table (262,144 ×
    35 layers × 256 = 2,348,810,240): 2,751,463,424 B. Before, both `embed` ops were priced as the token
    table (805,306,368 B: the token table twice, the per-layer table never)."""
    cfg = json.loads(open("tests/data/hf_configs/gemma-4-e2b-it.json").read())
    cfg["quantization_config"] = {
        "quant_method": "modelopt",
        "quant_algo": "FP8",
        "exclude_modules": ["lm_head", "embed_tokens_per_layer"],
    }
    with pytest.warns(Warning):
        model = from_hf_dict(cfg)
    ops = trace(model, "decode", batch=1, context=1).ops
    edges = ops[(ops["layer"] < 0) & (ops["op"] != "norm")]  # the norms' 16-bit weights aside
    assert model.op_weight_formats(["embed_tokens", "embed_tokens_per_layer"]) == ["fp16", "fp16"]
    emb = model.embedding
    assert (emb.per_layer_vocab, len(model.blocks), emb.per_layer) == (262144, 35, 256)
    main = operand_type(model.default_weight_format, "weights")
    assert main.bits == 8
    assert format_exception_bytes(model, edges, main) == 262144 * 1536 + 262144 * 35 * 256 == 2_751_463_424
