"""The activations a quantized checkpoint's linear layers take, read from its quantization_config as its weights and
KV cache are (hwsim.workload.quant.activation_format, hwsim.engine.per_op.model_activations): without
--activations (a study's `activations: model`, `Precision(activations=None)`) every command costs a W4A4 NVFP4 or a
W8A8 FP8 checkpoint at the activations a serving engine feeds its GEMMs, and weight-only checkpoints at 16 bits.

Sources of the mapping (facts as vLLM reads these configs): ModelOpt's linear methods (ModelOptFp8Config's only
activation scheme is a static per-tensor input_scale; ModelOptNvFp4LinearMethod quantizes the input to FP4 blocks of
16; ModelOptNvFp4W4A16LinearMethod does not quantize it); Fp8Config's activation_scheme (dynamic | static) and its
per-token-group FP8 quantization of block-quantized layers (per_token_group_quant_fp8, fp32 scales); FBGEMMFp8Config's
per-token dynamic FP8; compressed-tensors' _get_scheme_from_parts (W8A8 FP8 / INT8 by input strategy tensor or token,
W4A4 NVFP4 under strategy tensor_group with group_size 16, input_activations read only under an activation
quantization format) and compressed-tensors' MXFP4 preset (float 4 bits in groups of 32)."""

import json

import numpy as np
import pytest

from hwsim.arch import load_arch
from hwsim.cli import main
from hwsim.engine import Precision
from hwsim.engine.per_op import activations_label, for_model, model_activations
from hwsim.errors import HwsimError
from hwsim.workload import from_hf_dict, load_model
from tiny_configs import TINY_LLAMA

BASE = {**TINY_LLAMA, "torch_dtype": "bfloat16"}
# the least each command needs beside --arch and --model
COMMAND_ARGS = {
    "simulate": ["--phase", "decode"],
    "roofline": ["--phase", "decode"],
    "generate": ["--prompt", "8", "--output", "2"],
    "serve": ["--rate", "1", "--num-requests", "2"],
}
# llm-compressor's presets (compressed-tensors quant_scheme.py) as config.json writes them
W_FP8_CH = {"num_bits": 8, "type": "float", "strategy": "channel", "symmetric": True, "dynamic": False}
W_NVFP4 = {"num_bits": 4, "type": "float", "strategy": "tensor_group", "group_size": 16, "symmetric": True}
W_INT4_G128 = {"num_bits": 4, "type": "int", "strategy": "group", "group_size": 128, "symmetric": True}
W_INT8_CH = {"num_bits": 8, "type": "int", "strategy": "channel", "symmetric": True}


def ct(weights: dict, acts: dict | None, fmt: str | None = None) -> dict:
    group: dict = {"targets": ["Linear"], "weights": weights}
    if acts is not None:
        group["input_activations"] = acts
    q = {"quant_method": "compressed-tensors", "config_groups": {"group_0": group}, "ignore": ["lm_head"]}
    return q if fmt is None else {**q, "format": fmt}


FP8_TOKEN = {"num_bits": 8, "type": "float", "strategy": "token", "dynamic": True, "symmetric": True}
NVFP4 = {"quant_method": "modelopt", "quant_algo": "NVFP4", "group_size": 16, "exclude_modules": ["lm_head"]}


