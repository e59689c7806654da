"""Tensors to measure quantization error on, per trace op: a weight sample, calibration activations
and (for KV units) key/value samples.

Sources:
- `SyntheticTensors`: seeded LLM-like tensors of the op's shape (hwsim.accuracy.synthetic). A 70B
  layer is too big to draw whole, so each op gets a SAMPLE: whole rows of its out × in weight (groups
  run along the input dimension, so every group is complete), as many rows as fit in `sample_elems`
  (at least one), and `tokens` rows of activations with the op's input width. Seeds derive from the
  op name, so every op has its own draw and the same arguments give the same numbers.
- `CheckpointTensors`: real weights from a safetensors file or folder, op names mapped to checkpoint
  names (Llama/Mistral/Qwen `model.layers.<i>.self_attn.q_proj`, BERT `encoder.layer.<i>.attention.self.query`,
  GPT-NeoX/OPT/Falcon aliases); rows sampled evenly when a tensor exceeds `sample_elems`;
  activations synthetic (no forward pass for an arbitrary checkpoint).
- `MiniLMTensors`: MiniLM-L6's own weights and its real fp32 input activations on the evaluation
  sentences (hwsim.accuracy.minilm), keys/values computed from them.
"""
from __future__ import annotations

import re
import zlib
from pathlib import Path

import numpy as np

from hwsim.accuracy import synthetic
from hwsim.errors import HwsimError, closest

DEFAULT_SAMPLE_ELEMS = 1 << 15
DEFAULT_TOKENS = 64
HEAVY_TAILED = ("q_proj", "k_proj")  # Student-t roles (REFERENCES.md "LLM tensor statistics")

# op role → the module path after "<layers>.<i>." in common checkpoint layouts
ROLE_ALIASES = {
    "q_proj": ("self_attn.q_proj", "attention.self.query", "attn.q_proj", "attention.wq", "self_attention.query"),
    "k_proj": ("self_attn.k_proj", "attention.self.key", "attn.k_proj", "attention.wk", "self_attention.key"),
    "v_proj": ("self_attn.v_proj", "attention.self.value", "attn.v_proj", "attention.wv", "self_attention.value"),
    "o_proj": ("self_attn.o_proj", "self_attn.out_proj", "attention.output.dense", "attn.o_proj", "attention.wo",
               "attention.dense", "self_attention.dense", "attn.c_proj"),
    "gate_proj": ("mlp.gate_proj", "feed_forward.w1", "mlp.w1"),
    "up_proj": ("mlp.up_proj", "intermediate.dense", "feed_forward.w3", "mlp.fc1", "fc1", "mlp.dense_h_to_4h",
                "mlp.c_fc"),
    "down_proj": ("mlp.down_proj", "output.dense", "feed_forward.w2", "mlp.fc2", "fc2", "mlp.dense_4h_to_h",
                  "mlp.c_proj"),
}
_LAYER_PREFIX = re.compile(r"^(?:.*\.)?(?:layers|layer|h|blocks)\.(\d+)\.(.+)\.weight$")


def op_seed(seed: int, name: str) -> int:
    """A per-op seed: stable across runs and Python versions (crc32, not hash())."""
    return (int(seed) * 0x9E3779B1 + zlib.crc32(name.encode())) % (2**32)


def sample_rows(n_rows: int, width: int, sample_elems: int) -> np.ndarray:
    """Evenly spaced row indices: as many whole rows as fit in sample_elems (at least one)."""
    take = int(min(n_rows, max(1, sample_elems // max(width, 1))))
    return np.unique(np.linspace(0, n_rows - 1, take).astype(np.int64))


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

    def __init__(self, path, seed: int = 0, sample_elems: int = DEFAULT_SAMPLE_ELEMS, tokens: int = DEFAULT_TOKENS):
        from hwsim.accuracy.checkpoint import list_tensors

        super().__init__(seed, sample_elems, tokens)
        self.path = Path(path)
        self.describe = f"checkpoint {self.path} (weights; synthetic activations)"
        self.infos = {i.name: i for i in list_tensors(self.path)}
        self.index: dict[tuple[int, str], str] = {}
        for name in self.infos:
            if m := _LAYER_PREFIX.match(name):
                self.index.setdefault((int(m[1]), m[2]), name)

    def tensor_name(self, name: str, role: str) -> str:
        m = re.match(r"layers\.(\d+)\.", name)
        tail = name.rsplit(".", 1)[-1]
        if m and role in ROLE_ALIASES:
            for alias in ROLE_ALIASES[role]:
                if (int(m[1]), alias) in self.index:
                    return self.index[(int(m[1]), alias)]
        want = f"<prefix>.layers.{m[1] if m else '?'}.{{{'|'.join(ROLE_ALIASES.get(role, (tail,)))}}}.weight"
        raise HwsimError(f"no tensor for op {name!r} (looked for {want})"
                         + closest(f"model.layers.{m[1] if m else 0}.{tail}.weight", list(self.infos)),
                         file=self.path, field="checkpoint")

    def weight(self, name: str, role: str, n_out: int, k_in: int) -> np.ndarray:
        from hwsim.accuracy.checkpoint import read_tensor

        info = self.infos[self.tensor_name(name, role)]
        if len(info.shape) != 2 or info.shape[1] != k_in:
            raise HwsimError(f"tensor {info.name} has shape {info.shape}; op {name!r} expects (out, {k_in})",
                             file=self.path, field="checkpoint")
        w = np.asarray(read_tensor(info), dtype=np.float32)
        return np.ascontiguousarray(w[sample_rows(w.shape[0], w.shape[1], self.sample_elems)])


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

    def _layer(self, name: str):
        key = minilm_layer_name(name)
        if key not in self.layers:
            raise HwsimError(f"MiniLM has no linear layer {name!r}" + closest(key, list(self.layers)),
                             field="checkpoint")
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

    def loss(self, assignment: dict[str, str], method=None) -> float:
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


def minilm_model():
    """MiniLM-L6 as a hwsim ModelConfig, read from the package's own config.json (a BERT encoder)."""
    from hwsim.accuracy import minilm
    from hwsim.workload import load_model

    return load_model(minilm.model_dir())


def is_minilm(checkpoint) -> bool:
    if checkpoint is None:
        return False
    if str(checkpoint).lower() == "minilm":
        return True
    from hwsim.accuracy import minilm

    return minilm.available() and Path(checkpoint).resolve() in (minilm.model_dir().resolve(),
                                                                   (minilm.model_dir() / "model.safetensors").resolve())


def tensor_source(checkpoint=None, *, seed: int = 0, sample_elems: int = DEFAULT_SAMPLE_ELEMS,
                  tokens: int = DEFAULT_TOKENS):
    if checkpoint is None:
        return SyntheticTensors(seed, sample_elems, tokens)
    if is_minilm(checkpoint):
        return MiniLMTensors()
    return CheckpointTensors(checkpoint, seed, sample_elems, tokens)
