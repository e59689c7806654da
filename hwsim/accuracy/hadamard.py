"""Orthogonal rotations for QuaRot/SpinQuant-style quantization (REFERENCES.md "Quantization methods").

`hadamard(n)`: a ±1 Hadamard matrix of order n = 2^k·m, Sylvester doubling of a Paley type-I core of
order m = q + 1 (q prime, q ≡ 3 mod 4: 4, 8, 12, 20, 24, 32, 44, 48, 60, 68, 72, 80, 84 …), or None
when n has no such factorisation with a core ≤ 1024 (11008 = 64·172: 172 is a Hadamard order,
but not Paley I).
`rotation(n, seed)`: the randomized Hadamard H·diag(±1)/√n QuaRot uses, and a seeded random orthogonal
matrix (QR of a Gaussian, sign-fixed) when no Hadamard of order n is constructed here — SpinQuant
reports random orthogonal rotations work too, only less uniformly than Hadamard.
"""

from __future__ import annotations

import functools

import numpy as np

MAX_CORE = 1024  # largest Paley core built (a core is dense: q² work in Python)


def _is_prime(q: int) -> bool:
    return q > 1 and all(q % d for d in range(2, int(q**0.5) + 1))


@functools.lru_cache(maxsize=64)
def _paley(m: int) -> np.ndarray | None:
    """Paley I Hadamard matrix of order m = q + 1 (q prime ≡ 3 mod 4), else None."""
    q = m - 1
    if m == 1:
        return np.ones((1, 1))
    if m == 2:
        return np.array([[1.0, 1.0], [1.0, -1.0]])
    if q % 4 != 3 or not _is_prime(q):
        return None
    squares = {(i * i) % q for i in range(1, q)}
    chi = np.array([0.0] + [1.0 if i in squares else -1.0 for i in range(1, q)])
    jac = chi[(np.arange(q)[None, :] - np.arange(q)[:, None]) % q]  # Jacobsthal: Q_ij = χ(j − i)
    s = np.zeros((m, m))
    s[0, 1:] = 1.0
    s[1:, 0] = -1.0
    s[1:, 1:] = jac
    return np.eye(m) + s


@functools.lru_cache(maxsize=64)
def _sylvester_core(n: int) -> tuple[int, np.ndarray] | None:
    """(k, core) with H_n = H_2^{⊗k} ⊗ core (the core index varies fastest), the largest k first so the
    core stays small; None when n has no such factorisation with a Paley I core ≤ MAX_CORE."""
    k = 0
    while n % (2 ** (k + 1)) == 0:
        k += 1
    for kk in range(k, -1, -1):
        core = _paley(n // 2**kk) if n // 2**kk <= MAX_CORE else None
        if core is not None:
            return kk, core
    return None


def hadamard(n: int) -> np.ndarray | None:
    """A Hadamard matrix of order n (entries ±1, H·Hᵀ = n·I), or None when not constructed here."""
    f = _sylvester_core(n)
    if f is None:
        return None
    kk, h = f
    for _ in range(kk):
        h = np.block([[h, h], [h, -h]])
    return h


@functools.lru_cache(maxsize=32)
def rotation(n: int, seed: int = 0) -> np.ndarray:
    """An orthogonal n × n matrix (float64, read-only, cached): randomized Hadamard, else seeded
    random orthogonal."""
    h = hadamard(n)
    if h is not None:
        out = h * _signs(n, seed)[None, :] / np.sqrt(n)
    else:
        rng = np.random.default_rng([int(seed), int(n)])
        qm, r = np.linalg.qr(rng.standard_normal((n, n)))
        out = qm * np.sign(np.diag(r))[None, :]
    out.flags.writeable = False
    return out


@functools.lru_cache(maxsize=32)
def _signs(n: int, seed: int) -> np.ndarray:
    """The random ±1 column signs of rotation(n, seed)'s Hadamard (drawn first from its generator)."""
    out = np.random.default_rng([int(seed), int(n)]).choice([-1.0, 1.0], size=n)
    out.flags.writeable = False
    return out


def rotate(x: np.ndarray, seed: int = 0, *, transpose: bool = False) -> np.ndarray:
    """x · rotation(n, seed) along the last axis (x · rotation(n, seed)ᵀ with `transpose`), same dtype as x
    (float32 stays float32). With a Hadamard: a fast Walsh-Hadamard transform in float64 (n·log n
    additions, each output a pairwise sum: at least as exact as the dense product, which it replaces);
    else the dense product."""
    x = np.asarray(x)
    n = x.shape[-1]
    f = _sylvester_core(n)
    if f is None:
        r = rotation(n, seed)
        return x @ (r.T if transpose else r).astype(x.dtype, copy=False)
    from hwsim.accuracy import _kernels

    core = f[1].T if transpose else f[1]
    scale = _signs(n, seed) / np.sqrt(n)
    flat = np.ascontiguousarray(x.reshape(-1, n))
    out = np.empty(flat.shape, dtype=x.dtype if x.dtype in (np.float32, np.float64) else np.float64)
    pre, post = (scale, np.ones(n)) if transpose else (np.empty(0), scale)
    _kernels.hadamard_rows(flat, np.ascontiguousarray(core), pre, post, out)
    return out.reshape(x.shape)
