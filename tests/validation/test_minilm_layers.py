"""Per-layer formats on MiniLM (the API the mixed-precision allocator uses) and activation quantization.

Checks that per-layer results compose the way the allocator assumes:
- a dict giving every layer the same format equals the single-format call, bit for bit;
- quantizing a subset of layers costs less than quantizing all of them (the error is additive-ish);
- the layer-wise output error ‖X(W−Ŵ)ᵀ‖²/‖XWᵀ‖² on the captured calibration activations ranks formats
  the same way as the end-to-end cosine (HAWQ-V3 / CalibTIP use such per-layer proxies,
  REFERENCES.md "Mixed-precision allocation").
"""

import numpy as np
import pytest

from hwsim.accuracy import minilm
from hwsim.accuracy.metrics import linear_output_error
from hwsim.formats import get_format

pytestmark = [
    pytest.mark.skipif(not minilm.available(), reason=f"MiniLM package absent: {minilm.INSTALL_HINT}"),
    pytest.mark.slow,
]


def test_dict_of_same_format_equals_single_format():
    f = get_format("int4_g128")
    one = minilm.embed(minilm.SENTENCES[:4], f)
    per = minilm.embed(minilm.SENTENCES[:4], {n: f for n in minilm.LINEAR_NAMES})
    assert one.tobytes() == per.tobytes()


def test_partial_quantization_costs_less_than_full():
    f = get_format("int3_g128")
    attn_only = {n: f for n in minilm.LINEAR_NAMES if n.split(".")[-1] in ("q_proj", "k_proj", "v_proj", "o_proj")}
    c_all, c_part = minilm.cosine_vs_fp32(f), minilm.cosine_vs_fp32(attn_only)
    assert c_all < c_part < 1.0


def test_layer_proxy_ranks_formats_like_end_to_end():
    layers = minilm.linear_layers(max_tokens=128)
    names = ["int8_pc", "int4_g128", "int3_g128"]
    proxy = [
        np.mean(
            [
                linear_output_error(lyr.activations, lyr.weight, get_format(n).quantize(lyr.weight, axis=-1))
                for lyr in layers
            ]
        )
        for n in names
    ]
    assert proxy[0] < proxy[1] < proxy[2]
    assert proxy[0] < 1e-4 and proxy[2] > 1e-2


def test_activation_quantization_adds_error():
    # BERT activations carry outlier channels: per-tensor int8 activations lose more than per-token
    w = "int8_pc"
    c_w = minilm.cosine_vs_fp32(w)
    c_tok = minilm.cosine_vs_fp32(w, "int8_pc")  # one scale per token (axis -1 = channels)
    c_ten = minilm.cosine_vs_fp32(w, "int8")
    assert c_ten < c_tok < c_w
    assert c_tok > 0.99
