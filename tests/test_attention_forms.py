"""Attention as each accelerator runs it (hwsim.engine.attention): one setting, one fused form, every family.

Properties (hypothesis): fused attention never moves more DRAM bytes than unfused, on every family and
model shape; it computes the same MACs; folding a bare table row for row gives the trace builder's fused
rows exactly where K and V are separate tensors (and never fewer bytes where they are not: MLA absorbed).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hwsim.arch import load_arch
from hwsim.core.ops import OpColumns
from hwsim.engine import Precision, evaluate
from hwsim.engine.attention import as_run, attention_form, compute_view, fold, fold_attention, unfold
from hwsim.families import BUILTIN, get_family
from hwsim.workload import load_model, trace

MODELS = ["llama-3-8b", "qwen3-8b", "gemma-2-9b", "deepseek-v2-lite", "falcon-7b", "gpt-oss-20b"]
# one preset per family (the conformance test's choice), with attention forced each way
ARCHS = ["bitmod", "h100-sxm", "tpu-like", "lut-tensor-core", "flightllm-u280", "sail-n1"]
PREC = Precision(weights="int8", activations="int8", kv="int8")
shapes = st.tuples(
    st.sampled_from(MODELS),
    st.sampled_from(["prefill", "decode"]),
    st.integers(1, 4),
    st.integers(1, 300),
    st.integers(0, 2000),
)


def _trace(model, phase, batch, seq, context):
    return trace(load_model(model), phase, batch=batch, seq=seq if phase == "prefill" else 1, context=context)


def _attention(df):
    """Elements moved and MACs of the attention ops (qk, softmax, av or the fused kernel)."""
    ops = OpColumns.from_frame(df)
    att = np.isin(ops.op, ["qk", "softmax", "av", "attn_fused"])
    elems = ops.act_in_elems + ops.act_out_elems + ops.kv_read_elems + ops.kv_write_elems + ops.weight_elems
    return float(elems[att].sum()), float(ops.macs[att].sum())


@settings(max_examples=25, deadline=None)
@given(shape=shapes)
def test_fused_form_moves_no_more_and_computes_the_same(shape):
    tr = _trace(*shape)
    fused = tr.with_attention("fused")
    elems_u, macs_u = _attention(tr.ops)
    elems_f, macs_f = _attention(fused.ops)
    elems_fold, macs_fold = _attention(fold_attention(tr.ops))
    assert elems_f <= elems_u and macs_f == macs_u
    assert elems_f <= elems_fold <= elems_u and macs_fold == macs_u  # folding never beats the exact rebuild


@pytest.mark.parametrize("model", [m for m in MODELS if m != "deepseek-v2-lite"])
def test_fold_equals_rebuild_where_k_and_v_are_separate(model):
    for phase, kw in (("prefill", {"seq": 33, "batch": 2}), ("decode", {"context": 77, "batch": 3})):
        tr = trace(load_model(model), phase, **kw)
        folded = fold_attention(tr.ops)
        folded = folded[folded["op"] == "attn_fused"].drop(columns="name").reset_index(drop=True)
        built = tr.with_attention("fused").ops
        built = built[built["op"] == "attn_fused"].drop(columns="name").reset_index(drop=True)
        assert folded.equals(built)


def test_mla_absorbed_decode_reads_the_latent_once_when_fused():
    """DeepSeek-V2-Lite absorbed decode: K and V are both the cached latent (V a slice of it), so the
    fused kernel reads 576 values per cached token (latent 512 + rope key 64) — not 576 + 512."""
    tr = trace(load_model("deepseek-v2-lite"), "decode", batch=4, context=100)
    fused = tr.with_attention("fused").ops
    row = fused[fused["op"] == "attn_fused"].iloc[0]
    assert row["kv_read_elems"] == 4 * 101 * 576


@settings(max_examples=20, deadline=None)
@given(shape=shapes, arch=st.sampled_from(ARCHS))
def test_fused_never_moves_more_dram_bytes_on_any_family(shape, arch):
    spec = load_arch(arch)
    tr = _trace(*shape)
    backing = f"bytes_{spec.backing.name}"
    fused = evaluate(replace(spec, attention="fused"), tr, PREC)
    unfused = evaluate(replace(spec, attention="unfused"), tr, PREC)
    att_f = fused.ops[backing].sum()  # the other ops are the same in both forms
    att_u = unfused.ops[backing].sum()
    assert att_f <= att_u * (1 + 1e-12)
    assert np.isfinite(fused.totals["seconds"]) and fused.totals["seconds"] > 0


def test_every_family_has_a_sourced_default():
    for name in BUILTIN:
        fam = get_family(name)
        assert fam.attention in ("fused", "unfused") and len(fam.attention_source) > 20


def test_spec_setting_overrides_the_family_default():
    h100, bitmod = load_arch("h100-sxm"), load_arch("bitmod")
    assert attention_form(h100) == "fused" and attention_form(bitmod) == "unfused"
    assert attention_form(replace(h100, attention="unfused")) == "unfused"
    tr = trace(load_model("llama-3-8b"), "prefill", seq=64)
    assert (as_run(replace(bitmod, attention="fused"), tr).ops["op"] == "attn_fused").sum() == 32
    assert as_run(bitmod, tr) is tr


def test_long_prefill_on_a_systolic_array_gains_from_fusing():
    """8192-token prefill (the issue's example): the unfused score matrix goes through DRAM twice per
    layer; fused, K/V stream per buffer-sized tile of Q and the scores stay on chip — fewer DRAM bytes
    and less time on a memory-bound attention."""
    spec = load_arch("tpu-like")
    tr = trace(load_model("llama-3-8b"), "prefill", seq=8192)
    fused = evaluate(replace(spec, attention="fused"), tr).totals
    unfused = evaluate(spec, tr).totals
    assert fused[f"bytes_{spec.backing.name}"] < 0.8 * unfused[f"bytes_{spec.backing.name}"]
    assert fused["seconds"] < unfused["seconds"]


def test_rebuilding_attention_keeps_the_callers_other_rows():
    """Trace.with_attention changes attention rows only: a pristine trace becomes the builder's other form
    exactly; rows a caller left out stay out (simulate --only linear on a GPU) and rows it added stay in,
    once (online Hadamards of a rotating method)."""
    from hwsim.workload.rotation import with_online_hadamard

    tr = trace(load_model("llama-3-8b"), "decode", batch=2, context=50)
    built = trace(load_model("llama-3-8b"), "decode", batch=2, context=50, attention="fused")
    assert tr.with_attention("fused").ops.equals(built.ops)
    assert built.with_attention("unfused").ops.equals(tr.ops)
    linear = replace(tr, ops=tr.ops[tr.ops["kind"] == "linear"].reset_index(drop=True))
    assert linear.with_attention("fused").ops.equals(linear.ops)
    rotated = with_online_hadamard(tr, kv=True)
    fused = rotated.with_attention("fused").ops
    hadamards = rotated.ops["name"].str.contains("hadamard")
    assert hadamards.sum() > 0 and fused["name"].str.contains("hadamard").sum() == hadamards.sum()
    assert (fused["op"] == "attn_fused").sum() == 32
    h100 = load_arch("h100-sxm")
    only_linear = evaluate(h100, linear).ops
    assert len(only_linear) == len(linear.ops) and (only_linear["kind"] == "linear").all()


def test_an_unknown_attention_setting_is_one_line_exit_2(capsys):
    from hwsim.cli import main

    assert (
        main(
            ["simulate", "--arch", "h100-sxm", "--model", "llama-2-7b", "--phase", "decode", "--set", "attention=flash"]
        )
        == 2
    )
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "attention: must be one of fused, unfused, got 'flash'" in err


def test_unfold_puts_a_whole_op_value_on_its_first_part():
    """unfold (an op's spilled bytes onto the compute view the family costs) and fold are inverse: a fused row's
    value goes to its in-place qk part, its appended av part takes none; other rows keep theirs."""
    ops = OpColumns.from_frame(
        as_run(load_arch("tmac-m2-ultra", {"attention": "fused"}), _trace("llama-3-8b", "decode", 2, 1, 64)).ops
    )
    view, fused = compute_view(ops)
    n = len(ops)
    assert fused.size and len(view) == n + fused.size
    per_op = np.stack([np.arange(1.0, n + 1), np.arange(n, 0.0, -1)])  # two design points
    on_view = unfold(per_op, n, fused)
    assert on_view.shape == (2, len(view))
    assert np.array_equal(on_view[:, :n], per_op) and not on_view[:, n:].any()
    assert np.array_equal(fold(on_view, n, fused), per_op)
    assert np.array_equal(unfold(3.0, n, fused), np.r_[np.full(n, 3.0), np.zeros(fused.size)])  # one for every op
    assert unfold(0.0, n, fused) == 0.0 and unfold(per_op, n, fused[:0]) is per_op  # nothing to place: as given
