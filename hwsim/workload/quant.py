"""A checkpoint's own weight formats, from its `quantization_config` (HF config.json): the format most
linear weights use, and per-module exceptions as per-op rules.

Methods and the fields read (each library's documented config keys):
- gptq (AutoGPTQ / GPTQModel): bits, group_size (-1 = per channel), sym; `lm_head: false` (the default) keeps
  the output head unquantized; `dynamic: {"+:regex": {bits, group_size}, "-:regex": {}}` per-module overrides.
- awq (AutoAWQ): bits / w_bit, group_size / q_group_size, zero_point (asymmetric); modules_to_not_convert.
- bitsandbytes: load_in_4bit (bnb_4bit_quant_type nf4 | fp4, blocks of 64) or load_in_8bit (LLM.int8, per
  row); llm_int8_skip_modules.
- fp8 / fbgemm_fp8: e4m3 weights; modules_to_not_convert.
- compressed-tensors (llm-compressor): config_groups.*.weights {num_bits, type int|float, symmetric, strategy
  tensor|channel|group, group_size}, targets ["Linear" | "re:..."]; ignore [...]. Float 8 bits is fp8_e4m3,
  except compressed-tensors' MXFP8 / MXFP4 presets (float 8 / 4 bits in groups of 32 with scale_dtype uint8, an
  E8M0 exponent per block): mxfp8_e4m3 / mxfp4.
- bitnet: ternary weights in every BitLinear; modules_to_not_convert.
- modelopt, and vLLM's spellings modelopt_fp4 (NVFP4) and modelopt_mxfp8 (NVIDIA TensorRT Model Optimizer's HF
  export; its hf_quant_config.json `quantization` fields, flat or under `quantization`; a checkpoint folder's
  hf_quant_config.json itself where config.json has no quantization_config, hwsim.workload.config.load_model):
  quant_algo FP8 (e4m3), NVFP4 (group_size 16), W4A16_NVFP4 (the same weights, weight-only) or MXFP8;
  exclude_modules as names or globs ("model.layers.0.self_attn*").
A checkpoint decides its weights, its KV cache and (where it states them) the activations its linear layers take
(`activation_format` below); weight-only methods (GPTQ, AWQ, W4A16_NVFP4) and W4A4 ones (NVFP4) map to the same
weight format and are told apart by the activations.
Transformers never quantizes the output head or the embeddings of these methods unless told to
(`get_keys_to_not_convert`), so lm_head and embed_tokens keep the checkpoint's dtype by default.

The checkpoint's KV-cache format (`kv_cache_format`), where its quantization_config states one:
- modelopt: `kv_cache_quant_algo` (hf_quant_config.json's `quantization` fields, flat or under `quantization`):
  FP8 (e4m3), NVFP4, INT8, null = not quantized; the values of ModelOpt's export (modelopt/torch/export/
  model_config.py KV_CACHE_FP8 / KV_CACHE_NVFP4 / KV_CACHE_INT8; vLLM's modelopt.py reads FP8 and NVFP4). ModelOpt's
  config.json form (modelopt/torch/export/convert_hf_config.py) writes `kv_cache_scheme` instead: FP8 as the
  compressed-tensors scheme {num_bits: 8, type: float}, any other algorithm as its name.
- compressed-tensors: `kv_cache_scheme`, a QuantizationArgs (compressed_tensors/quantization/quant_args.py:
  num_bits default 8, type default int, symmetric default true, strategy default tensor, or group / channel when
  group_size is > 0 / -1); float 8 bits is FP8 E4M3 (its FP8_E4M3_DATA), one scale per tensor or per head (vLLM's
  CompressedTensorsKVCacheMethod takes strategy tensor) costs no bits per element; null = not quantized.

The activations a serving engine feeds its quantized GEMMs (`activation_format`), where the checkpoint states them
(None: it does not, and they stay 16-bit: GPTQ, AWQ, bitsandbytes, W4A16_NVFP4, gpt-oss's mxfp4, a
compressed-tensors group without input_activations):
- bitnet: int8 per token (int8_pc), the model's own definition, W1.58A8: BitNet b1.58 (Ma et al. 2024, arXiv
  2402.17764, §2) scales activations per token to [-Q_b, Q_b] with 8 bits; HF's BitNet integration (transformers
  docs, quantization/bitnet) quantizes BitLinear's input to 8 bits by absmax over the last dimension, i.e. per
  token, and the BitNet b1.58 2B4T model card states "8-bit activations (W1.58A8) ... absmax quantization
  (per-token)"; bitnet.cpp, the official inference code, runs int8 activations against the ternary weights.
- modelopt: by quant_algo, as vLLM's ModelOpt linear methods run them: FP8 → fp8_e4m3 (a static per-tensor
  input_scale, ModelOptFp8Config's only activation scheme), NVFP4 → nvfp4 (ModelOptNvFp4LinearMethod quantizes the
  input to FP4 blocks of 16 under the checkpoint's input_scale), MXFP8 → mxfp8_e4m3 (dynamic E8M0 blocks of 32),
  W4A16_NVFP4 → none (ModelOptNvFp4W4A16LinearMethod: no activation quantization).
- fp8 (HF FineGrainedFP8 / vLLM Fp8Config): activation_scheme dynamic (HF's default) or static, one scale per tensor
  (fp8_e4m3); with weight_block_size [n, k] per token in groups of k with fp32 scales (vLLM's
  per_token_group_quant_fp8 for block-quantized weights: DeepSeek-V3's 128 → fp8_e4m3_g128_sfp32).
- fbgemm_fp8: per-token dynamic FP8 (vLLM's FBGEMMFp8Config), fp8_e4m3_pc.
- compressed-tensors: the input_activations of the group that targets "Linear" (else the first group), a
  QuantizationArgs read as kv_cache_scheme is, and honoured only under a format that quantizes activations
  (vLLM's is_activation_quantization_format: naive-, int-, float- and nvfp4-pack-quantized; a format stated
  otherwise, pack-quantized W4A16, leaves them 16-bit): float 8 bits per tensor (fp8_e4m3) or token
  (fp8_e4m3_pc), in groups of g (fp8_e4m3_g<g>_sfp32; uint8 / E8M0 scales in groups of 32: mxfp8_e4m3); float 4
  bits in groups of 16 (nvfp4: vLLM's W4A4 NVFP4 scheme, strategy tensor_group) or 32 (mxfp4: compressed-tensors'
  MXFP4 preset); int 2..8 bits per tensor (int8, int8a asymmetric), token (int8_pc) or group.
A dynamic and a static scale cost the same here: hwsim prices the bits the GEMM reads and writes (a per-tensor or
per-token scale amortised, a group's counted), not the kernel that finds a dynamic scale.
"""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass

