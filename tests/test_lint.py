"""Lint (ruff) and type checks (mypy) as part of the suite, so every landing enforces them.

Both are dev extras (pyproject.toml), so they run wherever the README's test command does; the
configuration (rules, checked packages) lives in pyproject.toml. Skipped only where the tool is missing.
"""

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _run(tool: str, *args: str) -> None:
    if importlib.util.find_spec(tool) is None:
        pytest.skip(f"{tool} is not installed (pip install -e '.[dev]')")
    proc = subprocess.run([sys.executable, "-m", tool, *args], cwd=REPO, capture_output=True, text=True)
    assert proc.returncode == 0, f"{tool} {' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}"


def test_ruff_check():
    _run("ruff", "check", "--no-cache", "hwsim", "tests", "benchmarks")


def test_ruff_format():
    _run("ruff", "format", "--check", "--no-cache", "hwsim", "tests", "benchmarks")


def test_mypy():
    _run("mypy")  # files and options: [tool.mypy] in pyproject.toml


def test_mypy_config_requires_annotations(tmp_path):
    """The project's mypy settings refuse a def without annotations (issue 12: public functions typed), so a
    new untyped function fails test_mypy above."""
    if importlib.util.find_spec("mypy") is None:
        pytest.skip("mypy is not installed (pip install -e '.[dev]')")
    probe = tmp_path / "probe.py"
    probe.write_text("def untyped(x):\n    return x\n\n\ndef half(x: int, y):\n    return x\n")
    proc = subprocess.run(
        [sys.executable, "-m", "mypy", "--config-file", str(REPO / "pyproject.toml"), "--no-incremental", str(probe)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 1, proc.stdout + proc.stderr
    flagged = {line.split(":")[1] for line in proc.stdout.splitlines() if line.endswith("[no-untyped-def]")}
    assert flagged == {"1", "5"}, proc.stdout  # the wording differs between mypy versions; the code does not
