"""Gemma-4's KV-sharing layers (Attention.kv_reuse: the last num_kv_shared_layers read the cache of the last earlier
layer of their kind and cache nothing) under pipeline parallelism: a stage whose sharing layers read a cache held on
another stage is refused in one line (hwsim.serve.shard.check_kv_sharing), as a cache read across devices is not
modelled. Gemma-4-E2B (tests/data/hf_configs/gemma-4-e2b-it.json: 35 layers, 15-34 sharing, reading layer 13's
sliding cache and layer 14's full one): pp 2 cuts at layer 18, so layers 18-34 on stage 2 read stage 1's caches.
Before, it ran with stage 2 holding no K/V at all (235,066 blocks, generate 1024/128 TTFT 15.32 ms)."""

import pytest

from hwsim.cli import main
from hwsim.errors import HwsimError
from hwsim.serve.shard import Parallel, check_kv_sharing, shard_model
from hwsim.serve.sizing import candidates
from hwsim.workload import load_model

E2B = "tests/data/hf_configs/gemma-4-e2b-it.json"
pytestmark = pytest.mark.filterwarnings("ignore::hwsim.errors.HwsimWarning", "ignore::UserWarning")


def test_sharing_across_stages_is_refused():
    m = load_model(E2B)
    assert [i for i, x in enumerate(m.blocks) if x.mixer.kv_reuse] == list(range(15, 35))
    with pytest.raises(HwsimError, match="layer 18 of .* on pipeline stage 2 and layer 13, whose KV cache") as exc:
        shard_model(m, Parallel(pp=2))
    assert exc.value.field == "pp"
    for pp in (3, 4, 35):  # every split puts layer 34 past layer 14's stage
        with pytest.raises(HwsimError, match="not modelled"):
            check_kv_sharing(m, pp)
    assert shard_model(m, Parallel(tp=2)).layers == 35  # tp keeps every layer on every device
    assert {(p.tp, p.pp) for p in candidates(m, 4)} == {(1, 1), (2, 1), (4, 1)}
    check_kv_sharing(load_model("tests/data/hf_configs/gemma-4-31b-it.json"), 4)  # no sharing layer: any split


@pytest.mark.parametrize("cmd", ["serve", "generate"])
def test_cli_refuses_in_one_line(cmd, capsys):
    args = [cmd, "--arch", "h100-sxm", "--model", E2B, "--pp", "2"]
    args += ["--num-requests", "2", "--rate", "1"] if cmd == "serve" else ["--prompt", "64", "--output", "4"]
    assert main(args) == 2
    err = [line for line in capsys.readouterr().err.splitlines() if "error:" in line]
    assert len(err) == 1 and "--pp: --pp 2 puts layer 18" in err[0] and "use fewer stages or --tp" in err[0]
