import pytest

from hwsim.engine import Precision, operand_type
from hwsim.errors import HwsimError
from hwsim.engine import evaluate


def test_bits():
    t = operand_type(4.0625)
    assert (t.bits, t.element_bits, t.is_float) == (4.0625, 4, False)
    assert operand_type(16).name == "fp16" and operand_type("16").is_float
    assert operand_type(32).mantissa_bits == 23


def test_format_names():
    t = operand_type("fp16")
    assert t.bits == 16 and t.is_float and t.exponent_bits == 5
    p = Precision(weights="int4_g128").resolve()
    assert p.weights.element_bits == 4 and p.weights.bits > 4 and p.kv.bits == 16


@pytest.mark.parametrize("bad", [0, -3, 100, True, "int4_nonsense_format"])
def test_bad(bad):
    with pytest.raises(HwsimError):
        operand_type(bad, "--weights")


def test_nf4_reaches_the_datapath_dequantized():
    """NF4 codes index non-uniform values (QLoRA table): storage stays 4.25 bits per element, but no integer
    multiplier can take them, so the datapath sees fp16 — a GPU runs the fp16 rate, a LUT/bit-plane datapath
    refuses them with one clear error."""
    from hwsim.arch import load_arch
    from hwsim.engine import gemm_ops

    nf4 = operand_type("nf4_g64")
    assert (nf4.bits, nf4.element_bits, nf4.is_float, nf4.codebook) == (4.25, 16, True, True)
    assert operand_type("int4_g128").codebook is False
    ops = gemm_ops([("g", 4096, 4096, 4096)])
    a100 = load_arch("a100-sxm")
    fp16_w = evaluate(a100, ops, Precision(weights=16, activations="int8")).totals["compute_cycles"]
    assert evaluate(a100, ops, Precision(weights="nf4_g64", activations="int8")).totals["compute_cycles"] == fp16_w
    with pytest.raises(HwsimError, match="non-uniform values"):
        evaluate(load_arch("tmac-m2-ultra"), ops, Precision(weights="nf4_g64"))


@pytest.mark.parametrize(
    "arch, precision, field",
    [
        ("tmac-m2-ultra", Precision(weights="nf4_g64"), "precision.weights"),  # codebook weights on bit-planes
        ("tmac-m2-ultra", Precision(weights="fp8_e4m3"), "precision.weights"),  # float weights on bit-planes
        (
            ("neural-cache", {"compute.float_operands": "error"}),
            Precision(weights="int8", activations="fp16"),
            "precision.activations",
        ),  # integer-only SRAM arrays
        ("bitmod", Precision(weights="int4_nonsense_format"), "precision.weights"),  # unknown format
    ],
)
def test_library_errors_name_the_parameter_not_a_cli_flag(arch, precision, field):
    """The library names Precision's fields; only the CLI turns them into --weights/--activations/--kv."""
    from hwsim.arch import load_arch
    from hwsim.engine import gemm_ops

    with pytest.raises(HwsimError) as info:
        name, overrides = arch if isinstance(arch, tuple) else (arch, {})
        evaluate(load_arch(name, overrides), gemm_ops([("g", 64, 64, 64)]), precision)
    assert info.value.field == field and "--" not in str(info.value)


def test_renamed_maps_a_field_and_adds_its_hint():
    err = HwsimError("cannot run it", file="a.yaml", field="precision.weights")
    cli = err.renamed({"precision.weights": "--weights"}, {"--weights": "; try int8"})
    assert str(cli) == "a.yaml: --weights: cannot run it; try int8" and cli.field == "--weights"
    assert err.renamed({"precision.kv": "--kv"}) is err  # a field the map does not name stays as it is
