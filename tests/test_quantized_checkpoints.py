"""A checkpoint's quantization_config decides its weight formats unless the user overrides them (issue 15):
GPTQ, AWQ, bitsandbytes, fp8, compressed-tensors, ModelOpt, BitNet; module exceptions become per-op formats."""

import json

import pandas as pd
import pytest

from hwsim.cli import main
from hwsim.engine import evaluate
from hwsim.errors import HwsimError
from hwsim.workload import from_hf_dict, trace

BASE = {
    "model_type": "llama",
    "hidden_size": 64,
    "intermediate_size": 128,
    "num_attention_heads": 4,
    "num_hidden_layers": 2,
    "vocab_size": 256,
    "torch_dtype": "float16",
}


def formats_of(cfg: dict) -> dict[str, str]:
    m = from_hf_dict(cfg)
    tr = trace(m, "decode")
    return dict(zip(tr.ops["name"], m.op_weight_formats(tr.ops["name"])))


@pytest.mark.parametrize(
    "q, main_fmt, head",
    [
        ({"quant_method": "gptq", "bits": 4, "group_size": 128, "sym": True}, "int4_g128", "fp16"),
        (
            {"quant_method": "gptq", "bits": 4, "group_size": 128, "sym": True, "lm_head": True},
            "int4_g128",
            "int4_g128",
        ),
        ({"quant_method": "gptq", "bits": 8, "group_size": -1, "sym": False}, "int8a_pc", "fp16"),
        ({"quant_method": "awq", "bits": 4, "group_size": 64, "zero_point": True}, "int4a_g64", "fp16"),
        ({"quant_method": "bitsandbytes", "load_in_4bit": True, "bnb_4bit_quant_type": "nf4"}, "nf4_g64", "fp16"),
        ({"quant_method": "bitsandbytes", "load_in_8bit": True}, "int8_pc", "fp16"),
        ({"quant_method": "fp8", "modules_to_not_convert": ["lm_head"]}, "fp8_e4m3", "fp16"),
        ({"quant_method": "bitnet"}, "ternary", "fp16"),
        (
            {
                "quant_method": "compressed-tensors",
                "ignore": ["lm_head"],
                "config_groups": {
                    "group_0": {
                        "targets": ["Linear"],
                        "weights": {
                            "num_bits": 4,
                            "type": "int",
                            "symmetric": True,
                            "strategy": "group",
                            "group_size": 128,
                        },
                    }
                },
            },
            "int4_g128",
            "fp16",
        ),
        (
            {
                "quant_method": "compressed-tensors",
                "ignore": [],
                "config_groups": {
                    "g": {"targets": ["Linear"], "weights": {"num_bits": 8, "type": "float", "strategy": "channel"}}
                },
            },
            "fp8_e4m3",
            "fp8_e4m3",
        ),
        (  # llm-compressor's NVFP4 scheme (e.g. RedHatAI's *-NVFP4 checkpoints)
            {
                "quant_method": "compressed-tensors",
                "ignore": ["lm_head"],
                "config_groups": {
                    "group_0": {
                        "targets": ["Linear"],
                        "weights": {"num_bits": 4, "type": "float", "strategy": "tensor_group", "group_size": 16},
                    }
                },
            },
            "nvfp4",
            "fp16",
        ),
        # NVIDIA ModelOpt exports: the hf_quant_config.json fields, flat or under `quantization`
        ({"quant_method": "modelopt", "quant_algo": "FP8", "exclude_modules": ["lm_head"]}, "fp8_e4m3", "fp16"),
        (
            {"quant_method": "modelopt", "quantization": {"quant_algo": "NVFP4", "group_size": 16}},
            "nvfp4",
            "fp16",
        ),
        # vLLM's names for ModelOpt NVFP4 and MXFP8 checkpoints (its quantization registry: modelopt_fp4 →
        # ModelOptNvFp4Config, modelopt_mxfp8 → ModelOptMxFp8Config); the name implies the algorithm when none is given
        (
            {"quant_method": "modelopt_fp4", "quant_algo": "NVFP4", "group_size": 16, "exclude_modules": ["lm_head"]},
            "nvfp4",
            "fp16",
        ),
        ({"quant_method": "modelopt_fp4", "exclude_modules": ["lm_head"]}, "nvfp4", "fp16"),
        # weight-only NVFP4 (vLLM modelopt.py QUANT_ALGOS "W4A16_NVFP4", ModelOptNvFp4W4A16LinearMethod): the same
        # weights; vLLM upper-cases quant_algo, so ModelOpt's lower-case spelling reads too
        (
            {"quant_method": "modelopt", "quant_algo": "W4A16_NVFP4", "group_size": 16, "exclude_modules": ["lm_head"]},
            "nvfp4",
            "fp16",
        ),
        (
            {"quant_method": "modelopt_fp4", "quantization": {"quant_algo": "w4a16_nvfp4", "group_size": 16}},
            "nvfp4",
            "fp16",
        ),
        (
            {"quant_method": "modelopt_mxfp8", "quant_algo": "MXFP8", "exclude_modules": ["lm_head"]},
            "mxfp8_e4m3",
            "fp16",
        ),
    ],
)
def test_methods(q, main_fmt, head):
    fmts = formats_of({**BASE, "quantization_config": q})
    assert fmts["layers.0.q_proj"] == fmts["layers.1.mlp.down_proj"] == main_fmt
    assert fmts["lm_head"] == head
    assert fmts["embed_tokens"] == "fp16"  # embeddings stay in the checkpoint's dtype


