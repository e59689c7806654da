"""The numpy decoder forward pass (hwsim.accuracy.llm) against transformers, and its invariants.

Reference: tests/data/tiny_llm/<type>/reference.npz, written by tests/tools/tiny_llm.py with
transformers 5.25 + PyTorch 2.13 (eager attention, float32) from the same BF16 checkpoint files:
Llama with tied embeddings and Llama-3 RoPE scaling, Qwen2 (q/k/v biases), Qwen3 (q/k norms).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from hwsim.accuracy import llm
from hwsim.accuracy.metrics import linear_output_error, log_softmax
from hwsim.accuracy.methods import prepare_linear
from hwsim.cli import main
from hwsim.formats import get_format

DATA = Path(__file__).parent / "data" / "tiny_llm"
TYPES = ("llama", "qwen2", "qwen3")
TEXT, CALIB = DATA / "text.txt", DATA / "calibration.txt"


def _ref(t):
    return np.load(DATA / t / "reference.npz")


@pytest.mark.parametrize("t", TYPES)
def test_fp_logits_match_transformers(t):
    ref = _ref(t)
    got = llm.logits(DATA / t, ref["ids"][:2])
    np.testing.assert_allclose(got, ref["logits"], atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("t", TYPES)
def test_tokenizer_and_windows_match_reference_ids(t):
    ck = llm.Checkpoint(DATA / t)
    ids = llm.encode(ck, TEXT.read_text())
    ref = _ref(t)["ids"]
    np.testing.assert_array_equal(llm.windows(ids, ref.shape[1], None), ref)


def test_baseline_perplexity_is_the_references():
    """Perplexity from transformers' logits (computed here with numpy) = hwsim's baseline; an empty
    quantization leaves the model unchanged: KL 0, perplexity = baseline."""
    ref = _ref("qwen2")
    lp = log_softmax(ref["logits"][:, :-1])
    nll = -np.take_along_axis(lp, ref["ids"][:2, 1:, None], -1).mean()
    out = llm.evaluate_ids(DATA / "qwen2", ref["ids"][:2])
    assert out["baseline_perplexity"] == pytest.approx(np.exp(nll), rel=1e-5)
    assert out["perplexity"] == out["baseline_perplexity"] and out["kl"] == 0.0
    assert out["tokens"] == 2 * (ref["ids"].shape[1] - 1)


@pytest.mark.parametrize("t", TYPES)
def test_rotated_unquantized_model_gives_the_same_logits(t):
    """QuaRot's premise: norms folded, the residual stream rotated (embeddings·Q, Qᵀ·W_o, Qᵀ·W_down,
    lm_head·Q) and online rotations before o_proj/down_proj leave the fp model exact: within 1e-5 of the
    largest logit (measured 8.5e-7 in float32)."""
    ids = _ref(t)["ids"]
    base = llm.logits(DATA / t, ids)
    rot = llm.logits(DATA / t, ids, llm.Quant(method="rotate", seed=3))
    assert np.abs(rot - base).max() <= 1e-5 * np.abs(base).max()


def test_kl_grows_as_formats_get_coarser():
    ids = _ref("qwen3")["ids"]
    kls = [
        llm.evaluate_ids(DATA / "qwen3", ids, llm.Quant(weights=f))["kl"] for f in ("int8_pc", "int4_g32", "int2_g32")
    ]
    assert 0.0 < kls[0] < kls[1] < kls[2]


def test_activation_and_kv_quantization_change_the_output():
    ids = _ref("llama")["ids"]
    a = llm.evaluate_ids(DATA / "llama", ids, llm.Quant(activations="int4_pc"))["kl"]
    kv = llm.evaluate_ids(DATA / "llama", ids, llm.Quant(kv="int3_pc"))["kl"]
    kv8 = llm.evaluate_ids(DATA / "llama", ids, llm.Quant(kv="int8_pc"))["kl"]
    assert a > 0.0 and kv > kv8 > 0.0


def test_gptq_layer_output_error_not_above_rtn():
    """GPTQ minimises ‖X(W − Ŵ)ᵀ‖² on its calibration inputs: never worse than RTN on the same grid
    (Frantar et al. 2023), measured on a layer's real inputs."""
    ck = llm.Checkpoint(DATA / "qwen3")
    cal = llm.windows(llm.encode(ck, CALIB.read_text()), 16, None)
    inputs = llm.linear_inputs(ck, cal)
    w = ck.layer(1)["down_proj"]
    x = inputs["layers.1.down_proj"]
    fmt = get_format("int3_g32")
    rtn = linear_output_error(x, w, prepare_linear(w, fmt, "rtn").effective_weight())
    gptq = linear_output_error(x, w, prepare_linear(w, fmt, "gptq", x).effective_weight())
    assert gptq <= rtn