from hwsim.errors import HwsimError

METHODS = (
    "gptq",
    "awq",
    "bitsandbytes",
    "fp8",
    "fbgemm_fp8",
    "compressed-tensors",
    "bitnet",
    "mxfp4",
    "modelopt",
    "modelopt_fp4",
    "modelopt_mxfp8",
)
# vLLM's names for ModelOpt checkpoints (vllm/model_executor/layers/quantization/__init__.py, method_to_config:
# modelopt → ModelOptFp8Config, modelopt_fp4 → ModelOptNvFp4Config, modelopt_mxfp8 → ModelOptMxFp8Config), each
# with the quant_algo it stands for where the config states none. A stated quant_algo decides, as in vLLM (its
# configs' override_quantization_method and the quantization-config normalisation name the method from quant_algo).
# modelopt_mixed (per-layer quantized_layers) is not read.
_MODELOPT_METHODS = {"modelopt": None, "modelopt_fp4": "NVFP4", "modelopt_mxfp8": "MXFP8"}
_UNQUANTIZED_BY_DEFAULT = ("lm_head", "embed_tokens")
# the kinds of trace op whose weights a quantization method stores in its own format (hwsim.workload.layer_ops): its
# linear layers (vLLM's LinearBase / FusedMoE, each given the quant_config) and a GGUF file's token table; every other
# op's weights (norms' gammas and biases, gpt-oss's attention sinks) stay at the checkpoint's dtype
# (ModelConfig.op_weight_formats)
QUANTIZABLE_KINDS = frozenset({"linear", "embedding"})


