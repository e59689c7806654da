"""A decoder LLM end to end in numpy, streamed layer by layer from a user's safetensors checkpoint.

Supported `model_type`s: llama, mistral, qwen2, qwen3 — the Llama block (HF modelling code):

    h = embed_tokens[ids]
    per layer: h += o_proj(attention(RoPE(q_proj(n)), RoPE(k_proj(n)), v_proj(n))),  n = RMSNorm(h)
               h += down_proj(silu(gate_proj(n)) · up_proj(n)),                         n = RMSNorm(h)
    logits = lm_head(RMSNorm(h))        (lm_head = embed_tokens when tie_word_embeddings)

with grouped-query attention (num_key_value_heads), causal masking, RoPE in the rotate-half layout
(rope types default, linear and llama3), biases wherever the checkpoint has them (Qwen2's q/k/v) and
Qwen3's per-head RMSNorm on q and k (present when the checkpoint has `q_norm`). Everything runs in
float32, like the reference's float32 path.

Memory: one layer's weights plus the activations of every stream (evaluation windows through the
fp and the quantized model, calibration windows through the quantized model). Each layer is read
once and applied to all streams, so the quantized model's calibration inputs for layer i come from
the already quantized layers 0..i−1 (GPTQ's sequential recipe).

Quantization (`Quant`): weights of every q/k/v/o/gate/up/down projection (embeddings and lm_head stay
fp, as is usual), the input of every projection per token (activations), keys (after RoPE) and values
per token and head (KV cache), all after a method (`hwsim.accuracy.methods`). A method that rotates
rotates the quantized model's residual stream with the RMSNorm gains folded (`rotate_layer`, QuaRot),
keeps its own rotation of o_proj's and down_proj's inputs (online in QuaRot), and rotates each head's
q/k/v by a Hadamard before the KV quantizer (undone after P·V: QuaRot's online K/V rotation).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, overload

import numpy as np

from hwsim.accuracy.checkpoint import TensorInfo, list_tensors, read_float
from hwsim.errors import HwsimError, closest
from hwsim.fileio import input_path, os_reason, value_error

if TYPE_CHECKING:
    from collections.abc import Iterator

    from numpy.typing import ArrayLike
    from tokenizers import Tokenizer

    from hwsim.accuracy.methods import Method
    from hwsim.formats import Format

SUPPORTED_TYPES = ("llama", "mistral", "qwen2", "qwen3")
ROLES = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
_MODULE = {r: ("self_attn." if r in ROLES[:4] else "mlp.") + r for r in ROLES}
ROPE_TYPES = ("default", "linear", "llama3")


@dataclass(frozen=True)
class DecoderConfig:
    model_type: str
    vocab: int
    hidden: int
    layers: int
    heads: int
    kv_heads: int
    head_dim: int
    intermediate: int
    eps: float
    tied: bool
    max_positions: int
    inv_freq: tuple[float, ...]  # RoPE inverse frequencies (head_dim / 2 of them)
    bos: int | None
    sliding_window: int | None  # None: full causal attention


def _bos(bos: object, vocab: int, file: Path) -> int | None:
    """The BOS id each window starts with, when the config has one; an id outside the vocabulary is an error
    naming the field (it read as a bad token id of the text)."""
    if not isinstance(bos, int) or isinstance(bos, bool):
        return None
    if not 0 <= bos < vocab:
        raise HwsimError(f"must be in [0, {vocab}) (vocab_size), got {bos}", file=file, field="bos_token_id")
    return bos


def _positive(value: object, name: str, file: Path) -> float:
    """A RoPE parameter: a finite number > 0 (rope_theta 0 made every angle NaN and perplexity null)."""
    from hwsim.workload.readers import Fields

    return Fields({name: value}, file).number(name, minimum=0.0, strict=True)


def _rope_inv_freq(cfg: dict, head_dim: int, file: Path) -> tuple[float, ...]:
    """RoPE frequencies as transformers computes them (rope_parameters, or the older rope_theta +
    rope_scaling fields)."""
    params = dict(cfg.get("rope_scaling") or {})
    params.update(cfg.get("rope_parameters") or {})
    theta = _positive(params.get("rope_theta", cfg.get("rope_theta", 10000.0)), "rope_theta", file)
    kind = params.get("rope_type", params.get("type", "default"))
    if kind not in ROPE_TYPES:
        raise HwsimError(
            f"RoPE type {kind!r} is not supported by the forward pass (supported: {', '.join(ROPE_TYPES)})",
            file=file,
            field="rope_parameters",
        )
    if float(cfg.get("partial_rotary_factor", 1.0)) != 1.0:
        raise HwsimError(
            "partial rotary embeddings are not supported by the forward pass", file=file, field="partial_rotary_factor"
        )
    inv = 1.0 / theta ** (np.arange(0, head_dim, 2, dtype=np.float64) / head_dim)
    if kind == "linear":
        inv = inv / _positive(params["factor"], "rope_parameters.factor", file)
    elif kind == "llama3":  # Llama 3.1: long wavelengths slowed by `factor`, a smooth ramp in between
        factor, lo, hi, old = (
            _positive(params[k], f"rope_parameters.{k}", file)
            for k in ("factor", "low_freq_factor", "high_freq_factor", "original_max_position_embeddings")
        )
        wavelen = 2 * math.pi / inv
        scaled = np.where(wavelen > old / lo, inv / factor, inv)
        smooth = (old / wavelen - lo) / (hi - lo)
        medium = (wavelen >= old / hi) & (wavelen <= old / lo)
        inv = np.where(medium, (1 - smooth) * scaled / factor + smooth * scaled, scaled)
    return tuple(float(v) for v in inv.astype(np.float32))  # transformers keeps inv_freq in float32


def read_config(folder: Path) -> DecoderConfig:
    """The architecture fields of the folder's config.json, and nothing of its quantization: the forward pass reads
    float tensors (read_float refuses packed ones) and quantizes them with the formats it is given (`Quant`), never
    a checkpoint's quantization_config. So ModelOpt's hf_quant_config.json, which load_model reads beside config.json
    (hwsim.workload.config.model_files), has nothing to give here and is not read."""
    from hwsim.workload.readers import Fields

    file = folder / "config.json"
    try:
        cfg = json.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise HwsimError("no config.json in the checkpoint folder", file=folder) from None
    except json.JSONDecodeError as exc:
        raise HwsimError(f"not JSON ({exc.msg}, line {exc.lineno})", file=file) from None
    except UnicodeDecodeError as exc:
        raise HwsimError(f"not a text file (not UTF-8 at byte {exc.start})", file=file) from None
    except ValueError as exc:  # an integer of over 4300 digits
        raise HwsimError(f"cannot read a value: {value_error(exc)}", file=file) from None
    except OSError as exc:  # config.json is a folder
        raise HwsimError(f"cannot read: {os_reason(exc)}", file=file) from None
    if not isinstance(cfg, dict):
        raise HwsimError("a model config must be a JSON object at the top level", file=file)
    mt = cfg.get("model_type")
    if mt not in SUPPORTED_TYPES:
        raise HwsimError(
            f"model_type {mt!r} is not supported by the accuracy forward pass (supported: "
            f"{', '.join(SUPPORTED_TYPES)})" + closest(str(mt), SUPPORTED_TYPES),
            file=file,
            field="model_type",
        )
    if cfg.get("hidden_act", "silu") != "silu":
        raise HwsimError(
            f"hidden_act {cfg['hidden_act']!r} is not supported (the Llama MLP uses silu)",
            file=file,
            field="hidden_act",
        )
    f = Fields(cfg, file)  # the workload reader's checks: positive integers, kv heads dividing heads, …
    hidden, heads = f.int("hidden_size"), f.int("num_attention_heads")
    head_dim = f.head_dim(hidden, heads)
    window = cfg.get("sliding_window")
    if mt in ("qwen2", "qwen3") and not cfg.get("use_sliding_window", False):
        window = None
    bos = cfg.get("bos_token_id")
    try:
        return DecoderConfig(
            mt,
            f.int("vocab_size"),
            hidden,
            f.int("num_hidden_layers"),
            heads,
            f.kv_heads(heads),
            head_dim,
            f.int("intermediate_size"),
            f.number("rms_norm_eps", 1e-6, minimum=0.0),
            bool(cfg.get("tie_word_embeddings", False)),
            f.int("max_position_embeddings", 2048),
            _rope_inv_freq(cfg, head_dim, file),
            _bos(bos, f.int("vocab_size"), file),
            None if window is None else f.int("sliding_window"),
        )
    except KeyError as exc:
        raise HwsimError(f"missing field {exc.args[0]!r}", file=file) from None
    except (TypeError, ValueError) as exc:
        raise HwsimError(f"bad field value ({exc})", file=file) from None


class Checkpoint:
    """A checkpoint folder: config, tensor index (headers only) and tokenizer; tensors read on demand."""

    def __init__(self, folder: str | Path):
        self.folder = input_path(folder, field="checkpoint")
        if not self.folder.is_dir():
            raise HwsimError("not a checkpoint folder (config.json, *.safetensors, tokenizer.json)", file=folder)
        self.cfg = read_config(self.folder)
        self.infos: dict[str, TensorInfo] = {i.name: i for i in list_tensors(self.folder)}
        self.prefix = "model." if any(n.startswith("model.layers.") for n in self.infos) else ""

    @overload
    def tensor(self, name: str, shape: tuple[int, ...], *, optional: Literal[False] = False) -> np.ndarray: ...
    @overload
    def tensor(self, name: str, shape: tuple[int, ...], *, optional: bool) -> np.ndarray | None: ...

    def tensor(self, name: str, shape: tuple[int, ...], *, optional: bool = False) -> np.ndarray | None:
        """Tensor `name` (with or without the `model.` prefix), which must have the `shape` config.json implies:
        a checkpoint that disagrees with its config is one line here, not a reshape or matmul error later."""
        info = self.infos.get(name) or self.infos.get(self.prefix + name)
        if info is None:
            if optional:
                return None
            raise HwsimError(
                f"no tensor {self.prefix + name!r}" + closest(self.prefix + name, self.infos),
                file=self.folder,
                field="checkpoint",
            )
        if info.shape != shape:
            raise HwsimError(
                f"tensor {info.name!r} is {list(info.shape)}; config.json implies {list(shape)} "
                f"(hidden_size, num_attention_heads, num_key_value_heads, head_dim, intermediate_size, vocab_size)",
                file=self.folder,
                field="checkpoint",
            )
        return np.asarray(read_float(info), dtype=np.float32)

    def shapes(self) -> dict[str, tuple[int, ...]]:
        """Each projection's weight shape (out × in) as the config implies it."""
        c = self.cfg
        q, kv = c.heads * c.head_dim, c.kv_heads * c.head_dim
        ins = dict.fromkeys(("q_proj", "k_proj", "v_proj", "gate_proj", "up_proj"), c.hidden)
        outs = {"q_proj": q, "k_proj": kv, "v_proj": kv, "o_proj": c.hidden, "gate_proj": c.intermediate}
        outs |= {"up_proj": c.intermediate, "down_proj": c.hidden}
        ins |= {"o_proj": q, "down_proj": c.intermediate}
        return {r: (outs[r], ins[r]) for r in ROLES}

    def layer(self, i: int) -> dict[str, Any]:
        """Layer i's parameters: role → weight, role + '.bias' → bias or None, norms."""
        p = f"layers.{i}."
        out: dict[str, Any] = {}  # arrays; None for an absent optional bias or q/k norm
        for r, shape in self.shapes().items():
            out[r] = self.tensor(p + _MODULE[r] + ".weight", shape)
            out[r + ".bias"] = self.tensor(p + _MODULE[r] + ".bias", shape[:1], optional=True)
        for n in ("input_layernorm", "post_attention_layernorm"):
            out[n] = self.tensor(p + n + ".weight", (self.cfg.hidden,))
        for n in ("q_norm", "k_norm"):
            out[n] = self.tensor(p + "self_attn." + n + ".weight", (self.cfg.head_dim,), optional=True)
        return out

    def embeddings(self) -> np.ndarray:
        return self.tensor("embed_tokens.weight", (self.cfg.vocab, self.cfg.hidden))

    def final_norm(self) -> np.ndarray:
        return self.tensor("norm.weight", (self.cfg.hidden,))

    def head(self) -> np.ndarray:
        name = "embed_tokens.weight" if self.cfg.tied else "lm_head.weight"
        return self.tensor(name, (self.cfg.vocab, self.cfg.hidden))

    def tokenizer(self) -> Tokenizer:
        file = self.folder / "tokenizer.json"
        if not file.is_file():
            raise HwsimError(
                "the checkpoint has no tokenizer.json (the forward pass reads text through the "
                "checkpoint's own tokenizer)",
                file=self.folder,
            )
        from tokenizers import Tokenizer

        try:
            return Tokenizer.from_file(str(file))
        except Exception as exc:  # the tokenizers library raises its own Exception types
            raise HwsimError(f"not a tokenizers file ({str(exc).splitlines()[0]})", file=file) from None


