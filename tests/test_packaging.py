"""Packaging and first contact (issue 15): presets ship as package data, so an installed hwsim (a wheel in
.ci/run, editable in development) finds every one of them from any folder; --version, `hwsim presets`, a
bare `hwsim`, and two runnable examples at the end of every command's --help."""

import fnmatch
import json
import os
import shlex
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from hwsim import __version__
from hwsim.cli import COMMANDS, build_parser, main
from hwsim.paths import KINDS, packaged_dir, preset_names

ROOT = Path(__file__).resolve().parents[1]


def _shipped_globs() -> list[str]:
    data = tomllib.loads((ROOT / "pyproject.toml").read_text())
    return data["tool"]["setuptools"]["package-data"]["hwsim"]


@pytest.mark.parametrize("kind", KINDS)
def test_every_preset_file_is_package_data(kind):
    """A preset a glob in pyproject.toml misses would be absent from the wheel."""
    globs = _shipped_globs()
    files = sorted((ROOT / "hwsim" / "presets" / kind).iterdir())
    assert files
    for f in files:
        rel = f.relative_to(ROOT / "hwsim").as_posix()
        assert any(fnmatch.fnmatch(rel, g) for g in globs), f"{rel} is not shipped (pyproject package-data)"


def test_clone_links_point_at_the_packaged_presets():
    """`hwsim sweep studies/quickstart.yaml` from a clone reads the same files a wheel ships."""
    for kind in KINDS:
        assert (ROOT / kind).resolve() == packaged_dir(kind).resolve()


def test_installed_hwsim_finds_presets_from_any_folder(tmp_path):
    """Run from a folder outside the clone, so the installed package (the wheel in CI) answers."""
    env = {**os.environ, "PYTHONPATH": "", "HWSIM_HOME": ""}
    out = subprocess.run(
        [sys.executable, "-m", "hwsim", "presets", "--json"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    listed = json.loads(out)
    for kind, folder in (("archs", "archs"), ("models", "workloads"), ("studies", "studies")):
        assert [r["name"] for r in listed[kind]] == preset_names(folder)
        assert len(listed[kind]) == len(list((ROOT / folder).glob("*.yaml")))
    assert "int4_g128" in [r["name"] for r in listed["formats"]]


def test_version_and_bare_usage(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0 and capsys.readouterr().out.strip() == f"hwsim {__version__}"
    assert main([]) == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: hwsim") and all(c in out for c in COMMANDS)


@pytest.mark.parametrize("kind", ["archs", "models", "studies", "formats"])
def test_presets_lists_one_kind(kind, capsys):
    assert main(["presets", kind]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith(f"{kind} (") and len(out) > 3


def _help_lines(name: str) -> list[str]:
    parser = build_parser()
    action = next(a for a in parser._actions if a.dest == "command")
    return action.choices[name].format_help().rstrip().splitlines()


@pytest.mark.parametrize("name", list(COMMANDS))
def test_help_ends_with_two_examples_that_parse(name):
    lines = _help_lines(name)
    assert lines[-3] == "examples:"
    for line in lines[-2:]:
        argv = shlex.split(line.strip())
        assert argv[:2] == ["hwsim", name]
        build_parser().parse_args(argv[1:])  # every option in the example exists


def test_clone_relative_path_from_elsewhere_names_the_preset(tmp_path, monkeypatch, capsys):
    """README's `hwsim sweep studies/all-families.yaml` run outside the clone: the error says the name works."""
    monkeypatch.chdir(tmp_path)
    assert main(["sweep", "studies/all-families.yaml", "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "give just `all-families`" in err
    assert main(["simulate", "--arch", "elsewhere/bitmod.yaml", "--model", "llama-2-7b", "--phase", "decode"]) == 2
    assert "shipped" not in capsys.readouterr().err  # only a path in the preset folder's own name hints