def test_methods_run_end_to_end_and_are_deterministic():
    q = lambda: llm.Quant(weights="int4_g32", activations="int8_pc", kv="int4_pc", method="rotate+gptq")  # noqa: E731
    a = llm.evaluate(DATA / "qwen2", TEXT, q(), calibration=CALIB)
    b = llm.evaluate(DATA / "qwen2", TEXT, q(), calibration=CALIB)
    assert a == b and a["calibration"] == str(CALIB) and a["kl"] > 0


def test_cli_json(capsys):
    assert (
        main(
            [
                "accuracy",
                "--model",
                str(DATA / "llama"),
                "--text",
                str(TEXT),
                "--weights",
                "int4_g32",
                "--method",
                "awq",
                "--calibration",
                str(CALIB),
                "--json",
            ]
        )
        == 0
    )
    out = json.loads(capsys.readouterr().out)
    assert {"perplexity", "kl", "tokens", "baseline_perplexity"} <= set(out)
    assert out["method"] == "awq" and out["tokens"] > 0 and out["perplexity"] > 1


def _copy(tmp_path, t="llama"):
    dst = tmp_path / t
    shutil.copytree(DATA / t, dst)
    return dst


def _fails(capsys, argv, needle):
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and needle in err, err


def test_bad_inputs_one_line(tmp_path, capsys):
    base = ["accuracy", "--text", str(TEXT)]
    no_tok = _copy(tmp_path)
    (no_tok / "tokenizer.json").unlink()
    _fails(capsys, base + ["--model", str(no_tok)], "tokenizer.json")
    gemma = _copy(tmp_path, "qwen3")
    cfg = json.loads((gemma / "config.json").read_text())
    (gemma / "config.json").write_text(json.dumps({**cfg, "model_type": "gemma"}))
    _fails(capsys, base + ["--model", str(gemma)], "model_type 'gemma' is not supported")
    short = tmp_path / "short.txt"
    short.write_text("the cat")
    _fails(capsys, ["accuracy", "--text", str(short), "--model", str(DATA / "llama")], "fewer than one window")
    _fails(
        capsys, base + ["--model", str(DATA / "llama"), "--weights", "ternary", "--method", "gptq"], "does not apply"
    )
    _fails(capsys, base + ["--model", str(DATA / "llama"), "--window", "65"], "max_position_embeddings")


CONFIG_AUDIT = [  # config.json change → what the one line says (each ran: a traceback, or a NaN/garbage result)
    ({"num_attention_heads": 3}, "num_key_value_heads: must divide num_attention_heads"),  # reshape traceback
    ({"head_dim": 16}, "config.json implies [64, 32]"),  # reshape traceback
    ({"num_key_value_heads": 0}, "num_key_value_heads: must be a positive integer"),  # read as MHA: traceback
    ({"hidden_size": 48}, "'model.embed_tokens.weight' is [64, 32]; config.json implies [64, 48]"),  # ignored
    ({"vocab_size": 128}, "config.json implies [128, 32]"),  # ignored
    ({"num_hidden_layers": 0}, "num_hidden_layers: must be a positive integer"),  # ppl of the embeddings alone
    ({"rms_norm_eps": -1}, "rms_norm_eps: must be a finite number ≥ 0"),  # perplexity null, exit 0
    ({"rope_parameters": {"rope_type": "default", "rope_theta": 0}}, "rope_theta: must be a finite number > 0"),
    ({"max_position_embeddings": 0}, "max_position_embeddings: must be a positive integer"),  # 'window of 0'
    ({"bos_token_id": 99}, "bos_token_id: must be in [0, 64)"),  # was 'tokens: token ids must be in …'
]


@pytest.mark.parametrize("change,needle", CONFIG_AUDIT)
def test_config_that_disagrees_with_the_checkpoint_is_one_line(tmp_path, capsys, change, needle):
    folder = _copy(tmp_path)
    cfg = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**cfg, **change}))
    _fails(capsys, ["accuracy", "--text", str(TEXT), "--model", str(folder), "--weights", "int4_g32"], needle)


def test_a_config_that_is_not_an_object_and_a_misshapen_weight(tmp_path, capsys):
    folder = _copy(tmp_path)
    (folder / "config.json").write_text("[1, 2]")
    _fails(capsys, ["accuracy", "--text", str(TEXT), "--model", str(folder)], "must be a JSON object")
    from safetensors.numpy import save_file

    from hwsim.accuracy.checkpoint import iter_tensors

    folder = _copy(tmp_path, "qwen3")
    tensors = dict(iter_tensors(folder))
    tensors["model.layers.1.mlp.down_proj.weight"] = tensors["model.layers.1.mlp.down_proj.weight"][:, :16].copy()
    save_file(tensors, str(folder / "model.safetensors"))
    needle = "'model.layers.1.mlp.down_proj.weight' is [32, 16]; config.json implies [32, 64]"
    _fails(capsys, ["accuracy", "--text", str(TEXT), "--model", str(folder)], needle)  # was a matmul traceback
    argv = ["allocate", "--arch", "bitmod", "--phase", "prefill", "--seq", "32", "--checkpoint", str(folder)]
    _fails(capsys, argv + ["--formats", "int4_g32", "--budget", "avg_bits=5", "--text", str(TEXT)], needle)