def linear_names(cfg: DecoderConfig) -> list[str]:
    """Every projection, in execution order: layers.<i>.<role>."""
    return [f"layers.{i}.{r}" for i in range(cfg.layers) for r in ROLES]


@dataclass
class Quant:
    """What to quantize. weights: None, a Format (every projection) or {layers.<i>.<role>: Format};
    activations: the input of every projection, per token; kv: keys and values per token and head."""

    weights: str | Format | dict[str, str | Format] | None = None
    activations: str | Format | None = None
    kv: str | Format | None = None
    method: str | Method | None = None
    seed: int = 0
    prepared: dict = field(default_factory=dict, init=False)  # name → PreparedLinear of the last pass

    def weight_format(self, name: str) -> str | Format | None:
        if isinstance(self.weights, dict):
            return self.weights.get(name)
        return self.weights

    @property
    def is_identity(self) -> bool:
        from hwsim.accuracy.methods import parse_method

        m = parse_method(self.method)
        return self.weights is None and self.activations is None and self.kv is None and not m.transforms


class Overflow(HwsimError):
    """float32 overflow in the forward pass (`run` names the checkpoint)."""


def _rms_norm(x: np.ndarray, w: np.ndarray, eps: float) -> np.ndarray:
    with np.errstate(over="ignore"):
        ms = np.mean(np.square(x), axis=-1, keepdims=True)
    if not np.isfinite(ms).all():  # x/inf would be 0: uniform logits, a perplexity equal to the vocabulary size
        raise Overflow(
            "float32 overflow in the forward pass: an RMSNorm input's mean square exceeds float32's range "
            "(weights or activations too large for a float32 forward pass)"
        )
    return (x / np.sqrt(ms + np.float32(eps))) * w


