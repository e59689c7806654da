"""Model configurations read straight from Hugging Face `config.json` fields (no `transformers`).

Supported `model_type`s: llama, mistral, mixtral, qwen2, opt, gpt_neox, phi3, bitnet, and bert (encoder-only:
prefill only, a pooler instead of an LM head; MiniLM is one). Each family's
defaults (tied embeddings, gating, norm kind, biases) follow its HF configuration class.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hwsim.errors import HwsimError, closest
from hwsim.fileio import read_mapping
from hwsim.paths import resolve_preset


@dataclass(frozen=True)
class _FamilyDefaults:
    gated_mlp: bool
    norm: str  # "rmsnorm" (weight) or "layernorm" (weight + bias)
    tie_embeddings: bool
    activation: str
    rotary: bool = True
    qkv_bias: bool = False
    o_bias: bool = False
    mlp_bias: bool = False
    learned_positions: bool = False
    sub_norms: bool = False  # BitNet b1.58: extra RMSNorm before o_proj and down_proj
    encoder: bool = False  # BERT: token-type embeddings, embedding LayerNorm, pooler, no LM head


# Defaults per HF configuration class (transformers' *Config __init__ defaults).
FAMILIES: dict[str, _FamilyDefaults] = {
    "llama": _FamilyDefaults(True, "rmsnorm", False, "silu"),
    "mistral": _FamilyDefaults(True, "rmsnorm", False, "silu"),
    "mixtral": _FamilyDefaults(True, "rmsnorm", False, "silu"),
    "qwen2": _FamilyDefaults(True, "rmsnorm", False, "silu", qkv_bias=True),
    "phi3": _FamilyDefaults(True, "rmsnorm", False, "silu"),
    "bitnet": _FamilyDefaults(True, "rmsnorm", True, "relu2", sub_norms=True),
    "opt": _FamilyDefaults(False, "layernorm", True, "relu", rotary=False, qkv_bias=True, o_bias=True,
                           mlp_bias=True, learned_positions=True),
    "gpt_neox": _FamilyDefaults(False, "layernorm", False, "gelu", qkv_bias=True, o_bias=True, mlp_bias=True),
    "bert": _FamilyDefaults(False, "layernorm", True, "gelu", rotary=False, qkv_bias=True, o_bias=True,
                            mlp_bias=True, learned_positions=True, encoder=True),
}
POSITION_OFFSET = {"opt": 2}  # HF OPTLearnedPositionalEmbedding keeps 2 extra rows


@dataclass(frozen=True)
class ModelConfig:
    name: str
    model_type: str
    hidden: int
    intermediate: int
    heads: int
    kv_heads: int
    head_dim: int
    layers: int
    vocab: int
    tie_embeddings: bool
    gated_mlp: bool
    activation: str
    norm: str
    rotary: bool
    qkv_bias: bool
    o_bias: bool
    mlp_bias: bool
    learned_positions: int  # rows of a learned position table (0 if none)
    sub_norms: bool
    encoder: bool = False
    token_types: int = 0  # rows of a token-type embedding (BERT)
    num_experts: int = 1  # 1 = dense MLP
    experts_per_token: int = 1
    default_weight_format: str = "fp16"
    source: str = ""
    path: str | None = None  # where it was read from
    extra: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    # ---- parameter counts (exact, per HF module layout) ----
    @property
    def q_dim(self) -> int:
        return self.heads * self.head_dim

    @property
    def kv_dim(self) -> int:
        return self.kv_heads * self.head_dim

    @property
    def is_moe(self) -> bool:
        return self.num_experts > 1

    @property
    def norm_params_per_elem(self) -> int:
        return 2 if self.norm == "layernorm" else 1

    def linear_shapes(self) -> dict[str, tuple[int, int, bool]]:
        """Per-layer linear ops: role → (in_features k, out_features n, has_bias). Experts listed once."""
        h, i = self.hidden, self.intermediate
        shapes = {
            "q_proj": (h, self.q_dim, self.qkv_bias),
            "k_proj": (h, self.kv_dim, self.qkv_bias),
            "v_proj": (h, self.kv_dim, self.qkv_bias),
            "o_proj": (self.q_dim, h, self.o_bias),
        }
        if self.is_moe:
            shapes["router"] = (h, self.num_experts, False)
        if self.gated_mlp:
            shapes["gate_proj"] = (h, i, self.mlp_bias)
        shapes["up_proj"] = (h, i, self.mlp_bias)
        shapes["down_proj"] = (i, h, self.mlp_bias)
        return shapes

    def expert_params(self) -> int:
        """Parameters of one expert's MLP (or of the dense MLP)."""
        shapes = self.linear_shapes()
        return sum(k * n + (n if b else 0) for role, (k, n, b) in shapes.items()
                   if role in ("gate_proj", "up_proj", "down_proj"))

    def param_breakdown(self) -> dict[str, int]:
        """Exact parameter counts by group; `total` matches HF's `num_parameters()`."""
        h = self.hidden
        attn = sum(k * n + (n if b else 0) for role, (k, n, b) in self.linear_shapes().items()
                   if role in ("q_proj", "k_proj", "v_proj", "o_proj"))
        router = self.hidden * self.num_experts if self.is_moe else 0
        norms = 2 * h * self.norm_params_per_elem
        if self.sub_norms:
            norms += (h + self.intermediate) * self.norm_params_per_elem
        per_layer = attn + router + norms + self.num_experts * self.expert_params()
        norm = h * self.norm_params_per_elem
        out = {
            "embedding": self.vocab * h,
            "positions": self.learned_positions * h,
            "token_types": self.token_types * h,
            "embedding_norm": norm if self.encoder else 0,
            "per_layer": per_layer,
            "layers": per_layer * self.layers,
            "final_norm": 0 if self.encoder else norm,
            "pooler": h * h + h if self.encoder else 0,
            "lm_head": 0 if self.tie_embeddings or self.encoder else self.vocab * h,
        }
        out["total"] = sum(v for k, v in out.items() if k != "per_layer")
        return out

    @property
    def params(self) -> int:
        return self.param_breakdown()["total"]

    @property
    def active_params_per_token(self) -> int:
        """Parameters touched per token: all but the experts a token is not routed to."""
        idle = (self.num_experts - self.experts_per_token) * self.expert_params() * self.layers
        return self.params - idle


