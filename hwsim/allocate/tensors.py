"""Tensors to measure quantization error on, per trace op: a weight sample, calibration activations
and (for KV units) key/value samples.

Sources:
- `SyntheticTensors`: seeded LLM-like tensors of the op's shape (hwsim.accuracy.synthetic). A 70B
  layer is too big to draw whole, so each op gets a SAMPLE: whole rows of its out × in weight (groups
  run along the input dimension, so every group is complete), as many rows as fit in `sample_elems`
  (at least one), and `tokens` rows of activations with the op's input width. Seeds derive from the
  op name, so every op has its own draw and the same arguments give the same numbers.
- `CheckpointTensors`: real weights from a safetensors file or folder, op names mapped to checkpoint
  tensors by hwsim.workload.tensor_map (every supported type with the folder's config.json: fused q/k/v
  and gate/up slices, GPT-2's Conv1D, experts per expert or stacked — expert 0 stands for a routed role;
  a bare file: the common module paths); rows sampled evenly when a tensor exceeds `sample_elems`;
  activations synthetic (no forward pass for an arbitrary checkpoint).
- `MiniLMTensors`: MiniLM-L6's own weights and its real fp32 input activations on the evaluation
  sentences (hwsim.accuracy.minilm), keys/values computed from them.
"""

from __future__ import annotations

import re
import zlib
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import numpy as np

from hwsim.accuracy import synthetic
from hwsim.fileio import input_path
from hwsim.errors import HwsimError, check_seed, closest
from hwsim.workload import load_model, tensor_map

if TYPE_CHECKING:
    from hwsim.accuracy.checkpoint import TensorInfo
    from hwsim.accuracy.methods import Method
    from hwsim.accuracy.minilm import LinearLayer
    from hwsim.workload.config import ModelConfig

DEFAULT_SAMPLE_ELEMS = 1 << 15
DEFAULT_TOKENS = 64
HEAVY_TAILED = ("q_proj", "k_proj")  # Student-t roles (REFERENCES.md "LLM tensor statistics")


def op_seed(seed: int, name: str) -> int:
    """A per-op seed: stable across runs and Python versions (crc32, not hash())."""
    return (int(seed) * 0x9E3779B1 + zlib.crc32(name.encode())) % (2**32)