def _rope(x: np.ndarray, cos: np.ndarray, sin: np.ndarray) -> np.ndarray:
    half = x.shape[-1] // 2
    rotated = np.concatenate([-x[..., half:], x[..., :half]], axis=-1)
    return x * cos + rotated * sin


def _rope_tables(cfg: DecoderConfig, t: int) -> tuple[np.ndarray, np.ndarray]:
    ang = np.arange(t, dtype=np.float32)[:, None] * np.asarray(cfg.inv_freq, dtype=np.float32)[None, :]
    ang = np.concatenate([ang, ang], axis=-1)
    return np.cos(ang).astype(np.float32), np.sin(ang).astype(np.float32)


def _softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(-1, keepdims=True)


@dataclass
class _Layer:
    """One layer ready to run: weights (quantized, in a method's basis) and the quantizers."""

    p: dict
    prepared: dict  # role → PreparedLinear
    act: Format | None = None
    kv: Format | None = None
    kv_rot: np.ndarray | None = None
    noise: dict | None = None  # role → f(y) added to that projection's output (Hutchinson probes)


def _linear(x: np.ndarray, role: str, layer: _Layer, capture: dict | None) -> np.ndarray:
    if capture is not None:
        capture[role] = x.reshape(-1, x.shape[-1])
    w = layer.p[role]
    if role in layer.prepared:
        x, w = layer.prepared[role].input(x), layer.prepared[role].weight
    if layer.act is not None:
        x = np.asarray(layer.act.quantize(x, axis=-1), dtype=np.float32)
    y = x.reshape(-1, x.shape[-1]) @ w.T  # one 2-D GEMM: numpy's batched matmul is slower here
    if layer.p[role + ".bias"] is not None:
        y += layer.p[role + ".bias"]
    if layer.noise is not None and role in layer.noise:
        y = y + layer.noise[role](y)
    return y.reshape(*x.shape[:-1], -1)


