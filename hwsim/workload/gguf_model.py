"""GGUF files (llama.cpp) as models: the architecture from the metadata, each tensor's quantization type as
that op's weight format. Only the header is read (the `gguf` package memory-maps the file and hwsim never
touches tensor data), so a 40 GB file opens in milliseconds.

Metadata keys (GGUF spec, ggml/docs/gguf.md): general.architecture, then {arch}.embedding_length,
.feed_forward_length, .block_count, .context_length, .attention.head_count, .attention.head_count_kv,
.attention.key_length, .attention.sliding_window, .expert_count, .expert_used_count, .vocab_size; the vocabulary size falls back to
tokenizer.ggml.tokens, then to the token_embd tensor's shape; a size the token_embd tensor's rows disagree with is
refused (llama.cpp's loader refuses it: check_tensor_dims, wrong shape).
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hwsim.errors import HwsimError
from hwsim.workload.quant import WeightFormats

if TYPE_CHECKING:  # gguf is imported lazily (only GGUF inputs need it)
    from gguf import GGUFReader

# GGUF general.architecture → HF model_type (llama.cpp writes Mistral and Mixtral as "llama")
ARCHITECTURES = {
    "llama": "llama",
    "mistral": "mistral",
    "qwen2": "qwen2",
    "phi3": "phi3",
    "gptneox": "gpt_neox",
    "bitnet": "bitnet",
    "gpt-oss": "gpt_oss",  # MXFP4 experts (gguf's MODEL_ARCH_NAMES spelling)
}
# GGUF tensor name (blk.N.<part>) → HF module
_PARTS = {
    "attn_q": "self_attn.q_proj",
    "attn_k": "self_attn.k_proj",
    "attn_v": "self_attn.v_proj",
    "attn_output": "self_attn.o_proj",
    "ffn_gate": "mlp.gate_proj",
    "ffn_up": "mlp.up_proj",
    "ffn_down": "mlp.down_proj",
    "ffn_gate_exps": "mlp.gate_proj",
    "ffn_up_exps": "mlp.up_proj",
    "ffn_down_exps": "mlp.down_proj",
}
_TOP = {"token_embd": "model.embed_tokens", "output": "lm_head"}
_FLOAT = {"f32": "fp32", "f16": "fp16", "bf16": "bf16"}
# the llama.cpp block types hwsim.formats.ggml implements (workload sits beside formats in the layer order and may
# not import it; tests/test_workload_gguf.py checks the two lists agree)
GGML_TYPES = (
    "q8_0",
    "q4_0",
    "q4_1",
    "q5_0",
    "q5_1",
    "q2_k",
    "q3_k",
    "q4_k",
    "q5_k",
    "q6_k",
    "iq4_nl",
    "iq4_xs",
    "tq1_0",
    "tq2_0",
)
# ggml's MXFP4 (gpt-oss GGUFs: block_mxfp4, an E8M0 byte and 32 E2M1 codes) is hwsim's OCP mxfp4: the same values
# and 17 bytes per 32 weights (docs/formats.md)
_SAME = {"mxfp4": "mxfp4"}


def supported_types() -> list[str]:
    """The ggml tensor types hwsim has a format for, as llama.cpp names them."""
    return [t.upper() for t in (*_FLOAT, *GGML_TYPES, *_SAME)]


def type_format(type_name: str) -> str:
    """A ggml type name ('Q4_K', 'F16', 'MXFP4') → hwsim's format name ('q4_k', 'fp16', 'mxfp4'). Types hwsim has
    no format for keep their llama.cpp name (read_gguf refuses them)."""
    low = type_name.lower()
    return _FLOAT.get(low) or _SAME.get(low) or low


def hf_module(tensor: str) -> str | None:
    """'blk.3.attn_q.weight' → 'model.layers.3.self_attn.q_proj' (None for norms and other tensors)."""
    stem = tensor.removesuffix(".weight")
    if stem in _TOP:
        return _TOP[stem]
    m = re.fullmatch(r"blk\.(\d+)\.(\w+)", stem)
    if m and m.group(2) in _PARTS:
        return f"model.layers.{m.group(1)}.{_PARTS[m.group(2)]}"
    return None


def _field(reader: GGUFReader, key: str, default: Any = None) -> Any:  # a header value of any GGUF type
    f = reader.fields.get(key)
    if f is None:
        return default
    try:
        value = f.contents()
    except UnicodeDecodeError:  # a damaged file: gguf decodes header strings as UTF-8
        raise HwsimError(
            "not a readable GGUF file: a header string is not UTF-8",
            file=getattr(reader.data, "filename", None),
            field=key,
        ) from None
    return value.item() if hasattr(value, "item") else value


def read_gguf(path: str | Path) -> tuple[dict, WeightFormats]:
    """(HF-style config dict, per-op weight formats) from a GGUF file's header."""
    try:
        from gguf import GGUFReader
    except ImportError:  # pragma: no cover - a declared dependency
        raise HwsimError("reading GGUF needs the gguf package (pip install gguf)", file=path) from None
    try:
        reader = GGUFReader(str(path), "r")
    except (OSError, ValueError, KeyError, IndexError) as exc:
        raise HwsimError(
            f"not a readable GGUF file: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}", file=path
        ) from None
    arch = _field(reader, "general.architecture")
    if arch not in ARCHITECTURES:
        raise HwsimError(
            f"unsupported GGUF architecture {arch!r} (supported: {', '.join(ARCHITECTURES)})",
            file=path,
            field="general.architecture",
        )
    tensors = {t.name: t for t in reader.tensors}
    g = lambda key, default=None: _field(reader, f"{arch}.{key}", default)  # noqa: E731
    vocab, said = g("vocab_size"), f"{arch}.vocab_size"
    if not vocab and "tokenizer.ggml.tokens" in reader.fields:
        vocab, said = len(reader.fields["tokenizer.ggml.tokens"].data), "tokenizer.ggml.tokens"
    if "token_embd.weight" in tensors:
        rows = int(tensors["token_embd.weight"].shape[-1])  # ggml order: (n_embd, n_vocab)
        if vocab and vocab != rows:  # llama.cpp refuses this file too (check_tensor_dims: wrong shape)
            raise HwsimError(
                f"{vocab} tokens, but token_embd.weight has {rows} rows: the header and the "
                "embedding disagree (llama.cpp refuses to load it)",
                file=path,
                field=said,
            )
        vocab = rows
    experts = g("expert_count", 0) or 0
    cfg = {
        "model_type": "mixtral" if arch == "llama" and experts > 1 else ARCHITECTURES[arch],
        "hidden_size": g("embedding_length"),
        "intermediate_size": g("feed_forward_length"),
        "num_attention_heads": g("attention.head_count"),
        "num_key_value_heads": g("attention.head_count_kv"),
        "num_hidden_layers": g("block_count"),
        "vocab_size": vocab,
        "max_position_embeddings": g("context_length"),
        "tie_word_embeddings": "output.weight" not in tensors,
        "name": _field(reader, "general.name"),
    }
    if g("attention.key_length") is not None:
        cfg["head_dim"] = g("attention.key_length")
    if g("attention.sliding_window") is not None:
        cfg["sliding_window"] = g("attention.sliding_window")
    if experts > 1:
        cfg.update(num_local_experts=experts, num_experts_per_tok=g("expert_used_count", 2))
    cfg = {k: v for k, v in cfg.items() if v is not None}
    per_module: dict[str, str] = {}
    for name, t in tensors.items():
        module = hf_module(name)
        if module is None:
            continue
        if t.tensor_type.name not in supported_types():
            raise HwsimError(
                f"tensor {name} has ggml type {t.tensor_type.name}, which hwsim has no format for "
                f"(supported: {', '.join(supported_types())})",
                file=path,
            )
        per_module[module] = type_format(t.tensor_type.name)
    linear = [f for m, f in per_module.items() if m.startswith("model.layers.")]
    if not linear:
        raise HwsimError("no transformer-block weight tensors (blk.N.attn_q.weight, ...)", file=path)
    default = Counter(linear).most_common(1)[0][0]
    rules = tuple((re.escape(m) + "$", f) for m, f in per_module.items() if f != default)
    if "output.weight" not in tensors and "model.embed_tokens" in per_module:  # tied: lm_head reads token_embd
        rules += ((re.escape("lm_head") + "$", per_module["model.embed_tokens"]),)
    return cfg, WeightFormats(default, rules)