@dataclass(frozen=True)
class WeightFormats:
    """The format of most weights, and (regex on HF module names, format) rules tried in order."""

    default: str
    rules: tuple[tuple[str, str], ...] = ()

    def format_of(self, module: str | list[str]) -> str:
        """The format of a module, or of the first rule any of several names of one module matches (`hf_modules`)."""
        names = [module] if isinstance(module, str) else module
        for pattern, fmt in self.rules:
            # as GPTQModel's `dynamic` and compressed-tensors' `re:` apply them
            if any(re.match(pattern, name) for name in names):
                return fmt
        return self.default


def _int_format(bits: object, group: object, sym: bool, field: str, file: object) -> str:
    if isinstance(bits, bool) or not isinstance(bits, int) or not 2 <= bits <= 8:
        raise HwsimError(f"expected integer bits 2..8, got {bits!r}", file=file, field=field)
    base = f"int{bits}" + ("" if sym else "a")
    if group in (-1, None, 0):
        return f"{base}_pc"
    if isinstance(group, bool) or not isinstance(group, int) or group < 1:
        raise HwsimError(
            f"expected a positive group size or -1, got {group!r}",
            file=file,
            field=field.rsplit(".", 1)[0] + ".group_size",
        )
    return f"{base}_g{group}"


def _module_rule(name: str) -> str:
    """An HF module name or `re:` regex → a regex over full module names (a name covers its children and
    matches wherever it sits: 'lm_head', 'q_proj', 'model.layers.0')."""
    if name.startswith("re:"):
        return name[3:]
    return rf"(?:.*\.)?{re.escape(name)}(?:\..*)?$"


def _skip_list(q: dict, keys: tuple[str, ...], file: object) -> list[str]:
    for key in keys:
        value = q.get(key)
        if value is None:
            continue
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise HwsimError(
                f"expected a list of module names, got {value!r}", file=file, field=f"quantization_config.{key}"
            )
        return value
    return list(_UNQUANTIZED_BY_DEFAULT)


def checkpoint_dtype(cfg: dict) -> str:
    """The checkpoint's floating-point dtype as a format name: torch_dtype, or dtype where transformers 5 writes
    that instead; bfloat16 → bf16, float32 → fp32, anything else (float16, absent) fp16."""
    value = cfg.get("torch_dtype")
    value = cfg.get("dtype") if value is None else value
    return {"bfloat16": "bf16", "float32": "fp32"}.get(str(value), "fp16")


def weight_formats(cfg: dict, file: object = None, keep: tuple[str, ...] = ()) -> WeightFormats | None:
    """The checkpoint's weight formats, or None when it has no quantization_config. `keep`: HF module names the
    architecture's modelling code builds unquantized whatever the method (blocks.unquantized_modules: DeepSeek-V3.2's
    indexer weights_proj), kept at the checkpoint's dtype before any other rule."""
    got = _weight_formats(cfg, file)
    if got is None or not keep:
        return got
    return WeightFormats(got.default, tuple((_module_rule(m), checkpoint_dtype(cfg)) for m in keep) + got.rules)


