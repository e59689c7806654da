"""A plain bf16 checkpoint (torch_dtype "bfloat16", or transformers 5's "dtype") is costed at fp16 when no --weights /
--kv is given, the same 16 bits an element; generate and serve used to print it as "fp16 weights, fp16 KV cache".
Their text names the checkpoint's own dtype now (bf16), the figures stay those of fp16, and --json keeps `weights` /
`kv` as the costed formats with the dtype in a field of its own (`dtype`). Source of the dtypes: the presets'
config.json copies (llama-3-8b: meta-llama/Meta-Llama-3-8B, torch_dtype bfloat16; llama-2-7b: float16)."""

import json

import pytest

from hwsim.cli import main
from hwsim.workload import from_hf_dict, load_model
from tiny_configs import TINY_LLAMA

GEN = ["generate", "--arch", "h100-sxm", "--prompt", "128", "--output", "8"]
SRV = ["serve", "--arch", "h100-sxm", "--rate", "4", "--num-requests", "4", "--input-len", "64", "--output-len", "8"]
TINY = TINY_LLAMA


def _run(capsys, argv, json_out=False):
    assert main([*argv, *(["--json"] if json_out else [])]) == 0
    out = capsys.readouterr().out
    return json.loads(out) if json_out else out.splitlines()[0]


def test_generate_and_serve_print_a_bf16_checkpoint_as_bf16(capsys):
    assert "llama-3-8b (bf16 weights, bf16 activations, bf16 KV cache): batch 1" in _run(
        capsys, [*GEN, "--model", "llama-3-8b"]
    )
    assert "llama-2-7b (fp16 weights, fp16 activations, fp16 KV cache): batch 1" in _run(
        capsys, [*GEN, "--model", "llama-2-7b"]
    )
    assert "llama-3-8b (weights bf16, activations bf16, KV cache bf16): 4 requests" in _run(
        capsys, [*SRV, "--model", "llama-3-8b"]
    )
    # what the user gives is printed as given: --weights fp16 is fp16, --kv fp8 is fp8 (activations left to it: bf16)
    line = _run(capsys, [*GEN, "--model", "llama-3-8b", "--weights", "fp16", "--kv", "fp8_e4m3"])
    assert "(fp16 weights, bf16 activations, fp8_e4m3 KV cache)" in line
    line = _run(capsys, [*GEN, "--model", "llama-3-8b", "--activations", "fp16"])
    assert "(bf16 weights, fp16 activations, bf16 KV cache)" in line


def test_json_keeps_the_costed_formats_and_adds_the_dtype(capsys):
    for run in (GEN, SRV, [*GEN, "--devices-needed", "--max-devices", "2"]):
        got = _run(capsys, [*run, "--model", "llama-3-8b"], json_out=True)
        assert (got["weights"], got["activations"], got["kv"], got["dtype"]) == ("fp16", "fp16", "fp16", "bf16")
    assert _run(capsys, [*GEN, "--model", "llama-2-7b"], json_out=True)["dtype"] == "fp16"


def test_only_the_label_changes(capsys):
    """bf16 and fp16 are both 16-bit: a bf16 run's figures are the fp16 run's, bit for bit."""
    own = _run(capsys, [*GEN, "--model", "llama-3-8b"], json_out=True)
    fp16 = _run(capsys, [*GEN, "--model", "llama-3-8b", "--weights", "fp16", "--kv", "fp16"], json_out=True)
    assert own == fp16


@pytest.mark.parametrize(
    ("fields", "dtype"),
    [
        ({"torch_dtype": "bfloat16"}, "bf16"),
        ({"dtype": "bfloat16"}, "bf16"),
        ({}, "fp16"),
        ({"dtype": "float32"}, "fp32"),
    ],
)
def test_the_dtype_is_read_from_torch_dtype_or_dtype(fields, dtype):
    """transformers 5 saves `dtype` where 4.x saved `torch_dtype`; either names the checkpoint's dtype."""
    model = from_hf_dict({**TINY, **fields})
    assert (model.dtype, model.default_weight_format) == (dtype, dtype)


def test_a_preset_carries_its_dtype():
    assert (load_model("llama-3-8b").dtype, load_model("llama-2-7b").dtype) == ("bf16", "fp16")
