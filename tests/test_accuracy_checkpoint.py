"""Streaming safetensors reader: one tensor at a time, shapes, bf16/fp16, sharded folders, errors."""

import json
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import save_file

from hwsim.accuracy import checkpoint as ck
from hwsim.errors import HwsimError

DATA = Path(__file__).parent / "data" / "tiny_llm"
TEXT = DATA / "text.txt"


def _write_bf16(path, name, values, shape):
    """A safetensors file holding one BF16 tensor (numpy cannot write bf16: build it by hand)."""
    words = (np.asarray(values, np.float32).view(np.uint32) >> 16).astype("<u2").tobytes()
    header = json.dumps({name: {"dtype": "BF16", "shape": list(shape), "data_offsets": [0, len(words)]}}).encode()
    path.write_bytes(len(header).to_bytes(8, "little") + header + words)


@pytest.fixture
def ckpt(tmp_path):
    f = tmp_path / "m.safetensors"
    save_file(
        {
            "layers.0.q_proj.weight": np.arange(12, dtype=np.float32).reshape(3, 4),
            "layers.0.k_proj.weight": np.full((2, 4), 0.5, dtype=np.float16),
            "position_ids": np.arange(5, dtype=np.int64),
        },
        str(f),
    )
    return f


def test_list_and_stream_shapes(ckpt):
    infos = {i.name: i for i in ck.list_tensors(ckpt)}
    assert infos["layers.0.q_proj.weight"].shape == (3, 4)
    assert infos["position_ids"].dtype == "I64" and not infos["position_ids"].is_float
    got = dict(ck.iter_tensors(ckpt))
    assert set(got) == {"layers.0.q_proj.weight", "layers.0.k_proj.weight"}  # integers skipped
    np.testing.assert_array_equal(got["layers.0.q_proj.weight"], np.arange(12).reshape(3, 4))
    assert got["layers.0.k_proj.weight"].dtype == np.float32  # fp16 widened
    assert got["layers.0.k_proj.weight"].shape == (2, 4)


def test_stream_is_lazy(ckpt):
    it = ck.iter_tensors(ckpt)
    name, arr = next(it)  # one tensor read, the rest untouched
    assert arr.ndim == 2


def test_name_filters(ckpt):
    assert [n for n, _ in ck.iter_tensors(ckpt, "*.k_proj.*")] == ["layers.0.k_proj.weight"]
    assert [n for n, _ in ck.iter_tensors(ckpt, lambda n: "q_" in n)] == ["layers.0.q_proj.weight"]
    with pytest.raises(HwsimError, match="did you mean layers.0.q_proj.weight"):
        list(ck.iter_tensors(ckpt, "layers.0.q_proj.weigth"))


def test_bf16_read_exactly(tmp_path):
    vals = np.array([1.0, -2.5, 3.0, 0.15625, -(2.0**100), 0.0], np.float32)  # all exact in bf16
    _write_bf16(tmp_path / "b.safetensors", "w", vals, (2, 3))
    ((name, arr),) = ck.iter_tensors(tmp_path / "b.safetensors")
    assert arr.dtype == np.float32 and arr.shape == (2, 3)
    np.testing.assert_array_equal(arr.ravel(), vals)


def test_sharded_folder_with_index(tmp_path):
    save_file({"a": np.ones((2, 2), np.float32)}, str(tmp_path / "model-00001-of-00002.safetensors"))
    save_file({"b": np.zeros(3, np.float32)}, str(tmp_path / "model-00002-of-00002.safetensors"))
    (tmp_path / "model.safetensors.index.json").write_text(
        json.dumps({"weight_map": {"a": "model-00001-of-00002.safetensors", "b": "model-00002-of-00002.safetensors"}})
    )
    assert [(n, a.shape) for n, a in ck.iter_tensors(tmp_path)] == [("a", (2, 2)), ("b", (3,))]


def test_bad_paths(tmp_path):
    with pytest.raises(HwsimError, match="no such file"):
        ck.list_tensors(tmp_path / "missing.safetensors")
    (tmp_path / "junk.safetensors").write_bytes(b"\x05\x00\x00\x00\x00\x00\x00\x00notjs")
    with pytest.raises(HwsimError, match="not a safetensors file"):
        ck.list_tensors(tmp_path / "junk.safetensors")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(HwsimError, match="no \\*.safetensors files"):
        ck.list_tensors(empty)