def _weight_formats(cfg: dict, file: object) -> WeightFormats | None:
    q = cfg.get("quantization_config")
    if q is None:
        return None
    if not isinstance(q, dict):
        raise HwsimError(f"expected a mapping, got {type(q).__name__}", file=file, field="quantization_config")
    dtype = checkpoint_dtype(cfg)
    method = str(q.get("quant_method", "")).lower()
    field = "quantization_config"
    if method == "gptq":
        default = _int_format(q.get("bits"), q.get("group_size", 128), bool(q.get("sym", True)), f"{field}.bits", file)
        keep = [] if q.get("lm_head") else ["lm_head"]
        rules = [(_module_rule(m), dtype) for m in [*keep, "embed_tokens"]]
        dynamic = q.get("dynamic") or {}
        if not isinstance(dynamic, dict):
            raise HwsimError(
                "expected a mapping of '+:regex'/'-:regex' to overrides", file=file, field=f"{field}.dynamic"
            )
        for key, over in dynamic.items():
            sign, _, pattern = str(key).rpartition(":")
            if sign == "-":
                rules.insert(0, (pattern, dtype))
            elif isinstance(over, dict):
                fmt = _int_format(
                    over.get("bits", q.get("bits")),
                    over.get("group_size", q.get("group_size", 128)),
                    bool(over.get("sym", q.get("sym", True))),
                    f"{field}.dynamic.{key}.bits",
                    file,
                )
                rules.insert(0, (pattern, fmt))
        return WeightFormats(default, tuple(rules))
    if method == "awq":
        default = _int_format(
            q.get("bits", q.get("w_bit")),
            q.get("group_size", q.get("q_group_size", 128)),
            not q.get("zero_point", True),
            f"{field}.bits",
            file,
        )
        skip = _skip_list(q, ("modules_to_not_convert",), file)
    elif method == "bitsandbytes":
        if q.get("load_in_4bit"):
            default = "nf4_g64" if q.get("bnb_4bit_quant_type", "fp4") == "nf4" else "fp4_e2m1_g64"
        elif q.get("load_in_8bit"):
            default = "int8_pc"
        else:
            raise HwsimError("neither load_in_4bit nor load_in_8bit is true", file=file, field=field)
        skip = _skip_list(q, ("llm_int8_skip_modules", "modules_to_not_convert"), file)
    elif method in ("fp8", "fbgemm_fp8"):
        default = "fp8_e4m3"
        skip = _skip_list(q, ("modules_to_not_convert",), file)
    elif method == "mxfp4":  # gpt-oss: MoE expert weights in OCP MXFP4, the rest in bf16
        default = "mxfp4"
        skip = _skip_list(q, ("modules_to_not_convert",), file)
    elif method == "bitnet":
        default = "ternary"
        skip = _skip_list(q, ("modules_to_not_convert",), file)
    elif method == "compressed-tensors":
        return _compressed_tensors(q, dtype, file)
    elif method in _MODELOPT_METHODS:
        return _modelopt(q, dtype, file, _MODELOPT_METHODS[method])
    else:
        raise HwsimError(
            f"unsupported quant_method {method!r} (supported: {', '.join(METHODS)})",
            file=file,
            field=f"{field}.quant_method",
        )
    skip = list(dict.fromkeys([*skip, "embed_tokens"]))
    return WeightFormats(default, tuple((_module_rule(m), dtype) for m in skip))


def _compressed_tensors(q: dict, dtype: str, file: object) -> WeightFormats:
    field = "quantization_config.config_groups"
    groups = q.get("config_groups")
    if not isinstance(groups, dict) or not groups:
        raise HwsimError("expected a mapping of groups, each with 'targets' and 'weights'", file=file, field=field)
    rules: list[tuple[str, str]] = [(_module_rule(m), dtype) for m in _skip_list(q, ("ignore",), file)]
    rules.append((_module_rule("embed_tokens"), dtype))
    default = dtype
    for gname, g in groups.items():
        w = g.get("weights") if isinstance(g, dict) else None
        if not isinstance(w, dict):
            continue  # an activation-only group leaves weights as they are
        bits, kind = w.get("num_bits"), str(w.get("type", "int"))
        if kind == "float":
            # compressed-tensors' MXFP8 / MXFP4 presets (E8M0 scales on groups of 32: _mx_format); llm-compressor's
            # other FP8 schemes; its NVFP4 scheme: E2M1 in groups of 16 (strategy tensor_group)
            fmt = _mx_format(w) or (
                "fp8_e4m3" if bits == 8 else "nvfp4" if bits == 4 and w.get("group_size") == 16 else ""
            )
            if not fmt:
                raise HwsimError(
                    f"float weights of {bits!r} bits in groups of {w.get('group_size')!r} are not supported "
                    "(8 bits: fp8_e4m3, or mxfp8_e4m3 in groups of 32 with uint8 scales; 4 bits in groups of 16: "
                    "nvfp4, or of 32 with uint8 scales: mxfp4)",
                    file=file,
                    field=f"{field}.{gname}.weights.num_bits",
                )
        else:
            strategy = w.get("strategy", "tensor")
            group = w.get("group_size") if strategy == "group" else -1
            fmt = _int_format(bits, group, bool(w.get("symmetric", True)), f"{field}.{gname}.weights.num_bits", file)
        targets = g.get("targets", ["Linear"])
        for t in targets if isinstance(targets, list) else [targets]:
            if t == "Linear":
                default = fmt
            else:
                rules.append((_module_rule(str(t)), fmt))
    return WeightFormats(default, tuple(rules))