@pytest.mark.parametrize(
    "q, acts",
    [
        # ModelOpt: by quant_algo, flat or nested, and vLLM's method spellings
        (NVFP4, "nvfp4"),
        ({"quant_method": "modelopt", "quantization": {"quant_algo": "NVFP4"}}, "nvfp4"),
        ({"quant_method": "modelopt_fp4"}, "nvfp4"),
        ({"quant_method": "modelopt", "quant_algo": "FP8"}, "fp8_e4m3"),
        ({"quant_method": "modelopt_mxfp8"}, "mxfp8_e4m3"),
        ({"quant_method": "modelopt", "quant_algo": "W4A16_NVFP4"}, None),
        # HF / vLLM fp8: per tensor, or per token in groups of the weight block's columns (DeepSeek-V3)
        ({"quant_method": "fp8", "activation_scheme": "dynamic"}, "fp8_e4m3"),
        ({"quant_method": "fp8", "activation_scheme": "static"}, "fp8_e4m3"),
        ({"quant_method": "fp8"}, "fp8_e4m3"),  # HF FineGrainedFP8Config's default: dynamic
        ({"quant_method": "fp8", "activation_scheme": "dynamic", "weight_block_size": [128, 64]}, "fp8_e4m3_g64_sfp32"),
        ({"quant_method": "fbgemm_fp8"}, "fp8_e4m3_pc"),
        # compressed-tensors input_activations
        (ct(W_FP8_CH, FP8_TOKEN), "fp8_e4m3_pc"),  # FP8_DYNAMIC
        (ct(W_FP8_CH, {**FP8_TOKEN, "strategy": "tensor", "dynamic": False}), "fp8_e4m3"),  # FP8 (static)
        (ct(W_FP8_CH, {**FP8_TOKEN, "strategy": "group", "group_size": 128}), "fp8_e4m3_g128_sfp32"),  # FP8_BLOCK
        (
            ct(W_FP8_CH, {**FP8_TOKEN, "strategy": "group", "group_size": 32, "scale_dtype": "torch.uint8"}),
            "mxfp8_e4m3",
        ),
        (ct(W_NVFP4, {**W_NVFP4, "dynamic": "local"}, "nvfp4-pack-quantized"), "nvfp4"),  # NVFP4
        (ct(W_NVFP4, None, "nvfp4-pack-quantized"), None),  # NVFP4A16
        (ct(W_NVFP4, {"num_bits": 4, "type": "float", "strategy": "group", "group_size": 32}), "mxfp4"),
        (ct(W_INT8_CH, {"num_bits": 8, "type": "int", "strategy": "token", "dynamic": True}), "int8_pc"),  # W8A8
        (ct(W_INT8_CH, {"num_bits": 8, "type": "int", "strategy": "token", "symmetric": False}), "int8a_pc"),
        (ct(W_INT8_CH, {"num_bits": 8, "type": "int", "strategy": "tensor", "dynamic": False}), "int8"),
        (ct(W_INT4_G128, {"num_bits": 8, "type": "int", "strategy": "token", "dynamic": True}), "int8_pc"),  # W4A8
        (ct(W_INT4_G128, None, "pack-quantized"), None),  # W4A16
        (ct(W_INT4_G128, FP8_TOKEN, "pack-quantized"), None),  # vLLM reads no input_activations under this format
        # weight-only methods, and methods whose config states no activations
        ({"quant_method": "gptq", "bits": 4, "group_size": 128}, None),
        ({"quant_method": "awq", "bits": 4, "group_size": 128}, None),
        ({"quant_method": "bitsandbytes", "load_in_4bit": True}, None),
        ({"quant_method": "mxfp4"}, None),
        # BitNet b1.58: W1.58A8, int8 activations per token (absmax), the model's own definition
        ({"quant_method": "bitnet"}, "int8_pc"),
    ],
)
def test_activation_format_of_a_checkpoint(q, acts):
    model = from_hf_dict({**BASE, "quantization_config": q})
    assert model.activation_format == acts
    assert model_activations(model) == (acts or "fp16") and model_activations(model, "int8") == "int8"


def test_presets_that_state_activations():
    """DeepSeek-V3's fp8 checkpoints (quantization_config activation_scheme dynamic, weight_block_size [128, 128])
    and BitNet b1.58 2B4T (quant_method bitnet: W1.58A8, per-token int8, its model card) state activation
    quantization among the presets; GPTQ and gpt-oss's mxfp4 do not."""
    assert load_model("deepseek-v3").activation_format == "fp8_e4m3_g128_sfp32"
    assert load_model("deepseek-v3.2-exp").activation_format == "fp8_e4m3_g128_sfp32"
    assert load_model("bitnet-b1.58-2b4t").activation_format == "int8_pc"
    for name in ("llama-2-7b-gptq", "gpt-oss-20b", "llama-2-7b"):
        assert load_model(name).activation_format is None, name
    assert from_hf_dict(BASE).activation_format is None


@pytest.mark.parametrize(
    "q, field, says",
    [
        ({"quant_method": "fp8", "activation_scheme": "per_token"}, "quantization_config.activation_scheme", "static"),
        ({"quant_method": "fp8", "weight_block_size": [128]}, "quantization_config.weight_block_size", "[rows"),
        (
            ct(W_FP8_CH, {"num_bits": 6, "type": "float", "strategy": "tensor"}),
            "quantization_config.config_groups.group_0.input_activations",
            "float 8 bits per tensor",
        ),
        (
            ct(W_INT8_CH, {"num_bits": 8, "type": "int", "strategy": "channel"}),
            "quantization_config.config_groups.group_0.input_activations",
            "strategy 'channel'",
        ),
        (ct(W_FP8_CH, "dynamic"), "quantization_config.config_groups.group_0.input_activations", "a mapping"),
    ],
)
def test_an_unknown_activation_scheme_is_refused(q, field, says):
    with pytest.raises(HwsimError) as err:
        from_hf_dict({**BASE, "quantization_config": q}, file="ckpt/config.json")
    assert err.value.field == field and says in err.value.detail


