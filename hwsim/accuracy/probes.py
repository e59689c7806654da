"""Measured per-layer sensitivities of a decoder checkpoint: the end-to-end KL of the next-token distribution
(vs the unquantized model) when only one layer's projections (or its KV cache) are quantized, after a method.

The fp model runs once over the evaluation windows and caches the residual state entering every layer (and,
for methods that fit on calibration inputs, the calibration windows' states). A probe of layer i then starts
from the cached state at layer i: it runs layer i quantized and layers i+1… unquantized, streamed one layer at
a time; the probes of one layer share the pass (batched along the window axis, `PROBE_TOKENS` tokens at once).
With a rotating method the whole model runs in the rotated basis (`llm.rotate_layer`; float-exact), so a probe
sees exactly what the layer sees in the deployed recipe. Cost: one fp pass, then each probe of layer i runs
L − i layers (≈ L/2 on average, against 2L for an independent fp + quantized run), and each layer is read once
per batch of probes instead of once per probe.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from hwsim.accuracy import llm

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from hwsim.accuracy.methods import Method
    from hwsim.formats import Format

PROBE_TOKENS = 1 << 14  # tokens run through one batched probe pass (bounds its activation memory)


@dataclass(frozen=True)
class Probe:
    """Quantize layer `layer` only: its projections `weights` ({role: format}) and/or its KV cache `kv`."""

    layer: int
    weights: tuple[tuple[str, str | Format], ...] = ()
    kv: str | Format | None = None
    noise: str | None = None  # a role: add η·rms(y)·v (v Rademacher, seeded) to its output instead


NOISE_ETA = 0.05  # relative output noise of a Hutchinson probe: KL stays quadratic in it (checked at 0.01–0.1)


def _rademacher(role: str, layer: int, seed: int, eta: float) -> Callable[[np.ndarray], np.ndarray]:
    def add(y: np.ndarray) -> np.ndarray:
        rng = np.random.default_rng([int(seed), layer, llm.ROLES.index(role)])
        scale = eta * float(np.sqrt(np.mean(np.square(y, dtype=np.float64))))
        return (scale * rng.choice(np.array([-1.0, 1.0], dtype=np.float32), size=y.shape)).astype(np.float32)

    return add


def probe_kl(
    folder: str | Path | llm.Checkpoint,
    ids: np.ndarray,
    probes: list[Probe],
    method: Method | str | None = None,
    calibration: np.ndarray | None = None,
    seed: int = 0,
) -> np.ndarray:
    """Mean KL(fp ‖ probe) of next-token distributions over windows `ids` (b × t), one value per probe (nats)."""
    from hwsim.accuracy.methods import check_applies, parse_method
    from hwsim.errors import HwsimError

    ckpt = folder if isinstance(folder, llm.Checkpoint) else llm.Checkpoint(folder)
    cfg = ckpt.cfg
    method = parse_method(method)
    for pr in probes:
        if not 0 <= pr.layer < cfg.layers:
            raise HwsimError(f"layer {pr.layer} is not in [0, {cfg.layers})", field="layer")
        for _, f in pr.weights:
            check_applies(method, llm._fmt(f))
    if method.needs_calibration and calibration is None:
        raise HwsimError(f"method {method.name} needs calibration text", field="calibration")
    ids = np.asarray(ids, dtype=np.int64)
    rot = llm.residual_rotation(cfg, method, seed)
    basis = (lambda p: p) if rot is None else (lambda p: llm.rotate_layer(p, rot))  # noqa: E731
    emb = ckpt.embeddings()
    h = llm.into_basis(emb[ids], rot)
    cal = llm.into_basis(emb[np.asarray(calibration, dtype=np.int64)], rot) if method.needs_calibration else None
    del emb
    states, cal_states = [], []
    for i in range(cfg.layers):
        states.append(h)
        cal_states.append(cal)
        fp = llm._Layer(basis(ckpt.layer(i)), {})
        h = llm._block(h, cfg, fp)
        cal = None if cal is None else llm._block(cal, cfg, fp)
    norm, head = llm.readout(ckpt, rot)
    ref = llm._rms_norm(h, norm, cfg.eps)
    out = np.zeros(len(probes))
    per_pass = max(1, PROBE_TOKENS // max(ids.size, 1))
    for i in range(cfg.layers):
        mine = [k for k, pr in enumerate(probes) if pr.layer == i]
        if not mine:
            continue
        p = basis(ckpt.layer(i))
        acts: dict[str, np.ndarray] | None = None
        if (cal := cal_states[i]) is not None:
            acts = {}
            llm._block(cal, cfg, llm._Layer(p, {}), acts)
        for s in range(0, len(mine), per_pass):
            chunk = mine[s : s + per_pass]
            streams = []
            for k in chunk:
                q = llm.Quant(
                    weights={f"layers.{i}.{r}": f for r, f in probes[k].weights},
                    kv=probes[k].kv,
                    method=method,
                    seed=seed,
                )
                layer = llm._quantized_layer(i, p, cfg, q, None, residual_rotated=rot is not None, acts=acts)
                if (role := probes[k].noise) is not None:
                    layer.noise = {role: _rademacher(role, i, seed, NOISE_ETA)}
                streams.append(llm._block(states[i], cfg, layer))
            x = np.concatenate(streams)
            for j in range(i + 1, cfg.layers):
                x = llm._block(x, cfg, llm._Layer(basis(ckpt.layer(j)), {}))
            x = llm._rms_norm(x, norm, cfg.eps).reshape(len(chunk), *ids.shape, -1)
            for c, k in enumerate(chunk):
                out[k] = _mean_kl(ref, x[c], head, ids)
    return out


def _mean_kl(ref: np.ndarray, q: np.ndarray, head: np.ndarray, ids: np.ndarray) -> float:
    tot = 0.0
    for c in range(0, ids.shape[0], llm.HEAD_CHUNK):
        tot += llm._window_metrics(
            ref[c : c + llm.HEAD_CHUNK] @ head.T, q[c : c + llm.HEAD_CHUNK] @ head.T, ids[c : c + llm.HEAD_CHUNK]
        )[2]
    return tot / (ids.shape[0] * (ids.shape[1] - 1))