# MXFP8: OCP MX E4M3 elements in blocks of 32 with an E8M0 scale (vLLM's mxfp8_utils MXFP8_VALUE_DTYPE /
# MXFP8_BLOCK_SIZE / MXFP8_SCALE_DTYPE), hwsim's mxfp8_e4m3
# W4A16_NVFP4: NVFP4 weights with 16-bit activations (vLLM's modelopt.py: QUANT_ALGOS lists it beside NVFP4, and
# ModelOptNvFp4Config takes it, "NVFP4" being in the name, with ModelOptNvFp4W4A16LinearMethod: FP4 Marlin GEMM,
# no activation quantization), hwsim's nvfp4 weights; the activations stay the run's, unquantized by default
_MODELOPT_ALGOS = {"FP8": "fp8_e4m3", "NVFP4": "nvfp4", "W4A16_NVFP4": "nvfp4", "MXFP8": "mxfp8_e4m3"}


def _modelopt(q: dict, dtype: str, file: object, implied: str | None = None) -> WeightFormats:
    """ModelOpt: one quant_algo for every linear weight but the excluded modules (names or fnmatch globs)."""
    fields, where = _modelopt_fields(q)
    algo = str(fields.get("quant_algo") or implied or "").upper()
    fmt = _MODELOPT_ALGOS.get(algo)
    if fmt is None:
        raise HwsimError(
            f"ModelOpt quant_algo {fields.get('quant_algo')!r} is not supported (supported: {', '.join(_MODELOPT_ALGOS)})",
            file=file,
            field=f"{where}.quant_algo",
        )
    if fmt == "nvfp4" and fields.get("group_size", 16) != 16:
        raise HwsimError(
            f"NVFP4 has blocks of 16, got group_size {fields.get('group_size')!r}",
            file=file,
            field=f"{where}.group_size",
        )
    skip = _skip_list(fields, ("exclude_modules",), file)
    rules = [(_glob_rule(m) if any(c in m for c in "*?[") else _module_rule(m), dtype) for m in skip]
    rules.append((_module_rule("embed_tokens"), dtype))
    return WeightFormats(fmt, tuple(rules))


def _glob_rule(pattern: str) -> str:
    """A ModelOpt exclude glob ('model.layers.0.self_attn*') → a regex over full module names."""
    return fnmatch.translate(pattern)


def hf_module(op_name: str) -> str:
    """A trace op name ('layers.3.q_proj', 'lm_head') → the HF module name it stands for
    ('model.layers.3.self_attn.q_proj'), so quantization_config's module names and regexes apply."""
    parts = op_name.split(".")
    if parts[0] == "layers" and len(parts) >= 3:
        role = parts[-1]
        if role in ("q_proj", "k_proj", "v_proj", "o_proj"):
            return f"model.layers.{parts[1]}.self_attn.{role}"
        if role in ("gate_proj", "up_proj", "down_proj"):
            return f"model.layers.{parts[1]}.mlp.{role}"
        return "model." + op_name
    if op_name in ("embed_tokens", "norm", "final_norm", "embed_tokens_per_layer", "per_layer_model_projection"):
        return f"model.{op_name}"
    return op_name


def hf_modules(op_name: str) -> list[str]:
    """Every HF module name a trace op may stand for: `hf_module`'s, then the module paths the tensor map knows for
    its role in any supported layout (hwsim.workload.tensor_map.OWN and the routed experts' parents), so that a
    skip list naming the checkpoint's own module applies: 'layers.3.router' is `mlp.gate` in Qwen / DeepSeek / GLM
    checkpoints, 'layers.0.in_proj_ba' is Qwen3-Next's `linear_attn.in_proj_ba`, 'layers.3.experts.up_proj' lives
    under `mlp.experts`. A path of another layout names no module of this checkpoint, so its rules never name it."""
    from hwsim.workload.tensor_map import EXPERT_PARENTS, OWN

    names = [hf_module(op_name)]
    parts = op_name.split(".")
    if parts[0] != "layers" or len(parts) < 3:
        return names
    layer, role = parts[1], parts[-1]
    if parts[-2] == "shared":
        role = f"shared_{role}"
    if parts[-2] in ("experts", "experts_rest"):
        names += [f"model.layers.{layer}.{parent}.{role}" for parent in EXPERT_PARENTS]
    names += [f"model.layers.{layer}.{path}" for path in OWN.get(role, ())]
    return names