@pytest.mark.parametrize(
    "tensor, factor, needle",
    [
        # embeddings of 1e37: RMSNorm's mean square overflowed to inf, x/inf = 0, and the model printed perplexity
        # 64.0000 = its vocabulary size (uniform logits), fp and quantized alike, exit 0
        ("model.embed_tokens.weight", 1e37, "float32 overflow in the forward pass"),
        # a final norm gain of 1e5 (logits ~1e5): math.exp of the mean loss raised OverflowError, a traceback
        ("model.norm.weight", 1e5, "no finite perplexity"),
    ],
)
def test_overflow_is_one_line_not_a_number(tmp_path, capsys, tensor, factor, needle):
    from safetensors.numpy import save_file

    from hwsim.accuracy.checkpoint import iter_tensors

    folder = _copy(tmp_path)
    tensors = dict(iter_tensors(folder))
    tensors[tensor] = tensors[tensor] * np.float32(factor)
    save_file(tensors, str(folder / "model.safetensors"))
    _fails(capsys, ["accuracy", "--text", str(TEXT), "--model", str(folder)], needle)


def test_short_windows_name_what_is_short(tmp_path, capsys):
    """--max-tokens 10 said 'the text has 10 tokens' (it has 180); an empty calibration file said 'fewer than one
    window of 0'. In accuracy and allocate (one shared helper each)."""
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    acc = ["accuracy", "--model", str(DATA / "llama"), "--text", str(TEXT)]
    alloc = ["allocate", "--arch", "bitmod", "--phase", "prefill", "--seq", "32", "--checkpoint", str(DATA / "llama")]
    alloc += ["--formats", "int4_g32", "--budget", "avg_bits=5", "--text", str(TEXT)]
    for base in (acc, alloc):
        _fails(
            capsys,
            base + ["--max-tokens", "10"],
            "--max-tokens: the text's first 10 tokens are fewer than one window of 64 (the text has more",
        )
        _fails(capsys, base + ["--calibration", str(empty), "--method", "gptq"], "calibration has no tokens")


def test_an_infinite_error_is_minus_infinite_db_without_a_warning():
    import warnings

    from hwsim.accuracy.metrics import metrics_from_sums

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # numpy's 'divide by zero in log10' added two lines to stderr
        out = metrics_from_sums({"n": 4.0, "sse": float("inf"), "signal": 4.0, "max_abs_err": float("inf")})
    assert out["sqnr_db"] == float("-inf")


def test_what_the_rotation_seed_changes_is_as_documented():
    """docs/accuracy.md 'What the seed changes': the seeded signs flip rotated coordinates, which a sign-symmetric
    quantizer ignores (same numbers for every seed); an asymmetric grid (NF4) sees them. If the signs move in
    front of H (QuaRot's order), this fails: regenerate the rotated numbers of the docs and drop that paragraph."""
    q = lambda w, s: llm.Quant(w, "int4_pc", "int4_pc", "rotate", s)  # noqa: E731
    sym = [llm.evaluate(DATA / "qwen2", TEXT, q("int4_g32", s)) for s in (0, 1)]
    assert sym[0] == sym[1]
    nf4 = [llm.evaluate(DATA / "qwen2", TEXT, llm.Quant("nf4_g32", None, None, "rotate", s)) for s in (0, 1)]
    assert nf4[0]["kl"] != nf4[1]["kl"]


def test_the_first_tokens_of_a_long_text_come_from_a_prefix(monkeypatch, tmp_path):
    """The evaluation reads the text's first --max-tokens tokens (calibration: 512) but tokenized the whole file:
    126 tokens of a 20 MB text took 30 s and 4 GB (2-core sandbox), now 0.2 s and 71 MB. The ids are those of
    the whole text's tokenization, also where a cut lands inside a long word or a run of spaces."""
    base = TEXT.read_text()
    texts = [base * 300, "the" * 20000, (" " * 3000 + base) * 20, ("日本語 héllo\n\n" + base) * 200]
    for t in ("llama", "qwen3"):
        ckpt = llm.Checkpoint(DATA / t)
        for text in texts:
            full = llm.encode(ckpt, text)
            for limit in (1, 63, 513, 2000):
                assert np.array_equal(llm.encode(ckpt, text, limit), full[:limit]), (t, text[:20], limit)
    seen = []
    real = llm.Checkpoint.tokenizer

    def recording(self):
        tok = real(self)

        class Recorder:
            def encode(self, s, **kw):
                seen.append(len(s))
                return tok.encode(s, **kw)

        return Recorder()

    monkeypatch.setattr(llm.Checkpoint, "tokenizer", recording)
    big = base * 20000  # 5.3 M characters
    (tmp_path / "big.txt").write_text(big)
    out = llm.evaluate(DATA / "llama", tmp_path / "big.txt", llm.Quant("int4_g32", method="gptq"), max_tokens=126)
    assert out["tokens"] == 63 and max(seen) < len(big) / 50, seen
