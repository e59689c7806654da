"""GGUF files as models (issue 15): architecture from the header, per-tensor quantization types as per-op weight
formats, no tensor data read. The files are written here with the gguf package's own writer."""

import json

import numpy as np
import pytest
from gguf import GGML_QUANT_SIZES, GGMLQuantizationType, GGUFWriter

from hwsim.cli import main
from hwsim.workload import load_model, trace

H, FF, LAYERS, VOCAB = 256, 512, 2, 512


def _tensor(w: GGUFWriter, name: str, shape: tuple[int, int], qtype: GGMLQuantizationType) -> None:
    """A tensor of the given ggml type with zero bytes: shape (rows, cols) as ggml stores it (cols contiguous)."""
    block, size = GGML_QUANT_SIZES[qtype]
    rows, cols = shape
    w.add_tensor(name, np.zeros((rows, cols // block * size), dtype=np.uint8), raw_dtype=qtype)  # bytes per row


def _writer(path, arch: str, context: int = 2048, vocab: int = VOCAB) -> GGUFWriter:
    """A GGUFWriter with the tiny model's geometry in its header (H, FF, LAYERS, 4 heads over 2 KV heads, VOCAB)."""
    w = GGUFWriter(str(path), arch)
    w.add_embedding_length(H)
    w.add_feed_forward_length(FF)
    w.add_block_count(LAYERS)
    w.add_context_length(context)
    w.add_head_count(4)
    w.add_head_count_kv(2)
    w.add_vocab_size(vocab)
    return w


def _finish(w: GGUFWriter) -> None:
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def write_gguf(path, *, arch="llama", experts=0, tied=False, types=None, header_vocab=VOCAB):
    types = {
        "attn": GGMLQuantizationType.Q4_K,
        "ffn_down": GGMLQuantizationType.Q6_K,
        "output": GGMLQuantizationType.Q8_0,
        "token_embd": GGMLQuantizationType.Q4_0,
        **(types or {}),
    }
    w = _writer(path, arch, vocab=header_vocab)
    w.add_name("tiny-gguf")
    if experts:
        w.add_expert_count(experts)
        w.add_expert_used_count(2)
    _tensor(w, "token_embd.weight", (VOCAB, H), types["token_embd"])
    if not tied:
        _tensor(w, "output.weight", (VOCAB, H), types["output"])
    for i in range(LAYERS):
        for part, n in (("attn_q", H), ("attn_k", H // 2), ("attn_v", H // 2), ("attn_output", H)):
            _tensor(w, f"blk.{i}.{part}.weight", (n, H), types["attn"])
        _tensor(w, f"blk.{i}.ffn_gate.weight", (FF, H), types["attn"])
        _tensor(w, f"blk.{i}.ffn_up.weight", (FF, H), types["attn"])
        _tensor(w, f"blk.{i}.ffn_down.weight", (H, FF), types["ffn_down"])
        w.add_tensor(f"blk.{i}.attn_norm.weight", np.ones(H, dtype=np.float32))
    _finish(w)
    return path


def test_architecture_and_per_op_formats(tmp_path):
    m = load_model(write_gguf(tmp_path / "tiny.gguf"))
    assert (m.model_type, m.hidden, m.intermediate, m.layers, m.heads, m.kv_heads, m.vocab) == (
        "llama",
        H,
        FF,
        LAYERS,
        4,
        2,
        VOCAB,
    )
    assert m.name == "tiny-gguf" and m.default_weight_format == "q4_k" and not m.tie_embeddings
    tr = trace(m, "decode")
    fmts = dict(zip(tr.ops["name"], m.op_weight_formats(tr.ops["name"])))
    assert fmts["layers.0.q_proj"] == "q4_k" and fmts["layers.1.mlp.down_proj"] == "q6_k"
    assert fmts["lm_head"] == "q8_0" and fmts["embed_tokens"] == "q4_0"


def test_moe_and_tied_embeddings(tmp_path):
    m = load_model(write_gguf(tmp_path / "moe.gguf", experts=4, tied=True))
    assert m.model_type == "mixtral" and m.num_experts == 4 and m.experts_per_token == 2 and m.tie_embeddings
    assert m.weight_formats.format_of("lm_head") == "q4_0"  # a tied head reads token_embd


def test_header_only_no_tensor_data_read(tmp_path, monkeypatch):
    """Reading never asks the reader for tensor data (a 40 GB file must open instantly)."""
    import gguf

    path = write_gguf(tmp_path / "tiny.gguf")
    monkeypatch.setattr(gguf.GGUFReader, "get_tensor", lambda *a, **k: pytest.fail("tensor data read"))
    load_model(path)


def test_simulate_costs_each_op_at_its_type(tmp_path, capsys):
    path = write_gguf(
        tmp_path / "tiny.gguf", types={"attn": GGMLQuantizationType.Q8_0, "ffn_down": GGMLQuantizationType.Q8_0}
    )
    assert main(["simulate", "--arch", "tpu-like", "--model", str(path), "--phase", "decode", "--json"]) == 0
    own = json.loads(capsys.readouterr().out)["totals"]["energy_j"]
    assert (
        main(
            ["simulate", "--arch", "tpu-like", "--model", str(path), "--phase", "decode", "--weights", "fp16", "--json"]
        )
        == 0
    )
    fp16 = json.loads(capsys.readouterr().out)["totals"]["energy_j"]
    assert own < fp16  # q8_0 weights move about half the bytes of fp16


def test_type_hwsim_has_no_format_for_is_one_line(tmp_path, capsys):
    path = write_gguf(
        tmp_path / "iq2.gguf", types={"attn": GGMLQuantizationType.IQ2_XXS, "ffn_down": GGMLQuantizationType.Q2_K}
    )
    assert main(["simulate", "--arch", "bitmod", "--model", str(path), "--phase", "decode"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "IQ2_XXS" in err and "supported: F32" in err and "IQ4_XS" in err


def test_ternary_gguf_types_cost_at_their_packed_bytes(tmp_path, capsys):
    """TQ1_0 (1.6875 bits: five ternary codes a byte) and TQ2_0 (2.0625 bits) tensors price their file bytes."""
    path = write_gguf(
        tmp_path / "tq.gguf",
        arch="bitnet",
        types={"attn": GGMLQuantizationType.TQ1_0, "ffn_down": GGMLQuantizationType.TQ2_0},
    )
    assert _priced_bytes_are_the_files(path) == 1 + 7 * LAYERS
    assert main(["simulate", "--arch", "tpu-like", "--model", str(path), "--phase", "decode", "--json"]) == 0
    ops = {r["name"]: r["weights"] for r in json.loads(capsys.readouterr().out)["ops"]}
    assert (ops["layers.0.q_proj"], ops["layers.0.mlp.down_proj"]) == ("tq1_0", "tq2_0")


def test_gpt_oss_gguf_runs_its_experts_at_mxfp4(tmp_path, capsys):
    """A gpt-oss GGUF (architecture 'gpt-oss', MXFP4 expert tensors blk.N.ffn_*_exps of shape experts × rows ×
    cols) reads as gpt_oss with its experts at hwsim's mxfp4 and the rest at the file's other type."""
    w = _writer(tmp_path / "oss.gguf", "gpt-oss", context=4096)
    w.add_key_length(64)
    w.add_expert_count(4)
    w.add_expert_used_count(2)
    w.add_sliding_window(128)
    _tensor(w, "token_embd.weight", (VOCAB, H), GGMLQuantizationType.Q8_0)
    _tensor(w, "output.weight", (VOCAB, H), GGMLQuantizationType.Q8_0)
    block, size = GGML_QUANT_SIZES[GGMLQuantizationType.MXFP4]
    for i in range(LAYERS):
        for part, n in (("attn_q", H), ("attn_k", H // 2), ("attn_v", H // 2), ("attn_output", H)):
            _tensor(w, f"blk.{i}.{part}.weight", (n, H), GGMLQuantizationType.Q8_0)
        for part, (rows, cols) in (("ffn_gate_exps", (FF, H)), ("ffn_up_exps", (FF, H)), ("ffn_down_exps", (H, FF))):
            raw = np.zeros((4, rows, cols // block * size), dtype=np.uint8)
            w.add_tensor(f"blk.{i}.{part}.weight", raw, raw_dtype=GGMLQuantizationType.MXFP4)
    _finish(w)
    m = load_model(tmp_path / "oss.gguf")
    assert (m.model_type, m.num_experts, m.default_weight_format) == ("gpt_oss", 4, "q8_0")
    tr = trace(m, "decode")
    fmts = dict(zip(tr.ops["name"], m.op_weight_formats(tr.ops["name"])))
    assert fmts["layers.1.experts.down_proj"] == fmts["layers.0.experts.gate_proj"] == "mxfp4"
    assert fmts["layers.0.q_proj"] == "q8_0"
    assert main(["simulate", "--arch", "tpu-like", "--model", str(tmp_path / "oss.gguf"), "--phase", "decode"]) == 0


def test_supported_types_are_the_formats_ggml_types():
    from hwsim.formats import ggml
    from hwsim.workload import gguf_model

    assert gguf_model.GGML_TYPES == tuple(ggml.TYPES)


# one tensor type per projection: every type a llama.cpp K-quant mix, an IQ4 file or a gpt-oss file carries
MIXED = {
    "attn_q": GGMLQuantizationType.Q4_1,
    "attn_k": GGMLQuantizationType.Q5_0,
    "attn_v": GGMLQuantizationType.Q5_1,
    "attn_output": GGMLQuantizationType.IQ4_NL,
    "ffn_gate": GGMLQuantizationType.Q2_K,
    "ffn_up": GGMLQuantizationType.Q3_K,
    "ffn_down": GGMLQuantizationType.IQ4_XS,
}


def write_mixed_gguf(path):
    w = _writer(path, "llama")
    _tensor(w, "token_embd.weight", (VOCAB, H), GGMLQuantizationType.Q4_K)
    _tensor(w, "output.weight", (VOCAB, H), GGMLQuantizationType.MXFP4)
    rows = {"attn_q": H, "attn_k": H // 2, "attn_v": H // 2, "attn_output": H, "ffn_gate": FF, "ffn_up": FF}
    for i in range(LAYERS):
        for part, qtype in MIXED.items():
            shape = (H, FF) if part == "ffn_down" else (rows[part], H)
            _tensor(w, f"blk.{i}.{part}.weight", shape, qtype)
    _finish(w)
    return path


def _priced_bytes_are_the_files(path) -> int:
    """Each weight tensor's elements × its op format's storage bits / 8 (what hardware prices) equals the tensor's
    bytes in the file; returns how many tensors were checked."""
    from gguf import GGUFReader

    from hwsim.core.precision import operand_type
    from hwsim.workload.gguf_model import hf_module

    m = load_model(path)
    tr = trace(m, "decode")
    fmts = dict(zip(tr.ops["name"], m.op_weight_formats(tr.ops["name"])))
    elems = dict(zip(tr.ops["name"], tr.ops["weight_elems"]))
    checked = 0
    for t in GGUFReader(str(path)).tensors:
        module = hf_module(t.name)
        if module is None or module == "model.embed_tokens":  # a decode step reads one row of the table
            continue
        op = module.removeprefix("model.").replace("self_attn.", "")  # the trace's op name
        assert fmts[op] == t.tensor_type.name.lower()
        assert elems[op] * operand_type(fmts[op]).bits / 8 == t.n_bytes
        checked += 1
    return checked


def test_mixed_types_cost_end_to_end_at_the_files_bytes(tmp_path, capsys):
    """Each op is costed at its own tensor type, and the bytes hardware prices for each weight (elements × the
    format's storage bits) are the file's tensor bytes; the datapath runs on element bits (fp16 for IQ4 codebook
    lookups, the code bits for integer types)."""
    from hwsim.core.precision import operand_type

    path = write_mixed_gguf(tmp_path / "mixed.gguf")
    m = load_model(path)
    tr = trace(m, "decode")
    fmts = dict(zip(tr.ops["name"], m.op_weight_formats(tr.ops["name"])))
    checked = _priced_bytes_are_the_files(path)
    assert checked == 1 + LAYERS * len(MIXED)
    assert operand_type(fmts["layers.0.mlp.down_proj"]).element_bits == 16  # iq4_xs: looked up, fp16
    assert operand_type(fmts["layers.0.mlp.gate_proj"]).element_bits == 2  # q2_k: 2-bit codes
    assert main(["simulate", "--arch", "tpu-like", "--model", str(path), "--phase", "decode", "--json"]) == 0
    ops = json.loads(capsys.readouterr().out)["ops"]
    assert {r["name"]: r["weights"] for r in ops}["layers.1.v_proj"] == "q5_1"
    assert {r["name"]: r["weights"] for r in ops}["lm_head"] == "mxfp4"


def test_not_a_gguf_file(tmp_path, capsys):
    bad = tmp_path / "x.gguf"
    bad.write_bytes(b"not a gguf file at all")
    assert main(["trace", "--model", str(bad), "--phase", "decode"]) == 2
    assert "not a readable GGUF file" in capsys.readouterr().err


def test_roofline_and_allocate_take_each_tensor_type(tmp_path, capsys):
    """The same per-op formats reach roofline (per-op rows) and allocate (the ops outside the units)."""
    from hwsim.allocate import build_problem, resolve_trace

    path = write_gguf(
        tmp_path / "tiny.gguf", types={"attn": GGMLQuantizationType.Q8_0, "ffn_down": GGMLQuantizationType.Q8_0}
    )
    assert main(["roofline", "--arch", "tpu-like", "--model", str(path), "--phase", "decode", "--json"]) == 0
    ops = json.loads(capsys.readouterr().out)["ops"]
    assert {r["name"]: r["weights"] for r in ops}["layers.0.q_proj"] == "q8_0"
    assert {r["name"]: r["weights"] for r in ops}["lm_head"] == "q8_0"
    tr = resolve_trace(str(path), "decode")
    own = build_problem("tpu-like", tr, "int4_g128,int8", proxy="uniform")
    fp16 = build_problem("tpu-like", tr, "int4_g128,int8", proxy="uniform", fixed_weights="fp16")
    assert own.fixed["memory_bytes"] < fp16.fixed["memory_bytes"]  # q8_0 head, q4_0 embeddings: not fp16


@pytest.mark.parametrize("command", ["simulate", "roofline", "allocate"])
@pytest.mark.parametrize("arch", ["tmac-rpi5", "neural-cache"])  # the lut and pim families: integer bit-planes only
def test_a_codebook_checkpoint_the_family_refuses_names_its_tensors_not_a_flag(tmp_path, capsys, command, arch):
    """Issue 12: library errors name library parameters, the CLI maps them to options. An IQ4_NL file (codes
    index llama.cpp's kvalues_iq4nl table, ggml-common.h) on a family that splits integer weights into 1-bit
    planes (T-MAC, EuroSys 2025; Neural Cache, ISCA 2018) is refused naming the checkpoint's format and the ops
    that store it: the user gave no --weights, so the line must not name that option."""
    path = write_gguf(tmp_path / "iq4nl.gguf", types={"attn": GGMLQuantizationType.IQ4_NL})
    argv = [command, "--arch", arch, "--model", str(path), "--phase", "decode"]
    assert main(argv + (["--formats", "int4_g128,int8"] if command == "allocate" else [])) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--weights" not in err and "--fixed-weights" not in err
    assert "the checkpoint's iq4_nl weights (layers.0.q_proj, " in err and "'iq4_nl' codes index a table" in err
    # the same refusal of a format the user gave names the option that gave it
    flag = "--fixed-weights" if command == "allocate" else "--weights"
    extra = ["--formats", "int4_g128,int8"] if command == "allocate" else []
    assert main([*argv, *extra, flag, "iq4_nl"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"{flag}: " in err


def test_a_header_string_that_is_not_utf8_is_one_line(tmp_path, capsys):
    """A damaged header (the 2026-12-06 audit flipped bytes of this file): gguf decodes strings as UTF-8 on access,
    and the UnicodeDecodeError was a traceback."""
    path = write_gguf(tmp_path / "tiny.gguf")
    path.write_bytes(path.read_bytes().replace(b"tiny-gguf", b"tiny\xd8gguf"))
    assert main(["trace", "--model", str(path), "--phase", "decode"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "general.name: not a readable GGUF file: a header string is not UTF-8" in err


def test_a_header_vocab_size_the_embedding_disagrees_with_is_one_line(tmp_path, capsys):
    """llama.cpp's loader refuses such a file (check_tensor_dims: "tensor 'token_embd.weight' has wrong shape");
    hwsim read the header's count and priced the embedding and head at it, silently."""
    path = write_gguf(tmp_path / "tiny.gguf", header_vocab=VOCAB + 64)
    assert main(["trace", "--model", str(path), "--phase", "decode"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    assert f"llama.vocab_size: {VOCAB + 64} tokens, but token_embd.weight has {VOCAB} rows" in err