# ModelOpt kv_cache_quant_algo → hwsim format: FP8 is E4M3 with a per-tensor scale (nothing per element); NVFP4
# the same E2M1 blocks of 16 as its weights; INT8 TensorRT-LLM's int8 cache, one scale per tensor
_MODELOPT_KV = {"FP8": "fp8_e4m3", "NVFP4": "nvfp4", "INT8": "int8"}
# compressed-tensors strategies whose scales are per tensor or per attention head: no storage per element
_PER_TENSOR = ("tensor", "attn_head")


def _modelopt_fields(q: dict) -> tuple[dict, str]:
    """(the fields of a ModelOpt quantization_config, where they sit): nested under `quantization` as
    hf_quant_config.json writes them, or flat as transformers' config.json carries them."""
    inner = q.get("quantization")
    return (inner, "quantization_config.quantization") if isinstance(inner, dict) else (q, "quantization_config")


def _stated_method(cfg: dict) -> tuple[dict, str] | None:
    """(quantization_config, its quant_method in lower case) of a config that has one as a mapping; None
    otherwise (no config, or one _weight_formats refuses): where the KV and activation readers start."""
    q = cfg.get("quantization_config")
    return (q, str(q.get("quant_method", "")).lower()) if isinstance(q, dict) else None


def kv_cache_format(cfg: dict, file: object = None) -> str | None:
    """The KV-cache format a checkpoint's quantization_config states (module docstring), or None where it states
    none (no quantization_config, a method without a KV field, the field absent or null): the cache then holds
    the 16-bit values it always did. A value hwsim has no format for is refused, naming the field."""
    stated = _stated_method(cfg)
    if stated is None:
        return None
    q, method = stated
    if method in _MODELOPT_METHODS:
        fields, where = _modelopt_fields(q)
        if fields.get("kv_cache_quant_algo") is not None:
            return _modelopt_kv(fields["kv_cache_quant_algo"], f"{where}.kv_cache_quant_algo", file)
        scheme = fields.get("kv_cache_scheme")
        if isinstance(scheme, str):  # convert_hf_config writes an algorithm other than FP8 by its name
            return _modelopt_kv(scheme, f"{where}.kv_cache_scheme", file)
        return _kv_scheme(scheme, f"{where}.kv_cache_scheme", file)
    if method == "compressed-tensors":
        return _kv_scheme(q.get("kv_cache_scheme"), "quantization_config.kv_cache_scheme", file)
    return None


def _modelopt_kv(value: object, field: str, file: object) -> str:
    fmt = _MODELOPT_KV.get(str(value).upper())
    if fmt is None:
        raise HwsimError(
            f"ModelOpt KV-cache algorithm {value!r} is not supported (supported: {', '.join(_MODELOPT_KV)}, "
            "or null for a 16-bit cache)",
            file=file,
            field=field,
        )
    return fmt


def _kv_scheme(scheme: object, field: str, file: object) -> str | None:
    """A compressed-tensors kv_cache_scheme (QuantizationArgs) → a format; None when absent."""
    if scheme is None:
        return None
    allowed = (
        "float 8 bits per tensor or head (fp8_e4m3), float 4 bits in groups of 16 (nvfp4), or int 2..8 bits per "
        "tensor, channel or group, or null for a 16-bit cache"
    )
    if not isinstance(scheme, dict):
        raise HwsimError(f"expected a mapping (num_bits, type, strategy, ...), got {scheme!r}", file=file, field=field)
    bits, kind = scheme.get("num_bits", 8), str(scheme.get("type", "int")).lower()
    group = scheme.get("group_size")
    inferred = "tensor" if group is None else "channel" if group == -1 else "group"
    strategy = str(scheme.get("strategy") or inferred).lower()
    fmt = ""
    if kind == "float":
        if bits == 8 and strategy in _PER_TENSOR:
            fmt = "fp8_e4m3"
        elif bits == 4 and group == 16:
            fmt = "nvfp4"
    elif kind == "int" and not isinstance(bits, bool) and isinstance(bits, int) and 2 <= bits <= 8:
        sym = bool(scheme.get("symmetric", True))
        if strategy in _PER_TENSOR:
            fmt = f"int{bits}" + ("" if sym else "a")
        elif strategy == "channel" or (strategy == "group" and isinstance(group, int) and group > 0):
            fmt = _int_format(bits, -1 if strategy == "channel" else group, sym, f"{field}.num_bits", file)
    if not fmt:
        raise HwsimError(
            f"a {kind} KV cache of {bits!r} bits, strategy {strategy!r}, is not supported (supported: {allowed})",
            file=file,
            field=field,
        )
    return fmt