_REQUIRED = ("hidden_size", "num_attention_heads", "num_hidden_layers", "vocab_size")


# Upper bounds of config integers: ~100x the largest published model (assumed), so that op counts stay exact
# in int64 and a typo (an extra zero run, 1e30) is an error instead of an overflow.
_MAX_FIELD = {"num_hidden_layers": 10_000, "num_attention_heads": 2**16, "num_key_value_heads": 2**16,
              "num_local_experts": 2**16, "num_experts_per_tok": 2**16, "max_position_embeddings": 2**31}
_MAX_DIM = 2**24  # hidden, intermediate, head_dim, vocab


def _positive_int(cfg: dict, key: str, file: object, default: object = None) -> int:
    value = cfg.get(key, default)
    if value is None:
        raise HwsimError("required field is missing", file=file, field=key)
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise HwsimError(f"must be a positive integer, got {value!r}", file=file, field=key)
    limit = _MAX_FIELD.get(key, _MAX_DIM)
    if value > limit:
        raise HwsimError(f"must be at most {limit:,}, got {value:.3g}", file=file, field=key)
    return value


def default_weight_format(cfg: dict, file: object = None) -> str:
    """The model's own weight precision: quantization_config if present, else torch_dtype."""
    q = cfg.get("quantization_config")
    if isinstance(q, dict):
        method = str(q.get("quant_method", "")).lower()
        if method == "bitnet":
            return "ternary"
        if method in ("gptq", "awq"):
            bits = q.get("bits", q.get("w_bit"))
            group = q.get("group_size", q.get("q_group_size", 128))
            if not isinstance(bits, int) or not 2 <= bits <= 8:
                raise HwsimError(f"expected integer bits 2..8, got {bits!r}", file=file,
                                 field="quantization_config.bits")
            sym = q.get("sym", True) if method == "gptq" else not q.get("zero_point", True)
            base = f"int{bits}" + ("" if sym else "a")
            if group in (-1, None):
                return f"{base}_pc"
            return f"{base}_g{int(group)}"
        if method == "bitsandbytes" and q.get("load_in_4bit"):
            kind = q.get("bnb_4bit_quant_type", "fp4")
            return "nf4_g64" if kind == "nf4" else "fp4_e2m1_g64"
        if method == "bitsandbytes" and q.get("load_in_8bit"):
            return "int8_pc"
        if method in ("fp8", "fbgemm_fp8"):
            return "fp8_e4m3"
        raise HwsimError(f"unsupported quant_method {method!r} (supported: gptq, awq, bitnet, bitsandbytes, fp8)",
                         file=file, field="quantization_config.quant_method")
    dtype = str(cfg.get("torch_dtype", "float16"))
    return {"bfloat16": "bf16", "float32": "fp32"}.get(dtype, "fp16")