def test_per_module_exceptions():
    fmts = formats_of(
        {
            **BASE,
            "quantization_config": {
                "quant_method": "gptq",
                "bits": 4,
                "group_size": 128,
                "sym": True,
                "dynamic": {r"+:model\.layers\.1\..*": {"bits": 8}, r"-:.*\.o_proj": {}},
            },
        }
    )
    assert fmts["layers.0.q_proj"] == "int4_g128" and fmts["layers.1.q_proj"] == "int8_g128"
    assert fmts["layers.0.o_proj"] == "fp16"  # '-:' leaves the module unquantized
    fmts = formats_of(
        {
            **BASE,
            "quantization_config": {
                "quant_method": "bitsandbytes",
                "load_in_8bit": True,
                "llm_int8_skip_modules": ["lm_head", "down_proj"],
            },
        }
    )
    assert fmts["layers.0.mlp.down_proj"] == "fp16" and fmts["layers.0.mlp.up_proj"] == "int8_pc"
    fmts = formats_of(
        {
            **BASE,
            "quantization_config": {
                "quant_method": "compressed-tensors",
                "ignore": ["re:.*gate_proj"],
                "config_groups": {"g": {"targets": ["Linear"], "weights": {"num_bits": 4}}},
            },
        }
    )
    assert fmts["layers.0.mlp.gate_proj"] == "fp16" and fmts["layers.0.mlp.up_proj"] == "int4_pc"


def test_modelopt_exclude_globs_and_refusals():
    fmts = formats_of(
        {
            **BASE,
            "quantization_config": {
                "quant_method": "modelopt",
                "quant_algo": "NVFP4",
                "group_size": 16,
                "exclude_modules": ["lm_head", "model.layers.1.self_attn*"],
            },
        }
    )
    assert fmts["layers.1.q_proj"] == fmts["layers.1.o_proj"] == "fp16"  # the glob covers layer 1's attention
    assert fmts["layers.0.q_proj"] == fmts["layers.1.mlp.up_proj"] == "nvfp4"
    for q, field, says in (
        ({"quant_method": "modelopt", "quant_algo": "W4A8_AWQ"}, "quantization_config.quant_algo", "FP8, NVFP4"),
        ({"quant_method": "modelopt", "quant_algo": "NVFP4", "group_size": 32}, "quantization_config.group_size", "16"),
        (
            {
                "quant_method": "compressed-tensors",
                "config_groups": {"g": {"weights": {"num_bits": 4, "type": "float", "group_size": 32}}},
            },
            "quantization_config.config_groups.g.weights.num_bits",
            "nvfp4",
        ),
    ):
        with pytest.raises(HwsimError) as e:
            from_hf_dict({**BASE, "quantization_config": q})
        assert e.value.field == field and says in str(e.value)


def _sim(capsys, *extra):
    assert (
        main(["simulate", "--arch", "bitmod", "--model", "llama-2-7b-gptq", "--phase", "decode", "--json", *extra]) == 0
    )
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