# ModelOpt quant_algo → the activations its GEMMs take (module docstring); None: 16-bit (weight-only)
_MODELOPT_ACTS: dict[str, str | None] = {
    "FP8": "fp8_e4m3",
    "NVFP4": "nvfp4",
    "W4A16_NVFP4": None,
    "MXFP8": "mxfp8_e4m3",
}
_FP8_SCHEMES = ("dynamic", "static")  # vLLM's Fp8Config ACTIVATION_SCHEMES
# compressed-tensors formats whose input_activations vLLM honours (is_activation_quantization_format)
_CT_ACT_FORMATS = ("naive-quantized", "int-quantized", "float-quantized", "nvfp4-pack-quantized")
_CT_ACTS_ALLOWED = (
    "float 8 bits per tensor, token or group, float 4 bits in groups of 16 (nvfp4) or 32 (mxfp4), int 2..8 bits per "
    "tensor, token or group, or null for 16-bit activations"
)


def activation_format(cfg: dict, file: object = None) -> str | None:
    """The format a checkpoint's quantized linear layers take their inputs in, as its quantization_config states it
    (module docstring), or None where it states none (the activations stay 16-bit). A value hwsim has no format
    for is refused, naming the field. What a precision's activations None stands for
    (hwsim.engine.per_op.model_activations)."""
    stated = _stated_method(cfg)
    if stated is None:
        return None
    q, method = stated
    if method in _MODELOPT_METHODS:
        fields, _ = _modelopt_fields(q)
        return _MODELOPT_ACTS.get(str(fields.get("quant_algo") or _MODELOPT_METHODS[method] or "").upper())
    if method == "fp8":
        return _fp8_acts(q, file)
    if method == "fbgemm_fp8":
        return "fp8_e4m3_pc"
    if method == "bitnet":
        return "int8_pc"  # W1.58A8: BitLinear's per-token absmax int8 input (module docstring)
    if method == "compressed-tensors":
        return _compressed_tensors_acts(q, file)
    return None


def _fp8_acts(q: dict, file: object) -> str:
    scheme = q.get("activation_scheme", "dynamic")
    if str(scheme).lower() not in _FP8_SCHEMES:
        raise HwsimError(
            f"FP8 activation scheme {scheme!r} is not supported (supported: {', '.join(_FP8_SCHEMES)})",
            file=file,
            field="quantization_config.activation_scheme",
        )
    block = q.get("weight_block_size")
    if block is None:
        return "fp8_e4m3"
    k = block[1] if isinstance(block, list) and len(block) == 2 else None
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise HwsimError(
            f"expected [rows, columns] of positive integers, got {block!r}",
            file=file,
            field="quantization_config.weight_block_size",
        )
    return f"fp8_e4m3_g{k}_sfp32"


def activation_field(cfg: dict) -> str | None:
    """The quantization_config field that states the checkpoint's activation format (`activation_format`), as a
    message names it ('quantization_config.config_groups.group_0.input_activations'); None where none is stated."""
    stated = _stated_method(cfg)
    if stated is None or activation_format(cfg) is None:
        return None
    q, method = stated
    if method in _MODELOPT_METHODS:
        nested = isinstance(q.get("quantization"), dict)
        return "quantization_config." + ("quantization." if nested else "") + "quant_algo"
    if method == "fp8":
        return "quantization_config.activation_scheme"
    if method == "compressed-tensors":
        got = _ct_act_group(q)
        return None if got is None else f"quantization_config.config_groups.{got[0]}.input_activations"
    return "quantization_config.quant_method"  # fbgemm_fp8: the method alone states per-token FP8