def _block(h: np.ndarray, cfg: DecoderConfig, layer: _Layer, capture: dict | None = None) -> np.ndarray:
    """One decoder layer over windows h (b × t × hidden)."""
    b, t, _ = h.shape
    d, g = cfg.head_dim, cfg.heads // cfg.kv_heads
    p = layer.p
    n = _rms_norm(h, p["input_layernorm"], cfg.eps)
    q = _linear(n, "q_proj", layer, capture).reshape(b, t, cfg.heads, d).transpose(0, 2, 1, 3)
    k = _linear(n, "k_proj", layer, capture).reshape(b, t, cfg.kv_heads, d).transpose(0, 2, 1, 3)
    v = _linear(n, "v_proj", layer, capture).reshape(b, t, cfg.kv_heads, d).transpose(0, 2, 1, 3)
    if p["q_norm"] is not None:  # Qwen3: RMSNorm over each head, before RoPE
        q, k = _rms_norm(q, p["q_norm"], cfg.eps), _rms_norm(k, p["k_norm"], cfg.eps)
    cos, sin = _rope_tables(cfg, t)
    q, k = _rope(q, cos, sin), _rope(k, cos, sin)
    if layer.kv is not None:
        if layer.kv_rot is not None:
            q, k, v = q @ layer.kv_rot, k @ layer.kv_rot, v @ layer.kv_rot
        k = np.asarray(layer.kv.quantize(k, axis=-1), dtype=np.float32)
        v = np.asarray(layer.kv.quantize(v, axis=-1), dtype=np.float32)
    k, v = np.repeat(k, g, axis=1), np.repeat(v, g, axis=1)  # GQA: each kv head serves g query heads
    scores = q @ k.transpose(0, 1, 3, 2) * np.float32(d**-0.5)
    pos = np.arange(t)
    masked = pos[None, :] > pos[:, None]
    if cfg.sliding_window is not None:
        masked |= pos[:, None] - pos[None, :] >= cfg.sliding_window
    scores = np.where(masked, np.float32(-np.inf), scores)
    ctx = _softmax(scores) @ v
    if layer.kv is not None and layer.kv_rot is not None:
        ctx = ctx @ layer.kv_rot.T
    h = h + _linear(ctx.transpose(0, 2, 1, 3).reshape(b, t, cfg.heads * d), "o_proj", layer, capture)
    n = _rms_norm(h, p["post_attention_layernorm"], cfg.eps)
    gate = _linear(n, "gate_proj", layer, capture)
    act = gate / (1.0 + np.exp(-gate)) * _linear(n, "up_proj", layer, capture)
    return h + _linear(act.astype(np.float32), "down_proj", layer, capture)