def from_hf_dict(cfg: dict, *, name: str | None = None, file: object = None, source: str = "") -> ModelConfig:
    """Build a ModelConfig from the fields of a Hugging Face config.json."""
    if not isinstance(cfg, dict):
        raise HwsimError("expected a mapping of config fields", file=file)
    model_type = cfg.get("model_type")
    if model_type not in FAMILIES:
        raise HwsimError(f"unsupported model_type {model_type!r}{closest(str(model_type), FAMILIES)}; "
                         f"supported: {', '.join(FAMILIES)}", file=file, field="model_type")
    fam = FAMILIES[model_type]
    for key in _REQUIRED:
        _positive_int(cfg, key, file)
    hidden = cfg["hidden_size"]
    heads = cfg["num_attention_heads"]
    inter_key = "ffn_dim" if model_type == "opt" else "intermediate_size"
    intermediate = _positive_int(cfg, inter_key, file)
    kv_heads = _positive_int(cfg, "num_key_value_heads", file, default=heads)
    if heads % kv_heads:
        raise HwsimError(f"must divide num_attention_heads ({heads}), got {kv_heads}", file=file,
                         field="num_key_value_heads")
    head_dim = _positive_int(cfg, "head_dim", file) if cfg.get("head_dim") is not None else hidden // heads
    if cfg.get("head_dim") is None and hidden % heads:
        raise HwsimError(f"hidden_size {hidden} is not divisible by num_attention_heads {heads}", file=file,
                         field="num_attention_heads")
    if model_type == "opt" and cfg.get("word_embed_proj_dim", hidden) != hidden:
        raise HwsimError("OPT with word_embed_proj_dim != hidden_size (project_in/out) is not supported",
                         file=file, field="word_embed_proj_dim")
    experts = _positive_int(cfg, "num_local_experts", file, 1) if model_type == "mixtral" else 1
    top_k = _positive_int(cfg, "num_experts_per_tok", file, 2) if experts > 1 else 1
    if experts > 1 and not 1 <= top_k <= experts:
        raise HwsimError(f"must be in 1..num_local_experts ({experts}), got {top_k}", file=file,
                         field="num_experts_per_tok")
    llama_bias = bool(cfg.get("attention_bias", False))
    learned = 0
    if cfg.get("max_position_embeddings") is not None:
        _positive_int(cfg, "max_position_embeddings", file)
    if fam.learned_positions:
        learned = _positive_int(cfg, "max_position_embeddings", file) + POSITION_OFFSET.get(model_type, 0)
    activation = cfg.get("hidden_act") or cfg.get("activation_function") or fam.activation
    return ModelConfig(
        name=name or cfg.get("_name_or_path") or model_type,
        model_type=model_type,
        hidden=hidden,
        intermediate=intermediate,
        heads=heads,
        kv_heads=kv_heads,
        head_dim=int(head_dim),
        layers=cfg["num_hidden_layers"],
        vocab=cfg["vocab_size"],
        tie_embeddings=bool(cfg.get("tie_word_embeddings", fam.tie_embeddings)),
        gated_mlp=fam.gated_mlp,
        activation=str(activation),
        norm=fam.norm,
        rotary=fam.rotary,
        qkv_bias=bool(cfg.get("enable_bias", fam.qkv_bias)) or llama_bias,
        o_bias=bool(cfg.get("enable_bias", fam.o_bias)) or llama_bias,
        mlp_bias=bool(cfg.get("enable_bias", cfg.get("mlp_bias", fam.mlp_bias))),
        learned_positions=learned,
        sub_norms=fam.sub_norms,
        encoder=fam.encoder,
        token_types=int(cfg.get("type_vocab_size", 2)) if fam.encoder else 0,
        num_experts=int(experts),
        experts_per_token=int(top_k),
        default_weight_format=default_weight_format(cfg, file),
        source=source,
        path=None if file is None else str(file),
        extra={k: v for k, v in cfg.items() if k not in ("name", "source")},
    )


def _is_dir(path: Path) -> bool:
    try:
        return path.is_dir()
    except OSError:  # a name too long to be a path
        return False


def _refuse_hub_id(text: str) -> None:
    """`meta-llama/Llama-3.1-8B` names a Hugging Face hub repository; hwsim reads local files only."""
    import re

    if re.fullmatch(r"[A-Za-z0-9][\w.-]*/[\w.-]+", text) and not _is_dir(Path(text)) \
            and Path(text).suffix not in (".yaml", ".yml", ".json"):
        raise HwsimError(f"looks like a Hugging Face hub id; hwsim does not download: give a local folder with its "
                         f"config.json (e.g. `huggingface-cli download {text} config.json --local-dir "
                         f"{text.split('/')[-1]}`, then --model {text.split('/')[-1]})", file=text)


def load_model(name_or_path: str | Path) -> ModelConfig:
    """A preset name (workloads/NAME.yaml), a YAML preset path, an HF config.json, or a checkpoint folder."""
    text = str(name_or_path)
    path = Path(text)
    if _is_dir(path):
        path = path / "config.json"
        if not path.exists():
            raise HwsimError("checkpoint folder has no config.json", file=text)
    else:
        _refuse_hub_id(text)
        path = resolve_preset(text, "workloads", what="model")
    data = read_mapping(path, what="a model config")
    if path.suffix == ".json":
        folder = path.parent.name if path.name == "config.json" else path.stem
        model = from_hf_dict(data, name=Path(str(data.get("_name_or_path") or folder)).name, file=path)
    else:
        model = from_hf_dict(data, name=data.get("name", path.stem), file=path, source=str(data.get("source", "")))
    return model