def _folder(tmp_path, q, name="ckpt", sidecar=False):
    folder = tmp_path / name
    folder.mkdir()
    cfg = BASE if sidecar else {**BASE, "quantization_config": q}
    (folder / "config.json").write_text(json.dumps(cfg))
    if sidecar:  # ModelOpt's hf_quant_config.json, read where config.json states no quantization_config
        (folder / "hf_quant_config.json").write_text(json.dumps({"producer": {"name": "modelopt"}, "quantization": q}))
    return str(folder)


@pytest.mark.parametrize("command", ["simulate", "generate", "serve", "roofline"])
def test_an_unknown_activation_scheme_is_one_line_exit_2(tmp_path, capsys, command):
    ckpt = _folder(tmp_path, ct(W_FP8_CH, {"num_bits": 8, "type": "float", "strategy": "channel"}))
    argv = COMMAND_ARGS[command]
    assert main([command, "--arch", "h100-sxm", "--model", ckpt, *argv]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert "config.json: quantization_config.config_groups.group_0.input_activations: " in err[0]
    assert "strategy 'channel'" in err[0] and "supported: float 8 bits per tensor, token or group" in err[0]


def _json(capsys, argv):
    assert main([*argv, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_a_w4a4_nvfp4_checkpoint_runs_with_nvfp4_activations(tmp_path, capsys):
    """ModelOpt NVFP4 (W4A4) on B200, prefill of 2048 tokens: without --activations the run is `--activations nvfp4`'s
    exactly; at fp16 (the default before) it is a different run. The activations held in memory take 4.5 bits for
    16 (E2M1 + an E4M3 scale per 16: hwsim.formats nvfp4), and a large linear's tensor-core cycles fall by
    (4096 fp4 FMA x 0.736) / (1024 bf16 FMA x 0.871) = 3.38 (archs/b200.yaml: DGX B200 datasheet rates and the
    efficiencies of 8-bit-and-narrower and 16-bit kernels)."""
    big = {**BASE, "hidden_size": 4096, "intermediate_size": 14336, "num_attention_heads": 32}
    folder = tmp_path / "nv"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({**big, "quantization_config": NVFP4}))
    run = ["simulate", "--arch", "b200", "--model", str(folder), "--phase", "prefill", "--seq", "2048"]
    own, nv, fp16 = (_json(capsys, [*run, *a]) for a in ([], ["--activations", "nvfp4"], ["--activations", "fp16"]))
    # the quantized linear layers at nvfp4 exactly; lm_head (exclude_modules), embed_tokens, attention and the
    # norms, activations, rotary and residual adds at 16-bit, as the fp16 run has them (tests/test_activation_exceptions.py)
    by = [{o["name"]: o for o in doc["ops"]} for doc in (own, nv, fp16)]
    for name, op in by[0].items():
        want = by[1] if op["kind"] == "linear" and name != "lm_head" else by[2]
        assert op["seconds"] == want[name]["seconds"], name
    assert own["totals"] != fp16["totals"] and own["totals"] != nv["totals"]
    live = fp16["totals"]["activation_bytes"] / 2  # elements: fp16 holds 2 bytes each
    assert own["totals"]["activation_bytes"] == pytest.approx(live * 4.5 / 8, abs=1)
    gate = {
        d: next(o for o in doc["ops"] if o["name"] == "layers.0.mlp.gate_proj")
        for d, doc in (("nv", own), ("16", fp16))
    }
    ratio = gate["16"]["compute_cycles"] / gate["nv"]["compute_cycles"]
    assert ratio == pytest.approx(4096 * 0.736 / (1024 * 0.871), rel=0.01)
    assert own["totals"]["seconds"] < fp16["totals"]["seconds"]


def test_an_explicit_flag_overrides_the_checkpoint(tmp_path, capsys):
    """--activations fp16 on the W4A4 export is ModelOpt's weight-only W4A16_NVFP4 export of the same weights, run
    as it ships; in Python, Precision(activations=None) asks for the checkpoint's, Precision() stays fp16."""
    w4a4 = _folder(tmp_path, NVFP4, "w4a4")
    w4a16 = _folder(tmp_path, {**NVFP4, "quant_algo": "W4A16_NVFP4"}, "w4a16")
    run = ["simulate", "--arch", "b200", "--phase", "decode", "--context", "512"]
    forced = _json(capsys, [*run, "--model", w4a4, "--activations", "fp16"])
    assert forced["totals"] == _json(capsys, [*run, "--model", w4a16])["totals"]
    assert forced["totals"] != _json(capsys, [*run, "--model", w4a4])["totals"]
    model = load_model(w4a4)
    assert for_model(model, Precision(weights=None, activations=None))[0].activations == "nvfp4"
    assert for_model(model, Precision(weights=None))[0].activations == 16
    assert activations_label(model, Precision(activations="int8", kv=None)) == "int8"


def test_generate_serve_and_roofline_report_the_activation_format(tmp_path, capsys):
    """Beside weights and KV cache: the checkpoint's nvfp4 (from its hf_quant_config.json here), --activations' where
    given, fp16 for a weight-only checkpoint; in the text line and under `activations` in --json."""
    w4a4 = _folder(tmp_path, NVFP4, "w4a4", sidecar=True)
    gptq = _folder(tmp_path, {"quant_method": "gptq", "bits": 4, "group_size": 128}, "gptq")
    gen = ["generate", "--arch", "b200", "--prompt", "64", "--output", "4"]
    srv = ["serve", "--arch", "b200", "--rate", "4", "--num-requests", "3", "--input-len", "32", "--output-len", "4"]
    for run in (gen, srv):
        got = [
            _json(capsys, [*run, "--model", m, *a])["activations"]
            for m, a in ((w4a4, []), (w4a4, ["--activations", "fp8_e4m3"]), (gptq, []))
        ]
        assert got == ["nvfp4", "fp8_e4m3", "fp16"]
        # the checkpoint's nvfp4 is not `--activations nvfp4`: lm_head (exclude_modules), the embeddings and
        # attention keep 16-bit activations (tests/test_activation_exceptions.py), which cost more time here
        own, forced = (_json(capsys, [*run, "--model", w4a4, *a]) for a in ([], ["--activations", "nvfp4"]))
        assert own["activations"] == forced["activations"] == "nvfp4"
        assert own["energy_j"] > forced["energy_j"]
    assert main([*gen, "--model", w4a4]) == 0
    assert "(nvfp4+bf16 weights, nvfp4 activations, bf16 KV cache): batch 1" in capsys.readouterr().out.splitlines()[0]
    assert main([*srv, "--model", w4a4]) == 0
    assert (
        "(weights nvfp4+bf16, activations nvfp4, KV cache bf16): 3 requests" in capsys.readouterr().out.splitlines()[0]
    )
    sizing = _json(capsys, [*gen, "--model", w4a4, "--devices-needed", "--max-devices", "2"])
    assert sizing["activations"] == "nvfp4"
    rl = _json(capsys, ["roofline", "--arch", "b200", "--model", w4a4, "--phase", "decode"])
    assert {s["precision"] for s in rl["summary"]} == {"W nvfp4+bf16 / A nvfp4 / KV fp16"}


def test_allocate_and_studies_take_the_checkpoints_activations(tmp_path):
    """allocate's activations None and a study's `activations: model` (the default) are the checkpoint's; a given
    format overrides both. The study's rows name the format costed (its `activations` column)."""
    from hwsim.allocate.api import build_problem
    from hwsim.study.schema import PrecisionChoice, Workload
    from hwsim.sweep.evaluate import concrete
    from hwsim.workload import trace

    w4a4 = _folder(tmp_path, NVFP4, "w4a4")
    w = Workload(model=w4a4, phase="decode")
    assert concrete(PrecisionChoice(), w).activations == "nvfp4"
    assert concrete(PrecisionChoice(activations="fp16"), w).activations == "fp16"
    assert concrete(PrecisionChoice(), Workload(model="llama-2-7b-gptq", phase="decode")).activations == "fp16"
    tr = trace(load_model(w4a4), "decode", context=256)
    arch = load_arch("b200")
    own, nv, fp16 = (build_problem(arch, tr, ["nvfp4", "fp8_e4m3"], activations=a) for a in (None, "nvfp4", "fp16"))
    assert np.array_equal(own.costs["seconds"], nv.costs["seconds"])
    assert (own.costs["seconds"] < fp16.costs["seconds"]).all()  # every weight unit's GEMM at nvfp4 x nvfp4

    from hwsim.sweep import run_sweep

    study = tmp_path / "s.yaml"
    study.write_text(
        f"name: acts\narchitectures: [{{preset: b200}}]\nworkloads: [{{model: {w4a4}, phase: prefill, seq: 512}}]\n"
        "precisions: [{weights: model}, {activations: fp16}]\nobjectives: [seconds:min]\noutputs: {plot: false}\n"
    )
    table = run_sweep(str(study), tmp_path / "out", progress=False).table()
    secs = dict(zip(table["activations"].astype(str), table["seconds"]))
    assert sorted(secs) == ["fp16", "nvfp4"] and secs["nvfp4"] < secs["fp16"]


@pytest.mark.parametrize("command", ["simulate", "roofline", "generate", "serve"])
def test_a_refusal_of_the_checkpoints_activations_names_its_field(tmp_path, capsys, command):
    """A design that cannot take the activations a checkpoint chose (a pim preset with float_operands error, an
    int4 W4A8-FP8 compressed-tensors export) names the checkpoint file and the field that states them, not
    --activations, which was never given; one line, exit 2. Given, --activations is named as before."""
    ckpt = _folder(tmp_path, ct(W_INT4_G128, FP8_TOKEN, "float-quantized"))
    argv = COMMAND_ARGS[command]
    run = [command, "--arch", "neural-cache", "--set", "compute.float_operands=error", "--model", ckpt, *argv]
    assert main(run) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    field = "config.json: quantization_config.config_groups.group_0.input_activations: "
    assert field in err[0] and "--activations" not in err[0] and "fp8_e4m3_pc" in err[0]
    assert "neural-cache.yaml" in err[0]
    assert main([*run, "--activations", "fp8_e4m3"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "neural-cache.yaml: --activations: " in err[0], err


@pytest.mark.parametrize(
    "q, field",
    [
        (NVFP4, "quantization_config.quant_algo"),
        (
            {"quant_method": "modelopt", "quantization": {"quant_algo": "FP8"}},
            "quantization_config.quantization.quant_algo",
        ),
        ({"quant_method": "fp8", "weight_block_size": [128, 128]}, "quantization_config.activation_scheme"),
        ({"quant_method": "fbgemm_fp8"}, "quantization_config.quant_method"),
        (ct(W_INT4_G128, FP8_TOKEN, "float-quantized"), "quantization_config.config_groups.group_0.input_activations"),
        ({"quant_method": "gptq", "bits": 4, "group_size": 128}, None),
    ],
)
def test_the_field_that_states_the_activations(q, field):
    model = from_hf_dict({**BASE, "quantization_config": q}, file="ckpt/config.json")
    assert model.activation_source == (None if field is None else ("ckpt/config.json", field))


W_MXFP8 = {"num_bits": 8, "type": "float", "strategy": "group", "group_size": 32, "scale_dtype": "torch.uint8"}


@pytest.mark.parametrize(
    "weights, fmt",
    [
        # compressed-tensors' MXFP8 / MXFP4 presets (quant_scheme.py: group 32, scale_dtype torch.uint8 = E8M0)
        (W_MXFP8, "mxfp8_e4m3"),
        ({**W_MXFP8, "num_bits": 4}, "mxfp4"),
        (W_FP8_CH, "fp8_e4m3"),  # per channel, fp32 scales: as before
        ({**W_MXFP8, "scale_dtype": None}, "fp8_e4m3"),  # groups of 32 with fp32 scales: not MX
        (W_NVFP4, "nvfp4"),
    ],
)
def test_compressed_tensors_mx_weights(weights, fmt):
    """The MXFP8 preset's weights are mxfp8_e4m3 (an E8M0 scale per 32: 8.25 bits), not fp8_e4m3 (8 bits): before,
    any float 8-bit group read as fp8_e4m3. Its input_activations (the same args, dynamic) read mxfp8_e4m3 alike."""
    model = from_hf_dict({**BASE, "quantization_config": ct(weights, None, "float-quantized")})
    assert model.default_weight_format == fmt
    if fmt == "mxfp8_e4m3":
        both = from_hf_dict(
            {**BASE, "quantization_config": ct(weights, {**weights, "dynamic": True}, "float-quantized")}
        )
        assert both.default_weight_format == both.activation_format == "mxfp8_e4m3"
