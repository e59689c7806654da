"""HF `config.json` fields → blocks, one reader per `model_type` (no `transformers` at runtime).

Each reader follows its HF modelling code, including the configuration class's default when a field is
absent (transformers 5.x `*Config` defaults; tests/data/hf_reference.json pins the result against
transformers on the meta device). A reader returns (blocks, embedding, norm, extras).
"""

from __future__ import annotations

import builtins
import math
from dataclasses import dataclass, replace
from typing import Any, Callable

from hwsim.errors import MAX_LIST_MESSAGE, HwsimError
from hwsim.workload.blocks import (
    Attention,
    DeltaNet,
    Embedding,
    Indexer,
    Layer,
    Lightning,
    Mla,
    Mlp,
    ShortConv,
    Ssd,
    Ssm,
)


# Upper bounds of config integers: ~100x the largest published model (assumed), so that op counts stay exact
# in int64 and a typo (an extra zero run, 1e30) is an error instead of an overflow.
_MAX_FIELD = {
    "num_hidden_layers": 10_000,
    "n_layer": 10_000,
    "num_attention_heads": 2**16,
    "n_head": 2**16,
    "num_key_value_heads": 2**16,
    "num_kv_heads": 2**16,
    "num_local_experts": 2**16,
    "num_experts": 2**16,
    "n_routed_experts": 2**16,
    "num_experts_per_tok": 2**16,
    "max_position_embeddings": 2**31,
    "n_positions": 2**31,
    "sliding_window": 2**31,
    "attention_chunk_size": 2**31,
}
_MAX_DIM = 2**24  # hidden, intermediate, head_dim, vocab, ranks


class AskedDict(dict):
    """A config that records the fields its reader looks up (`asked`), present or not."""

    def __init__(self, *args: Any, **kw: Any):
        super().__init__(*args, **kw)
        self.asked: set = set()

    def get(self, key: Any, default: Any = None) -> Any:
        self.asked.add(key)
        return super().get(key, default)

    def __contains__(self, key: object) -> bool:
        self.asked.add(key)
        return super().__contains__(key)

    def __getitem__(self, key: Any) -> Any:
        self.asked.add(key)
        return super().__getitem__(key)


def near_misses(cfg: AskedDict) -> list[tuple[str, str]]:
    """(given, meant): fields no reader asked for that are one slip from a field it asked for and did not find
    (`num_key_value_head` for `num_key_value_heads`, which then took its default: MHA instead of GQA)."""
    import difflib

    absent = [k for k in cfg.asked if isinstance(k, str) and not dict.__contains__(cfg, k)]
    out = []
    for key in dict.keys(cfg):
        if isinstance(key, str) and key not in cfg.asked:
            hit = difflib.get_close_matches(key, absent, n=1, cutoff=0.9)
            if hit:
                out.append((key, hit[0]))
    return out


