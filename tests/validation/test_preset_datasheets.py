"""Preset hardware constants against the datasheet and paper values quoted in REFERENCES.md.

Each preset field that REFERENCES.md quotes (FPGA device resources and HBM, BitMoD PE area/power and
simulator set-up, LUT Tensor Core tile and node, GPU datasheet peaks and bandwidths, Horowitz 45 nm
energies) is read back through the loader (units parsed) and compared with the quoted value. Exact
where the reference gives an exact figure; the loader's unit conversions are the only arithmetic.
A preset edited away from its datasheet fails here, naming the field.
"""

import pytest

from hwsim.arch import load_arch
from hwsim.families.fpga.resources import BRAM36_BYTES, URAM_BYTES
from hwsim.tech.tables import BITMOD_28NM_PE, HOROWITZ_45NM

# --- FPGA (REFERENCES.md "FPGA") ---------------------------------------------------------------------------

U280 = {"device_luts": 1_304_000, "device_dsps": 9_024, "device_bram36": 2_016, "device_uram": 960}
V80 = {"device_luts": 2_574_208, "device_dsps": 10_848, "device_bram36": 7_334, "device_uram": 1_878}


@pytest.mark.parametrize(
    "preset, device, hbm_bytes, hbm_bw",
    [
        ("u280", U280, 8e9, 460e9),
        ("flightllm-u280", U280, 8e9, 460e9),
        ("v80", V80, 32e9, 820e9),
        # the VHK158 carries the XCV80's resources (assumed in its preset) and its own HBM2e line rate
        # (DS960: 819.2 GB/s), so only the resources are the V80's
        ("flightllm-vhk158", V80, 32e9, None),
    ],
)
def test_fpga_device_resources_and_hbm(preset, device, hbm_bytes, hbm_bw):
    a = load_arch(preset)
    for field, value in device.items():
        assert a.compute[field] == value, f"{preset} compute.{field}"
    hbm = a.level("hbm")
    assert hbm.capacity == hbm_bytes
    if hbm_bw is not None:
        assert hbm.bandwidth == pytest.approx(hbm_bw, rel=1e-12)


def test_fpga_block_ram_sizes_are_the_references():
    # REFERENCES.md: BRAM18K holds 2,304 B (a BRAM36 is two), URAM 36,864 B
    assert (BRAM36_BYTES, URAM_BYTES) == (2 * 2_304, 36_864)


@pytest.mark.parametrize("preset", ["u280", "flightllm-u280", "v80", "flightllm-vhk158"])
def test_fpga_on_chip_buffers_fit_the_device_blocks(preset):
    """A buffer level cannot hold more than the device's blocks of its kind (capacities are design choices,
    the block counts and sizes datasheet values)."""
    a = load_arch(preset)
    assert a.level("uram_buffer").capacity <= a.compute["device_uram"] * URAM_BYTES
    assert a.level("bram_buffer").capacity <= a.compute["device_bram36"] * BRAM36_BYTES


# --- BitMoD (REFERENCES.md "Bit-serial PEs") ----------------------------------------------------------------

# preset: (PE key, prefill array rows x cols, dot width); PE area µm² / power mW as REFERENCES.md quotes them
BITMOD_DESIGNS = {
    "bitmod": ("bitmod", (32, 32), 4),
    "bitmod-ant": ("ant", (32, 32), 1),
    "bitmod-olive": ("olive", (36, 32), 1),
    "bitmod-fp16": ("fp16", (32, 24), 1),
}
BITMOD_PE = {"bitmod": (1507.7, 0.56), "fp16": (1968.7, 0.77), "ant": (1318.6, 0.56), "olive": (1318.6, 0.613)}


@pytest.mark.parametrize("preset", sorted(BITMOD_DESIGNS))
def test_bitmod_presets_match_the_paper_and_simulator(preset):
    pe, (rows, cols), dp = BITMOD_DESIGNS[preset]
    a = load_arch(preset)
    c = a.compute
    area_um2, power_mw = BITMOD_PE[pe]
    assert c["pe_area"] == pytest.approx(area_um2 * 1e-12, rel=1e-12)
    assert c["pe_power"] == pytest.approx(power_mw * 1e-3, rel=1e-12)
    assert c["power_factor"] == 1.5  # x 1.5 for place-and-route
    assert (c["rows"], c["cols"], c["dot_width"]) == (rows, cols, dp)
    assert (c["bits_per_cycle"], c["bit_serial"]) == (2, dp == 4)
    assert a.clock_hz == 1e9 and a.tech.node_nm == 28  # 28 nm, 1 GHz
    dram = a.level("dram")
    assert dram.per_cycle and dram.bandwidth == 256 / 8  # 256 bits per cycle
    assert dram.energy == pytest.approx(1200e-12 / 8, rel=1e-12)  # 1200 pJ per 64 bits, per byte
    assert a.level("weight_sram").capacity == a.level("input_sram").capacity == 512 * 1024


