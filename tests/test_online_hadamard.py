"""QuaRot's online Hadamards as trace ops (hwsim.workload.rotation): where they go, what they count,
and that every family prices them (a rotation method never makes inference cheaper)."""

import math

import pytest

from hwsim.arch import load_arch
from hwsim.engine import Precision, evaluate
from hwsim.paths import preset_names
from hwsim.workload import trace
from hwsim.workload.rotation import kv_quantized, needs_online_hadamard, with_online_hadamard


@pytest.fixture(scope="module")
def llama():
    return trace("llama-2-7b", "prefill", seq=16)


def test_rows_before_down_proj_and_after_rope(llama):
    r = with_online_hadamard(llama, kv=True).ops
    had = r[r.op == "hadamard"]
    assert len(r) == len(llama.ops) + 3 * 32 and len(had) == 96
    down = r.index[r.op == "down_proj"]
    assert (r.loc[down - 1, "name"].str.endswith("mlp.hadamard")).all()
    o = r.index[r.op == "o_proj"]
    assert (r.loc[o - 1, "name"].str.endswith("o_hadamard")).all()
    oh = r.loc[o[0] - 1]  # across 32 heads, each of the 128 channels: 4096·log2(32) per token
    assert oh.n == 4096 and oh.vector_ops == 16 * 4096 * 5
    mlp = had[had.name.str.endswith("mlp.hadamard")].iloc[0]
    # fast Walsh–Hadamard: n·log2(n) ops per token, n = 11008 → ⌈log2⌉ = 14
    assert mlp.n == 11008 and mlp.vector_ops == 16 * 11008 * 14 and mlp.act_in_elems == 16 * 11008
    kvh = had[had.name.str.endswith("kv_hadamard")].iloc[0]
    assert kvh.n == 8192 and kvh.vector_ops == 16 * 8192 * int(math.log2(128))
    assert len(with_online_hadamard(llama, kv=False).ops) == len(llama.ops) + 2 * 32


def test_method_and_kv_predicates():
    assert needs_online_hadamard("rotate+gptq") and needs_online_hadamard("ROTATE")
    assert not needs_online_hadamard("gptq") and not needs_online_hadamard(None)
    assert kv_quantized("int4_g128") and kv_quantized("8") and not kv_quantized("fp16") and not kv_quantized(16)


@pytest.mark.parametrize("preset", preset_names("archs"))
def test_every_family_prices_the_rotation(preset, llama):
    arch = load_arch(preset)
    prec = Precision(weights="int8", activations="int8", kv="int8")
    try:
        base = evaluate(arch, llama, prec).totals
    except Exception as exc:  # a preset that cannot run this precision is not what is tested here
        pytest.skip(f"{preset}: {exc}")
    rot = evaluate(arch, with_online_hadamard(llama, kv=True), prec).totals
    assert rot["seconds"] >= base["seconds"] and rot["energy_j"] >= base["energy_j"]
    assert rot["seconds"] > base["seconds"] or rot["energy_j"] > base["energy_j"]
