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