ONLINE_ROTATED = ("o_proj", "down_proj")  # inputs a residual-stream rotation does not reach (QuaRot: online)


def residual_rotation(cfg: DecoderConfig, method: Method | str | None, seed: int) -> np.ndarray | None:
    """QuaRot's residual-stream rotation Q (hidden × hidden, float64) when the method rotates, else None.
    Every supported type is pre-RMSNorm, so the norms' gains fold into the next linears and Q commutes
    with the weightless RMSNorm that remains (‖xQ‖ = ‖x‖)."""
    from hwsim.accuracy.hadamard import rotation
    from hwsim.accuracy.methods import parse_method

    return rotation(cfg.hidden, seed) if parse_method(method).rotates else None


def rotate_layer(p: dict, q: np.ndarray) -> dict:
    """Layer parameters with the RMSNorm gains folded into the linears they feed and the residual stream
    rotated by Q: input side W·diag(γ)·Q (q/k/v, gate/up), output side Qᵀ·W and b·Q (o_proj, down_proj).
    The float layer maps x·Q to f(x)·Q exactly (up to rounding)."""
    out = dict(p)
    for norm, roles in (("input_layernorm", ROLES[:3]), ("post_attention_layernorm", ROLES[4:6])):
        g = np.asarray(p[norm], dtype=np.float64)
        for r in roles:
            out[r] = ((p[r].astype(np.float64) * g) @ q).astype(np.float32)
        out[norm] = np.ones_like(p[norm])
    for r in ONLINE_ROTATED:
        out[r] = (q.T @ p[r].astype(np.float64)).astype(np.float32)
        if p[r + ".bias"] is not None:
            out[r + ".bias"] = (p[r + ".bias"].astype(np.float64) @ q).astype(np.float32)
    return out


def into_basis(h: np.ndarray, q: np.ndarray | None) -> np.ndarray:
    """Residual states (embeddings) in the rotated basis: h·Q (h itself when Q is None)."""
    return h if q is None else (h @ q).astype(np.float32)