def sample_rows(n_rows: int, width: int, sample_elems: int) -> np.ndarray:
    """Evenly spaced row indices: as many whole rows as fit in sample_elems (at least one)."""
    take = int(min(n_rows, max(1, sample_elems // max(width, 1))))
    return np.unique(np.linspace(0, n_rows - 1, take).astype(np.int64))


class TensorSource(Protocol):
    """What accuracy costs read from a tensor source (optional extras, such as `loss`, `calibration`,
    `output_curvature` or `measured_costs`, are looked up with hasattr)."""

    describe: str

    def weight(self, name: str, role: str, n_out: int, k_in: int) -> np.ndarray: ...

    def activations(self, name: str, k_in: int) -> np.ndarray: ...

    def kv(self, layer: int, kv_dim: int) -> tuple[np.ndarray, np.ndarray]: ...


class SyntheticTensors:
    describe = "synthetic LLM-like tensors (seeded)"

    def __init__(self, seed: int = 0, sample_elems: int = DEFAULT_SAMPLE_ELEMS, tokens: int = DEFAULT_TOKENS):
        self.seed, self.sample_elems, self.tokens = int(seed), int(sample_elems), int(tokens)

    def weight(self, name: str, role: str, n_out: int, k_in: int) -> np.ndarray:
        rows = sample_rows(n_out, k_in, self.sample_elems).size
        s = op_seed(self.seed, name)
        draw = synthetic.student_t if role in HEAVY_TAILED else synthetic.gaussian
        return draw((rows, k_in), s, std=synthetic.WEIGHT_STD)

    def activations(self, name: str, k_in: int) -> np.ndarray:
        outliers = min(6, max(k_in - 2, 0))  # llm_activations' default: 6 outlier + 2 massive channels
        massive = min(2, k_in - outliers)
        return synthetic.llm_activations(op_seed(self.seed, name + ":x"), self.tokens, k_in, outliers, massive)

    def kv(self, layer: int, kv_dim: int) -> tuple[np.ndarray, np.ndarray]:
        """(K, V) samples, tokens × kv_dim. Keys keep fixed outlier channels and values do not
        (assumed: the per-channel key outliers reported by KIVI, Liu et al. 2024)."""
        s = op_seed(self.seed, f"layers.{layer}.kv")
        k = synthetic.llm_activations(s, self.tokens, kv_dim, min(6, kv_dim), 0)
        v = synthetic.gaussian((self.tokens, kv_dim), s + 1)
        return k, v


class CheckpointTensors(SyntheticTensors):
    """Real weights from safetensors; activations and KV stay synthetic."""

    def __init__(
        self, path: str | Path, seed: int = 0, sample_elems: int = DEFAULT_SAMPLE_ELEMS, tokens: int = DEFAULT_TOKENS
    ):
        from hwsim.accuracy.checkpoint import list_tensors

        super().__init__(seed, sample_elems, tokens)
        self.path = Path(path)
        self.describe = f"checkpoint {self.path} (weights; synthetic activations)"
        self.infos = {i.name: i for i in list_tensors(self.path)}
        config = (self.path if self.path.is_dir() else self.path.parent) / "config.json"
        # with its config, every supported type's layout (fused qkv, experts per expert or stacked, sublayers);
        # a bare safetensors file: the common module paths only
        self.model = load_model(config.parent) if config.exists() else None
        self.index = tensor_map.index_tensors(self.infos, self.model)

    def locate(self, name: str, role: str) -> tensor_map.Located:
        m = re.match(r"layers\.(\d+)\.", name)
        if m and self.model is not None:
            return tensor_map.locate(self.model, self.index, int(m[1]), role)[0]
        tail = name.rsplit(".", 1)[-1]
        if m:
            for path in tensor_map.OWN.get(role, ()):
                if (int(m[1]), path) in self.index:
                    return tensor_map.Located(self.index[int(m[1]), path], transpose=path in tensor_map.CONV1D)
        want = f"<prefix>.layers.{m[1] if m else '?'}.{{{'|'.join(tensor_map.OWN.get(role, (tail,)))}}}.weight"
        raise HwsimError(
            f"no tensor for op {name!r} (looked for {want})"
            + closest(f"model.layers.{m[1] if m else 0}.{tail}.weight", list(self.infos)),
            file=self.path,
            field="checkpoint",
        )

    def tensor_name(self, name: str, role: str) -> str:
        return self.locate(name, role).tensor

    def weight(self, name: str, role: str, n_out: int, k_in: int) -> np.ndarray:
        loc = self.locate(name, role)
        w = _read_located(self.infos[loc.tensor], loc)
        if w.ndim != 2 or w.shape[1] != k_in or w.shape[0] != n_out:
            raise HwsimError(
                f"tensor {loc.tensor} holds {w.shape[0]} × {w.shape[1]} for op {name!r}; the config says "
                f"({n_out}, {k_in})",
                file=self.path,
                field="checkpoint",
            )
        return np.ascontiguousarray(w[sample_rows(w.shape[0], w.shape[1], self.sample_elems)])


def _read_located(info: TensorInfo, loc: tensor_map.Located) -> np.ndarray:
    """The located weight as out × in float32: one expert of a stacked tensor read alone (its bytes only),
    fused rows sliced, Conv1D / in × out layouts transposed."""
    from hwsim.accuracy.checkpoint import read_float, require_finite, require_float

    require_float(info)
    shape = tensor_map.expert_shape(loc, tuple(info.shape))  # [experts, …] (DBRX's flat experts split)
    if loc.expert is not None and info.dtype in ("F32", "F16", "BF16"):
        per = int(np.prod(shape[1:], dtype=np.int64))
        width = 4 if info.dtype == "F32" else 2
        raw = np.fromfile(
            info.file,
            dtype={"F32": "<f4", "F16": "<f2", "BF16": "<u2"}[info.dtype],
            count=per,
            offset=info.data_start + loc.expert * per * width,
        )
        w = (raw.astype(np.uint32) << 16).view(np.float32) if info.dtype == "BF16" else raw.astype(np.float32)
        w = w.reshape(shape[1:])
    else:
        w = np.asarray(read_float(info), dtype=np.float32)
        if loc.expert is not None:
            w = w.reshape(shape)[loc.expert]
    return tensor_map.orient(require_finite(info, w), loc)


def minilm_layer_name(name: str) -> str:
    """Trace op `layers.<i>[.mlp].<role>` → MiniLM's layer name `layers.<i>.<role>`."""
    m = re.match(r"layers\.(\d+)\.(?:.*\.)?(\w+)$", name)
    return f"layers.{m[1]}.{m[2]}" if m else name


def minilm_formats(assignment: dict[str, str]) -> dict[str, str]:
    """An allocation's {op name: format} in the names hwsim.accuracy.minilm.embed takes."""
    return {minilm_layer_name(k): v for k, v in assignment.items()}


class MiniLMTensors:
    """MiniLM-L6's weights, real input activations and keys/values (whole tensors: they are small)."""

    describe = "MiniLM-L6 weights and its fp32 activations on the evaluation sentences"

    def __init__(self, tokens: int = 256):
        from hwsim.accuracy import minilm

        self.layers = {layer.name: layer for layer in minilm.linear_layers(tokens)}

    def _layer(self, name: str) -> LinearLayer:
        key = minilm_layer_name(name)
        if key not in self.layers:
            raise HwsimError(
                f"MiniLM has no linear layer {name!r}" + closest(key, list(self.layers)), field="checkpoint"
            )
        return self.layers[key]

    def weight(self, name: str, role: str, n_out: int, k_in: int) -> np.ndarray:
        return self._layer(name).weight

    def activations(self, name: str, k_in: int) -> np.ndarray:
        return self._layer(name).activations

    def calibration(self, name: str, k_in: int) -> np.ndarray:
        """Inputs a method is fitted on: the calibration sentences, disjoint from the evaluation set."""
        from hwsim.accuracy import minilm

        self._layer(name)
        return minilm.calibration_inputs()[minilm_layer_name(name)]

    def loss(self, assignment: dict[str, str], method: Method | str | None = None) -> float:
        """End-to-end loss of an allocation after `method` (default rtn): 1 − mean cosine of the
        sentence embeddings vs fp32."""
        from hwsim.accuracy import minilm

        return 1.0 - minilm.evaluate(minilm_formats(assignment), method=method, weight_error=False)["cosine"]

    def kv(self, layer: int, kv_dim: int) -> tuple[np.ndarray, np.ndarray]:
        out = []
        for role in ("k_proj", "v_proj"):
            lin = self.layers[f"layers.{layer}.{role}"]
            out.append(lin.activations @ lin.weight.T + lin.bias)
        return out[0], out[1]


def minilm_model() -> ModelConfig:
    """MiniLM-L6 as a hwsim ModelConfig, read from the package's own config.json (a BERT encoder)."""
    from hwsim.accuracy import minilm
    from hwsim.workload import load_model

    return load_model(minilm.model_dir())


def is_minilm(checkpoint: str | Path | None) -> bool:
    if checkpoint is None:
        return False
    if str(checkpoint).lower() == "minilm":
        return True
    from hwsim.accuracy import minilm

    return minilm.available() and Path(checkpoint).resolve() in (
        minilm.model_dir().resolve(),
        (minilm.model_dir() / "model.safetensors").resolve(),
    )


def tensor_source(
    checkpoint: str | Path | None = None,
    *,
    seed: int = 0,
    sample_elems: int = DEFAULT_SAMPLE_ELEMS,
    tokens: int = DEFAULT_TOKENS,
    text: str | Path | None = None,
    calibration: str | Path | None = None,
    max_tokens: int | None = None,
    window: int | None = None,
) -> TensorSource:
    """The tensors accuracy costs are measured on. `text` / `calibration` (files) run a decoder checkpoint
    folder end to end (`DecoderTensors`): real activations, and measured KL with `text`."""
    seed = check_seed(seed)
    if checkpoint is not None:
        input_path(checkpoint, field="checkpoint")
    given = [f for f, v in (("text", text), ("calibration", calibration)) if v is not None]
    if given and (checkpoint is None or is_minilm(checkpoint)):
        raise HwsimError(
            f"{' and '.join(f'`{g}`' for g in given)} run a decoder checkpoint end to end: give "
            "`checkpoint` FOLDER "
            "(llama, mistral, qwen2, qwen3; MiniLM runs on its own sentences)",
            field=given[0],
        )
    unused = [f for f, v in (("max_tokens", max_tokens), ("window", window)) if v is not None]
    if unused and not given:
        raise HwsimError(
            f"applies to a decoder checkpoint run on `text` or `calibration`; give one, or drop `{unused[0]}`",
            field=unused[0],
        )
    if checkpoint is None:
        return SyntheticTensors(seed, sample_elems, tokens)
    if is_minilm(checkpoint):
        return MiniLMTensors()
    if given:
        from hwsim.allocate.decoder import DecoderTensors

        opts = {} if max_tokens is None else {"max_tokens": max_tokens}
        return DecoderTensors(checkpoint, text, calibration, seed=seed, window=window, **opts)
    return CheckpointTensors(checkpoint, seed, sample_elems, tokens)