def _ct_act_group(q: dict) -> tuple[str, dict] | None:
    """(name, group) of the compressed-tensors config group whose input_activations state the activations: the one
    that targets "Linear", else the first."""
    groups = q.get("config_groups")
    if not isinstance(groups, dict):
        return None  # _compressed_tensors refuses it
    items = [(name, g) for name, g in groups.items() if isinstance(g, dict)]
    linear = [(name, g) for name, g in items if "Linear" in _targets(g)]
    return (linear or items)[0] if (linear or items) else None


def _compressed_tensors_acts(q: dict, file: object) -> str | None:
    got = _ct_act_group(q)
    if got is None:
        return None
    name, group = got
    fmt = group.get("format", q.get("format"))
    if fmt is not None and str(fmt) not in _CT_ACT_FORMATS:
        return None  # vLLM reads no input_activations under this format
    return _act_args(
        group.get("input_activations"), f"quantization_config.config_groups.{name}.input_activations", file
    )


def _mx_format(args: dict) -> str | None:
    """mxfp8_e4m3 / mxfp4 for a compressed-tensors QuantizationArgs of compressed-tensors' MXFP8 / MXFP4 presets
    (quant_scheme.py: float 8 / 4 bits, strategy group, group_size 32, scale_dtype torch.uint8: an E8M0 exponent per
    32, the OCP MX block), weights or input activations alike; None for any other."""
    group, bits = args.get("group_size"), args.get("num_bits", 8)
    if str(args.get("type", "int")).lower() != "float" or isinstance(group, bool) or group != 32:
        return None
    if str(args.get("strategy") or "group").lower() not in ("group", "tensor_group") or not _e8m0(args):
        return None
    return {8: "mxfp8_e4m3", 4: "mxfp4"}.get(bits) if not isinstance(bits, bool) else None


def _e8m0(args: dict) -> bool:
    """Whether a QuantizationArgs' scales are E8M0 exponents (scale_dtype uint8 / float8_e8m0fnu)."""
    return any(t in str(args.get("scale_dtype", "")).lower() for t in ("uint8", "e8m0"))


def _targets(group: dict) -> list[object]:
    targets = group.get("targets", ["Linear"])
    return targets if isinstance(targets, list) else [targets]


def _act_args(args: object, field: str, file: object) -> str | None:
    """A compressed-tensors input_activations (QuantizationArgs) → a format; None when absent."""
    if args is None:
        return None
    if not isinstance(args, dict):
        raise HwsimError(f"expected a mapping (num_bits, type, strategy, ...), got {args!r}", file=file, field=field)
    bits, kind = args.get("num_bits", 8), str(args.get("type", "int")).lower()
    group = args.get("group_size")
    inferred = "tensor" if group is None else "channel" if group == -1 else "group"
    strategy = str(args.get("strategy") or inferred).lower()
    size = group if isinstance(group, int) and not isinstance(group, bool) and group > 0 else 0  # 0: no groups
    grouped = strategy in ("group", "tensor_group") and size > 0
    e8m0 = _e8m0(args)
    fmt = ""
    if kind == "float" and bits == 8:
        if strategy == "tensor":
            fmt = "fp8_e4m3"
        elif strategy == "token":
            fmt = "fp8_e4m3_pc"
        elif grouped:
            fmt = _mx_format(args) or f"fp8_e4m3_g{size}_s{'e8m0' if e8m0 else 'fp32'}"
    elif kind == "float" and bits == 4 and grouped:
        fmt = {16: "nvfp4", 32: "mxfp4"}.get(size, "")
    elif kind == "int" and not isinstance(bits, bool) and isinstance(bits, int) and 2 <= bits <= 8:
        sym = bool(args.get("symmetric", True))
        if strategy in ("tensor", "token"):
            fmt = f"int{bits}" + ("" if sym else "a") + ("_pc" if strategy == "token" else "")
        elif grouped:
            fmt = _int_format(bits, size, sym, f"{field}.num_bits", file)
    if not fmt:
        raise HwsimError(
            f"{kind} activations of {bits!r} bits, strategy {strategy!r}, group_size {group!r} are not supported "
            f"(supported: {_CT_ACTS_ALLOWED})",
            file=file,
            field=field,
        )
    return fmt