@pytest.mark.parametrize("command", ["simulate", "roofline"])
def test_a_main_format_the_design_cannot_run_is_one_error_line(capsys, command):
    """DeepSeek-V3 stores fp8 weights with a bf16 head: on a LUT design neither runs. roofline warned that the head
    was costed at fp8 (quoting a truncated message), then refused fp8; the refusal alone is what is true."""
    argv = [command, "--arch", "tmac-rpi5", "--model", "deepseek-v3", "--phase", "decode"]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "fp8_e4m3" in err[0] and "error" in err[0]


def test_roofline_warns_in_full_about_a_format_the_design_cannot_run(capsys):
    assert main(["roofline", "--arch", "tmac-rpi5", "--model", "bitnet-b1.58-2b4t", "--phase", "decode"]) == 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "cannot run bf16 weights" in err[0] and "e.g. int4_g128 or 2 bits)" in err[0]


def test_roofline_allocate_and_sweep_use_the_checkpoint_format(capsys, tmp_path):
    assert main(["roofline", "--arch", "h100-sxm", "--model", "llama-2-7b-gptq", "--phase", "decode", "--json"]) == 0
    assert "int4_g128" in json.dumps(json.loads(capsys.readouterr().out)["summary"])
    study = tmp_path / "s.yaml"
    study.write_text(
        "architectures: [{preset: bitmod}]\nworkloads: [{model: [llama-2-7b-gptq, llama-2-7b], "
        "phase: decode}]\nobjectives: [seconds:min, energy_j:min]\noutputs: {plot: false}\n"
    )
    assert main(["sweep", str(study), "--out", str(tmp_path / "o"), "--json", "--no-progress"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert {r["model"]: r["weights"] for r in rows} == {"llama-2-7b-gptq": "int4_g128", "llama-2-7b": "fp16"}


# --- per-op formats in every command: one mechanism (hwsim.engine.per_op), so every command's cost of the
# checkpoint as it ships is simulate's, and differs from both all-fp16 and all-int4 (an ignored lm_head stays
# 16-bit; GPTQ `dynamic` gives layer 1 8-bit weights).
MIXED = {
    **BASE,
    "hidden_size": 256,
    "intermediate_size": 512,
    "vocab_size": 4096,
    "quantization_config": {
        "quant_method": "gptq",
        "bits": 4,
        "group_size": 128,
        "sym": True,
        "dynamic": {r"+:model\.layers\.1\..*": {"bits": 8}},
    },
}


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory):
    folder = tmp_path_factory.mktemp("gptq-mixed")
    (folder / "config.json").write_text(json.dumps(MIXED))
    return str(folder)


def _simulate(capsys, ckpt, *extra) -> dict:
    assert main(["simulate", "--arch", "bitmod", "--model", ckpt, "--phase", "decode", "--json", *extra]) == 0
    return json.loads(capsys.readouterr().out)


def test_simulate_per_op_rows(capsys, ckpt):
    rows = {r["name"]: r["weights"] for r in _simulate(capsys, ckpt)["ops"]}
    assert rows["lm_head"] == "fp16" and rows["layers.0.q_proj"] == "int4_g128"
    assert rows["layers.1.q_proj"] == "int8_g128"


def test_roofline_costs_each_op_at_its_own_format(capsys, ckpt):
    own = _simulate(capsys, ckpt)["totals"]
    runs = {}
    for extra in ((), ("--weights", "fp16"), ("--weights", "int4_g128")):
        assert main(["roofline", "--arch", "bitmod", "--model", ckpt, "--phase", "decode", "--json", *extra]) == 0
        runs[extra] = json.loads(capsys.readouterr().out)
    mixed = runs[()]
    s = mixed["summary"][0]
    assert s["precision"].startswith("W int4_g128+")  # the series names every format it holds
    assert s["attained_s"] == pytest.approx(own["seconds"], rel=1e-12)
    weight_bytes = {k: r["summary"][0]["weight_bytes"] for k, r in runs.items()}
    assert weight_bytes[("--weights", "int4_g128")] < weight_bytes[()] < weight_bytes[("--weights", "fp16")]
    head = [r for r in mixed["ops"] if r["name"] == "lm_head"]
    fp16_head = [r for r in runs[("--weights", "fp16")]["ops"] if r["name"] == "lm_head"]
    assert head[0]["weights"] == "fp16" and head[0]["bytes"] == fp16_head[0]["bytes"]  # the head stays 16-bit
    assert {r["weights"] for r in mixed["ops"] if r["name"] == "layers.1.mlp.up_proj"} == {"int8_g128"}


def test_sweep_costs_the_checkpoint_as_simulate_does(capsys, ckpt, tmp_path):
    own, int4 = _simulate(capsys, ckpt)["totals"], _simulate(capsys, ckpt, "--weights", "int4_g128")["totals"]
    study = tmp_path / "s.yaml"
    study.write_text(
        f"architectures: [{{preset: bitmod, sweep: {{compute.rows: [16, 32]}}}}]\n"
        f"workloads: [{{model: '{ckpt}', phase: decode}}]\n"
        "precisions: [{weights: model}, {weights: int4_g128}]\n"
        "objectives: [seconds:min, energy_j:min]\noutputs: {plot: false}\n"
    )
    assert main(["sweep", str(study), "--out", str(tmp_path / "o"), "--no-progress"]) == 0
    capsys.readouterr()
    rows = pd.read_parquet(tmp_path / "o" / "results.parquet").to_dict(orient="records")
    assert (
        main(
            ["simulate", "--arch", "bitmod", "--model", ckpt, "--phase", "decode", "--json", "--set", "compute.rows=16"]
        )
        == 0
    )
    own16 = json.loads(capsys.readouterr().out)["totals"]
    at16 = {r["weight_mix"]: r for r in rows if r["compute.rows"] == 16}
    # the formats after the main one, most ops first: fp16 holds the head, the embeddings and the norms (their
    # weights in the model dtype, tests/test_checkpoint_16bit_tensors.py), int8 layer 1's linears
    assert set(at16) == {"int4_g128+fp16+int8_g128", "int4_g128"}
    mixed, uniform = at16["int4_g128+fp16+int8_g128"], at16["int4_g128"]
    assert mixed["weights"] == uniform["weights"] == "int4_g128"  # the main format: accuracy joins on it
    for key in ("seconds", "energy_j", "cycles"):
        assert mixed[key] == pytest.approx(own16[key], rel=1e-9)
    # `weights: model` (fp16 head, int8 layer 1) costs more than int4 everywhere, as simulate says
    assert mixed["energy_j"] > uniform["energy_j"] and own["energy_j"] > int4["energy_j"]


def test_allocate_fixed_ops_and_stored_point(ckpt):
    from hwsim.allocate import build_problem, resolve_trace
    from hwsim.arch import load_arch
    from hwsim.engine import Precision
    from hwsim.engine.per_op import evaluate_per_op, own_formats

    tr = resolve_trace(ckpt, "decode")
    formats = "int4_g128,int8_g128"
    own = build_problem("bitmod", tr, formats, proxy="uniform")
    as_int4 = build_problem("bitmod", tr, formats, proxy="uniform", fixed_weights="int4_g128")
    as_fp16 = build_problem("bitmod", tr, formats, proxy="uniform", fixed_weights="fp16")
    # lm_head and the embeddings stay 16-bit, not the main format: the fixed part is fp16's, not int4's
    assert own.fixed["memory_bytes"] == as_fp16.fixed["memory_bytes"] > as_int4.fixed["memory_bytes"]
    # (ops without weights — attention, norms — run at the main format, as simulate runs them)
    assert as_int4.fixed["energy_j"] < own.fixed["energy_j"] <= as_fp16.fixed["energy_j"]
    # the checkpoint's own assignment is a point of the problem, priced exactly as simulate prices it
    assert own.stored is not None and as_fp16.stored is None
    stored = own.assignment(own.stored)
    assert stored["layers.0.q_proj"] == "int4_g128" and stored["layers.1.q_proj"] == "int8_g128"
    sim = evaluate_per_op(load_arch("bitmod"), tr, Precision(), own_formats(tr)).totals
    totals = own.totals(own.stored)
    assert totals["seconds"] == pytest.approx(sim["seconds"], rel=1e-9)
    assert totals["energy_j"] == pytest.approx(sim["energy_j"], rel=1e-9)


def test_allocate_cli_reports_the_checkpoint(capsys, ckpt):
    assert (
        main(
            [
                "allocate",
                "--arch",
                "bitmod",
                "--model",
                ckpt,
                "--phase",
                "decode",
                "--formats",
                "int4_g128,int8_g128",
                "--budget",
                "avg_bits=6",
                "--proxy",
                "uniform",
                "--json",
            ]
        )
        == 0
    )
    out = json.loads(capsys.readouterr().out)
    assert out["checkpoint"]["avg_bits"] == pytest.approx((4.125 + 8.125) / 2)
    assert (
        main(
            [
                "allocate",
                "--arch",
                "bitmod",
                "--model",
                ckpt,
                "--phase",
                "decode",
                "--formats",
                "int4_g128,int8_g128",
                "--frontier",
                "avg_bits:3",
                "--proxy",
                "uniform",
                "--json",
            ]
        )
        == 0
    )
    points = json.loads(capsys.readouterr().out)["points"]
    assert [p["format"] for p in points if p["kind"] == "checkpoint"] == ["int4_g128+int8_g128"]


def test_python_api_takes_names():
    tr = trace("llama-2-7b", "decode")
    a = evaluate("bitmod", tr, "int4_g128").totals
    from hwsim.arch import load_arch
    from hwsim.engine import Precision

    b = evaluate(load_arch("bitmod"), tr, Precision(weights="int4_g128")).totals
    assert a == b


# The KV-cache format a checkpoint states (hwsim.workload.quant.kv_cache_format). Keys and values as each library
# writes them: ModelOpt's hf_quant_config.json `kv_cache_quant_algo` (modelopt/torch/export/model_config.py
# KV_CACHE_FP8 = "FP8", KV_CACHE_NVFP4, KV_CACHE_INT8) and its config.json form `kv_cache_scheme` ({dynamic: false,
# num_bits: 8, type: float} for FP8, convert_hf_config.py); compressed-tensors' `kv_cache_scheme` QuantizationArgs
# (quant_args.py: num_bits 8, type int, symmetric true by default; strategy tensor unless group_size says group
# or channel), e.g. llm-compressor's FP8 KV recipe {num_bits: 8, type: float, strategy: tensor, dynamic: false}
FP8_KV = {"num_bits": 8, "type": "float", "strategy": "tensor", "dynamic": False, "symmetric": True}
CT_FP8 = {  # compressed-tensors FP8 weights, as in test_methods
    "quant_method": "compressed-tensors",
    "ignore": ["lm_head"],
    "config_groups": {"g": {"targets": ["Linear"], "weights": {"num_bits": 8, "type": "float", "strategy": "channel"}}},
}
MODELOPT_FP8 = {"quant_method": "modelopt", "quant_algo": "FP8", "exclude_modules": ["lm_head"]}


@pytest.mark.parametrize(
    "q, kv",
    [
        ({**MODELOPT_FP8, "kv_cache_quant_algo": "FP8"}, "fp8_e4m3"),
        ({**MODELOPT_FP8, "kv_cache_quant_algo": "fp8"}, "fp8_e4m3"),  # upper-cased, as vLLM reads it
        ({**MODELOPT_FP8, "kv_cache_quant_algo": None}, None),
        (MODELOPT_FP8, None),
        (
            {"quant_method": "modelopt", "quantization": {"quant_algo": "NVFP4", "kv_cache_quant_algo": "NVFP4"}},
            "nvfp4",
        ),
        ({"quant_method": "modelopt", "quantization": {"quant_algo": "FP8", "kv_cache_quant_algo": "INT8"}}, "int8"),
        ({**MODELOPT_FP8, "kv_cache_scheme": {"dynamic": False, "num_bits": 8, "type": "float"}}, "fp8_e4m3"),
        ({**MODELOPT_FP8, "kv_cache_scheme": "NVFP4"}, "nvfp4"),
        ({"quant_method": "modelopt_fp4", "quant_algo": "NVFP4", "kv_cache_quant_algo": "FP8"}, "fp8_e4m3"),
        ({**CT_FP8, "kv_cache_scheme": FP8_KV}, "fp8_e4m3"),
        ({**CT_FP8, "kv_cache_scheme": {**FP8_KV, "strategy": "attn_head"}}, "fp8_e4m3"),
        ({**CT_FP8, "kv_cache_scheme": {"num_bits": 8, "type": "int"}}, "int8"),
        ({**CT_FP8, "kv_cache_scheme": {"num_bits": 8, "type": "int", "symmetric": False}}, "int8a"),
        ({**CT_FP8, "kv_cache_scheme": {"num_bits": 8, "type": "int", "strategy": "channel"}}, "int8_pc"),
        ({**CT_FP8, "kv_cache_scheme": {"num_bits": 8, "type": "int", "group_size": 64}}, "int8_g64"),
        ({**CT_FP8, "kv_cache_scheme": None}, None),
        (CT_FP8, None),
        ({"quant_method": "gptq", "bits": 4, "group_size": 128}, None),  # GPTQ states no KV format
    ],
)
def test_kv_cache_format_of_a_checkpoint(q, kv):
    assert from_hf_dict({**BASE, "quantization_config": q}).kv_format == kv
    assert from_hf_dict(BASE).kv_format is None


@pytest.mark.parametrize(
    "q, field, says",
    [
        (
            {**MODELOPT_FP8, "kv_cache_quant_algo": "NVFP4_AFFINE"},
            "quantization_config.kv_cache_quant_algo",
            "supported: FP8, NVFP4, INT8",
        ),
        (
            {"quant_method": "modelopt", "quantization": {"quant_algo": "FP8", "kv_cache_quant_algo": "FP4"}},
            "quantization_config.quantization.kv_cache_quant_algo",
            "supported: FP8, NVFP4, INT8",
        ),
        ({**MODELOPT_FP8, "kv_cache_scheme": "W4A8"}, "quantization_config.kv_cache_scheme", "FP8, NVFP4, INT8"),
        (
            {**CT_FP8, "kv_cache_scheme": {"num_bits": 4, "type": "float", "strategy": "tensor"}},
            "quantization_config.kv_cache_scheme",
            "float 8 bits per tensor or head (fp8_e4m3)",
        ),
        (
            {**CT_FP8, "kv_cache_scheme": {"num_bits": 8, "type": "int", "strategy": "token"}},
            "quantization_config.kv_cache_scheme",
            "int 2..8 bits per tensor, channel or group",
        ),
        ({**CT_FP8, "kv_cache_scheme": "fp8"}, "quantization_config.kv_cache_scheme", "expected a mapping"),
    ],
)
def test_an_unknown_kv_cache_format_is_refused(q, field, says):
    with pytest.raises(HwsimError) as e:
        from_hf_dict({**BASE, "quantization_config": q})
    assert e.value.field == field and says in str(e.value)


def test_an_unknown_kv_cache_format_is_one_line_exit_2(tmp_path, capsys):
    cfg = tmp_path / "config.json"
    cfg.write_text(json.dumps({**BASE, "quantization_config": {**MODELOPT_FP8, "kv_cache_quant_algo": "FP4"}}))
    assert main(["simulate", "--arch", "h100-sxm", "--model", str(tmp_path), "--phase", "decode"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and str(cfg) in err and "quantization_config.kv_cache_quant_algo" in err
    assert "'FP4' is not supported (supported: FP8, NVFP4, INT8" in err


def test_allocate_stores_the_checkpoints_kv_format():
    """The checkpoint as stored (Problem.stored) keeps its KV units in the format its config states: fp8 for a
    ModelOpt export with kv_cache_quant_algo FP8, unless `kv` says otherwise."""
    from hwsim.allocate.api import build_problem

    tr = trace(from_hf_dict({**BASE, "quantization_config": {**MODELOPT_FP8, "kv_cache_quant_algo": "FP8"}}), "decode")
    stored = {
        kv: build_problem("bitmod", tr, ["fp8_e4m3"], kv_formats=["fp8_e4m3", "fp16"], proxy="uniform", kv=kv)
        for kv in (None, "fp8_e4m3", "fp16")
    }
    p = stored[None]
    kv_units = [i for i, u in enumerate(p.units) if u.endswith(".kv")]
    assert len(kv_units) == 2 and {p.formats[p.stored[i]] for i in kv_units} == {"fp8_e4m3"}
    assert p.stored == stored["fp8_e4m3"].stored != stored["fp16"].stored


# ModelOpt's HF export writes the quantization into hf_quant_config.json beside config.json (ModelOpt up to 0.29
# only there: modelopt/torch/export/unified_export_hf.py); vLLM reads that file when config.json has no
# quantization_config (vllm/transformers_utils/config.py) and names the method from producer "modelopt" and
# quant_algo. Its layout: {"producer": {"name": "modelopt", "version"}, "quantization": {quant_algo,
# kv_cache_quant_algo, exclude_modules, group_size}}.
def _sidecar_checkpoint(tmp_path, quantization, cfg=BASE):
    folder = tmp_path / "ckpt"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps(cfg))
    sidecar = {"producer": {"name": "modelopt", "version": "0.29.0"}, "quantization": quantization}
    (folder / "hf_quant_config.json").write_text(json.dumps(sidecar))
    return folder


@pytest.mark.parametrize(
    "quantization, weights, kv",
    [
        ({"quant_algo": "FP8", "kv_cache_quant_algo": "FP8", "exclude_modules": ["lm_head"]}, "fp8_e4m3", "fp8_e4m3"),
        ({"quant_algo": "NVFP4", "kv_cache_quant_algo": None, "group_size": 16, "exclude_modules": []}, "nvfp4", None),
        (
            {"quant_algo": "W4A16_NVFP4", "kv_cache_quant_algo": "FP8", "group_size": 16, "exclude_modules": []},
            "nvfp4",
            "fp8_e4m3",
        ),
    ],
)
def test_a_checkpoint_folders_hf_quant_config_is_read(tmp_path, quantization, weights, kv):
    from hwsim.workload import load_model

    folder = _sidecar_checkpoint(tmp_path, quantization)
    for given in (folder, folder / "config.json"):  # the folder, or its config.json
        m = load_model(str(given))
        assert (m.default_weight_format, m.kv_format) == (weights, kv)
        tr = trace(m, "decode")
        fmts = dict(zip(tr.ops["name"], m.op_weight_formats(tr.ops["name"])))
        assert fmts["layers.0.q_proj"] == weights and fmts["embed_tokens"] == "fp16"
        assert fmts["lm_head"] == ("fp16" if quantization["exclude_modules"] else weights)


def test_config_json_quantization_config_wins_over_hf_quant_config(tmp_path):
    """vLLM reads the sidecar only where config.json states no quantization_config: GPTQ int4 here, with a warning
    that the sidecar's FP8 weights and cache are not what is used."""
    from hwsim.workload import load_model

    gptq = {**BASE, "quantization_config": {"quant_method": "gptq", "bits": 4, "group_size": 128}}
    folder = _sidecar_checkpoint(tmp_path, {"quant_algo": "FP8", "kv_cache_quant_algo": "FP8"}, gptq)
    with pytest.warns(
        UserWarning,
        match=r"hf_quant_config.json: states weights fp8_e4m3, KV cache fp8_e4m3.*"
        r"config.json's is used",
    ):
        m = load_model(str(folder))
    assert (m.default_weight_format, m.kv_format) == ("int4_g128", None)


@pytest.mark.parametrize(
    "quantization, field",
    [
        ({"quant_algo": "W4A8_AWQ"}, "quantization.quant_algo"),
        ({"quant_algo": "FP8", "kv_cache_quant_algo": "NVFP4_AFFINE"}, "quantization.kv_cache_quant_algo"),
    ],
)
def test_an_unknown_algorithm_in_hf_quant_config_is_refused_naming_it(tmp_path, capsys, quantization, field):
    folder = _sidecar_checkpoint(tmp_path, quantization)
    argv = ["simulate", "--arch", "h100-sxm", "--model", str(folder), "--phase", "decode"]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and f"hf_quant_config.json: {field}: " in err[0], err


def test_w4a16_nvfp4_is_nvfp4_weights_with_unquantized_activations(tmp_path, capsys):
    """ModelOpt's weight-only NVFP4 (vLLM: ModelOptNvFp4W4A16LinearMethod, FP4 Marlin GEMM, activations in 16 bits):
    nvfp4 weights, the run's activations (fp16 unless given), so it costs what an explicit `--activations fp16` run
    does; NVFP4's block of 16 is checked as for NVFP4."""
    folder = _sidecar_checkpoint(
        tmp_path, {"quant_algo": "W4A16_NVFP4", "kv_cache_quant_algo": None, "group_size": 16, "exclude_modules": []}
    )
    argv = ["simulate", "--arch", "h100-sxm", "--model", str(folder), "--phase", "decode", "--json"]
    docs = []
    for extra in ([], ["--activations", "fp16"], ["--activations", "nvfp4"]):
        assert main([*argv, *extra]) == 0
        docs.append(json.loads(capsys.readouterr().out))
    linear = {op["weights"] for op in docs[0]["ops"] if op["kind"] == "linear"}
    assert linear == {"nvfp4"}
    assert docs[0]["totals"] == docs[1]["totals"] != docs[2]["totals"]
    with pytest.raises(HwsimError, match="blocks of 16"):
        from_hf_dict(
            {**BASE, "quantization_config": {"quant_method": "modelopt", "quant_algo": "W4A16_NVFP4", "group_size": 32}}
        )