def _raw(path, header, data=b""):
    body = json.dumps(header).encode()
    path.write_bytes(len(body).to_bytes(8, "little") + body + data)
    return path


DAMAGED = {  # file body → what the one line says (each was a traceback: AttributeError, KeyError, reshape, …)
    "list_header": (lambda p: _raw(p, [1, 2]), "header is not a JSON object"),
    "no_offsets": (lambda p: _raw(p, {"w": {"dtype": "F32", "shape": [2, 2]}}), "needs dtype, shape and data_offsets"),
    "short_span": (
        lambda p: _raw(p, {"w": {"dtype": "F32", "shape": [2, 2], "data_offsets": [0, 4]}}, bytes(4)),
        "does not fit data_offsets",
    ),
    "negative_shape": (
        lambda p: _raw(p, {"w": {"dtype": "F32", "shape": [-2, 2], "data_offsets": [0, 4]}}, bytes(4)),
        "does not fit data_offsets",
    ),
    "truncated_bf16": (
        lambda p: _raw(p, {"w": {"dtype": "BF16", "shape": [64, 64], "data_offsets": [0, 8192]}}, bytes(100)),
        "truncated: tensor 'w' ends at byte",
    ),
}


@pytest.mark.parametrize("kind", DAMAGED)
def test_damaged_files_are_one_line_errors(tmp_path, capsys, kind):
    """A damaged or truncated safetensors file is refused when its header is read (one line, exit 2), in every
    command that reads weights, instead of a traceback when a tensor is read."""
    from hwsim.cli import main

    make, needle = DAMAGED[kind]
    path = make(tmp_path / "x.safetensors")
    with pytest.raises(HwsimError, match=needle):
        list(ck.iter_tensors(path))
    assert main(["formats", "compare", "--formats", "int4", "--tensor", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and needle in err and str(path) in err, err


def test_truncated_f32_checkpoint_in_accuracy_and_allocate(tmp_path, capsys):
    """The same check reaches a checkpoint folder cut short (a download stopped half way)."""
    import shutil

    from hwsim.cli import main

    folder = tmp_path / "llama"
    shutil.copytree(DATA / "llama", folder)
    st = folder / "model.safetensors"
    st.write_bytes(st.read_bytes()[: st.stat().st_size // 2])
    common = ["--formats", "int4_g32", "--budget", "avg_bits=4.5"]
    for argv in (
        ["accuracy", "--model", str(folder), "--text", str(TEXT)],
        ["allocate", "--arch", "bitmod", "--phase", "prefill", "--seq", "32", "--checkpoint", str(folder), *common],
    ):
        assert main(argv) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and "truncated: tensor" in err, err


@pytest.mark.parametrize("bad", ["nan", "int32"])
def test_weights_must_be_finite_floats_everywhere(tmp_path, capsys, bad):
    """A NaN weight made `hwsim accuracy` print perplexity null with exit 0 and `hwsim allocate` either trace
    back (measured) or solve silently (its row sample missed the NaN); an int32 tensor under a weight's name
    was read as weights. One check in the reader refuses both, naming the tensor, in every command."""
    import shutil

    from hwsim.cli import main

    folder = tmp_path / "llama"
    shutil.copytree(DATA / "llama", folder)
    tensors = {i.name: ck.read_tensor(i) for i in ck.list_tensors(folder)}
    name = "model.layers.0.self_attn.q_proj.weight"
    w = tensors[name].copy()
    if bad == "nan":
        w[3, 5] = np.nan
    else:
        w = (w * 100).astype(np.int32)
    tensors[name] = w
    save_file(tensors, str(folder / "model.safetensors"))
    needle = "holds 1 NaN/Inf values" if bad == "nan" else "has dtype I32; weights must be"
    alloc = ["allocate", "--arch", "bitmod", "--phase", "prefill", "--seq", "32", "--checkpoint", str(folder)]
    alloc += ["--formats", "int3_g32,int4_g32", "--budget", "avg_bits=4"]
    for argv in (
        ["accuracy", "--model", str(folder), "--text", str(TEXT), "--weights", "int4_g32", "--json"],
        alloc,
        alloc + ["--text", str(TEXT)],
    ):
        assert main(argv) == 2, argv
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and needle in err and name in err, err