def readout(ckpt: Checkpoint, q: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """(final RMSNorm gain, lm_head) in the basis of Q: γ_final folded into lm_head·diag(γ)·Q when rotated."""
    norm, head = ckpt.final_norm(), ckpt.head()
    if q is None:
        return norm, head
    return np.ones_like(norm), ((head.astype(np.float64) * norm) @ q).astype(np.float32)


def _quantized_layer(
    i: int,
    p: dict,
    cfg: DecoderConfig,
    quant: Quant,
    calib: np.ndarray | None,
    *,
    residual_rotated: bool = False,
    acts: dict | None = None,
) -> _Layer:
    """Apply the method to layer i's projections (calibration inputs captured from `calib` states
    through the fp layer), and attach the activation and KV quantizers. With `residual_rotated` (p from
    `rotate_layer`), only o_proj's and down_proj's inputs get the method's own rotation (online). `acts`:
    the calibration inputs already captured (skips the capture)."""
    from hwsim.accuracy.hadamard import rotation
    from hwsim.accuracy.methods import parse_method, prepare_linear
    from hwsim.formats import get_format

    method = parse_method(quant.method)
    fused = replace(method, transforms=tuple(t for t in method.transforms if t[0] != "rotate"))
    fmt = lambda f: get_format(f) if isinstance(f, str) else f  # noqa: E731
    if acts is None and calib is not None and method.needs_calibration:
        acts = {}
        _block(calib, cfg, _Layer(p, {}), acts)
    prepared, p = {}, dict(p)
    for r in ROLES:
        wf = fmt(quant.weight_format(f"layers.{i}.{r}"))
        m = fused if residual_rotated and r not in ONLINE_ROTATED else method
        # a transform alone is float-exact: it matters only to a weight or an activation quantizer
        if (m.transforms and (wf is not None or quant.activations is not None)) or (
            wf is not None and m.rounding != "rtn"
        ):
            prepared[r] = prepare_linear(p[r], wf, m, None if acts is None else acts[r], seed=quant.seed)
        elif wf is not None:
            p[r] = np.asarray(wf.quantize(p[r], axis=-1), dtype=np.float32)
    kv_fmt = fmt(quant.kv)
    kv_rot = rotation(cfg.head_dim, quant.seed).astype(np.float32) if kv_fmt is not None and method.rotates else None
    return _Layer(p, prepared, fmt(quant.activations), kv_fmt, kv_rot)


@dataclass
class Streams:
    """Final hidden states (after the last RMSNorm) of the fp and the quantized model, and the lm_head
    weight each is read out with (the quantized model's has the final norm's gain and Q folded in)."""

    ref: np.ndarray
    quant: np.ndarray | None
    head: np.ndarray
    quant_head: np.ndarray | None


def run(
    ckpt: Checkpoint, ids: np.ndarray, quant: Quant | None = None, calibration: np.ndarray | None = None
) -> Streams:
    """Windows `ids` (b × t) through the fp model and, with `quant`, through the quantized one — one
    streamed pass over the layers. A rotating method rotates the quantized model's residual stream
    (`rotate_layer`): embeddings·Q, every layer folded and rotated, lm_head·diag(γ)·Q."""
    from hwsim.accuracy.methods import check_applies, parse_method

    cfg = ckpt.cfg
    ids = np.asarray(ids, dtype=np.int64)
    emb = ckpt.embeddings()  # first: its shape check names a vocab_size that disagrees with the checkpoint
    if ids.size and (ids.min() < 0 or ids.max() >= cfg.vocab):
        raise HwsimError(
            f"token ids must be in [0, {cfg.vocab}) for this checkpoint (vocab_size), got {int(ids.min())}…"
            f"{int(ids.max())}: is tokenizer.json the model's own?",
            file=ckpt.folder,
            field="tokens",
        )
    ref = emb[ids]
    q: np.ndarray | None = None
    cal: np.ndarray | None = None
    rot: np.ndarray | None = None
    if quant is not None:
        method = parse_method(quant.method)
        for name in linear_names(cfg):
            wf = quant.weight_format(name)
            check_applies(method, None if wf is None else _fmt(wf))
        rot = residual_rotation(cfg, method, quant.seed)
        q = into_basis(ref, rot)
        if method.needs_calibration:
            if calibration is None:
                raise HwsimError(f"method {method.name} needs calibration text", field="calibration")
            cal = into_basis(emb[np.asarray(calibration, dtype=np.int64)], rot)
    del emb
    try:
        return _layers(ckpt, ref, q, cal, rot, quant)
    except Overflow as exc:
        raise Overflow(exc.detail, file=ckpt.folder) from None


def _layers(
    ckpt: Checkpoint,
    ref: np.ndarray,
    q: np.ndarray | None,
    cal: np.ndarray | None,
    rot: np.ndarray | None,
    quant: Quant | None,
) -> Streams:
    cfg = ckpt.cfg
    for i in range(cfg.layers):
        p = ckpt.layer(i)
        ref = _block(ref, cfg, _Layer(p, {}))
        if quant is not None and q is not None:  # q: the quantized stream, set whenever quant is
            layer = _quantized_layer(
                i, p if rot is None else rotate_layer(p, rot), cfg, quant, cal, residual_rotated=rot is not None
            )
            q = _block(q, cfg, layer)
            if cal is not None:
                cal = _block(cal, cfg, layer)
            quant.prepared.update({f"layers.{i}.{r}": v for r, v in layer.prepared.items()})
    norm, head = readout(ckpt, None)
    out = Streams(_rms_norm(ref, norm, cfg.eps), None, head, None)
    if q is not None:
        qnorm, out.quant_head = readout(ckpt, rot)
        out.quant = _rms_norm(q, qnorm, cfg.eps)
    return out


def _checkpoint(folder: str | Path | Checkpoint) -> Checkpoint:
    return folder if isinstance(folder, Checkpoint) else Checkpoint(folder)


def _fmt(f: str | Format) -> Format:
    from hwsim.formats import get_format

    return get_format(f) if isinstance(f, str) else f


def logits(
    folder: str | Path | Checkpoint, ids: np.ndarray, quant: Quant | None = None, calibration: np.ndarray | None = None
) -> np.ndarray:
    """Logits (b × t × vocab, float32) of the fp model, or of the quantized one when `quant` is given."""
    s = run(_checkpoint(folder), ids, quant, calibration)
    h, head = (s.ref, s.head) if s.quant is None or s.quant_head is None else (s.quant, s.quant_head)
    return (h.reshape(-1, h.shape[-1]) @ head.T).reshape(*h.shape[:-1], -1)


def iter_linear_inputs(folder: str | Path | Checkpoint, ids: np.ndarray) -> Iterator[tuple[int, dict[str, np.ndarray]]]:
    """(i, {role: fp input rows (tokens × in)}) of layer i's projections for windows `ids`, one layer at a time
    (only that layer's weights and inputs held)."""
    ckpt = _checkpoint(folder)
    h = ckpt.embeddings()[np.asarray(ids, dtype=np.int64)]
    for i in range(ckpt.cfg.layers):
        cap: dict[str, np.ndarray] = {}
        h = _block(h, ckpt.cfg, _Layer(ckpt.layer(i), {}), cap)
        yield i, cap


def linear_inputs(folder: str | Path | Checkpoint, ids: np.ndarray) -> dict[str, np.ndarray]:
    """{layers.<i>.<role>: fp input rows (tokens × in)} of every projection for windows `ids`."""
    return {f"layers.{i}.{r}": x for i, cap in iter_linear_inputs(folder, ids) for r, x in cap.items()}


def windows(ids: ArrayLike, window: int, bos: int | None, *, what: str = "text", cut: bool = False) -> np.ndarray:
    """Cut token ids into non-overlapping windows of `window` tokens (each led by BOS when the model
    has one, as llama.cpp's perplexity does); the tail that does not fill a window is dropped. `cut`: `ids` are
    the text's first `max_tokens` tokens and it has more (the error then names max_tokens)."""
    ids = np.asarray(ids, dtype=np.int64)
    body = window - (bos is not None)
    n = ids.size // body if body > 0 else 0
    if n == 0:
        if cut:
            raise HwsimError(
                f"the {what}'s first {ids.size} tokens are fewer than one window of {window} (the {what} has more: "
                "give a larger `max_tokens` or a smaller `window`)",
                field="max_tokens",
            )
        raise HwsimError(
            f"the {what} has {ids.size} tokens, fewer than one window of {window} "
            f"(give more text or a smaller `window`)",
            field=what,
        )
    out = ids[: n * body].reshape(n, body)
    if bos is not None:
        out = np.concatenate([np.full((n, 1), bos, dtype=np.int64), out], axis=1)
    return out


def text_windows(ckpt: Checkpoint, text: str | Path, window: int, max_tokens: int) -> tuple[np.ndarray, np.ndarray]:
    """(the text's first `max_tokens` tokens, the evaluation windows cut from them)."""
    ids = encode(ckpt, read_text(text, "text"), max_tokens + 1)  # one more: whether max_tokens cut the text
    return ids[:max_tokens], windows(ids[:max_tokens], window, ckpt.cfg.bos, cut=ids.size > max_tokens)


def calibration_windows(ckpt: Checkpoint, ids: np.ndarray, window: int, what: str) -> np.ndarray:
    """Windows of a calibration text's first CALIBRATION_TOKENS tokens `ids` (one shorter window when the
    text is shorter than `window`)."""
    ids = ids[:CALIBRATION_TOKENS]
    if ids.size == 0:
        raise HwsimError(f"the {what} has no tokens to calibrate on", field=what)
    return windows(ids, min(window, ids.size + (ckpt.cfg.bos is not None)), ckpt.cfg.bos, what=what)


def _window_metrics(ref_logits: np.ndarray, q_logits: np.ndarray, ids: np.ndarray) -> tuple[float, float, float]:
    """(Σ NLL fp, Σ NLL quantized, Σ KL) over next-token predictions of one batch of windows."""
    from hwsim.accuracy.metrics import log_softmax

    lp, lq = log_softmax(ref_logits[:, :-1]), log_softmax(q_logits[:, :-1])
    tgt = ids[:, 1:, None]
    nll_ref = -float(np.take_along_axis(lp, tgt, -1).sum())
    nll_q = -float(np.take_along_axis(lq, tgt, -1).sum())
    kl = float(np.maximum((np.exp(lp) * (lp - lq)).sum(-1), 0.0).sum())
    return nll_ref, nll_q, kl


HEAD_CHUNK = 8  # windows per lm_head GEMM: bounds the logits held at once (vocab can be 150 k)


def evaluate_ids(
    folder: str | Path | Checkpoint, ids: np.ndarray, quant: Quant | None = None, calibration: np.ndarray | None = None
) -> dict:
    """Perplexity of windows `ids` (b × t) through the quantized model, the fp model's
    (`baseline_perplexity`), and the mean KL(fp ‖ quantized) of next-token distributions (nats)."""
    ckpt = _checkpoint(folder)
    quant = quant or Quant()
    ids = np.asarray(ids, dtype=np.int64)
    s = run(ckpt, ids, quant, calibration)
    tot = np.zeros(3)
    assert s.quant is not None and s.quant_head is not None, "run() returns a quantized stream for a Quant"
    for c in range(0, ids.shape[0], HEAD_CHUNK):
        lr = s.ref[c : c + HEAD_CHUNK] @ s.head.T
        lq = s.quant[c : c + HEAD_CHUNK] @ s.quant_head.T
        tot += _window_metrics(lr, lq, ids[c : c + HEAD_CHUNK])
    n = ids.shape[0] * (ids.shape[1] - 1)
    for what, nll in (("unquantized", tot[0]), ("quantized", tot[1])):
        if not nll / n <= 700:  # exp(700) is near float64's largest: math.exp raised OverflowError beyond it
            raise HwsimError(
                f"the {what} model's mean next-token loss is {nll / n:.4g} nats: no finite perplexity (logits far "
                "beyond a trained model's range)",
                file=ckpt.folder,
            )
    return {
        "perplexity": math.exp(tot[1] / n),
        "kl": float(tot[2] / n),
        "tokens": int(n),
        "baseline_perplexity": math.exp(tot[0] / n),
    }


CUT_MARGIN = 64  # tokens before a prefix's end that may depend on the text after it (a word cut in two)


def encode(ckpt: Checkpoint, text: str, limit: int | None = None) -> np.ndarray:
    """The text's token ids (no special tokens added); with `limit`, its first `limit` ids, read from the
    tokenization of a prefix: a 20 MB text took 30 s and 4 GB to evaluate 126 tokens. A prefix's leading
    tokens equal the whole text's when two prefixes (n and 2n characters) agree on them beyond CUT_MARGIN;
    otherwise the prefix grows, and at worst the whole text is tokenized."""
    tok = ckpt.tokenizer()

    def ids(s: str) -> np.ndarray:
        return np.asarray(tok.encode(s, add_special_tokens=False).ids, dtype=np.int64)

    if limit is not None:
        n = 16 * limit + 4096  # characters: ~4 per token in real text, so ample
        while 2 * n < len(text):
            a, b = ids(text[:n]), ids(text[: 2 * n])
            m = min(a.size, b.size)
            same = int(np.argmin(np.append(a[:m] == b[:m], False)))  # how many leading ids agree
            if same - CUT_MARGIN >= limit:
                return a[:limit]
            n *= 4
    out = ids(text)
    return out if limit is None else out[:limit]


def read_text(path: str | Path, what: str) -> str:
    try:
        return input_path(path, field=what).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise HwsimError("no such file", file=path, field=what) from None
    except UnicodeDecodeError:
        raise HwsimError("not UTF-8 text", file=path, field=what) from None
    except OSError as exc:  # a folder, no permission
        raise HwsimError(f"cannot read: {os_reason(exc)}", file=path, field=what) from None


DEFAULT_WINDOW = 128
DEFAULT_MAX_TOKENS = 1024
CALIBRATION_TOKENS = 512  # calibration windows beyond this add time, not accuracy, at these model sizes


def checked_window(cfg: DecoderConfig, max_tokens: int | None, window: int | None) -> int:
    """The evaluation window (default: DEFAULT_WINDOW, capped by the model's positions), after checking
    `max_tokens` and `window` as a user gave them."""
    for name, v in (("max_tokens", max_tokens), ("window", window)):
        if v is not None and (isinstance(v, bool) or not isinstance(v, int) or v < 2):
            raise HwsimError(f"must be an integer ≥ 2, got {v!r}", field=name)
    window = window or min(DEFAULT_WINDOW, cfg.max_positions)
    if window > cfg.max_positions:
        raise HwsimError(
            f"window {window} is longer than the model's max_position_embeddings {cfg.max_positions}", field="window"
        )
    return window


def evaluate(
    folder: str | Path,
    text: str | Path,
    quant: Quant | None = None,
    *,
    calibration: str | Path | None = None,
    max_tokens: int = DEFAULT_MAX_TOKENS,
    window: int | None = None,
) -> dict:
    """`hwsim accuracy`: perplexity and KL on a text file (first `max_tokens` tokens, in windows).
    Calibration text defaults to the evaluation text (reported as such) when the method needs it."""
    from hwsim.accuracy.methods import parse_method

    ckpt = Checkpoint(folder)
    quant = quant or Quant()
    window = checked_window(ckpt.cfg, max_tokens, window)
    ids, wins = text_windows(ckpt, text, window, max_tokens)
    cal = None
    source = None
    if parse_method(quant.method).needs_calibration:
        source = str(calibration) if calibration is not None else "evaluation text"
        cal_ids = (
            encode(ckpt, read_text(calibration, "calibration"), CALIBRATION_TOKENS) if calibration is not None else ids
        )
        cal = calibration_windows(ckpt, cal_ids, window, "calibration")
    out = evaluate_ids(ckpt, wins, quant, cal)
    out["window"] = int(window)
    if source is not None:
        out["calibration"] = source
    return out