def test_bitmod_pe_table_matches_references():
    got = {k: (v["area"].value, v["power"].value) for k, v in BITMOD_28NM_PE.items()}
    assert got == BITMOD_PE


# --- LUT Tensor Core (REFERENCES.md "LUT tensor cores") -----------------------------------------------------


def test_lut_tensor_core_tile_and_node():
    """RTL tile M=2, N=64, K=4 (= g), fp16 tables, 28 nm. The preset's clock is the A100 SM array's
    1.41 GHz (it puts LUT units in place of an A100's tensor cores), not the RTL's 1 GHz: the unit-level
    ratios (hwsim.families.lut.unit_vs_mac) compare both units at the same clock, so they do not depend on it."""
    a = load_arch("lut-tensor-core")
    c = a.compute
    assert (c["tile_m"], c["tile_n"], c["group"]) == (2, 64, 4)
    assert c["table_precision"] == "fp16" and c["symmetric"]
    assert a.tech.node_nm == 28
    assert a.clock_hz == load_arch("a100-sxm").clock_hz == 1.41e9


# --- GPUs (REFERENCES.md "GPUs (datasheets)") ----------------------------------------------------------------


@pytest.mark.parametrize(
    "preset, sms, fma_fp16, clock, bandwidth, fp16_tflops",
    [
        # A100 tensor peak = 108 SMs x 4 TCs x 256 FMA x 2 x 1.41 GHz (REFERENCES.md) = 311.9 ~ 312 TFLOPS
        ("a100-sxm", 108, 256, 1.41e9, 2.039e12, 312),
        ("h100-sxm", 132, 512, 1.83e9, 3.35e12, 989),
    ],
)
def test_gpu_datasheet_fields(preset, sms, fma_fp16, clock, bandwidth, fp16_tflops):
    a = load_arch(preset)
    c = a.compute
    assert (c["sms"], c["tensor_cores_per_sm"], c["tc_fma_fp16"], a.clock_hz) == (sms, 4, fma_fp16, clock)
    assert c["tc_fma_int8"] == 2 * fma_fp16  # INT8 dense = 2x FP16 dense (624 / 1979 TOPS)
    assert a.level("hbm").bandwidth == pytest.approx(bandwidth, rel=1e-12)
    assert sms * 4 * fma_fp16 * 2 * clock / 1e12 == pytest.approx(fp16_tflops, rel=2e-3)


@pytest.mark.parametrize("preset, mib", [("h100-sxm", 81_559), ("h200-sxm", 143_771)])
def test_gpu_memory_is_what_the_driver_reports(preset, mib):
    """Serving stacks size the KV cache from the device total NVML reports (nvidia-smi memory.total: 81,559 MiB on
    an H100 80GB HBM3, 143,771 MiB on an H200), not from the datasheet's rounded "80 GB" / "141 GB" (decimal
    bytes would leave an H100 5.5 GB, 7%, short)."""
    assert load_arch(preset).level("hbm").capacity == mib * 2**20


# --- Technology (REFERENCES.md "Technology and memory energy", Horowitz ISSCC 2014, 45 nm) -------------------

HOROWITZ_PJ = {
    "int_add_8_pj": 0.03,
    "int_add_16_pj": 0.05,
    "int_add_32_pj": 0.1,
    "int_mult_8_pj": 0.2,
    "int_mult_32_pj": 3.1,
    "fp_add_16_pj": 0.4,
    "fp_add_32_pj": 0.9,
    "fp_mult_16_pj": 1.1,
    "fp_mult_32_pj": 3.7,
}


def test_horowitz_energies_match_references():
    assert {k: HOROWITZ_45NM[k].value for k in HOROWITZ_PJ} == HOROWITZ_PJ
    # 8 KB SRAM read ~5-10 pJ per 32 bits; DRAM ~640-1300 pJ per 32-bit access (the table keeps 64-bit figures)
    assert 5 <= HOROWITZ_45NM["sram_8kb_read_64b_pj"].value / 2 <= 10
    assert 640 <= HOROWITZ_45NM["dram_read_64b_pj"].value / 2 <= 1300
