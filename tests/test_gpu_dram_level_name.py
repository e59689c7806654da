"""A GPU's off-chip DRAM level is found by its role (the first memory level, Accelerator.backing), never by its
name: the GDDR presets name theirs `gddr` (NVIDIA Ada whitepaper: RTX 4090 GDDR6X; L40S and RTX PRO 6000
datasheets: GDDR6, GDDR7), the HBM presets `hbm`, and a preset naming it anything else costs, serves, sizes,
rooflines and calibrates to the same numbers."""

import json

import pytest
import yaml

from hwsim.arch import load_arch
from hwsim.cli import main
from hwsim.engine.calibrate import fit, holdout_mask, shipped_measurements
from hwsim.paths import preset_names, resolve_preset

OTHER = "offchip"  # a name no code or preset uses


def _renamed(tmp_path, preset: str, new: str) -> str:
    """The preset's YAML with its first memory level (the off-chip DRAM) renamed to `new`, order kept."""
    raw = yaml.safe_load(resolve_preset(preset, "archs", what="arch").read_text())
    old = next(iter(raw["memory"]))
    raw["memory"] = {(new if k == old else k): v for k, v in raw["memory"].items()}
    path = tmp_path / f"{preset}-{new}.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return str(path)


def _json(capsys, *argv) -> str:
    assert main(list(argv)) == 0
    return capsys.readouterr().out


def test_memory_level_named_for_its_technology():
    """Datasheets say which DRAM a preset has; its level's name says the same (no `hbm` on GDDR boards)."""
    seen = {"gddr": 0, "hbm": 0}
    for name in preset_names("archs"):
        arch = load_arch(name)
        text = arch.description + " " + arch.sources.get(f"memory.{arch.backing.name}.capacity", "")
        for tech in seen:
            if tech.upper() in text:
                assert arch.backing.name == tech, (name, arch.backing.name, text)
                seen[tech] += 1
    assert seen["gddr"] == 3 and seen["hbm"] >= 6  # rtx-4090, l40s, rtx-pro-6000; a100 ... v100s


@pytest.mark.parametrize("preset", ["h100-sxm", "rtx-4090"])
def test_any_level_name_gives_the_same_numbers(tmp_path, capsys, preset):
    """simulate (costs, energy by level), roofline, generate (and the devices its capacity rule needs) and
    serve (KV blocks from the level's capacity) of a preset and of its copy with the DRAM level renamed
    agree to the last digit once the name is swapped back."""
    old = load_arch(preset).backing.name
    copy = _renamed(tmp_path, preset, OTHER)
    model = ("--model", "llama-2-7b")
    runs = [
        ("simulate", *model, "--phase", "decode", "--batch", "4", "--json"),
        ("simulate", *model, "--phase", "prefill", "--seq", "512", "--explain", "--json"),
        ("roofline", *model, "--phase", "decode", "--json"),
        ("generate", *model, "--prompt", "512", "--output", "16", "--batch", "8", "--json"),
        ("generate", "--model", "llama-2-70b", "--prompt", "512", "--output", "16", "--devices-needed", "--json"),
        ("serve", *model, "--rate", "4", "--num-requests", "12", "--json"),
    ]
    for cmd, *rest in runs:
        want = _json(capsys, cmd, "--arch", preset, *rest)
        got = _json(capsys, cmd, "--arch", copy, *rest)
        assert OTHER in got or cmd in ("generate", "serve"), cmd  # the level's columns carry its name
        assert got.replace(OTHER, old) == want, (preset, cmd)
    serve = json.loads(got)
    assert serve["kv_capacity_blocks"] > 0  # sized from the renamed level's capacity


def test_devices_needed_reads_the_renamed_capacity(tmp_path, capsys):
    """The capacity rule reads the off-chip level under any name: halving it (set by its own name) needs
    more devices for Llama-2-70B on RTX 4090s (24 GB GDDR6X each)."""
    argv = ("generate", "--model", "llama-2-70b", "--prompt", "512", "--output", "16", "--devices-needed", "--json")
    full = json.loads(_json(capsys, argv[0], "--arch", "rtx-4090", *argv[1:]))["answer"]["devices"]
    half = json.loads(_json(capsys, argv[0], "--arch", "rtx-4090", "--set", "memory.gddr.capacity=12GB", *argv[1:]))[
        "answer"
    ]["devices"]
    assert half > full >= 2  # 140 GB of fp16 weights on 24 GB boards


def test_calibrate_fits_the_level_under_its_name(tmp_path):
    """Calibration fits the off-chip level's efficiency whatever the preset calls it: the same values as
    on the HBM preset, under the renamed path (shipped H100 kernel times, hwsim/data/gpu)."""
    df = shipped_measurements()
    df = df[df["kind"] == "gemm"].reset_index(drop=True)
    train = holdout_mask(df, fraction=0.25)
    want = fit(load_arch("h100-sxm"), df, train).values
    got = fit(load_arch(_renamed(tmp_path, "h100-sxm", OTHER)), df, train).values
    assert {k.replace(f"memory.{OTHER}.", "memory.hbm."): v for k, v in got.items()} == want
    assert f"memory.{OTHER}.efficiency" in got


@pytest.mark.parametrize("preset", ["rtx-4090", "l40s", "rtx-pro-6000"])
@pytest.mark.parametrize("cmd", [("simulate", "--phase", "decode"), ("serve", "--rate", "4", "--num-requests", "4")])
def test_set_under_the_old_name_is_one_line_exit_2(capsys, preset, cmd):
    rc = main([cmd[0], "--arch", preset, "--model", "llama-2-7b", *cmd[1:], "--set", "memory.hbm.bandwidth=2TB/s"])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and "\n" not in err
    assert "memory.hbm.bandwidth" in err and "gddr, l2" in err, err