@dataclass
class Fields:
    """Typed access to one config's fields, errors naming the file and field."""

    cfg: dict
    file: object = None

    def get(self, key: str, default: Any = None) -> Any:  # a config value: whatever the JSON holds
        value = self.cfg.get(key)
        return default if value is None else value

    def int(self, key: str, default: builtins.int | None = None, *, alias: str | None = None, minimum: int = 1) -> int:
        value = self.cfg.get(key)
        if value is None and alias is not None:
            value = self.cfg.get(alias)
        if value is None:
            value = default
        if value is None:
            raise HwsimError("required field is missing", file=self.file, field=key)
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            allowed = "a positive integer" if minimum == 1 else f"an integer ≥ {minimum}"
            raise HwsimError(f"must be {allowed}, got {value!r}", file=self.file, field=key)
        limit = _MAX_FIELD.get(key, _MAX_DIM)
        if value > limit:
            raise HwsimError(f"must be at most {limit:,}, got {value:.3g}", file=self.file, field=key)
        return value

    def number(self, key: str, default: float | None = None, *, minimum: float, strict: bool = False) -> float:
        """A finite real ≥ `minimum` (> with `strict`): a NaN or negative epsilon, a zero RoPE base."""
        value = self.get(key, default)
        if value is None:
            raise HwsimError("required field is missing", file=self.file, field=key)
        ok = isinstance(value, (builtins.int, builtins.float)) and not isinstance(value, bool)
        if not ok or not math.isfinite(value) or value < minimum or (strict and value == minimum):
            raise HwsimError(
                f"must be a finite number {'>' if strict else '≥'} {minimum:g}, got {value!r}",
                file=self.file,
                field=key,
            )
        return builtins.float(value)

    def flag(self, key: str, default: bool) -> bool:
        value = self.cfg.get(key)
        if value is None:
            return default
        if not isinstance(value, bool):  # bool("false") and bool([1]) are True: a wrong value read as on
            raise HwsimError(f"must be true or false, got {value!r}", file=self.file, field=key)
        return value

    # below, `int` in annotations would name the method above: builtins.int is the type
    def layer_types(self, layers: builtins.int, default: Callable[[builtins.int], str]) -> list[str]:
        types = self.cfg.get("layer_types")
        if types is None:
            return [default(i) for i in range(layers)]
        if not isinstance(types, list) or len(types) != layers:
            raise HwsimError(f"expected a list of {layers} layer types", file=self.file, field="layer_types")
        return [str(t) for t in types]

    def kv_heads(
        self, heads: builtins.int, key: str = "num_key_value_heads", default: builtins.int | None = None
    ) -> builtins.int:
        kv = self.int(key, heads if default is None else default)
        if heads % kv:
            raise HwsimError(f"must divide num_attention_heads ({heads}), got {kv}", file=self.file, field=key)
        return kv

    def head_dim(self, hidden: builtins.int, heads: builtins.int, default: builtins.int | None = None) -> builtins.int:
        if self.cfg.get("head_dim") is None and default is None and hidden % heads:
            raise HwsimError(
                f"hidden_size {hidden} is not divisible by num_attention_heads {heads}",
                file=self.file,
                field="num_attention_heads",
            )
        return self.int("head_dim", default if default is not None else hidden // heads)


def _windows(f: Fields, types: list[str], i: int, window: int | None = None) -> dict:
    """Window/chunk of layer i from its layer type (`window`: the type's default sliding_window)."""
    if types[i] == "sliding_attention":
        return {"window": f.int("sliding_window", window)}
    if types[i] == "chunked_attention":
        return {"chunk": f.int("attention_chunk_size")}
    return {}


def _experts_top_k(
    f: Fields, experts_key: str, experts_default: int | None, top_default: int | None, minimum: int = 1
) -> tuple[int, int]:
    experts = f.int(experts_key, experts_default, minimum=minimum)
    top_k = f.int("num_experts_per_tok", top_default) if experts > 1 else 1
    if experts > 1 and top_k > experts:
        raise HwsimError(
            f"must be in 1..{experts} (the routed experts), got {top_k}", file=f.file, field="num_experts_per_tok"
        )
    return experts, top_k


# ---- the Llama-like decoders (pre-norm attention + gated MLP) ----


def _llama_like(f: Fields, mt: str) -> tuple:
    # EXAONE-3 / 3.5 (transformers 5.25 runs them as LlamaForCausalLM under ExaoneConfig): the hub's GPT-2 field
    # names (num_layers, activation_function) aliased and the config class's defaults (EXAONE-3.0-7.8B's geometry)
    # FlexOlmo: FlexOlmoConfig's defaults (allenai/FlexOlmo-7x7B-1T's geometry) for absent fields
    d = _CLASS_DEFAULTS.get(mt, {})
    exaone = mt == "exaone"
    hidden, heads = f.int("hidden_size", d.get("hidden_size")), f.int("num_attention_heads", d.get("heads"))
    layers = f.int("num_hidden_layers", d.get("layers"), alias="num_layers" if exaone else None)
    kv = f.kv_heads(heads, default=d.get("kv_heads"))
    head_dim = f.head_dim(hidden, heads, 128 if mt in _HEAD_DIM_128 else None)
    act = {"bitnet": "relu2", "apertus": "xielu", "arcee": "relu2", "nemotron": "relu2", "jais2": "relu2"}.get(
        mt, "silu"
    )
    act = str(f.get("hidden_act", f.get("activation_function", act) if exaone else act))
    tied_default = mt in ("bitnet", "cohere", "cohere2", "smollm3", "ernie4_5", "ernie4_5_moe", "granite_swa")
    if mt in ("qwen2", "qwen2_moe"):  # Qwen2: q/k/v biases always, no o bias (attention_bias is not read)
        qkv_bias, o_bias = f.flag("qkv_bias", True), False
    elif mt == "phi3":  # Phi-3: fused qkv_proj and o_proj never have biases
        qkv_bias = o_bias = False
    elif mt in ("glm4", "glm"):  # GLM-4: q/k/v biases under attention_bias (default true), o_proj never
        qkv_bias, o_bias = f.flag("attention_bias", True), False
    elif mt == "helium":  # Helium: q/k/v biases under attention_bias, o_proj never
        qkv_bias, o_bias = f.flag("attention_bias", False), False
    elif mt == "stablelm":  # StableLM: q/k/v biases under use_qkv_bias, o_proj never
        qkv_bias, o_bias = f.flag("use_qkv_bias", False), False
    elif mt == "seed_oss":  # Seed-OSS: q/k/v under attention_bias (default true), o_proj under attention_out_bias
        qkv_bias, o_bias = f.flag("attention_bias", True), f.flag("attention_out_bias", False)
    elif mt.startswith("ernie4_5"):  # ERNIE-4.5: one use_bias for q/k/v/o and the MLP
        qkv_bias = o_bias = f.flag("use_bias", False)
        if qkv_bias and mt == "ernie4_5_moe":  # MixtralExperts have no biases, its shared experts would
            raise HwsimError("ERNIE-4.5 MoE with biases is not supported", file=f.file, field="use_bias")
    else:
        qkv_bias = o_bias = f.flag("attention_bias", mt == "jais2")  # Jais2Config: biased by default
    if mt == "bitnet":
        qkv_bias = o_bias = qkv_bias or f.flag("enable_bias", False)
    if mt == "internlm3":  # InternLM3Config: qkv_bias / bias are attention_bias / mlp_bias, which Llama needs equal
        qkv_bias = o_bias = f.flag("attention_bias", f.flag("qkv_bias", False))
        if qkv_bias != f.flag("mlp_bias", f.flag("bias", False)):
            raise HwsimError("must equal qkv_bias (transformers runs InternLM3 as Llama)", file=f.file, field="bias")
    if mt == "iquestcoder":  # IQuestCoderConfig refuses the original code's options no checkpoint enables
        for key in ("clip_qkv", "use_sliding_window"):
            if f.get(key, False) not in (False, 0):
                raise HwsimError("not supported by transformers' IQuestCoder", file=f.file, field=key)
    mlp_bias = f.flag("use_bias", False) if mt.startswith("ernie4_5") else f.flag("mlp_bias", mt == "jais2")
    mlp_bias = mlp_bias and mt != "apertus"  # ApertusMLP's up / down projections never have biases
    mlp_bias = qkv_bias if mt == "internlm3" else mlp_bias  # its `bias` alias, checked equal above
    # per-head q/k RMSNorms (HunYuan's query_layernorm / key_layernorm, built whatever use_qk_norm says)
    qk_norm = (
        "rmsnorm"
        if mt
        in ("qwen3", "qwen3_moe", "exaone4", "exaone_moe", "hunyuan_v1_dense", "hunyuan_v1_moe", "apertus", "hy_v3")
        else None
    )
    if mt in ("olmo2", "olmo3", "olmoe", "flex_olmo"):  # FlexOlmo: OLMo-2's attention (no clip_qkv)
        qk_norm = "rmsnorm_all"
    elif mt == "cohere" and f.flag("use_qk_norm", False):  # Command R+: CohereLayerNorm of (heads, head_dim) weights
        qk_norm = "layernorm_weight_heads"
    elif mt == "stablelm" and f.flag("qk_layernorm", False):  # StableLM-2-12B: a bias-free LayerNorm per head
        qk_norm = "layernorm_weight_heads"
    elif mt == "cohere2" and f.flag("use_qk_norm", False):  # transformers' Cohere2 has no q/k norm to follow
        raise HwsimError("Cohere2 with q/k norms is not supported", file=f.file, field="use_qk_norm")

    clip = mt in ("olmoe", "olmo") and _clip_qkv(f)
    # sliding windows: Mistral/Phi-3 on every layer when set (Mistral's default 4096); Qwen from max_window_layers
    rope = [True] * layers
    if mt in ("mistral", "phi3", "mixtral", "ministral3", "phimoe"):
        # MistralConfig's default window is 4096 (the others' none); an explicit null (Mistral-7B v0.2+,
        # Mistral-Small-3.1) is none
        window = f.cfg.get("sliding_window") if "sliding_window" in f.cfg else (4096 if mt == "mistral" else None)
        if window is not None:  # '' / 0 / [] read as no window, 'abc' as one; null is none
            window = f.int("sliding_window", window)
        types = f.layer_types(layers, lambda i: "sliding_attention" if window else "full_attention")
    elif mt.startswith("qwen"):
        window = f.get("sliding_window")
        sliding = f.flag("use_sliding_window", False) and f.get("sliding_window") is not None
        first = f.int("max_window_layers", 28, minimum=0)
        types = f.layer_types(layers, lambda i: "sliding_attention" if sliding and i >= first else "full_attention")
    elif mt in ("cohere2", "olmo3", "exaone4", "exaone_moe"):
        window, types, rope = _pattern_windows(f, mt, layers)
    elif mt == "smollm3":
        window, types, rope = _no_rope_layers(f, layers)
    elif mt in ("cwm", "granite_swa", "granitemoe_swa"):
        # CwmConfig: an 8192 window, every 4th layer global from layer 0; a falsy window is none. Granite-SWA's the
        # same pattern with a 128-token window
        size = 8192 if mt == "cwm" else 128
        window = f.int("sliding_window", size) if f.get("sliding_window", size) else None
        types = f.layer_types(layers, lambda i: "full_attention" if i % 4 == 0 else "sliding_attention")
        types = types if window else ["full_attention"] * layers
    else:
        window, types = None, f.layer_types(layers, lambda i: "full_attention")

    # Phi-3 (Phi-4-mini: 0.75) rotates the first partial_rotary_factor of each head (Phi3Config's default 1.0), GLM-4
    # half of it (Glm4Config's default 0.5)
    # StableLM a quarter (StableLmConfig's default 0.25)
    factor = _partial_rotary(f, _PARTIAL_ROTARY.get(mt, 1.0)) if mt in ("phi3", *_PARTIAL_ROTARY) else 1.0
    rotary_dim = int(head_dim * factor) if factor < 1 else None
    # Apertus, Arcee (AFM), Nemotron: a non-gated MLP (up, activation, down)
    gated = mt not in ("apertus", "arcee", "nemotron", "jais2")
    dense = Mlp(f.int("intermediate_size", d.get("intermediate_size")), gated, act, mlp_bias, sub_norm=mt == "bitnet")
    if mt in _QWEN_MOE:
        moe = _qwen_moe(f, mt, act)
    elif mt in ("mixtral", "granitemoe", "granitemoeshared", "granitemoe_swa", "olmoe", "phimoe", "flex_olmo"):
        if mt == "olmoe":  # OlmoeConfig: num_experts (num_local_experts its alias), 64 of them, 8 per token
            experts, top_k = _experts_top_k(f, "num_experts", f.get("num_local_experts", 64), 8)
        elif mt == "flex_olmo":  # FlexOlmoConfig: num_experts (num_local_experts its alias), 7, 5 per token
            experts, top_k = _experts_top_k(f, "num_experts", f.get("num_local_experts", 7), 5)
        else:  # PhimoeConfig: 16 experts (Phi-3.5-MoE's geometry), Mixtral's 8; 2 per token
            experts, top_k = _experts_top_k(f, "num_local_experts", 16 if mt == "phimoe" else 8, 2)
        # Granite-MoE-shared (HF GraniteMoeSharedDecoderLayer): an always-on gated shared_mlp of
        # shared_intermediate_size beside the experts, its output added to theirs (0, the default: none)
        shared_mlp = mt in ("granitemoeshared", "granitemoe_swa")
        shared = f.int("shared_intermediate_size", 0, minimum=0) if shared_mlp else 0
        moe = Mlp(dense.intermediate, True, act, mlp_bias, experts=experts, top_k=top_k, shared=shared)
    elif mt == "ernie4_5_moe":
        moe = _ernie_moe(f, act)
    else:
        moe = dense
    per_layer = _hunyuan_moe(f, act, layers) if mt == "hunyuan_v1_moe" else None
    if mt == "exaone_moe":  # K-EXAONE (HF ExaoneMoeSparseMoEBlock): DeepSeek-V3's layout under its own field names
        experts, shared = f.get("num_experts", 64), f.get("num_shared_experts", 1)
        per_layer = _first_dense_then_moe(f, act, layers, experts, 8, 1024, shared, dense.intermediate, 1, types=True)
    if mt == "hy_v3":  # Hy3 (HF HYV3MoE): routed experts beside shared ones, dense layers by mlp_layer_types
        if mlp_bias:  # its experts never have biases, its shared experts would
            raise HwsimError("Hy3 with MLP biases is not supported", file=f.file, field="mlp_bias")
        experts = f.get("num_experts", f.get("num_local_experts", 192))
        shared = f.get("num_shared_experts", 1)
        per_layer = _first_dense_then_moe(f, act, layers, experts, 8, 1536, shared, dense.intermediate, 1, types=True)
    # GLM-4: pre- and post-norms around attention and MLP (Gemma-2's sandwich); Cohere: attention and MLP side by
    # side after one norm; OLMo-2/3, FlexOlmo and EXAONE-4's two norms follow attention and MLP instead of preceding them (same
    # ops, other order)
    # StableLM-2-12B (use_parallel_residual): attention and MLP side by side after one LayerNorm
    parallel = mt in ("cohere", "cohere2") or (mt == "stablelm" and f.flag("use_parallel_residual", False))
    # HyperCLOVA X (HF HyperCLOVAXDecoderLayer): Granite's layer with post_norm1 / post_norm2 after attention and MLP
    # under use_post_norm (default true): GLM-4's four norms
    sandwich = mt == "glm4" or (mt == "hyperclovax" and f.flag("use_post_norm", True))
    norms = 4 if sandwich else 1 if parallel else 2
    blocks = []
    for i in range(layers):
        attn = Attention(
            heads,
            kv,
            head_dim,
            head_dim,
            qkv_bias,
            o_bias,
            rotary=rope[i],
            qk_norm=qk_norm,
            sub_norm=mt == "bitnet",
            rotary_dim=rotary_dim,
            clip_qkv=clip,
            query_scale=mt == "ministral3",  # Ministral3Attention scales its queries whatever the config says
            sinks=mt in ("granite_swa", "granitemoe_swa"),  # Granite-SWA: a learned sink logit per head
            **_windows(f, types, i, window),
        )
        is_moe = moe.is_moe and _sparse_layer(f, i, mt, layers)
        mlp = per_layer[i] if per_layer else moe if is_moe else dense
        blocks.append(Layer(attn, mlp, norms=norms, parallel=parallel))
    # Granite (µP): the embeddings times embedding_multiplier (its residual / attention / logit multipliers are
    # scalars folded into existing ops)
    granite_like = ("granite", "granitemoe", "granitemoeshared", "hyperclovax", "granite_swa", "granitemoe_swa")
    scale = mt in granite_like and f.get("embedding_multiplier", 1.0) != 1.0
    # Phi-3.5-MoE: its LM head biased under lm_head_bias
    head_bias = mt == "phimoe" and f.flag("lm_head_bias", False)
    emb = Embedding(
        f.int("vocab_size", d.get("vocab_size")),
        tied=f.flag("tie_word_embeddings", tied_default),
        scale=scale,
        head_bias=head_bias,
    )
    # CohereLayerNorm: a weight, no bias; Phi-3.5-MoE, StableLM, Nemotron (LayerNorm1P, its weight + 1 applied in
    # the norm): nn.LayerNorm (weight and bias) where Llama has RMSNorm; OLMo (OlmoLayerNorm): a LayerNorm with neither
    norms_of = {
        "cohere": "layernorm_weight",
        "cohere2": "layernorm_weight",
        "phimoe": "layernorm",
        "olmo": "layernorm_none",
    }
    norm = norms_of.get(mt, "layernorm" if mt in ("stablelm", "nemotron", "jais2") else "rmsnorm")
    return blocks, emb, norm, {"activation": act, "hidden": hidden}


def _clip_qkv(f: Fields, where: str = "") -> bool:
    """Whether q, k and v are clamped to ±clip_qkv (OLMo, OLMoE, DBRX's attn_config: `where` the field's parent; the
    config classes' default None: not clamped). A value that is not a positive number is refused."""
    if f.get("clip_qkv") is None:
        return False
    try:
        return f.number("clip_qkv", minimum=0, strict=True) > 0
    except HwsimError as exc:
        raise HwsimError(exc.detail, file=exc.file, field=where + "clip_qkv") from None


# config classes' defaults of Llama-like types (transformers 5.25) for absent fields: ExaoneConfig's (LlamaConfig's
# where it sets none) are EXAONE-3.0-7.8B's geometry; FlexOlmoConfig's (num_key_value_heads: the heads) FlexOlmo-7x7B's
_CLASS_DEFAULTS = {
    "exaone": {
        "hidden_size": 4096,
        "heads": 32,
        "layers": 32,
        "kv_heads": 8,
        "intermediate_size": 14336,
        "vocab_size": 102400,
    },
    "flex_olmo": {"hidden_size": 4096, "heads": 32, "layers": 32, "intermediate_size": 11008, "vocab_size": 100352},
    # GraniteSWAConfig's: granite-swash-2b's geometry; GraniteMoeSWAConfig's: GraniteMoeShared's
    "granite_swa": {
        "hidden_size": 2560,
        "heads": 20,
        "layers": 24,
        "kv_heads": 4,
        "intermediate_size": 8192,
        "vocab_size": 100352,
    },
    "granitemoe_swa": {"hidden_size": 4096, "heads": 32, "layers": 32, "intermediate_size": 11008, "vocab_size": 32000},
    # Jais2Config's: Jais-2-8B's geometry (LlamaConfig's depth)
    "jais2": {"hidden_size": 3328, "heads": 26, "layers": 32, "intermediate_size": 26624, "vocab_size": 150272},
    # HyperCLOVAXConfig's: GraniteConfig's (not HyperCLOVAX-SEED-Think-14B's geometry)
    "hyperclovax": {"hidden_size": 4096, "heads": 32, "layers": 32, "intermediate_size": 11008, "vocab_size": 32000},
    # HYV3Config's: Hy3-preview's geometry
    "hy_v3": {
        "hidden_size": 4096,
        "heads": 64,
        "layers": 80,
        "kv_heads": 8,
        "intermediate_size": 13312,
        "vocab_size": 120832,
    },
    # ExaoneMoeConfig's (not K-EXAONE-236B-A23B's geometry)
    "exaone_moe": {
        "hidden_size": 4096,
        "heads": 32,
        "layers": 32,
        "kv_heads": 32,
        "intermediate_size": 16384,
        "vocab_size": 102400,
    },
    # InternLM3Config's are InternLM3-8B's, IQuestCoderConfig's IQuest-Coder-V1-40B's, CwmConfig's CWM's (32B)
    "internlm3": {
        "hidden_size": 4096,
        "heads": 32,
        "layers": 48,
        "kv_heads": 2,
        "intermediate_size": 10240,
        "vocab_size": 128512,
    },
    "iquestcoder": {
        "hidden_size": 5120,
        "heads": 40,
        "layers": 80,
        "kv_heads": 8,
        "intermediate_size": 27648,
        "vocab_size": 76800,
    },
    "cwm": {
        "hidden_size": 6144,
        "heads": 48,
        "layers": 64,
        "kv_heads": 8,
        "intermediate_size": 21504,
        "vocab_size": 128256,
    },
}


# types whose config class defaults head_dim to 128 (an absent head_dim is not hidden_size // heads)
_HEAD_DIM_128 = (
    "qwen3",
    "glm4",
    "seed_oss",
    "ernie4_5",
    "ministral3",
    "helium",
    "glm",
    "internlm3",
    "iquestcoder",
    "cwm",
    "hy_v3",
)
# types whose q/k heads rotate only a share of their channels by default (partial_rotary_factor): GLM-4 half
# (Glm4Config / GlmConfig's 0.5), StableLM a quarter (StableLmConfig's 0.25), Nemotron half (NemotronConfig's 0.5)
_PARTIAL_ROTARY = {"glm4": 0.5, "glm": 0.5, "stablelm": 0.25, "nemotron": 0.5}


def _ernie_moe(f: Fields, act: str) -> Mlp:
    """ERNIE-4.5's MoE MLP (HF Ernie4_5_MoeSparseMoeBlock; Ernie4_5_MoeConfig's defaults, transformers 5.25, are
    ERNIE-4.5-21B-A3B's geometry): moe_num_experts gated experts of moe_intermediate_size (64), moe_k per token (6),
    beside moe_num_shared_experts (2) always-on experts of the same width run as one MLP. Its router is a bias-free
    softmax GEMM whose top-k adds e_score_correction_bias, a parameter of moe_num_experts (Ernie4_5_MoeStatics),
    counted here as the router's bias (the same count; its add is not priced beyond the router, as every top-k).
    The config's num_experts / num_experts_per_tok are aliases of moe_num_experts / moe_k."""
    experts, top_k = _experts_top_k(f, "moe_num_experts", f.get("num_experts", 64), f.int("moe_k", 6))
    inter = f.int("moe_intermediate_size", 1536)
    shared = f.int("moe_num_shared_experts", 2, minimum=0) * inter
    return Mlp(inter, True, act, experts=experts, top_k=top_k, shared=shared, router_bias=True)


def _pattern_windows(f: Fields, mt: str, layers: int) -> tuple:
    """(window, layer types, rope per layer) of the types that interleave sliding-window and global layers by a
    period: every pattern-th layer global, the rest sliding. Command-R7B (sliding_window_pattern, default 4, window
    4096) and EXAONE-4 (the same fields and defaults; a null sliding_window: every layer global) run their global
    layers without rope (NoPE), EXAONE-4 only when it has sliding layers; OLMo-3 (every 4th layer global, window
    4096) rotates every layer. An explicit layer_types wins over the pattern."""
    if mt in ("exaone4", "exaone_moe") and "sliding_window" in f.cfg:  # an explicit null: no sliding layers
        window = f.cfg["sliding_window"]
    else:
        window = f.get("sliding_window", 4096)

    def default(i: int) -> str:  # read only without layer_types (EXAONE-4's hub configs write the pattern "LLLG")
        pattern = 4 if mt == "olmo3" else 0 if window is None else f.int("sliding_window_pattern", 4)
        return "sliding_attention" if pattern and (i + 1) % pattern else "full_attention"

    types = f.layer_types(layers, default)
    nope = mt == "cohere2" or (mt in ("exaone4", "exaone_moe") and window is not None)
    rope = [not nope or t == "sliding_attention" for t in types]
    return window, types, rope


def _no_rope_layers(f: Fields, layers: int) -> tuple:
    """SmolLM3's (window, layer types, rope per layer): no_rope_layers (1 = rope, 0 = NoPE per layer) or, absent,
    NoPE on every no_rope_layer_interval-th layer (default 4); a window (sliding_window under use_sliding_window) on
    the NoPE layers when layer_types is not given, and only under use_sliding_window when it is."""
    flags = f.get("no_rope_layers")
    if flags is None:
        interval = f.int("no_rope_layer_interval", 4)
        flags = [int((i + 1) % interval != 0) for i in range(layers)]
    elif not isinstance(flags, list) or len(flags) < layers:
        raise HwsimError(f"expected a list of at least {layers} 0/1 flags", file=f.file, field="no_rope_layers")
    rope = [bool(flags[i]) for i in range(layers)]
    window = f.get("sliding_window") if f.flag("use_sliding_window", False) else None
    types = f.layer_types(layers, lambda i: "sliding_attention" if window and not rope[i] else "full_attention")
    if window is None:  # SmolLM3Attention applies a window only under use_sliding_window
        types = ["full_attention"] * layers
    return window, types, rope


# Qwen MoE config classes' defaults (transformers 5.25): routed experts, per token, their width, the shared expert's
# width (0: none)
_QWEN_MOE = {
    "qwen2_moe": (60, 4, 1408, 5632),
    "qwen3_moe": (128, 8, 768, 0),
    "qwen3_next": (512, 10, 512, 512),
    "qwen3_5_moe_text": (256, 8, 512, 512),
}


def _qwen_moe(f: Fields, mt: str, act: str) -> Mlp:
    """The MoE MLP of Qwen2-MoE / Qwen3-MoE / Qwen3-Next / Qwen3.5-MoE: num_experts gated experts of
    moe_intermediate_size behind a bias-free softmax router; Qwen2-MoE, Qwen3-Next and Qwen3.5-MoE add an always-on
    shared expert of
    shared_expert_intermediate_size whose output is scaled by sigmoid(shared_expert_gate(x)). A layer runs it when
    _sparse_layer says so, else its dense MLP."""
    n, k, inter, shared = _QWEN_MOE[mt]
    experts, top_k = _experts_top_k(f, "num_experts", f.get("num_local_experts", n) if mt == "qwen3_moe" else n, k, 0)
    return Mlp(
        f.int("moe_intermediate_size", inter),
        True,
        act,
        experts=experts,
        top_k=top_k,
        shared=f.int("shared_expert_intermediate_size", shared) if shared else 0,
        shared_gate=shared > 0,
    )


def _hunyuan_moe(f: Fields, act: str, layers: int) -> list[Mlp]:
    """Hunyuan-MoE's MLP of each layer (HF HunYuanMoEV1Moe, every layer): num_experts gated experts of
    intermediate_size behind a bias-free softmax router (gate.wg), moe_topk per token (an integer or one per layer),
    beside an always-on shared MLP of the same width (shared_mlp). HF's experts take num_experts as one integer, so a
    per-layer list is refused; so is a single expert (HunYuanMoEV1Config's default), a degenerate MoE."""
    experts = f.int("num_experts", 1, minimum=2)
    width = f.int("intermediate_size")
    tops = f.get("moe_topk", f.get("num_experts_per_tok", 1))
    if isinstance(tops, list) and len(tops) < layers:
        raise HwsimError(f"expected an integer or a list of {layers}", file=f.file, field="moe_topk")
    out = []
    for i in range(layers):
        top_k = tops[i] if isinstance(tops, list) else tops
        if isinstance(top_k, bool) or not isinstance(top_k, int) or not 1 <= top_k <= experts:
            raise HwsimError(
                f"must be in 1..{experts} (the routed experts), got {top_k!r}", file=f.file, field="moe_topk"
            )
        out.append(Mlp(width, True, act, experts=experts, top_k=top_k, shared=width))
    return out


def _sparse_layer(f: Fields, i: int, mt: str = "", layers: int = 0) -> bool:
    """Whether layer i runs the MoE. Qwen / Mixtral layouts: not in mlp_only_layers, (i + 1) % decoder_sparse_step
    == 0; ERNIE-4.5 (Ernie4_5_MoeDecoderLayer): (i + 1) % moe_layer_interval == 0 and moe_layer_start_index <= i <=
    moe_layer_end_index (defaults 1, 1 and -1, the last layer)."""
    if mt == "ernie4_5_moe":
        end = f.get("moe_layer_end_index", -1)
        end = layers - 1 if end == -1 else f.int("moe_layer_end_index", minimum=0)
        start = f.int("moe_layer_start_index", 1, minimum=0)
        return (i + 1) % f.int("moe_layer_interval", 1) == 0 and start <= i <= end
    return i not in f.get("mlp_only_layers", []) and (i + 1) % f.int("decoder_sparse_step", 1) == 0


def _partial_rotary(f: Fields, default: float) -> float:
    """partial_rotary_factor, at the top level (hub configs) or in rope_parameters (transformers 5 saves)."""
    rope = f.get("rope_parameters") if isinstance(f.get("rope_parameters"), dict) else {}
    factor = f.number("partial_rotary_factor", rope.get("partial_rotary_factor", default), minimum=0, strict=True)
    if factor > 1:
        raise HwsimError(f"must be in (0, 1], got {factor:g}", file=f.file, field="partial_rotary_factor")
    return factor


def _mla(
    f: Fields, q_lora: int, indexer: Indexer | None = None, nope: int = 128, v: int = 128, kv: int = 512, rope: int = 64
) -> Mla:
    """MLA geometry from DeepSeek's field names (the config class's defaults: DeepSeek-V3's, Kimi-Linear's alike;
    `nope` / `v` / `kv` / `rope` another class's widths)."""
    return Mla(
        q_lora,
        f.int("kv_lora_rank", kv),
        f.int("qk_rope_head_dim", rope),
        f.int("qk_nope_head_dim", nope),
        f.int("v_head_dim", v),
        indexer,
    )


# config classes' defaults of the DeepSeek-layout types that have them for every field (transformers 5.25):
# DeepseekV32Config's are DeepSeek-V3.2-Exp's geometry, Glm4MoeLiteConfig's GLM-4.7-Flash's
_DEEPSEEK_DEFAULTS: dict[str, dict[str, int]] = {
    "deepseek_v32": {"hidden": 7168, "heads": 128, "layers": 61, "vocab": 129280, "q_lora": 1536},
    "glm4_moe_lite": {"hidden": 2048, "heads": 20, "layers": 47, "vocab": 154880, "q_lora": 768, "nope": 192, "v": 256},
    # GlmMoeDsaConfig's are GLM-5's geometry
    "glm_moe_dsa": {"hidden": 6144, "heads": 64, "layers": 78, "vocab": 154880, "q_lora": 2048, "nope": 192, "v": 256},
    # SarvamMLAConfig's are Sarvam-105B's (no query latent by default), MiniCPM3Config's MiniCPM3-4B's (values of
    # hidden / heads unless given)
    "sarvam_mla": {"hidden": 4096, "heads": 64, "layers": 32, "vocab": 262144, "q_lora": 0},
    "minicpm3": {
        "hidden": 2560,
        "heads": 40,
        "layers": 62,
        "vocab": 73448,
        "q_lora": 768,
        "nope": 64,
        "kv": 256,
        "rope": 32,
    },
    # AXK1Config's: A.X-K1's geometry
    "axk1": {"hidden": 7168, "heads": 64, "layers": 61, "vocab": 163840, "q_lora": 1536},
    # YoutuConfig's: Youtu-LLM-2B's
    "youtu": {"hidden": 2048, "heads": 16, "layers": 32, "vocab": 128256, "q_lora": 1536},
}
# the DeepSeek-layout classes' MoE defaults (_first_dense_then_moe: routed experts, a token, their width, shared
# experts, the dense width, dense layers first): DeepSeek-V2's where a class has none of its own
_DEEPSEEK_MOE: dict[str, tuple] = {
    "deepseek_v3": (256, 8, 2048, 1, 18432, 3),
    "deepseek_v32": (256, 8, 2048, 1, 18432, 3),
    "glm4_moe_lite": (64, 4, 1536, 1, 10240, 1),
    "glm_moe_dsa": (256, 8, 2048, 1, 12288, 3),
    "sarvam_mla": (128, 8, 2048, 1, 16384, 1),
    "axk1": (192, 8, 2048, 1, 18432, 1),
}


def _indexer_types(f: Fields, layers: int) -> list[str]:
    """GLM-5's indexer of each layer (GlmMoeDsaConfig.__post_init__): indexer_types ("full": its own, "shared": the
    previous full layer's top-k) or, absent, index_topk_pattern ("F" / "S" per layer), else layer i is full when
    max(i - index_skip_topk_offset + 1, 0) % index_topk_freq == 0 (defaults 2 and 1: every layer full). The first
    layer must be full: a shared one has no earlier choice to read (transformers raises)."""
    kinds = f.get("indexer_types")
    field = "indexer_types"
    if kinds is None and f.get("index_topk_pattern") is not None:
        pattern, field = f.get("index_topk_pattern"), "index_topk_pattern"
        names = {"F": "full", "S": "shared"}
        kinds = [names.get(c, c) for c in pattern] if isinstance(pattern, str) else pattern
    if kinds is None:
        freq = max(f.int("index_topk_freq", 1), 1)
        offset = f.int("index_skip_topk_offset", 2, minimum=0)
        kinds = ["full" if max(i - offset + 1, 0) % freq == 0 else "shared" for i in range(layers)]
    if not isinstance(kinds, list) or len(kinds) != layers or set(kinds) - {"full", "shared"} or kinds[0] != "full":
        raise HwsimError(f"expected {layers} of full or shared, the first full", file=f.file, field=field)
    return kinds


def _deepseek(f: Fields, mt: str) -> tuple:
    """DeepSeek-V2/V3: MLA attention, first_k_dense_replace dense layers, then routed + shared experts.
    DeepSeek-V3.2-Exp (deepseek_v32, HF DeepseekV32ForCausalLM): DeepSeek-V3 with DeepSeek Sparse Attention in
    every layer, a lightning indexer (blocks.Indexer: index_n_heads heads of index_head_dim, index_topk tokens kept
    per query; DeepseekV32Config's defaults 64, 128, 2048) reading the MLA's query latent, which it always has (HF
    builds q_a_proj whatever q_lora_rank says: a null one is refused); the dense / MoE layer of each layer from
    mlp_layer_types when given. DeepseekV32Config's defaults (transformers 5.25) are DeepSeek-V3.2-Exp's geometry."""
    v32 = mt in ("deepseek_v32", "glm_moe_dsa")
    d = _DEEPSEEK_DEFAULTS.get(mt, {})
    hidden, heads = f.int("hidden_size", d.get("hidden")), f.int("num_attention_heads", d.get("heads"))
    layers = f.int("num_hidden_layers", d.get("layers"))
    # q_lora_rank null (DeepSeek-V2-Lite) = a plain q_proj; absent = the config class default
    q_lora = (
        0
        if "q_lora_rank" in f.cfg and f.cfg["q_lora_rank"] is None
        else f.int("q_lora_rank", d.get("q_lora", 1536), minimum=0)
    )
    if mt == "axk1" and not q_lora:  # AXK1Attention always builds the query latent
        raise HwsimError("A.X-K1's attention always has a query latent: must be set", file=f.file, field="q_lora_rank")
    indexer = None
    if v32:
        if not q_lora:
            raise HwsimError(
                "DeepSeek-V3.2's indexer reads the query latent: must be set", file=f.file, field="q_lora_rank"
            )
        index_heads = f.int("index_n_heads", 32 if mt == "glm_moe_dsa" else 64)
        indexer = Indexer(index_heads, f.int("index_head_dim", 128), f.int("index_topk", 2048))
    v = d.get("v", hidden // heads if mt == "minicpm3" else 128)
    mla = _mla(f, q_lora, indexer, d.get("nope", 128), v, d.get("kv", 512), d.get("rope", 64))
    if indexer is not None and mla.rope_dim > indexer.head_dim:  # the indexer rotates its first rope_dim channels
        raise HwsimError(
            f"must be at least qk_rope_head_dim ({mla.rope_dim}), got {indexer.head_dim}",
            file=f.file,
            field="index_head_dim",
        )
    bias = f.flag("attention_bias", False)
    attn = Attention(heads, heads, mla.nope_dim + mla.rope_dim, mla.v_dim, bias, bias, mla=mla)
    attns = [attn] * layers
    if mt == "glm_moe_dsa" and indexer is not None:  # GLM-5: layers that reuse the previous full layer's top-k
        reused = replace(attn, mla=replace(mla, indexer=replace(indexer, reuse=True)))
        attns = [attn if kind == "full" else reused for kind in _indexer_types(f, layers)]
    act = str(f.get("hidden_act", "silu"))
    # GLM-4.7-Flash (Glm4MoeLiteConfig): 64 routed experts of 1536, 4 a token, one shared, a dense first layer of 10240
    defaults = _DEEPSEEK_MOE.get(mt, (64, None, 1407, 2, 11008, 0))
    if mt == "sarvam_mla":  # SarvamMLAConfig's attribute_map: the original config's num_experts / num_shared_experts
        experts = f.get("num_experts", f.get("num_local_experts", defaults[0]))
        defaults = (experts, *defaults[1:3], f.get("num_shared_experts", defaults[3]), *defaults[4:])
    if mt in ("minicpm3", "youtu"):  # MiniCPM3, Youtu-LLM: a dense gated MLP in every layer (Youtu's bias-free)
        bias = mt == "minicpm3" and f.flag("mlp_bias", False)
        mlps = [Mlp(f.int("intermediate_size", 6400 if mt == "minicpm3" else 6144), True, act, bias)] * layers
    else:
        lite = v32 or mt in ("glm4_moe_lite", "axk1")  # mlp_layer_types read
        mlps = _first_dense_then_moe(f, act, layers, *defaults, types=lite, freq=mt == "axk1")
    if mt == "axk1":  # A.X-K1 (HF AXK1MoE): the MoE block's output RMSNormed
        mlps = [replace(m, out_norm=True) if m.is_moe else m for m in mlps]
    blocks = [Layer(a, mlp, norms=2) for a, mlp in zip(attns, mlps)]
    # MiniCPM3: the embeddings × scale_emb (default 12); its residual scale_depth and logit dim_model_base are
    # scalars folded into existing ops, as Granite's multipliers
    scale = mt == "minicpm3" and f.number("scale_emb", 12, minimum=0) != 1
    vocab = f.int("vocab_size", d.get("vocab"))
    emb = Embedding(vocab, tied=f.flag("tie_word_embeddings", mt in ("minicpm3", "youtu")), scale=scale)
    return blocks, emb, "rmsnorm", {"activation": act, "hidden": hidden}


def _first_dense_then_moe(
    f: Fields,
    act: str,
    layers: int,
    experts: int | None,
    top_k: int | None,
    moe: int,
    shared: int | None,
    dense: int,
    first: int,
    *,
    types: bool = False,
    freq: bool = False,
) -> list[Mlp]:
    """The MLP of each layer in DeepSeek's layout, which GLM-4.5 shares (field names and meaning): the first
    first_k_dense_replace layers a dense gated MLP of intermediate_size, the rest n_routed_experts gated experts of
    moe_intermediate_size (num_experts_per_tok each token, a bias-free router; DeepSeek-V3 / GLM-4.5 route by
    sigmoid scores plus the e_score_correction_bias buffer, not a parameter) beside n_shared_experts always-on
    experts of the same width, run as one MLP. The arguments after `layers` are the config class's defaults;
    `types`: mlp_layer_types ("dense" / "sparse" per layer, DeepSeek-V3.2) overrides first_k_dense_replace."""
    n, k = _experts_top_k(f, "n_routed_experts", experts, top_k)
    moe_inter = f.int("moe_intermediate_size", moe)
    n_shared = f.int("n_shared_experts", shared, minimum=0) * moe_inter
    dense_mlp = Mlp(f.int("intermediate_size", dense), True, act)
    moe_mlp = Mlp(moe_inter, True, act, experts=n, top_k=k, shared=n_shared)
    first_moe = f.int("first_k_dense_replace", first, minimum=0)
    every = f.int("moe_layer_freq", 1) if freq else 1  # A.X-K1: a MoE layer on every moe_layer_freq-th layer only
    kinds = f.get("mlp_layer_types") if types else None
    if kinds is None:
        kinds = ["sparse" if i >= first_moe and i % every == 0 else "dense" for i in range(layers)]
    elif not isinstance(kinds, list) or len(kinds) != layers or set(kinds) - {"dense", "sparse"}:
        raise HwsimError(f"expected a list of {layers} of dense or sparse", file=f.file, field="mlp_layer_types")
    return [moe_mlp if kind == "sparse" and n > 1 else dense_mlp for kind in kinds]


def _longcat_flash(f: Fields, mt: str) -> tuple:
    """LongCat-Flash (HF LongcatFlashForCausalLM; Meituan, "LongCat-Flash Technical Report", arXiv:2509.01322, §2):
    each of num_layers layers is two sublayers, each an MLA attention (DeepSeek's geometry and field names, every
    sublayer its own latent cache) and a dense gated MLP of ffn_hidden_size, pre-norms on both; a shortcut MoE reads
    the first sublayer's MLP input and its output joins the residual after the second (HF LongcatFlashDecoderLayer).
    hwsim runs a layer as two: the first's MLP is the MoE with the dense MLP as its always-on shared expert on the
    same input (the same products; their outputs join the residual at different points, which costs the same), the
    second's the dense MLP alone. The MoE: n_routed_experts gated experts of expert_ffn_hidden_size beside
    zero_expert_num zero-computation experts (Mlp.zero_experts), moe_topk a token over both, one softmax router
    (router_bias: its bias). The queries and latent scales of LongCat's MLA (mla_scale_q_lora / kv_lora) are scalars
    folded into existing ops. LongcatFlashConfig's defaults (transformers 5.25) are LongCat-Flash-Chat's geometry;
    its attribute_map aliases num_local_experts, num_experts_per_tok, intermediate_size and moe_intermediate_size."""
    hidden, heads = f.int("hidden_size", 6144), f.int("num_attention_heads", 64)
    layers = f.int("num_layers", 28, alias="num_hidden_layers")
    q_lora = f.int("q_lora_rank", 1536)
    mla = Mla(
        q_lora,
        f.int("kv_lora_rank", 512),
        f.int("qk_rope_head_dim", 64),
        f.int("qk_nope_head_dim", 128),
        f.int("v_head_dim", 128),
    )
    # LongcatFlashConfig's head_dim is the width its rotary embedding is built for (the rope key's), qk_head_dim the
    # query / key heads' (the nope and rope parts): transformers fails on others
    for key, want in (("head_dim", mla.rope_dim), ("qk_head_dim", mla.nope_dim + mla.rope_dim)):
        if f.get(key) is not None and f.int(key) != want:
            raise HwsimError(f"must be {want} (the MLA's widths)", file=f.file, field=key)
    bias = f.flag("attention_bias", False)
    attn = Attention(heads, heads, mla.nope_dim + mla.rope_dim, mla.v_dim, bias, bias, mla=mla)
    act = str(f.get("hidden_act", "silu"))
    dense = Mlp(f.int("ffn_hidden_size", f.get("intermediate_size", 12288)), True, act)
    experts = f.int("n_routed_experts", f.get("num_local_experts", 512), minimum=2)
    zero = f.int("zero_expert_num", 256, minimum=0)
    top_k = f.int("moe_topk", f.get("num_experts_per_tok", 12))
    if top_k > experts + zero:
        raise HwsimError(
            f"must be in 1..{experts + zero} (the routed and zero experts), got {top_k}", file=f.file, field="moe_topk"
        )
    width = f.int("expert_ffn_hidden_size", f.get("moe_intermediate_size", 2048))
    moe = Mlp(
        width,
        True,
        act,
        experts=experts,
        top_k=top_k,
        shared=dense.intermediate,
        router_bias=f.flag("router_bias", False),
        zero_experts=zero,
    )
    blocks = [Layer(attn, mlp, norms=2) for _ in range(layers) for mlp in (moe, dense)]
    emb = Embedding(f.int("vocab_size", 131072), tied=f.flag("tie_word_embeddings", False))
    return blocks, emb, "rmsnorm", {"activation": act, "hidden": hidden}


def _glm4_moe(f: Fields, mt: str) -> tuple:
    """GLM-4.5 / GLM-4.5-Air / GLM-4.6 (HF Glm4MoeForCausalLM; Zhipu AI, arXiv:2508.06471): GQA attention with
    q/k/v biases under attention_bias (o_proj never has one), rotary on the first partial_rotary_factor of each
    head (default 0.5), per-head RMSNorms on q and k under use_qk_norm (weights of head_dim, shared by the heads);
    DeepSeek's MLP layout (_first_dense_then_moe). head_dim defaults to hidden_size // num_attention_heads as HF's
    getattr does (no divisibility check). Glm4MoeConfig's defaults (transformers 5.25) are GLM-4.5-Air's geometry
    less its head_dim (128) and attention_bias (true). The multi-token-prediction layer (num_nextn_predict_layers)
    is not built by transformers (ignored on load) and not traced.
    Solar-Open (HF SolarOpenForCausalLM; SolarOpenConfig's defaults are Solar-Open-100B's geometry): the same
    attention without q/k norms, head_dim 128 and full rotary by default, and the MoE in every layer
    (n_routed_experts, alias num_local_experts, 128 of moe_intermediate_size 1280, 8 a token, beside
    n_shared_experts 1 of the same width; no dense layers, first_k_dense_replace not read).
    dots.llm1 (dots1, HF Dots1ForCausalLM; rednote-hilab): Qwen3's attention (per-head q/k RMSNorms always, full
    rotary, q/k/v/o biased together under attention_bias, a sliding window on the layers layer_types names, by
    default those from max_window_layers on) over DeepSeek's MLP layout. Dots1Config has no default for
    n_routed_experts, num_experts_per_tok or n_shared_experts (transformers cannot build the model without them):
    required here; its other defaults (hidden 4608, 62 layers, 32 heads of hidden // heads) are read as given."""
    solar, dots = mt == "solar_open", mt == "dots1"
    d = _GLM4_MOE_DEFAULTS[mt]
    hidden, heads = f.int("hidden_size", d["hidden"]), f.int("num_attention_heads", d["heads"])
    layers = f.int("num_hidden_layers", d["layers"])
    head_dim = f.int("head_dim", d.get("head_dim", hidden // heads))
    factor = _partial_rotary(f, d.get("rotary", 1.0))
    # Sarvam-MoE / Param-2 MoE (their config classes' attribute_map): use_qkv_bias is attention_bias, num_experts /
    # num_shared_experts the routed / shared expert counts
    bias = f.flag("attention_bias", f.flag("use_qkv_bias", False))
    if dots:
        # Dots1Config's window 4096 when absent; an explicit null is none (no layer slides by default then)
        window = f.cfg.get("sliding_window") if "sliding_window" in f.cfg else 4096
        first = f.int("max_window_layers", 62, minimum=0)
        types = f.layer_types(layers, lambda i: "sliding_attention" if window and i >= first else "full_attention")
    attn = [
        Attention(
            heads,
            f.kv_heads(heads, default=d["kv"]),
            head_dim,
            head_dim,
            bias,
            bias and dots,
            rotary_dim=int(head_dim * factor),
            qk_norm="rmsnorm" if dots or (not solar and f.flag("use_qk_norm", d.get("qk_norm", False))) else None,
            **(_windows(f, types, i, window) if dots else {}),
        )
        for i in range(layers)
    ]
    act = str(f.get("hidden_act", "silu"))
    if solar:
        experts, top_k = _experts_top_k(f, "n_routed_experts", f.get("num_local_experts", 128), 8)
        inter = f.int("moe_intermediate_size", 1280)
        shared = f.int("n_shared_experts", 1, minimum=0) * inter
        mlps = [Mlp(inter, True, act, experts=experts, top_k=top_k, shared=shared)] * layers
    else:
        experts, top_k, width, n_shared, dense, first_moe = d["moe"]
        if mt in ("sarvam_moe", "param2moe"):
            experts = f.get("num_experts", f.get("num_local_experts", experts))
            n_shared = f.get("num_shared_experts", n_shared)
        mlps = _first_dense_then_moe(f, act, layers, experts, top_k, width, n_shared, dense, first_moe)
    emb = Embedding(f.int("vocab_size", d["vocab"]), tied=f.flag("tie_word_embeddings", d.get("tied", False)))
    blocks = [Layer(a, mlp, norms=2) for a, mlp in zip(attn, mlps)]
    return blocks, emb, "rmsnorm", {"activation": act, "hidden": hidden}


# the config classes' defaults of the GLM-4.5-layout types (transformers 5.25): Glm4MoeConfig's GLM-4.5-Air's less
# its head_dim and attention_bias; SolarOpenConfig's Solar-Open-100B's; Dots1Config's (no expert counts: required);
# SarvamMoEConfig's Sarvam-30B's and Param2MoeConfig's Param-2's (q/k norms on, whole-head rotary). moe: routed
# experts, a token, their width, shared experts, the dense width, dense layers first (_first_dense_then_moe)
_GLM4_MOE_DEFAULTS: dict[str, dict[str, Any]] = {
    "glm4_moe": {"hidden": 4096, "heads": 96, "layers": 46, "kv": 8, "rotary": 0.5, "vocab": 151552},
    "solar_open": {"hidden": 4096, "heads": 64, "layers": 48, "kv": 8, "head_dim": 128, "vocab": 196608},
    "dots1": {"hidden": 4608, "heads": 32, "layers": 62, "kv": 32, "vocab": 152064},
    "sarvam_moe": {"hidden": 4096, "heads": 64, "layers": 19, "kv": 4, "head_dim": 64, "vocab": 262144},
    "param2moe": {"hidden": 2048, "heads": 32, "layers": 21, "kv": 8, "head_dim": 64, "vocab": 128000, "tied": True},
}
_GLM4_MOE_DEFAULTS["glm4_moe"]["moe"] = (128, 8, 1408, 1, 10944, 1)
_GLM4_MOE_DEFAULTS["dots1"]["moe"] = (None, None, 1408, None, 10944, 0)
_GLM4_MOE_DEFAULTS["sarvam_moe"] |= {"moe": (128, 6, 1024, 1, 8192, 1), "qk_norm": True}
_GLM4_MOE_DEFAULTS["param2moe"] |= {"moe": (64, 6, 2048, 2, 9216, 1), "qk_norm": True}


def _afmoe(f: Fields, mt: str) -> tuple:
    """AFMoE (HF AfmoeForCausalLM; Arcee's Trinity): attention with per-head q/k RMSNorms and an output gate from a
    linear of its own (Attention.gate_proj: output × sigmoid(gate_proj(x))), rotary on the sliding layers only (every
    global_attn_every_n_layers-th layer global and NoPE, the rest a sliding_window, or layer_types); pre- and
    post-norms around attention and MLP; the first num_dense_layers a dense gated MLP, then num_experts gated experts
    of moe_intermediate_size (num_experts_per_tok by sigmoid scores plus expert_bias, a parameter of num_experts:
    counted as the router's bias) beside num_shared_experts always-on ones; embeddings × sqrt(hidden) under
    mup_enabled. AfmoeConfig's defaults (transformers 5.25) for absent fields."""
    hidden, heads = f.int("hidden_size", 2048), f.int("num_attention_heads", 16)
    layers, head_dim = f.int("num_hidden_layers", 32), f.int("head_dim", 128)
    window = f.int("sliding_window", 1024) if f.get("sliding_window", 1024) else None
    every = f.int("global_attn_every_n_layers", 4)
    types = f.layer_types(layers, lambda i: "sliding_attention" if (i + 1) % every else "full_attention")
    bias = f.flag("attention_bias", False)
    kv = f.kv_heads(heads)
    attns = [
        Attention(
            heads,
            kv,
            head_dim,
            head_dim,
            bias,
            bias,
            rotary=t == "sliding_attention",
            qk_norm="rmsnorm",
            gate_proj=True,
            window=window if t == "sliding_attention" else None,
        )
        for t in types
    ]
    act = str(f.get("hidden_act", "silu"))
    experts, top_k = _experts_top_k(f, "num_experts", f.get("num_local_experts", 64), 6)
    width = f.int("moe_intermediate_size", 1408)
    shared = f.int("num_shared_experts", 2, minimum=0) * width
    moe = Mlp(width, True, act, experts=experts, top_k=top_k, shared=shared, router_bias=True)
    dense = Mlp(f.int("intermediate_size", 6144), True, act)
    first = f.int("num_dense_layers", 1, minimum=0)
    blocks = [Layer(a, dense if i < first else moe, norms=4) for i, a in enumerate(attns)]
    vocab = f.int("vocab_size", 200192)
    emb = Embedding(vocab, tied=f.flag("tie_word_embeddings", False), scale=f.flag("mup_enabled", False))
    return blocks, emb, "rmsnorm", {"activation": act, "hidden": hidden}


def _cohere2_moe(f: Fields, mt: str) -> tuple:
    """Command A+'s type (HF Cohere2MoeForCausalLM): Cohere-2's parallel layer (one norm, a LayerNorm without bias or,
    with rms_norm_eps set, an RMSNorm, feeding attention and MLP side by side), sliding layers with rotary and global
    ones without (NoPE), the first first_k_dense_replace layers a dense gated MLP of prefix_dense_intermediate_size
    (default intermediate_size) with their own window pattern (prefix_dense_sliding_window_pattern, default 1: all
    global, and then rotated), the rest num_experts gated experts of intermediate_size, num_experts_per_tok a token by
    a bias-free softmax router, beside num_shared_experts always-on ones (their output summed or averaged with the
    experts': a scalar); layer_types / mlp_layer_types override the patterns. Cohere2MoeConfig's defaults (transformers
    5.25) for absent fields."""
    hidden, heads = f.int("hidden_size", 8192), f.int("num_attention_heads", 64)
    layers, head_dim = f.int("num_hidden_layers", 40), f.int("head_dim", 128)
    first = f.int("first_k_dense_replace", 0, minimum=0)
    window = f.int("sliding_window", 4096) if f.get("sliding_window", 4096) else None
    prefix, pattern = f.int("prefix_dense_sliding_window_pattern", 1), f.int("sliding_window_pattern", 4)

    def default(i: int) -> str:
        j, every = (i, prefix) if i < first else (i - first, pattern)
        return "sliding_attention" if (j + 1) % every else "full_attention"

    types = f.layer_types(layers, default)
    kinds = f.get("mlp_layer_types")
    if kinds is None:
        kinds = ["dense" if i < first else "sparse" for i in range(layers)]
    elif not isinstance(kinds, list) or len(kinds) != layers or set(kinds) - {"dense", "sparse"}:
        raise HwsimError(f"expected a list of {layers} of dense or sparse", file=f.file, field="mlp_layer_types")
    bias = f.flag("attention_bias", False)
    kv = f.kv_heads(heads)
    act = str(f.get("hidden_act", "silu"))
    width = f.int("intermediate_size", 22528)
    experts, top_k = _experts_top_k(f, "num_experts", 8, 2)
    shared = f.int("num_shared_experts", 0, minimum=0) * width
    moe = Mlp(width, True, act, experts=experts, top_k=top_k, shared=shared)
    dense = Mlp(f.int("prefix_dense_intermediate_size", width), True, act)
    blocks = []
    for t, kind in zip(types, kinds):
        sliding = t == "sliding_attention" and window is not None
        rotary = sliding or (kind == "dense" and prefix == 1)  # Cohere2MoeAttention.force_rope
        attn = Attention(heads, kv, head_dim, head_dim, bias, bias, rotary=rotary, window=window if sliding else None)
        blocks.append(Layer(attn, dense if kind == "dense" else moe, norms=1, parallel=True))
    norm = "rmsnorm" if f.get("rms_norm_eps") is not None else "layernorm_weight"
    emb = Embedding(f.int("vocab_size", 256000), tied=f.flag("tie_word_embeddings", True))
    return blocks, emb, norm, {"activation": act, "hidden": hidden}


def _minimax_m2(f: Fields, mt: str) -> tuple:
    """MiniMax-M2 (HF MiniMaxM2ForCausalLM; MiniMax, MiniMaxAI/MiniMax-M2): GQA attention without biases whose q and
    k are RMSNormed over all heads at once (weights of heads × head_dim and kv_heads × head_dim, as OLMo-2's; HF
    builds them whatever use_qk_norm says), rotary on the first partial_rotary_factor of each head (the hub config's
    legacy rotary_dim gives it as rotary_dim / head_dim when the factor is not set; default whole heads); every layer
    a MoE of num_local_experts gated experts of intermediate_size, no shared expert, a bias-free router (sigmoid
    scores plus the e_score_correction_bias buffer, not a parameter; not priced beyond the router GEMM).
    MiniMaxM2Config's defaults (transformers 5.25) are MiniMax-M2's geometry. Multi-token-prediction modules
    (use_mtp) are not built by transformers and not traced."""
    hidden, heads = f.int("hidden_size", 3072), f.int("num_attention_heads", 48)
    layers, head_dim = f.int("num_hidden_layers", 62), f.int("head_dim", 128)
    legacy = f.int("rotary_dim") / head_dim if f.get("rotary_dim") is not None else 1.0
    factor = _partial_rotary(f, legacy)
    attn = Attention(
        heads,
        f.kv_heads(heads, default=8),
        head_dim,
        head_dim,
        rotary_dim=int(head_dim * factor) if factor < 1 else None,
        qk_norm="rmsnorm_all",
    )
    act = str(f.get("hidden_act", "silu"))
    experts, top_k = _experts_top_k(f, "num_local_experts", 256, 8)
    mlp = Mlp(f.int("intermediate_size", 1536), True, act, experts=experts, top_k=top_k)
    emb = Embedding(f.int("vocab_size", 200064), tied=f.flag("tie_word_embeddings", False))
    return [Layer(attn, mlp, norms=2)] * layers, emb, "rmsnorm", {"activation": act, "hidden": hidden}


# VaultGemmaConfig's defaults (transformers 5.25): Gemma-2-2B's geometry (not VaultGemma-1B's)
_VAULTGEMMA_DEFAULTS = {
    "vocab_size": 256_000,
    "hidden_size": 2304,
    "intermediate_size": 9216,
    "layers": 26,
    "heads": 8,
    "kv_heads": 4,
}
# Gemma3TextConfig's defaults (transformers 5.25): the Gemma-3 4B/12B/27B wrappers' text_config leaves them out
_GEMMA3_TEXT_DEFAULTS = {
    "vocab_size": 262_208,
    "hidden_size": 2304,
    "intermediate_size": 9216,
    "layers": 26,
    "heads": 8,
    "kv_heads": 4,
}


def _gemma(f: Fields, mt: str) -> tuple:
    """Gemma 1/2/3: head_dim 256 by default, embeddings scaled by sqrt(hidden), tied LM head; Gemma-2/3 add
    pre/post norms around attention and MLP, sliding-window layers, Gemma-2 soft-capping, Gemma-3 q/k norm.
    VaultGemma (HF VaultGemmaForCausalLM): Gemma-2's layers less their two post-norms (VaultGemmaDecoderLayer deletes
    post_attention_layernorm and post_feedforward_layernorm), VaultGemmaConfig's defaults (Gemma-2-2B's geometry)."""
    d = _GEMMA3_TEXT_DEFAULTS if mt == "gemma3_text" else _VAULTGEMMA_DEFAULTS if mt == "vaultgemma" else {}
    hidden, heads = f.int("hidden_size", d.get("hidden_size")), f.int("num_attention_heads", d.get("heads"))
    layers = f.int("num_hidden_layers", d.get("layers"))
    kv, head_dim = f.kv_heads(heads, default=d.get("kv_heads")), f.int("head_dim", 256)
    act = str(f.get("hidden_activation", f.get("hidden_act", "gelu_pytorch_tanh")))
    bias = f.flag("attention_bias", False)
    if mt == "gemma":
        types = ["full_attention"] * layers
    elif mt in ("gemma2", "vaultgemma"):
        types = f.layer_types(layers, lambda i: "sliding_attention" if (i + 1) % 2 else "full_attention")
    else:
        pattern = f.int("sliding_window_pattern", f.get("_sliding_window_pattern", 6))
        types = f.layer_types(layers, lambda i: "sliding_attention" if (i + 1) % pattern else "full_attention")
    gemma2 = mt in ("gemma2", "vaultgemma")
    softcap = gemma2 and f.get("attn_logit_softcapping", 50.0) is not None
    mlp = Mlp(f.int("intermediate_size", d.get("intermediate_size")), True, act)
    blocks = [
        Layer(
            Attention(
                heads,
                kv,
                head_dim,
                head_dim,
                bias,
                bias,
                softcap=softcap,
                qk_norm="rmsnorm" if mt == "gemma3_text" else None,
                **_windows(f, types, i, 4096),
            ),
            mlp,
            norms=2 if mt in ("gemma", "vaultgemma") else 4,
        )
        for i in range(layers)
    ]
    cap = gemma2 and f.get("final_logit_softcapping", 30.0) is not None
    if mt == "gemma3_text":
        cap = f.get("final_logit_softcapping") is not None
    vocab = f.int("vocab_size", d.get("vocab_size"))
    emb = Embedding(vocab, tied=f.flag("tie_word_embeddings", True), scale=True, logit_softcap=cap)
    return blocks, emb, "rmsnorm", {"activation": act, "hidden": hidden}


def _gemma4_rotary(f: Fields, layer_type: str, head_dim: int) -> int:
    """Rotated channels per head of a Gemma-4 layer type: rope_parameters[type]'s partial_rotary_factor (the
    "proportional" rope of full attention gives the other channels zero frequency: an identity, not priced;
    assumed) or the whole head; with no rope_parameters, Gemma4TextConfig's (a quarter on full attention)."""
    rope = f.get("rope_parameters")
    if rope is None:
        factor = 0.25 if layer_type == "full_attention" else 1.0
    else:
        params = rope.get(layer_type) if isinstance(rope, dict) else None
        if not isinstance(params, dict):
            raise HwsimError(f"expected a mapping per layer type ({layer_type})", file=f.file, field="rope_parameters")
        factor = Fields(params, f.file).number("partial_rotary_factor", 1.0, minimum=0, strict=True)
        if factor > 1:
            raise HwsimError(f"must be in (0, 1], got {factor:g}", file=f.file, field="partial_rotary_factor")
    return 2 * int(factor * head_dim // 2)


def _gemma4(f: Fields, mt: str) -> tuple:
    """Gemma 4 (HF Gemma4ForCausalLM; the language model of the gemma4 wrapper): Gemma-3's sandwich-normed layers
    (4 RMSNorms, embeddings × sqrt(hidden), tied LM head, final_logit_softcapping) with layer_types of sliding
    (sliding_window) and full attention (default every 6th; the last layer is always full), per-head q/k RMSNorms
    and a weightless RMSNorm on the values (Attention.v_norm). Full-attention layers take their own geometry
    (per_layer_config): heads of global_head_dim (default 512), rope on a quarter of each head by default
    (_gemma4_rotary), and under attention_k_eq_v num_global_key_value_heads KV heads whose values are k_proj's
    output (Attention.k_eq_v: no v_proj). enable_moe_block: num_experts experts of moe_intermediate_size, top_k_experts
    per token, beside the dense MLP of intermediate_size (Mlp.dense_beside). Gemma-4 E2B/E4B: per-layer input
    embeddings of hidden_size_per_layer_input channels per layer (Embedding.per_layer, Layer.per_layer_input; a table of
    vocab_size_per_layer_input rows), and KV sharing: the last num_kv_shared_layers layers keep no keys or values of
    their own and attend over the cache of the last earlier layer of their type (Attention.kv_reuse), their MLP twice
    intermediate_size under use_double_wide_mlp. Every layer runs every prompt token (HF skips all but the kept
    logits' positions in the KV-sharing layers of a prefill; a serving engine by default does not: assumed).
    use_bidirectional_attention "all" (an encoder) is refused in one line. Defaults: Gemma4TextConfig
    (transformers 5.25); the layer_scalar is a buffer."""
    hidden, heads = f.int("hidden_size", 2304), f.int("num_attention_heads", 8)
    layers = f.int("num_hidden_layers", 30)
    if f.get("use_bidirectional_attention") == "all":
        raise HwsimError(
            "bidirectional (encoder) attention is not modelled", file=f.file, field="use_bidirectional_attention"
        )
    types = f.layer_types(layers, lambda i: "sliding_attention" if (i + 1) % 6 else "full_attention")
    types[-1] = "full_attention"  # as Gemma4TextConfig forces it
    if set(types) - {"sliding_attention", "full_attention"}:
        raise HwsimError(
            f"expected sliding_attention or full_attention per layer, got {sorted(set(types) - {'sliding_attention', 'full_attention'})}",
            file=f.file,
            field="layer_types",
        )
    kv, head_dim = f.kv_heads(heads, default=4), f.int("head_dim", 256)
    k_eq_v = f.flag("attention_k_eq_v", False)
    global_dim = f.int("global_head_dim", 512)
    global_kv = f.kv_heads(heads, "num_global_key_value_heads", kv) if k_eq_v else kv
    act, bias = str(f.get("hidden_activation", "gelu_pytorch_tanh")), f.flag("attention_bias", False)
    attn = {
        "sliding_attention": Attention(
            heads,
            kv,
            head_dim,
            head_dim,
            bias,
            bias,
            rotary_dim=_gemma4_rotary(f, "sliding_attention", head_dim),
            qk_norm="rmsnorm",
            v_norm=True,
            window=f.int("sliding_window", 512),
        ),
        "full_attention": Attention(
            heads,
            global_kv,
            global_dim,
            global_dim,
            bias,
            bias,
            rotary_dim=_gemma4_rotary(f, "full_attention", global_dim),
            qk_norm="rmsnorm",
            v_norm=True,
            k_eq_v=k_eq_v,
        ),
    }
    inter = f.int("intermediate_size", 9216)
    if f.flag("enable_moe_block", False):
        experts = f.int("num_experts")
        top_k = f.int("top_k_experts")
        if top_k > experts:
            raise HwsimError(f"must be in 1..{experts} (num_experts), got {top_k}", file=f.file, field="top_k_experts")
        mlp = Mlp(
            f.int("moe_intermediate_size"),
            True,
            act,
            experts=experts,
            top_k=top_k,
            shared=inter,
            dense_beside=True,
        )
    else:
        mlp = Mlp(inter, True, act)
    shared = f.int("num_kv_shared_layers", 0, minimum=0)
    first = layers - shared  # layers from here on reuse the KV of the last earlier layer of their type
    if shared and not 0 < first < layers or set(types[first:]) - set(types[:first]):
        raise HwsimError(
            f"the layers before the last {shared} must include each layer type they share the keys and values of",
            file=f.file,
            field="num_kv_shared_layers",
        )
    wide = replace(mlp, shared=2 * inter) if mlp.is_moe else replace(mlp, intermediate=2 * inter)
    double = f.flag("use_double_wide_mlp", False)
    ple = f.int("hidden_size_per_layer_input", 256, minimum=0)
    blocks = [
        Layer(
            replace(attn[t], kv_reuse=True, v_norm=False) if i >= first else attn[t],
            wide if double and i >= first else mlp,
            norms=4,
            per_layer_input=ple,
        )
        for i, t in enumerate(types)
    ]
    emb = Embedding(
        f.int("vocab_size", 262_144),
        tied=f.flag("tie_word_embeddings", True),
        scale=True,
        logit_softcap=f.get("final_logit_softcapping") is not None,
        per_layer=ple,
        per_layer_vocab=f.int("vocab_size_per_layer_input", 262_144) if ple else 0,
    )
    return blocks, emb, "rmsnorm", {"activation": act, "hidden": hidden}


def _gpt_oss(f: Fields, mt: str) -> tuple:
    """gpt-oss: alternating sliding (128) / full attention with biases and per-head sinks; every layer MoE
    with biased experts and router."""
    hidden, heads, layers = f.int("hidden_size"), f.int("num_attention_heads"), f.int("num_hidden_layers")
    kv, head_dim = f.kv_heads(heads), f.int("head_dim", 64)
    types = f.layer_types(layers, lambda i: "sliding_attention" if (i + 1) % 2 else "full_attention")
    bias = f.flag("attention_bias", True)
    experts, top_k = _experts_top_k(f, "num_local_experts", 128, 4)
    mlp = Mlp(f.int("intermediate_size"), True, "swiglu_clamp", True, experts=experts, top_k=top_k, router_bias=True)
    blocks = [
        Layer(
            Attention(heads, kv, head_dim, head_dim, bias, bias, sinks=True, **_windows(f, types, i, 128)), mlp, norms=2
        )
        for i in range(layers)
    ]
    return (
        blocks,
        Embedding(f.int("vocab_size"), tied=f.flag("tie_word_embeddings", False)),
        "rmsnorm",
        {"activation": "silu", "hidden": hidden},
    )


def _mimo_v2_flash(f: Fields, mt: str) -> tuple:
    """MiMo-V2-Flash (HF MiMoV2FlashForCausalLM; MiMoV2FlashConfig's defaults, transformers 5.25, are
    XiaomiMiMo/MiMo-V2-Flash's geometry): layer_types of full attention (the first layer and every 6th) and sliding
    attention over sliding_window keys (129; the reference's sliding_window_size + 1 where given), q/k heads of
    head_dim (192) and values of v_head_dim (128), the values times attention_value_scale before the cache (a
    vector row, 1 op an element), rotary on partial_rotary_factor of each head (0.334 per layer type), q/k/v biases
    under attention_bias (o_proj never); the sliding layers with twice num_key_value_heads and a sink logit per head.
    MLP per mlp_layer_types (default a dense first layer of intermediate_size, then MoE): n_routed_experts (alias
    num_local_experts) 256 of moe_intermediate_size 2048, 8 a token, no shared experts, a bias-free router (sigmoid +
    correction-bias buffer, not priced beyond its GEMM). Untied LM head; MTP layers not built by transformers, not
    traced."""
    hidden, heads = f.int("hidden_size", 4096), f.int("num_attention_heads", 64)
    layers = f.int("num_hidden_layers", 48)
    kv = f.kv_heads(heads, default=4)
    if heads % (2 * kv):
        raise HwsimError(
            f"twice it (the sliding layers' KV heads) must divide num_attention_heads ({heads}), got {kv}",
            file=f.file,
            field="num_key_value_heads",
        )
    head_dim, v_dim = f.int("head_dim", 192), f.int("v_head_dim", 128)
    types = f.layer_types(layers, lambda i: "full_attention" if i == 0 or (i + 1) % 6 == 0 else "sliding_attention")
    if set(types) - {"full_attention", "sliding_attention"}:
        raise HwsimError("expected full_attention or sliding_attention per layer", file=f.file, field="layer_types")
    if f.get("sliding_window_size") is not None:
        window = f.int("sliding_window_size") + 1
    else:
        window = f.int("sliding_window", 129)
    rope = f.get("rope_parameters") if isinstance(f.get("rope_parameters"), dict) else {}
    bias = f.flag("attention_bias", False)

    def attention(kind: str) -> Attention:
        per_type = rope.get(kind)
        factor = (
            per_type.get("partial_rotary_factor", 0.334) if isinstance(per_type, dict) else _partial_rotary(f, 0.334)
        )
        if not isinstance(factor, (int, float)) or not 0 < factor <= 1:
            raise HwsimError(f"must be in (0, 1], got {factor!r}", file=f.file, field=f"rope_parameters.{kind}")
        swa = kind == "sliding_attention"
        return Attention(
            heads,
            2 * kv if swa else kv,
            head_dim,
            v_dim,
            bias,
            False,
            rotary_dim=int(head_dim * factor),
            window=window if swa else None,
            sinks=swa,
            value_scale=True,
        )

    act = str(f.get("hidden_act", "silu"))
    experts, top_k = _experts_top_k(f, "n_routed_experts", f.get("num_local_experts", 256), 8)
    moe = Mlp(f.int("moe_intermediate_size", 2048), True, act, experts=experts, top_k=top_k)
    dense = Mlp(f.int("intermediate_size", 16384), True, act)
    kinds = f.get("mlp_layer_types") or ["dense"] + ["sparse"] * (layers - 1)
    if not isinstance(kinds, list) or len(kinds) != layers or set(kinds) - {"dense", "sparse"}:
        raise HwsimError(f"expected a list of {layers} of dense or sparse", file=f.file, field="mlp_layer_types")
    blocks = [Layer(attention(t), moe if k == "sparse" else dense, norms=2) for t, k in zip(types, kinds)]
    emb = Embedding(f.int("vocab_size", 152576), tied=f.flag("tie_word_embeddings", False))
    return blocks, emb, "rmsnorm", {"activation": act, "hidden": hidden}


def _dbrx(f: Fields, mt: str) -> tuple:
    """DBRX (HF DbrxForCausalLM): d_model / n_heads / n_layers (hidden_size / num_attention_heads /
    num_hidden_layers their aliases), the attention's and the MoE's fields nested in attn_config / ffn_config.
    Each block: a bias-free LayerNorm, GQA attention (kv_n_heads; q, k and v from one fused Wqkv, then clamped to
    ±clip_qkv when set) with rotary on every head channel and a bias-free
    out_proj, a second bias-free LayerNorm, then every layer's MoE: moe_num_experts gated experts (w1 gate, v1 up,
    w2 down) of ffn_hidden_size behind a bias-free router, moe_top_k per token. Untied LM head (DbrxConfig refuses
    tying); a single expert, a degenerate MoE that DBRX's stacked experts would still store, is refused."""
    hidden = f.int("d_model", 2048, alias="hidden_size")
    heads = f.int("n_heads", 16, alias="num_attention_heads")
    layers = f.int("n_layers", 24, alias="num_hidden_layers")
    sub = {}
    for key in ("attn_config", "ffn_config"):
        value = f.get(key, {})
        if not isinstance(value, dict):
            raise HwsimError("expected a mapping of fields", file=f.file, field=key)
        sub[key] = Fields(value, f.file)
    attn, ffn = sub["attn_config"], sub["ffn_config"]
    if hidden % heads:
        raise HwsimError(f"d_model {hidden} is not divisible by n_heads {heads}", file=f.file, field="n_heads")
    kv = attn.int("kv_n_heads", 1)
    if kv > heads or heads % kv:
        raise HwsimError(f"must divide n_heads ({heads}), got {kv}", file=f.file, field="attn_config.kv_n_heads")
    experts = ffn.int("moe_num_experts", 4)
    if experts < 2:
        raise HwsimError(
            "a single expert is not supported (DBRX is an MoE)", file=f.file, field="ffn_config.moe_num_experts"
        )
    top_k = ffn.int("moe_top_k", 1)
    if top_k > experts:
        raise HwsimError(
            f"must be in 1..{experts} (the routed experts), got {top_k}", file=f.file, field="ffn_config.moe_top_k"
        )
    act_fn = ffn.get("ffn_act_fn", {"name": "silu"})
    act = str(act_fn.get("name", "silu") if isinstance(act_fn, dict) else act_fn)
    if f.flag("tie_word_embeddings", False):
        raise HwsimError("DBRX does not tie its LM head to the embeddings", file=f.file, field="tie_word_embeddings")
    mlp = Mlp(ffn.int("ffn_hidden_size", 3584), True, act, experts=experts, top_k=top_k)
    head_dim = hidden // heads
    attention = Attention(heads, kv, head_dim, head_dim, clip_qkv=_clip_qkv(attn, "attn_config."))
    blocks = [Layer(attention, mlp, norms=2) for _ in range(layers)]
    emb = Embedding(f.int("vocab_size", 32000), tied=False)
    return blocks, emb, "layernorm_weight", {"activation": act, "hidden": hidden}


def _llama4(f: Fields, mt: str) -> tuple:
    """Llama-4 text: chunked attention (with rope and an L2 q/k norm) on three of four layers, global NoPE
    attention on the fourth; MoE layers (routed + one shared expert) every interleave_moe_layer_step."""
    hidden, heads, layers = f.int("hidden_size"), f.int("num_attention_heads"), f.int("num_hidden_layers")
    kv, head_dim = f.kv_heads(heads), f.head_dim(hidden, heads)
    interval = f.int("no_rope_layer_interval", 4)
    rope = f.get("no_rope_layers") or [int((i + 1) % interval != 0) for i in range(layers)]
    chunked = f.int("attention_chunk_size", 8192)
    types = f.layer_types(layers, lambda i: "chunked_attention" if rope[i] and chunked else "full_attention")
    step = f.int("interleave_moe_layer_step", 1)
    moe_layers = f.get("moe_layers")
    moe_layers = set(range(step - 1, layers, step) if moe_layers is None else moe_layers)
    experts, top_k = _experts_top_k(f, "num_local_experts", 16, 1)
    act, bias = str(f.get("hidden_act", "silu")), f.flag("attention_bias", False)
    inter = f.int("intermediate_size", 8192)
    moe = Mlp(inter, True, act, experts=experts, top_k=top_k, shared=inter)
    dense = Mlp(f.int("intermediate_size_mlp", 16384), True, act)
    qk = f.flag("use_qk_norm", True)
    # HF Llama4TextAttention: NoPE layers scale their queries by position under attn_temperature_tuning (default true)
    temperature = f.flag("attn_temperature_tuning", True)
    blocks = [
        Layer(
            Attention(
                heads,
                kv,
                head_dim,
                head_dim,
                bias,
                bias,
                rotary=bool(rope[i]),
                qk_norm="l2" if qk and rope[i] else None,
                chunk=chunked if types[i] == "chunked_attention" else None,
                query_scale=temperature and not rope[i],
            ),
            moe if i in moe_layers else dense,
            norms=2,
        )
        for i in range(layers)
    ]
    return (
        blocks,
        Embedding(f.int("vocab_size"), tied=f.flag("tie_word_embeddings", False)),
        "rmsnorm",
        {"activation": act, "hidden": hidden},
    )


def _gpt2(f: Fields, mt: str) -> tuple:
    """GPT-2: Conv1D projections (same GEMMs as linear), learned positions, LayerNorm, biases, tied LM head.
    GPTBigCode (StarCoder, SantaCoder; HF GPTBigCodeForCausalLM): the same blocks in nn.Linear, its attention
    multi-query under multi_query (default true: one K/V head, c_attn's output hidden + 2 x head_dim), activation
    gelu_pytorch_tanh by default."""
    hidden, heads = f.int("n_embd", 768, alias="hidden_size"), f.int("n_head", 12, alias="num_attention_heads")
    layers = f.int("n_layer", 12, alias="num_hidden_layers")
    if hidden % heads:
        raise HwsimError(f"n_embd {hidden} is not divisible by n_head {heads}", file=f.file, field="n_head")
    bigcode = mt == "gpt_bigcode"
    act = str(f.get("activation_function", "gelu_pytorch_tanh" if bigcode else "gelu_new"))
    kv = 1 if bigcode and f.flag("multi_query", True) else heads
    attn = Attention(heads, kv, hidden // heads, hidden // heads, True, True, rotary=False)
    mlp = Mlp(f.int("n_inner", 4 * hidden), False, act, True)
    emb = Embedding(
        f.int("vocab_size"),
        positions=f.int("n_positions", 1024, alias="max_position_embeddings"),
        tied=f.flag("tie_word_embeddings", True),
    )
    return [Layer(attn, mlp, norms=2)] * layers, emb, "layernorm", {"activation": act, "hidden": hidden}


def _gptj(f: Fields, mt: str) -> tuple:
    """GPT-J (HF GPTJForCausalLM; GPTJConfig's defaults are GPT-J-6B's): GPT-2's field names, one LayerNorm feeding
    attention and MLP side by side, bias-free q/k/v and out_proj with rotary on the first rotary_dim channels of each
    head (64 by default; none: all), a biased non-gated MLP (fc_in, gelu_new, fc_out, n_inner default 4 x hidden),
    no position table, an untied LM head with a bias."""
    hidden, heads = f.int("n_embd", 4096, alias="hidden_size"), f.int("n_head", 16, alias="num_attention_heads")
    layers = f.int("n_layer", 28, alias="num_hidden_layers")
    if hidden % heads:
        raise HwsimError(f"n_embd {hidden} is not divisible by n_head {heads}", file=f.file, field="n_head")
    head_dim = hidden // heads
    rotary = head_dim if "rotary_dim" in f.cfg and f.cfg["rotary_dim"] is None else f.int("rotary_dim", 64)
    if rotary > head_dim:
        raise HwsimError(f"must be at most the head width {head_dim}, got {rotary}", file=f.file, field="rotary_dim")
    act = str(f.get("activation_function", "gelu_new"))
    attn = Attention(heads, heads, head_dim, head_dim, rotary_dim=rotary if rotary < head_dim else None)
    mlp = Mlp(f.int("n_inner", 4 * hidden), False, act, True)
    emb = Embedding(f.int("vocab_size", 50400), tied=f.flag("tie_word_embeddings", False), head_bias=True)
    layer = Layer(attn, mlp, norms=1, parallel=True)
    return [layer] * layers, emb, "layernorm", {"activation": act, "hidden": hidden}


def _mpt(f: Fields, mt: str) -> tuple:
    """MPT (HF MptForCausalLM; MptConfig's defaults, transformers 5.25): d_model / n_heads / n_layers with the
    attention's fields nested in attn_config. Each block: a bias-free LayerNorm, multi-head attention from one fused
    Wqkv (clamped to ±clip_qkv when set) with ALiBi instead of rotary, a bias-free out_proj, a second bias-free
    LayerNorm and a non-gated MLP (up_proj to 4 x d_model, exact GELU, down_proj), no biases anywhere, the LM head
    tied by default. What transformers' MPT does not build is refused in one line naming the field: an
    expansion_ratio other than 4 (MptMLP is 4 x d_model whatever it says), attn_config.attn_type multiquery,
    attn_config.qk_ln, attn_config.alibi false (MptModel always adds ALiBi)."""
    hidden = f.int("d_model", 2048, alias="hidden_size")
    heads = f.int("n_heads", 16, alias="num_attention_heads")
    layers = f.int("n_layers", 24, alias="num_hidden_layers")
    if hidden % heads:
        raise HwsimError(f"d_model {hidden} is not divisible by n_heads {heads}", file=f.file, field="n_heads")
    attn_cfg = f.get("attn_config", {})
    if not isinstance(attn_cfg, dict):
        raise HwsimError("expected a mapping of fields", file=f.file, field="attn_config")
    sub = Fields(attn_cfg, f.file)
    if f.int("expansion_ratio", 4) != 4:
        raise HwsimError("transformers' MPT builds a 4 x d_model MLP: must be 4", file=f.file, field="expansion_ratio")
    unbuilt = {
        "attn_type": (sub.get("attn_type", "multihead_attention") != "multihead_attention", "multi-head only"),
        "qk_ln": (sub.flag("qk_ln", False), "no q/k norms"),
        "alibi": (not sub.flag("alibi", True), "ALiBi always"),
    }
    for key, (bad, what) in unbuilt.items():
        if bad:
            raise HwsimError(f"transformers' MPT builds {what}", file=f.file, field=f"attn_config.{key}")
    head_dim = hidden // heads
    attn = Attention(
        heads, heads, head_dim, head_dim, rotary=False, alibi=True, clip_qkv=_clip_qkv(sub, "attn_config.")
    )
    act = "gelu"
    mlp = Mlp(4 * hidden, False, act)
    emb = Embedding(f.int("vocab_size", 50368), tied=f.flag("tie_word_embeddings", True))
    return [Layer(attn, mlp, norms=2)] * layers, emb, "layernorm_weight", {"activation": act, "hidden": hidden}


def _bloom(f: Fields, mt: str) -> tuple:
    """BLOOM (HF BloomForCausalLM; BloomConfig's defaults, transformers 5.25, are a toy's: hidden 64, 2 layers, 8
    heads, so a real config states them): hidden_size (alias n_embed), n_layer, n_head (aliases num_hidden_layers /
    num_attention_heads). A LayerNorm on the word embeddings, then per block a LayerNorm, multi-head attention from
    one biased query_key_value (stored per head: [heads, 3, head_dim], tensor_map.GROUPED_QKV) with ALiBi instead of
    rotary (as MPT), a biased dense, a second LayerNorm and a biased non-gated MLP (dense_h_to_4h to 4 x hidden,
    BLOOM's tanh GELU, dense_4h_to_h); final ln_f, the head tied by default. apply_residual_connection_post_layernorm
    only changes which tensor the residual adds (no op); pretraining_tp / slow_but_exact only how the dense layers
    are split (the same MACs)."""
    hidden = f.int("hidden_size", 64, alias="n_embed")
    heads = f.int("n_head", 8, alias="num_attention_heads")
    layers = f.int("n_layer", 2, alias="num_hidden_layers")
    if hidden % heads:
        raise HwsimError(f"hidden_size {hidden} is not divisible by n_head {heads}", file=f.file, field="n_head")
    head_dim = hidden // heads
    attn = Attention(heads, heads, head_dim, head_dim, True, True, rotary=False, alibi=True)
    act = "gelu_pytorch_tanh"
    mlp = Mlp(4 * hidden, False, act, True)
    emb = Embedding(f.int("vocab_size", 250880), tied=f.flag("tie_word_embeddings", True), norm=True)
    return [Layer(attn, mlp, norms=2)] * layers, emb, "layernorm", {"activation": act, "hidden": hidden}


def _gpt_neo(f: Fields, mt: str) -> tuple:
    """GPT-Neo (HF GPTNeoForCausalLM; GPTNeoConfig's defaults are GPT-Neo-1.3B's): learned positions, LayerNorms,
    bias-free q/k/v and a biased out_proj, a biased non-gated MLP (c_fc, gelu_new, c_proj; intermediate_size default
    4 x hidden), a tied head; each layer "global" attention or "local" attention over the last window_size tokens
    (256), attention_types [[kinds, repeats], ...] expanded as the config class does (default global, local x 12).
    A list that does not expand to num_layers, or a kind other than global / local, is refused in one line."""
    hidden = f.int("hidden_size", 2048)
    heads = f.int("num_heads", 16, alias="num_attention_heads")
    layers = f.int("num_layers", 24, alias="num_hidden_layers")
    if hidden % heads:
        raise HwsimError(f"hidden_size {hidden} is not divisible by num_heads {heads}", file=f.file, field="num_heads")
    types = f.get("attention_types", [[["global", "local"], 12]])
    try:
        kinds = [k for item in types for _ in range(item[1]) for k in item[0]]
    except (TypeError, IndexError, KeyError):
        raise HwsimError("expected a list of [kinds, repeats] pairs", file=f.file, field="attention_types") from None
    if len(kinds) != layers or set(kinds) - {"global", "local"}:
        raise HwsimError(
            f"must expand to {layers} layers of global or local, got {len(kinds)}", file=f.file, field="attention_types"
        )
    window = f.int("window_size", 256)
    act = str(f.get("activation_function", "gelu_new"))
    mlp = Mlp(f.int("intermediate_size", 4 * hidden), False, act, True)
    head_dim = hidden // heads

    def attention(kind: str) -> Attention:
        return Attention(
            heads, heads, head_dim, head_dim, False, True, rotary=False, window=window if kind == "local" else None
        )

    emb = Embedding(
        f.int("vocab_size", 50257),
        positions=f.int("max_position_embeddings", 2048),
        tied=f.flag("tie_word_embeddings", True),
    )
    return [Layer(attention(k), mlp, norms=2) for k in kinds], emb, "layernorm", {"activation": act, "hidden": hidden}


def _falcon(f: Fields, mt: str) -> tuple:
    """Falcon: multi-query (7B) or grouped KV (new_decoder_architecture), parallel attention + MLP."""
    hidden, heads, layers = f.int("hidden_size", 4544), f.int("num_attention_heads", 71), f.int("num_hidden_layers", 32)
    if hidden % heads:
        raise HwsimError(
            f"hidden_size {hidden} is not divisible by num_attention_heads {heads}",
            file=f.file,
            field="num_attention_heads",
        )
    new_arch = f.flag("new_decoder_architecture", False)
    if new_arch:
        kv = f.kv_heads(heads, "num_kv_heads")
    else:
        kv = 1 if f.flag("multi_query", True) else heads
    if f.flag("alibi", False):
        raise HwsimError("Falcon with ALiBi positions is not supported", file=f.file, field="alibi")
    parallel, bias = f.flag("parallel_attn", True), f.flag("bias", False)
    n_ln = f.get("num_ln_in_parallel_attn", 2 if new_arch else 1)
    norms = 2 if (not parallel or n_ln == 2) else 1
    attn = Attention(heads, kv, hidden // heads, hidden // heads, bias, bias)
    mlp = Mlp(f.int("ffn_hidden_size", 4 * hidden), False, "gelu", bias)
    emb = Embedding(f.int("vocab_size", 65024), tied=f.flag("tie_word_embeddings", True))
    return (
        [Layer(attn, mlp, norms=norms, parallel=parallel)] * layers,
        emb,
        "layernorm",
        {"activation": "gelu", "hidden": hidden},
    )


def _mamba(f: Fields, mt: str) -> tuple:
    hidden, layers = f.int("hidden_size", 768), f.int("num_hidden_layers", 32)
    inner = f.int("intermediate_size", f.int("expand", 2) * hidden)
    rank = f.get("time_step_rank", "auto")
    rank = math.ceil(hidden / 16) if rank == "auto" else f.int("time_step_rank")
    # Falcon-Mamba (HF FalconMambaMixer): RMSNorms without weights on dt, B and C after x_proj
    falcon = mt == "falcon_mamba"
    mix = Ssm(
        inner,
        f.int("state_size", 16),
        f.int("conv_kernel", 4),
        rank,
        f.flag("use_bias", False),
        f.flag("use_conv_bias", True),
        bcdt_norms=falcon,
        bcdt_weights=not falcon,
    )
    emb = Embedding(f.int("vocab_size", 50280), tied=f.flag("tie_word_embeddings", True))
    return [Layer(mix, None, norms=1)] * layers, emb, "rmsnorm", {"activation": "silu", "hidden": hidden}


# Mamba2Config's field names of the Mamba-2 mixer; a hybrid's config class names them its own way (`_ssd` keys)
_SSD_KEYS = {
    "heads": "num_heads",
    "head_dim": "head_dim",
    "d_state": "state_size",
    "groups": "n_groups",
    "conv": "conv_kernel",
    "chunk": "chunk_size",
    "bias": "use_bias",
    "conv_bias": "use_conv_bias",
}


def _ssd(f: Fields, defaults: dict, keys: dict | None = None) -> Ssd:
    """A Mamba-2 mixer from a config's fields (`keys`: this type's field names where they differ from
    Mamba2Config's; `defaults`: its config class's defaults for heads, head_dim, d_state, groups, chunk)."""
    k = _SSD_KEYS | (keys or {})
    heads = f.int(k["heads"], defaults["heads"])
    # "auto" (BambaConfig's default spelled out): the default width, mixer width / heads
    auto = f.cfg.get(k["head_dim"]) == "auto"
    head_dim = defaults["head_dim"] if auto else f.int(k["head_dim"], defaults["head_dim"])
    groups = f.int(k["groups"], defaults["groups"])
    if heads % groups:
        raise HwsimError(f"must divide {k['heads']} ({heads}), got {groups}", file=f.file, field=k["groups"])
    return Ssd(
        heads,
        head_dim,
        f.int(k["d_state"], defaults["d_state"]),
        groups,
        f.int(k["conv"], 4),
        f.int(k["chunk"], defaults["chunk"]),
        f.flag(k["bias"], False),
        f.flag(k["conv_bias"], True),
    )


def _check_inner(f: Fields, mix: Ssd, inner: int, what: str, field: str) -> None:
    """The config class's own check that heads × head_dim is the mixer's width (validate_architecture)."""
    if mix.d_inner != inner:
        raise HwsimError(f"heads × head_dim = {mix.d_inner} must equal {what} = {inner}", file=f.file, field=field)


def _mamba2(f: Fields, mt: str) -> tuple:
    """Mamba-2 (HF Mamba2ForCausalLM): every layer an RMSNorm and a Mamba-2 mixer; Mamba2Config's defaults
    (transformers 5.25: 128 heads of 64, state 128, 8 groups, chunk 256, untied LM head)."""
    hidden, layers = f.int("hidden_size", 4096), f.int("num_hidden_layers", 64)
    mix = _ssd(f, {"heads": 128, "head_dim": 64, "d_state": 128, "groups": 8, "chunk": 256})
    _check_inner(f, mix, f.int("expand", 2) * hidden, "expand × hidden_size", "num_heads")
    emb = Embedding(f.int("vocab_size", 32768), tied=f.flag("tie_word_embeddings", False))
    return [Layer(mix, None, norms=1)] * layers, emb, "rmsnorm", {"activation": "silu", "hidden": hidden}


# Nemotron-H's hybrid_override_pattern: one character per layer (NemotronHConfig._pattern_to_list, transformers 5.25)
_NEMOTRON_H_LAYERS = {"M": "linear_attention", "*": "full_attention", "-": "mlp", "E": "moe"}


def _nemotron_h(f: Fields, mt: str) -> tuple:
    """Nemotron-H (HF NemotronHForCausalLM; NVIDIA, arXiv:2504.03624): every layer is one RMSNorm and one block,
    "M" a Mamba-2 mixer, "*" attention (GQA, no rotary embedding: NemotronHAttention applies none), "-" a
    non-gated MLP (relu2), "E" a MoE of non-gated experts with one shared expert and a bias-free router.
    Defaults: NemotronHConfig (transformers 5.25), whose old spellings (mamba_n_groups, mamba_d_conv,
    mamba_chunk_size, mamba_conv_bias) override the fields when given. Multi-token-prediction layers are not built
    by transformers (mtp.* ignored on load) and not traced."""
    hidden = f.int("hidden_size", 4096)
    pattern = f.get("hybrid_override_pattern")
    if pattern is not None:
        if not isinstance(pattern, str) or not pattern or set(pattern) - set(_NEMOTRON_H_LAYERS):
            raise HwsimError(
                f"expected a string of M, *, - and E (one per layer), got {pattern!r}",
                file=f.file,
                field="hybrid_override_pattern",
            )
        types = [_NEMOTRON_H_LAYERS[c] for c in pattern]
        field = "hybrid_override_pattern"
    else:
        types = f.get("layers_block_type", ["linear_attention", "moe", "full_attention", "mlp"])
        field = "layers_block_type"
        if not isinstance(types, list) or not types or set(types) - set(_NEMOTRON_H_LAYERS.values()):
            raise HwsimError(
                f"expected a list of {', '.join(_NEMOTRON_H_LAYERS.values())}, got {types!r}", file=f.file, field=field
            )
    given = f.cfg.get("num_hidden_layers")
    if given is not None and given != len(types):
        raise HwsimError(
            f"{field} has {len(types)} layers, num_hidden_layers says {given!r}", file=f.file, field="num_hidden_layers"
        )
    blocks: list[Layer] = []
    if "linear_attention" in types:
        mamba = Ssd(
            f.int("mamba_num_heads", 128),
            f.int("mamba_head_dim", 64),
            f.int("ssm_state_size", 128),
            f.int("mamba_n_groups", f.int("n_groups", 8)),
            f.int("mamba_d_conv", f.int("conv_kernel", 4)),
            f.int("mamba_chunk_size", f.int("chunk_size", 128)),
            f.flag("use_bias", False),
            f.flag("mamba_conv_bias", f.flag("use_conv_bias", True)),
        )
        if mamba.heads % mamba.groups:
            raise HwsimError(
                f"must divide mamba_num_heads ({mamba.heads}), got {mamba.groups}", file=f.file, field="n_groups"
            )
    if "full_attention" in types:
        heads = f.int("num_attention_heads", 32)
        # head_dim (NemotronHConfig, default 128); configs written for the remote code name it attention_head_dim
        head_dim = f.int("head_dim", f.int("attention_head_dim", 128))
        attn = Attention(heads, f.kv_heads(heads, default=8), head_dim, head_dim, rotary=False)
    act, mlp_bias = str(f.get("mlp_hidden_act", "relu2")), f.flag("mlp_bias", False)
    if "mlp" in types:
        dense = Mlp(f.int("intermediate_size", 21504), False, act, mlp_bias)
    if "moe" in types:
        if f.get("moe_latent_size") is not None:
            raise HwsimError("MoE latent projections are not supported", file=f.file, field="moe_latent_size")
        experts, top_k = _experts_top_k(f, "n_routed_experts", 8, 2)
        moe = Mlp(
            f.int("moe_intermediate_size", 7688),
            False,
            act,
            mlp_bias,
            experts=experts,
            top_k=top_k,
            shared=f.int("moe_shared_expert_intermediate_size", 7688),
        )
    for t in types:
        if t == "linear_attention":
            blocks.append(Layer(mamba, None, norms=1))
        elif t == "full_attention":
            blocks.append(Layer(attn, None, norms=1))
        else:
            blocks.append(Layer(None, dense if t == "mlp" else moe, norms=1))
    emb = Embedding(f.int("vocab_size", 131072), tied=f.flag("tie_word_embeddings", False))
    return blocks, emb, "rmsnorm", {"activation": act, "hidden": hidden}


_BAMBA_SSD_KEYS = {
    "heads": "mamba_n_heads",
    "head_dim": "mamba_d_head",
    "d_state": "mamba_d_state",
    "groups": "mamba_n_groups",
    "conv": "mamba_d_conv",
    "chunk": "mamba_chunk_size",
    "bias": "mamba_proj_bias",
    "conv_bias": "mamba_conv_bias",
}


def _attn_indices(f: Fields, layers: int) -> list:
    """Bamba's attn_layer_indices: the layers that run attention instead of Mamba-2."""
    at = f.get("attn_layer_indices") or []
    if not isinstance(at, list) or any(not isinstance(i, int) or not 0 <= i < layers for i in at):
        raise HwsimError(f"expected layer indices in 0..{layers - 1}", file=f.file, field="attn_layer_indices")
    return at


_GDN_TYPES = ("linear_attention", "full_attention")  # Qwen3-Next's layer_types


# Qwen3-Next-style config classes' defaults (transformers 5.25) that differ between them: hidden, layers, KV heads,
# dense intermediate (0: the class has none), vocab
_GDN_DEFAULTS = {
    "qwen3_next": (2048, 48, 2, 5632, 151936),
    "qwen3_5_text": (4096, 32, 4, 12288, 248320),
    "qwen3_5_moe_text": (2048, 40, 2, 0, 248320),
}


def _qwen3_next(f: Fields, mt: str) -> tuple:
    """Qwen3-Next (HF Qwen3NextForCausalLM; Qwen3-Next-80B-A3B): layer_types (default: full attention every
    full_attention_interval-th layer, 4) picks per layer a Gated DeltaNet mixer ("linear_attention", DeltaNet) or
    gated attention ("full_attention": GQA whose q_proj also yields a sigmoid output gate, per-head q/k RMSNorms,
    rotary on partial_rotary_factor of each head, default 0.25, biases under attention_bias); every layer then a
    Qwen MoE with a sigmoid-gated shared expert (_qwen_moe, placed by _sparse_layer) or a dense MLP. Its RMSNorms are
    zero-centred (weight initialised to 0, applied as 1 + weight, as Gemma's): the same parameters and rows as
    RMSNorm (the 1 + weight a constant fold, assumed). Qwen3NextConfig's defaults (transformers 5.25) are
    Qwen3-Next-80B-A3B's geometry. Multi-token-prediction weights (mtp.*) are not built by transformers (ignored on
    load) and not traced.

    Qwen3.5 (qwen3_5_text, HF Qwen3_5ForCausalLM; the language model of the qwen3_5 wrapper) is the same decoder
    with the DeltaNet's input projections apart (DeltaNet.split) and a dense gated MLP of intermediate_size in every
    layer; Qwen3.5-MoE (qwen3_5_moe_text, of qwen3_5_moe) the same with the Qwen3-Next MoE in every layer (its config
    class removes mlp_only_layers and decoder_sparse_step). Their multimodal rotary (mrope_section: positions from
    three axes over the same rotary channels) is priced as plain rotary on those channels. Defaults: _GDN_DEFAULTS
    and _QWEN_MOE (Qwen3_5TextConfig / Qwen3_5MoeTextConfig, transformers 5.25)."""
    d_hidden, d_layers, d_kv, d_inter, d_vocab = _GDN_DEFAULTS[mt]
    hidden, heads = f.int("hidden_size", d_hidden), f.int("num_attention_heads", 16)
    layers = f.int("num_hidden_layers", d_layers)
    interval = f.int("full_attention_interval", 4)
    types = f.layer_types(layers, lambda i: "linear_attention" if (i + 1) % interval else "full_attention")
    if set(types) - set(_GDN_TYPES):
        raise HwsimError(
            f"expected linear_attention or full_attention per layer, got {sorted(set(types) - set(_GDN_TYPES))}",
            file=f.file,
            field="layer_types",
        )
    k_heads, v_heads = f.int("linear_num_key_heads", 16), f.int("linear_num_value_heads", 32)
    if v_heads % k_heads:
        raise HwsimError(
            f"must be a multiple of linear_num_key_heads ({k_heads}), got {v_heads}",
            file=f.file,
            field="linear_num_value_heads",
        )
    gdn = DeltaNet(
        k_heads,
        v_heads,
        f.int("linear_key_head_dim", 128),
        f.int("linear_value_head_dim", 128),
        f.int("linear_conv_kernel_dim", 4),
        split=mt != "qwen3_next",
    )
    head_dim, bias = f.int("head_dim", 256), f.flag("attention_bias", False)
    attn = Attention(
        heads,
        f.kv_heads(heads, default=d_kv),
        head_dim,
        head_dim,
        bias,
        bias,
        rotary_dim=int(head_dim * _partial_rotary(f, 0.25)),
        qk_norm="rmsnorm",
        output_gate=True,
    )
    act = str(f.get("hidden_act", "silu"))
    if mt == "qwen3_5_text":  # dense only
        mlps = [Mlp(f.int("intermediate_size", d_inter), True, act)] * layers
    elif mt == "qwen3_5_moe_text":  # MoE only
        mlps = [_qwen_moe(f, mt, act)] * layers
    else:
        dense, moe = Mlp(f.int("intermediate_size", d_inter), True, act), _qwen_moe(f, mt, act)
        mlps = [moe if moe.is_moe and _sparse_layer(f, i) else dense for i in range(layers)]
    blocks = [Layer(gdn if types[i] == "linear_attention" else attn, mlps[i], norms=2) for i in range(layers)]
    emb = Embedding(f.int("vocab_size", d_vocab), tied=f.flag("tie_word_embeddings", False))
    return blocks, emb, "rmsnorm", {"activation": act, "hidden": hidden}


def _kimi_linear(f: Fields, mt: str) -> tuple:
    """Kimi Linear (HF KimiLinearForCausalLM; Moonshot AI, "Kimi Linear: An Expressive, Efficient Attention
    Architecture", arXiv:2510.26692): per layer Kimi Delta Attention (blocks.DeltaNet with channel_decay; its
    linear_num_heads heads of linear_head_dim, conv linear_conv_kernel_dim) or MLA ("full_attention": DeepSeek's
    latent attention, a plain q_proj under a null q_lora_rank, no positional encoding at all: HF applies no rotary,
    the rope channels are carried unrotated), then DeepSeek-V3's MLP layout (_first_dense_then_moe: the first
    first_k_dense_replace layers dense, the rest sigmoid-routed experts + shared experts). The hub config names these
    fields as Moonshot's code does (num_experts, num_experts_per_token, num_shared_experts, and linear_attn_config:
    head_dim, num_heads, short_conv_kernel_size, 1-indexed full_attn_layers / kda_layers); transformers' own names
    (num_local_experts, num_experts_per_tok, n_shared_experts, linear_*, layer_types) are read too. With neither
    layer_types nor the layer lists, HF's default: MLA on layers i > 0 with i % 4 == 0. KimiLinearConfig's defaults
    (transformers 5.25) are Kimi-Linear-48B-A3B's geometry."""
    hidden, heads, layers = f.int("hidden_size", 2304), f.int("num_attention_heads", 32), f.int("num_hidden_layers", 27)
    lin = f.get("linear_attn_config", {})
    if not isinstance(lin, dict):
        raise HwsimError("expected a mapping", file=f.file, field="linear_attn_config")
    g = Fields(lin, f.file)
    if f.get("layer_types") is None and "full_attn_layers" in lin and "kda_layers" in lin:
        full, kda = lin["full_attn_layers"], lin["kda_layers"]
        ok = all(isinstance(x, list) for x in (full, kda))
        if not ok or sorted([*full, *kda]) != list(range(1, layers + 1)):
            raise HwsimError(
                f"full_attn_layers and kda_layers must split layers 1..{layers} between them",
                file=f.file,
                field="linear_attn_config",
            )
        types = ["full_attention" if i + 1 in full else "linear_attention" for i in range(layers)]
    else:
        types = f.layer_types(layers, lambda i: "full_attention" if i and i % 4 == 0 else "linear_attention")
    if set(types) - set(_GDN_TYPES):
        raise HwsimError(
            f"expected linear_attention or full_attention per layer, got {sorted(set(types) - set(_GDN_TYPES))}",
            file=f.file,
            field="layer_types",
        )
    kda_heads = g.int("num_heads", f.int("linear_num_heads", 32))
    kda_dim = g.int("head_dim", f.int("linear_head_dim", 128))
    d_conv = g.int("short_conv_kernel_size", f.int("linear_conv_kernel_dim", 4))
    kda = DeltaNet(kda_heads, kda_heads, kda_dim, kda_dim, d_conv, channel_decay=True)
    q_lora = 0 if f.cfg.get("q_lora_rank") is None else f.int("q_lora_rank", minimum=0)
    mla = _mla(f, q_lora)
    bias = f.flag("attention_bias", False)
    attn = Attention(heads, heads, mla.nope_dim + mla.rope_dim, mla.v_dim, bias, bias, rotary=False, mla=mla)
    act = str(f.get("hidden_act", "silu"))
    # Moonshot's MoE field names → DeepSeek's, which _first_dense_then_moe reads
    names = {
        "n_routed_experts": ("num_experts", "num_local_experts"),
        "num_experts_per_tok": ("num_experts_per_token", "num_experts_per_tok"),
        "n_shared_experts": ("num_shared_experts", "n_shared_experts"),
    }
    moe_cfg = AskedDict(f.cfg)
    for deepseek, given in names.items():
        moe_cfg[deepseek] = next((f.cfg.get(k) for k in given if f.cfg.get(k) is not None), None)
    mlps = _first_dense_then_moe(Fields(moe_cfg, f.file), act, layers, 256, 8, 1024, 1, 9216, 1, types=True)
    if isinstance(f.cfg, AskedDict):  # the fields read through the renamed view count as asked (near_misses)
        f.cfg.asked |= moe_cfg.asked - set(names)
    blocks = [Layer(kda if t == "linear_attention" else attn, mlp, norms=2) for t, mlp in zip(types, mlps)]
    emb = Embedding(f.int("vocab_size", 163840), tied=f.flag("tie_word_embeddings", False))
    return blocks, emb, "rmsnorm", {"activation": act, "hidden": hidden}


def _minimax(f: Fields, mt: str) -> tuple:
    """MiniMax-Text-01 (HF MiniMaxForCausalLM; MiniMax, arXiv:2501.08313): layer_types (default: MiniMaxConfig's
    full attention on every other layer, (i + 1) % 2) picks per layer lightning attention ("linear_attention",
    blocks.Lightning, block_size tokens per block of the blockwise prefill) or GQA softmax attention (rotary on whole
    heads, no biases, no q/k norms); every layer then a Mixtral MoE (num_local_experts gated experts of
    intermediate_size, num_experts_per_tok, a bias-free softmax router). Its residual layout (the residual taken
    after the input norm, scaled by the *_alpha_factor / *_beta_factor scalars) runs the same rows as a pre-norm
    layer (the scalings folded into the residual adds: assumed). head_dim defaults to hidden // heads (HF's getattr
    or, no divisibility check), a null num_key_value_heads to the heads. MiniMaxConfig's defaults (transformers 5.25)
    are Mixtral-8x7B's geometry, not MiniMax-Text-01's: a config must give its own."""
    hidden, heads, layers = f.int("hidden_size", 4096), f.int("num_attention_heads", 32), f.int("num_hidden_layers", 32)
    types = f.layer_types(layers, lambda i: "full_attention" if (i + 1) % 2 else "linear_attention")
    if set(types) - set(_GDN_TYPES):
        raise HwsimError(
            f"expected linear_attention or full_attention per layer, got {sorted(set(types) - set(_GDN_TYPES))}",
            file=f.file,
            field="layer_types",
        )
    head_dim = f.int("head_dim", hidden // heads)
    kv_null = "num_key_value_heads" in f.cfg and f.cfg["num_key_value_heads"] is None
    attn = Attention(heads, f.kv_heads(heads, default=heads if kv_null else 8), head_dim, head_dim)
    light = Lightning(heads, head_dim, f.int("block_size", 256))
    act = str(f.get("hidden_act", "silu"))
    experts, top_k = _experts_top_k(f, "num_local_experts", 8, 2)
    mlp = Mlp(f.int("intermediate_size", 14336), True, act, experts=experts, top_k=top_k)
    blocks = [Layer(light if t == "linear_attention" else attn, mlp, norms=2) for t in types]
    emb = Embedding(f.int("vocab_size", 32000), tied=f.flag("tie_word_embeddings", False))
    return blocks, emb, "rmsnorm", {"activation": act, "hidden": hidden}


_LFM2_TYPES = ("conv", "full_attention")


def _lfm2(f: Fields, mt: str) -> tuple:
    """LFM2 (HF Lfm2ForCausalLM; Liquid AI, arXiv:2511.23404): every layer RMSNorm → a gated short convolution
    (ShortConv, "conv" in layer_types) or GQA attention (any other type, as HF's `!= "conv"`: bias-free, per-head
    q/k RMSNorms, rotary, o_proj named out_proj), then RMSNorm → a SwiGLU MLP (w1, w3, w2). layer_types defaults to
    attention on full_attn_idxs (default: every layer). The MLP width is intermediate_size (block_ff_dim, the hub
    configs' name, wins when given) adjusted as Lfm2MLP does under block_auto_adjust_ff_dim (default true):
    int(2/3 of it), then, unless block_ffn_dim_multiplier is null, int(its multiple) rounded up to block_multiple_of.
    The LM head is tied unless tie_embedding / tie_word_embeddings say otherwise (tie_embedding wins). Defaults:
    Lfm2Config (transformers 5.25).
    LFM2-MoE (lfm2_moe, HF Lfm2MoeForCausalLM; LFM2-8B-A1B): the same layers, layer_types required (Lfm2MoeConfig
    sets no default and the model indexes it); the first num_dense_layers MLPs dense of intermediate_size as given
    (no adjustment), the rest num_experts gated experts of moe_intermediate_size (num_experts_per_tok each token), a
    bias-free router (sigmoid scores plus the expert_bias buffer, not a parameter; not priced beyond the router
    GEMM). Defaults: Lfm2MoeConfig (transformers 5.25)."""
    moe = mt == "lfm2_moe"
    hidden, heads = f.int("hidden_size", 2048 if moe else 2560), f.int("num_attention_heads", 32)
    layers = f.int("num_hidden_layers", 32)
    full = f.get("full_attn_idxs")
    if moe and f.get("layer_types") is None:
        raise HwsimError("required field is missing (Lfm2MoeConfig has no default)", file=f.file, field="layer_types")
    types = f.layer_types(layers, lambda i: "full_attention" if full is None or i in full else "conv")
    if set(types) - set(_LFM2_TYPES):
        raise HwsimError(
            f"expected conv or full_attention per layer, got {sorted(set(types) - set(_LFM2_TYPES))}",
            file=f.file,
            field="layer_types",
        )
    conv = ShortConv(hidden, f.int("conv_L_cache", 3), f.flag("conv_bias", False))
    head_dim = f.head_dim(hidden, heads)
    attn = Attention(heads, f.kv_heads(heads, default=8), head_dim, head_dim, qk_norm="rmsnorm")
    if moe:
        dense = Mlp(f.int("intermediate_size", 7168), True, "silu")
        experts, top_k = _experts_top_k(f, "num_experts", 32, 4, minimum=2)
        sparse = Mlp(f.int("moe_intermediate_size", 1792), True, "silu", experts=experts, top_k=top_k)
        first = f.int("num_dense_layers", 2, minimum=0)
        mlps = [dense if i < first else sparse for i in range(layers)]
    else:
        inter = f.int("block_ff_dim", f.int("intermediate_size", 12288))
        if f.flag("block_auto_adjust_ff_dim", True):
            inter = int(2 * inter / 3)
            if not ("block_ffn_dim_multiplier" in f.cfg and f.cfg["block_ffn_dim_multiplier"] is None):
                inter = int(f.number("block_ffn_dim_multiplier", 1.0, minimum=0, strict=True) * inter)
                multiple = f.int("block_multiple_of", 256)
                inter = multiple * -(-inter // multiple)
        if inter < 1:
            raise HwsimError(f"the adjusted MLP width is {inter}", file=f.file, field="intermediate_size")
        mlps = [Mlp(inter, True, "silu")] * layers
    blocks = [Layer(conv if t == "conv" else attn, mlp, norms=2) for t, mlp in zip(types, mlps)]
    tied = f.flag("tie_embedding", f.flag("tie_word_embeddings", True))
    emb = Embedding(f.int("vocab_size", 65536), tied=tied)
    return blocks, emb, "rmsnorm", {"activation": "silu", "hidden": hidden}


def _bamba(f: Fields, mt: str) -> tuple:
    """Bamba (HF BambaForCausalLM; IBM, ibm-ai-platform/Bamba-9B) and Granite-4.0-H (HF
    GraniteMoeHybridForCausalLM): every layer RMSNorm → a Mamba-2 mixer or GQA attention, then RMSNorm → an MLP.
    Bamba: attention on attn_layer_indices with rotary on half of each head (partial_rotary_factor 0.5), a gated
    MLP. GraniteMoeHybrid: attention where layer_types says "attention" (rotary only with position_embedding_type
    "rope", else NoPE), a MoE of num_local_experts gated experts (bias-free router) beside an always-on gated
    shared_mlp of shared_intermediate_size, or that shared_mlp alone when num_local_experts is 0; embeddings ×
    embedding_multiplier (its other µP multipliers are scalars folded into existing ops, as Granite's).
    Mamba-2 defaults of both config classes (transformers 5.25): 128 heads, head_dim "auto" = mamba_expand ×
    hidden / heads, 1 group, state 256, chunk 256."""
    granite = mt == "granitemoehybrid"
    hidden, heads = f.int("hidden_size", 4096), f.int("num_attention_heads", 32)
    layers = f.int("num_hidden_layers", 32)
    expand, n_heads = f.int("mamba_expand", 2), f.int("mamba_n_heads", 128)
    mix = _ssd(
        f,
        {"heads": 128, "head_dim": expand * hidden // n_heads, "d_state": 256, "groups": 1, "chunk": 256},
        _BAMBA_SSD_KEYS,
    )
    _check_inner(f, mix, expand * hidden, "mamba_expand × hidden_size", "mamba_n_heads")
    if granite:
        # the legacy spellings "mamba" / "attention" are remapped on load (transformers 5.25 remap_legacy_layer_types)
        types = f.layer_types(layers, lambda i: "linear_attention")
        known = {"mamba", "linear_attention", "attention", "full_attention"}
        if set(types) - known:
            raise HwsimError(
                f"expected mamba or attention per layer, got {sorted(set(types) - known)}",
                file=f.file,
                field="layer_types",
            )
        attn_at = [i for i, t in enumerate(types) if t in ("attention", "full_attention")]
    else:
        attn_at = _attn_indices(f, layers)
    head_dim, bias = f.head_dim(hidden, heads), f.flag("attention_bias", False)
    rotary = not granite or f.get("position_embedding_type") == "rope"
    attn = Attention(
        heads,
        f.kv_heads(heads, default=None if granite else 8),
        head_dim,
        head_dim,
        bias,
        bias,
        rotary=rotary,
        rotary_dim=None if granite else head_dim // 2,  # BambaConfig hard-codes partial_rotary_factor 0.5
    )
    act = str(f.get("hidden_act", "silu"))
    if granite:
        experts, top_k = _experts_top_k(f, "num_local_experts", 8, 2, minimum=0)
        shared = f.int("shared_intermediate_size", 1024)
        if experts > 1:
            mlp = Mlp(f.int("intermediate_size", 11008), True, act, experts=experts, top_k=top_k, shared=shared)
        else:  # no routed experts (Granite-4.0-H-Micro): the shared_mlp is the layer's MLP
            if experts == 1:
                raise HwsimError("a single routed expert is not supported", file=f.file, field="num_local_experts")
            mlp = Mlp(shared, True, act)
    else:
        mlp = Mlp(f.int("intermediate_size", 14336), True, act, f.flag("mlp_bias", False))
    blocks = [Layer(attn if i in attn_at else mix, mlp, norms=2) for i in range(layers)]
    scale = granite and f.get("embedding_multiplier", 1.0) != 1.0
    vocab = f.int("vocab_size", 32000 if granite else 128000)
    emb = Embedding(vocab, tied=f.flag("tie_word_embeddings", False), scale=scale)
    return blocks, emb, "rmsnorm", {"activation": act, "hidden": hidden}


# Zamba2Config's layer pattern when layers_block_type is absent (Zamba2-2.7B's 54 layers; transformers 5.25)
_ZAMBA2_TYPES = (
    ["mamba"]
    + (["mamba"] * 5 + ["hybrid"]) * 7
    + ["mamba"] * 4
    + ["hybrid"]
    + ["mamba"] * 3
    + ["hybrid"]
    + ["mamba"] * 2
)


def _zamba2(f: Fields, mt: str) -> tuple:
    """Zamba2 (HF Zamba2ForCausalLM; Zyphra, "The Zamba2 Suite", arXiv:2411.15242): Mamba-2 layers (RMSNorm → mixer →
    residual) and, where layers_block_type says "hybrid", a shared transformer block before the layer's Mamba-2
    (Layer.concat): the residual stream concatenated with the token embeddings, RMSNorm over both, attention from
    2 × hidden (attention_head_dim = 2 × hidden / heads; rotary under use_mem_rope), RMSNorm, a gated MLP of
    intermediate_size (default 4 × hidden) with a low-rank adapter of its own per hybrid layer (always built), the
    hybrid layer's `linear` (hidden → hidden), added to the Mamba-2's input. num_mem_blocks blocks are tied in turn
    over the hybrid layers (Layer.tied: a later use owns only its adapters and linear); use_shared_attention_adapter
    adds per-layer adapters to q, k and v (adapter_rank each). hwsim runs a hybrid layer as two layers, the block then
    the Mamba-2 (their checkpoint names: tensor_map). The Mamba-2 mixer: n_mamba_heads heads of mamba_expand × hidden /
    heads, mamba_ngroups groups, state mamba_d_state, conv mamba_d_conv (its bias always built), chunk_size,
    in_proj / out_proj biased under add_bias_linear. Zamba2Config's defaults (transformers 5.25) for absent fields."""
    hidden = f.int("hidden_size", 2560)
    layers = f.int("num_hidden_layers", 54)
    kinds = f.get("layers_block_type", f.get("layer_types"))
    if kinds is None:
        if layers != len(_ZAMBA2_TYPES):
            raise HwsimError(
                f"required unless num_hidden_layers is {len(_ZAMBA2_TYPES)} (Zamba2Config's pattern)",
                file=f.file,
                field="layers_block_type",
            )
        kinds = _ZAMBA2_TYPES
    names = {"mamba": "mamba", "linear_attention": "mamba", "hybrid": "hybrid"}
    if not isinstance(kinds, list | tuple) or len(kinds) != layers or set(kinds) - set(names):
        raise HwsimError(f"expected {layers} of mamba or hybrid", file=f.file, field="layers_block_type")
    heads = f.int("num_attention_heads", 32)
    if 2 * hidden % heads:
        raise HwsimError(f"must divide 2 × hidden_size ({2 * hidden})", file=f.file, field="num_attention_heads")
    kv = f.kv_heads(heads)
    rank = f.int("adapter_rank", 128)
    adapters = f.flag("use_shared_attention_adapter", False)
    if adapters and kv != heads:  # the k / v adapters are 2 × hidden wide: transformers' forward needs kv = heads
        raise HwsimError(
            "must equal num_attention_heads with shared-attention adapters", file=f.file, field="num_key_value_heads"
        )
    head_dim = 2 * hidden // heads
    attn = Attention(
        heads,
        kv,
        head_dim,
        head_dim,
        rotary=f.flag("use_mem_rope", False),
        in_width=2 * hidden,
        adapter_rank=rank if adapters else 0,
    )
    act = str(f.get("hidden_act", "gelu"))
    bias = f.flag("add_bias_linear", False)
    mlp = Mlp(f.int("intermediate_size", 4 * hidden), True, act, bias, adapter_rank=rank)
    expand, n_heads = f.int("mamba_expand", 2), f.int("n_mamba_heads", 8)
    if expand * hidden % n_heads:
        raise HwsimError(
            f"must divide mamba_expand × hidden_size ({expand * hidden})", file=f.file, field="n_mamba_heads"
        )
    groups = f.int("mamba_ngroups", 1)
    if n_heads % groups:
        raise HwsimError(f"must divide n_mamba_heads ({n_heads})", file=f.file, field="mamba_ngroups")
    mix = Ssd(
        n_heads,
        expand * hidden // n_heads,
        f.int("mamba_d_state", 64),
        groups,
        f.int("mamba_d_conv", 4),
        f.int("chunk_size", 256),
        bias,
    )
    blocks, mem, hybrids = [], f.int("num_mem_blocks", 1), 0
    for kind in kinds:
        if names[kind] == "hybrid":
            blocks.append(Layer(attn, mlp, norms=3, concat=True, tied=hybrids >= mem))
            hybrids += 1
        blocks.append(Layer(mix, None, norms=1))
    emb = Embedding(f.int("vocab_size", 32000), tied=f.flag("tie_word_embeddings", True))
    return blocks, emb, "rmsnorm", {"activation": act, "hidden": hidden}


def _falcon_h1(f: Fields, mt: str) -> tuple:
    """Falcon-H1 (HF FalconH1ForCausalLM; TII): every layer RMSNorm → GQA attention (rotary) and a Mamba-2 mixer
    side by side on the same input, both added to the residual, then RMSNorm → a gated MLP. The Mamba-2 width is
    mamba_d_ssm (FalconH1Config's default 1024; null: mamba_expand × hidden), its gated RMSNorm only with
    mamba_rms_norm (default false: y · silu(z)), in_proj's bias mamba_proj_bias, out_proj's projectors_bias.
    The µP multipliers (embedding, lm_head, attention / SSM in and out, the in_proj mup_vector) are scalars or
    a buffer folded into existing ops; embeddings × embedding_multiplier is traced as a scale when it is not 1."""
    hidden, heads, layers = f.int("hidden_size", 4096), f.int("num_attention_heads", 32), f.int("num_hidden_layers", 32)
    expand = f.int("mamba_expand", 2)
    inner = expand * hidden if "mamba_d_ssm" in f.cfg and f.cfg["mamba_d_ssm"] is None else f.int("mamba_d_ssm", 1024)
    n_heads = f.int("mamba_n_heads", 128)
    mix = _ssd(
        f, {"heads": 128, "head_dim": inner // n_heads, "d_state": 256, "groups": 1, "chunk": 256}, _BAMBA_SSD_KEYS
    )
    _check_inner(f, mix, inner, "mamba_d_ssm", "mamba_n_heads")
    mix = replace(mix, out_bias=f.flag("projectors_bias", False), gated_norm=f.flag("mamba_rms_norm", False))
    head_dim, bias = f.head_dim(hidden, heads), f.flag("attention_bias", False)
    attn = Attention(heads, f.kv_heads(heads, default=8), head_dim, head_dim, bias, bias)
    act = str(f.get("hidden_act", "silu"))
    mlp = Mlp(f.int("intermediate_size", 14336), True, act, f.flag("mlp_bias", False))
    scale = f.get("embedding_multiplier", 1.0) != 1.0
    emb = Embedding(f.int("vocab_size", 128000), tied=f.flag("tie_word_embeddings", False), scale=scale)
    return [Layer(attn, mlp, norms=2, ssm=mix)] * layers, emb, "rmsnorm", {"activation": act, "hidden": hidden}


def _jamba(f: Fields, mt: str) -> tuple:
    """Jamba (HF JambaForCausalLM; AI21, arXiv:2403.19887): layer i runs attention (GQA, no positional embedding:
    JambaAttention applies none) when i % attn_layer_period == attn_layer_offset, else a Mamba-1 mixer with
    RMSNorms on dt, B and C; then an MLP that is a MoE of num_experts gated experts (bias-free router) when
    i % expert_layer_period == expert_layer_offset, else dense. JambaConfig's defaults (transformers 5.25) are
    Jamba-v0.1's."""
    hidden, heads, layers = f.int("hidden_size", 4096), f.int("num_attention_heads", 32), f.int("num_hidden_layers", 32)
    periods = {}
    for kind, period, offset in (("attn", 8, 4), ("expert", 2, 1)):
        p, o = f.int(f"{kind}_layer_period", period), f.int(f"{kind}_layer_offset", offset, minimum=0)
        if o >= p:  # JambaConfig.validate_architecture
            raise HwsimError(
                f"must be below {kind}_layer_period ({p}), got {o}", file=f.file, field=f"{kind}_layer_offset"
            )
        periods[kind] = (p, o)
    rank = f.get("mamba_dt_rank", "auto")
    mix = Ssm(
        f.int("mamba_expand", 2) * hidden,
        f.int("mamba_d_state", 16),
        f.int("mamba_d_conv", 4),
        math.ceil(hidden / 16) if rank == "auto" else f.int("mamba_dt_rank"),
        f.flag("mamba_proj_bias", False),
        f.flag("mamba_conv_bias", True),
        bcdt_norms=True,
    )
    head_dim = f.head_dim(hidden, heads)
    attn = Attention(heads, f.kv_heads(heads, default=8), head_dim, head_dim, rotary=False)
    act = str(f.get("hidden_act", "silu"))
    dense = Mlp(f.int("intermediate_size", 14336), True, act)
    experts, top_k = _experts_top_k(f, "num_experts", 16, 2)
    moe = Mlp(dense.intermediate, True, act, experts=experts, top_k=top_k)
    (ap, ao), (ep, eo) = periods["attn"], periods["expert"]
    blocks = [
        Layer(attn if i % ap == ao else mix, moe if i % ep == eo and experts > 1 else dense, norms=2)
        for i in range(layers)
    ]
    emb = Embedding(f.int("vocab_size", 65536), tied=f.flag("tie_word_embeddings", False))
    return blocks, emb, "rmsnorm", {"activation": act, "hidden": hidden}


def _classic(f: Fields, mt: str) -> tuple:
    """OPT, GPT-NeoX (Pythia), StarCoder2, Phi-1/2 and BERT encoders: LayerNorm, plain MLP, biases."""
    hidden, heads, layers = f.int("hidden_size"), f.int("num_attention_heads"), f.int("num_hidden_layers")
    if hidden % heads:
        raise HwsimError(
            f"hidden_size {hidden} is not divisible by num_attention_heads {heads}",
            file=f.file,
            field="num_attention_heads",
        )
    d = hidden // heads
    if mt == "opt":
        if f.get("word_embed_proj_dim", hidden) != hidden:
            raise HwsimError(
                "OPT with word_embed_proj_dim != hidden_size (project_in/out) is not supported",
                file=f.file,
                field="word_embed_proj_dim",
            )
        bias = f.flag("enable_bias", True)
        act = str(f.get("activation_function", "relu"))
        attn = Attention(heads, heads, d, d, bias, bias, rotary=False)
        mlp = Mlp(f.int("ffn_dim"), False, act, bias)
        # HF OPTLearnedPositionalEmbedding keeps 2 extra rows; no final norm when do_layer_norm_before is false
        emb = Embedding(
            f.int("vocab_size"),
            positions=f.int("max_position_embeddings") + 2,
            tied=f.flag("tie_word_embeddings", True),
            final_norm=f.flag("do_layer_norm_before", True),
        )
    elif mt == "starcoder2":  # GQA, a sliding window on every layer when set, biases (use_bias) throughout
        bias = f.flag("use_bias", True)
        act = str(f.get("hidden_act", "gelu_pytorch_tanh"))
        window = f.int("sliding_window") if f.get("sliding_window") is not None else None
        attn = Attention(heads, f.kv_heads(heads), d, d, bias, bias, window=window)
        mlp = Mlp(f.int("intermediate_size"), False, act, bias)
        emb = Embedding(f.int("vocab_size"), tied=f.flag("tie_word_embeddings", True))
    elif mt == "phi":  # Phi-1/2: biases throughout, partial rotary, optional per-head q/k LayerNorms, biased LM head
        act = str(f.get("hidden_act", "gelu_new"))
        qk = "layernorm" if f.flag("qk_layernorm", False) else None
        # rotary on the first partial_rotary_factor of each head (PhiConfig's default 0.5)
        attn = Attention(
            heads, f.kv_heads(heads), d, d, True, True, qk_norm=qk, rotary_dim=int(d * _partial_rotary(f, 0.5))
        )
        mlp = Mlp(f.int("intermediate_size"), False, act, True)
        emb = Embedding(f.int("vocab_size"), tied=f.flag("tie_word_embeddings", False), head_bias=True)
    elif mt == "gpt_neox":
        bias = f.flag("attention_bias", True)  # query_key_value and dense; the MLP always has biases
        act = str(f.get("hidden_act", "gelu"))
        # rotary on the first rotary_pct of each head (GPTNeoXConfig's default 0.25; transformers 5 saves it as
        # rope_parameters.partial_rotary_factor)
        rope = f.get("rope_parameters") if isinstance(f.get("rope_parameters"), dict) else {}
        factor = rope.get("partial_rotary_factor")
        if not isinstance(factor, (int, float)) or not 0 < factor <= 1:
            factor = f.number("rotary_pct", 0.25, minimum=0, strict=True)
        attn = Attention(heads, heads, d, d, bias, bias, rotary_dim=int(d * min(factor, 1.0)))
        mlp = Mlp(f.int("intermediate_size"), False, act, True)
        emb = Embedding(f.int("vocab_size"), tied=f.flag("tie_word_embeddings", False))
    else:  # bert
        act = str(f.get("hidden_act", "gelu"))
        attn = Attention(heads, heads, d, d, True, True, rotary=False)
        mlp = Mlp(f.int("intermediate_size"), False, act, True)
        emb = Embedding(
            f.int("vocab_size"),
            positions=f.int("max_position_embeddings"),
            token_types=f.int("type_vocab_size", 2),
            tied=True,
            final_norm=False,
        )
    # Phi: one LayerNorm feeding attention and MLP side by side
    layer = Layer(attn, mlp, norms=1, parallel=True) if mt == "phi" else Layer(attn, mlp, norms=2)
    return [layer] * layers, emb, "layernorm", {"activation": act, "hidden": hidden, "encoder": mt == "bert"}


# Multimodal wrappers: model_type → (its language model's default type, its vision encoder, not traced). hwsim traces the
# language model of text_config only (transformers builds it with AutoModel.from_config(config.text_config)).
WRAPPERS: dict[str, tuple[str, str]] = {
    "gemma3": ("gemma3_text", "SigLIP vision tower"),
    "gemma4": ("gemma4_text", "vision and audio towers"),
    "llama4": ("llama4_text", "vision model"),
    "mistral3": ("mistral", "Pixtral vision tower"),
    "qwen2_vl": ("qwen2", "vision transformer"),
    "qwen2_5_vl": ("qwen2", "vision transformer"),
    "qwen3_5": ("qwen3_5_text", "vision transformer"),
    "qwen3_5_moe": ("qwen3_5_moe_text", "vision transformer"),
}
# a text_config type that is another type's decoder (Qwen2.5-VL's language model is Qwen2's)
TEXT_ALIASES = {"qwen2_vl_text": "qwen2", "qwen2_5_vl_text": "qwen2"}
# wrappers whose config.json may keep the language model's fields at the top level (transformers < 4.53 saves)
TOP_LEVEL_TEXT = ("qwen2_vl", "qwen2_5_vl")


def language_model(cfg: dict, file: object = None) -> tuple[dict, str | None]:
    """The fields of the model hwsim traces and, for a multimodal wrapper, the one-line note on what it leaves out.

    A wrapper's language model is its text_config (model_type defaulting to the wrapper's text type); a
    tie_word_embeddings given at the top level is the wrapper's own LM head tying and overrides text_config's.
    """
    wrapper = cfg.get("model_type")
    if wrapper not in WRAPPERS:
        return cfg, None
    text_type, untraced = WRAPPERS[wrapper]
    text = cfg.get("text_config")
    if text is None and wrapper in TOP_LEVEL_TEXT:
        text = {k: v for k, v in cfg.items() if k not in ("model_type", "vision_config")}
    text = {} if text is None else text
    if not isinstance(text, dict):
        raise HwsimError("expected a mapping of the language model's fields", file=file, field="text_config")
    inner = str(text.get("model_type") or text_type)
    inner = TEXT_ALIASES.get(inner, inner)
    if inner not in READERS:
        raise HwsimError(
            f"unsupported language model type {inner!r}; supported: {', '.join(READERS)}",
            file=file,
            field="text_config.model_type",
            limit=MAX_LIST_MESSAGE,
        )
    fields = {**text, "model_type": inner}
    if cfg.get("tie_word_embeddings") is not None:
        fields["tie_word_embeddings"] = cfg["tie_word_embeddings"]
    return fields, (
        f"{wrapper}: hwsim traces the language model ({inner}) only; the {untraced} and multi-modal projector are "
        "not traced, and an image's tokens count only as the prompt tokens you give"
    )


# decoder types transformers 5.25 builds that hwsim knows and refuses, with the mechanism it lacks (a one-line error
# naming it, instead of a bare "unsupported"); a wrapper's entry covers its text model too
NOT_MODELLED: dict[str, str] = {
    "zamba": "Zamba-1's Mamba mixer runs n_mamba_heads heads, each with its own x_proj / dt_proj (ZambaMambaMixer), "
    "which hwsim's Mamba-1 mixer does not lay out",
    "deepseek_v4": "DeepSeek-V4's hyper-connections (hc_mult residual streams), compressed sparse attention (HCA / CSA "
    "compressors, a grouped output LoRA) and hash-routed experts have no hwsim blocks",
    "qwen4_exp": "Qwen4-Exp's hyper-connections, n-gram and per-layer embeddings and block-compressed (QSA) indexer have "
    "no hwsim blocks",
    "minimax_m3_vl": "MiniMax-M3's block-sparse indexer (top index_topk_blocks blocks of keys per query) and clamped "
    "SwiGLU have no hwsim blocks",
    "gemma3n": "Gemma-3n's AltUp streams, LAuReL blocks and activation sparsity have no hwsim blocks",
    "inkling_text": "Inkling's relative-position logits, short convolutions and shared-expert sinks have no hwsim blocks",
}
NOT_MODELLED |= {
    "qwen4_exp_text": NOT_MODELLED["qwen4_exp"],
    "minimax_m3_vl_text": NOT_MODELLED["minimax_m3_vl"],
    "gemma3n_text": NOT_MODELLED["gemma3n"],
    "inkling": NOT_MODELLED["inkling_text"],
    "inkling2_text": NOT_MODELLED["inkling_text"],
}


READERS: dict[str, Callable[[Fields, str], tuple]] = {
    **{
        t: _llama_like
        for t in (
            "llama",
            "mistral",
            "mixtral",
            "qwen2",
            "qwen2_moe",
            "qwen3",
            "qwen3_moe",
            "phi3",
            "bitnet",
            "granite",
            "olmo2",
            "cohere",
            "cohere2",
            "smollm3",
            "olmo3",
            "glm4",
            "seed_oss",
            "ernie4_5",
            "exaone4",
            "exaone_moe",
            "hy_v3",
            "olmoe",
            "flex_olmo",
            "granitemoe",
            "granitemoeshared",
            "ernie4_5_moe",
            "hunyuan_v1_dense",
            "ministral3",
            "phimoe",
            "hunyuan_v1_moe",
            "apertus",
            "arcee",
            "helium",
            "glm",
            "olmo",
            "stablelm",
            "exaone",
            "nemotron",
            "internlm3",
            "iquestcoder",
            "cwm",
            "hyperclovax",
            "jais2",
            "granite_swa",
            "granitemoe_swa",
        )
    },
    "dbrx": _dbrx,
    "mimo_v2_flash": _mimo_v2_flash,
    "deepseek_v2": _deepseek,
    "deepseek_v3": _deepseek,
    "deepseek_v32": _deepseek,
    "glm4_moe_lite": _deepseek,
    "glm_moe_dsa": _deepseek,
    "sarvam_mla": _deepseek,
    "minicpm3": _deepseek,
    "axk1": _deepseek,
    "youtu": _deepseek,
    "glm4_moe": _glm4_moe,
    "solar_open": _glm4_moe,
    "dots1": _glm4_moe,
    "sarvam_moe": _glm4_moe,
    "param2moe": _glm4_moe,
    "longcat_flash": _longcat_flash,
    "minimax_m2": _minimax_m2,
    "afmoe": _afmoe,
    "cohere2_moe": _cohere2_moe,
    "minimax": _minimax,
    "gemma": _gemma,
    "gemma2": _gemma,
    "vaultgemma": _gemma,
    "gemma3_text": _gemma,
    "gemma4_text": _gemma4,
    "opt": _classic,
    "starcoder2": _classic,
    "phi": _classic,
    "gpt_neox": _classic,
    "bloom": _bloom,
    "bert": _classic,
    "gpt_oss": _gpt_oss,
    "llama4_text": _llama4,
    "gpt2": _gpt2,
    "gpt_bigcode": _gpt2,
    "gptj": _gptj,
    "mpt": _mpt,
    "gpt_neo": _gpt_neo,
    "falcon": _falcon,
    "mamba": _mamba,
    "falcon_mamba": _mamba,
    "mamba2": _mamba2,
    "nemotron_h": _nemotron_h,
    "bamba": _bamba,
    "granitemoehybrid": _bamba,
    "jamba": _jamba,
    "falcon_h1": _falcon_h1,
    "zamba2": _zamba2,
    "qwen3_next": _qwen3_next,
    "qwen3_5_text": _qwen3_next,
    "qwen3_5_moe_text": _qwen3_next,
    "kimi_linear": _kimi_linear,
    "lfm2": _lfm2,
    "lfm2_moe": _lfm2,
}
