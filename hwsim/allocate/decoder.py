"""A user's decoder checkpoint run end to end (hwsim.accuracy.llm) as the allocator's tensor source.

- weights: the checkpoint's own projection weights, whole (one tensor in memory at a time);
- activations / calibration: each projection's real fp inputs on the calibration text (or the evaluation
  text when no calibration file is given), computed by streaming the calibration windows through the model
  one layer at a time — only the current layer's inputs are held, so requests in trace order cost one pass;
- kv: keys and values of each layer from those inputs (before RoPE);
- measured costs: per (unit, format), the end-to-end KL of the next-token distribution on the evaluation text
  when only that unit is quantized after the method (hwsim.accuracy.probes);
- output curvature (the hessian proxy): per op, Hutchinson's estimate of the KL's curvature at its output.
"""

from __future__ import annotations

from collections.abc import Iterator
import re
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from hwsim.accuracy import llm
from hwsim.errors import HwsimError

if TYPE_CHECKING:
    from hwsim.accuracy.methods import Method
    from hwsim.allocate.units import Unit


class DecoderTensors:
    def __init__(
        self,
        path: str | Path,
        text: str | Path | None = None,
        calibration: str | Path | None = None,
        *,
        seed: int = 0,
        max_tokens: int = llm.DEFAULT_MAX_TOKENS,
        window: int | None = None,
    ) -> None:
        self.ckpt = llm.Checkpoint(path)
        cfg = self.ckpt.cfg
        self.window = llm.checked_window(cfg, max_tokens, window)
        self.seed = int(seed)
        self.text = None if text is None else Path(text)
        self.ids = None
        if text is not None:
            self.ids = llm.text_windows(self.ckpt, text, self.window, max_tokens)[1]
        cal_src = calibration if calibration is not None else text
        self.cal = None
        if cal_src is not None:
            what = "calibration" if calibration is not None else "text"
            cal_ids = llm.encode(self.ckpt, llm.read_text(cal_src, what), llm.CALIBRATION_TOKENS)
            self.cal = llm.calibration_windows(self.ckpt, cal_ids, self.window, what)
        self.describe = (
            f"decoder checkpoint {self.ckpt.folder} run end to end"
            + (f" (KL on {self.text})" if self.text else "")
            + (f", calibration {calibration}" if calibration else "")
        )
        self._layer = -1
        self._stream: Iterator[tuple[int, dict[str, np.ndarray]]] | None = None  # llm.iter_linear_inputs
        self._inputs: dict[str, np.ndarray] = {}
        self._curvature: dict | None = None

    @property
    def can_measure(self) -> bool:
        return self.ids is not None

    def _split(self, name: str) -> tuple[int, str]:
        m = re.match(r"layers\.(\d+)\.(?:.*\.)?(\w+)$", name)
        if not m or m[2] not in llm.ROLES or int(m[1]) >= self.ckpt.cfg.layers:
            raise HwsimError(
                f"the decoder forward pass has no projection {name!r} (roles: {', '.join(llm.ROLES)})",
                file=self.ckpt.folder,
                field="checkpoint",
            )
        return int(m[1]), m[2]

    def weight(self, name: str, role: str, n_out: int, k_in: int) -> np.ndarray:
        i, r = self._split(name)
        w = self.ckpt.tensor(f"layers.{i}.{llm._MODULE[r]}.weight", self.ckpt.shapes()[r])
        if w.shape != (n_out, k_in):
            raise HwsimError(
                f"tensor for {name!r} is {w.shape[0]} × {w.shape[1]}; the config says ({n_out}, {k_in})",
                file=self.ckpt.folder,
                field="checkpoint",
            )
        return w

    def _layer_inputs(self, i: int) -> dict[str, np.ndarray]:
        """Projection inputs of layer i on the calibration windows (fp), streamed: requests in layer order
        advance one pass; an earlier layer restarts it."""
        if self.cal is None:
            raise HwsimError(
                "real activations need calibration text: give `calibration` FILE or `text` FILE", field="calibration"
            )
        if i < self._layer or self._stream is None:
            self._layer, self._stream = -1, llm.iter_linear_inputs(self.ckpt, self.cal)
        while self._layer < i:
            self._layer, self._inputs = next(self._stream)
        return self._inputs

    def activations(self, name: str, k_in: int) -> np.ndarray:
        i, r = self._split(name)
        return self._layer_inputs(i)[r]

    calibration = activations

    def kv(self, layer: int, kv_dim: int) -> tuple[np.ndarray, np.ndarray]:
        p = self.ckpt.layer(layer)
        x = self._layer_inputs(layer)["k_proj"]
        out = []
        for r in ("k_proj", "v_proj"):
            y = x @ p[r].T
            out.append(y if p[r + ".bias"] is None else y + p[r + ".bias"])
        return out[0], out[1]

    def output_curvature(self, name: str) -> float:
        """Loss curvature at the op's output, nats per unit of squared output error per token: Hutchinson's
        KL(η)/η² from one Rademacher noise probe on the calibration windows, over the output energy E‖y‖²."""
        from hwsim.accuracy.probes import NOISE_ETA, Probe, probe_kl

        i, r = self._split(name)
        if self._curvature is None:
            if self.cal is None:
                raise HwsimError(
                    "the hessian proxy needs calibration text: give `calibration` FILE or `text` FILE",
                    field="calibration",
                )
            names = [(j, rr) for j in range(self.ckpt.cfg.layers) for rr in llm.ROLES]
            kl = probe_kl(self.ckpt, self.cal, [Probe(j, noise=rr) for j, rr in names], seed=self.seed)
            self._curvature = dict(zip(names, kl / NOISE_ETA**2))
        p = self.ckpt.layer(i)
        y = self._layer_inputs(i)[r] @ p[r].T
        if p[r + ".bias"] is not None:
            y = y + p[r + ".bias"]
        energy = float(np.mean(np.sum(np.square(y, dtype=np.float64), axis=-1)))
        return self._curvature[i, r] / energy if energy > 0 else 0.0

    def measured_costs(
        self, units: list[Unit], formats: tuple[str, ...], allowed: np.ndarray, method: Method | str | None = None
    ) -> np.ndarray:
        """U × F: mean KL (nats) of the next-token distribution with only unit u at format f."""
        from hwsim.accuracy.probes import Probe, probe_kl

        if self.ids is None:
            raise HwsimError("the measured proxy needs the evaluation text: give `text` FILE", field="text")
        probes, where = [], []
        for u, unit in enumerate(units):
            for j in np.flatnonzero(allowed[u]):
                if unit.kind == "kv":
                    probes.append(Probe(int(unit.name.split(".")[1]), (), formats[j]))
                else:
                    parts = [self._split(op) for op in unit.ops]
                    layers = {i for i, _ in parts}
                    if len(layers) != 1:
                        raise HwsimError(
                            f"unit {unit.name!r} spans layers {sorted(layers)}: measured probes "
                            "quantize one layer at a time",
                            field="granularity",
                        )
                    probes.append(Probe(parts[0][0], tuple((r, formats[j]) for _, r in parts)))
                where.append((u, j))
        kl = probe_kl(self.ckpt, self.ids, probes, method, self.cal, self.seed)
        out = np.zeros(allowed.shape)
        for (u, j), v in zip(where, kl):
            out[u, j] = v
        return out
