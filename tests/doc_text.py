"""Reading figures out of README.md and docs/*.md, for the tests that check them against the code
(test_readme_figures.py, test_doc_figures.py): the project's rule is that every figure a page quotes stays true."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def read(page: str) -> str:
    """A page's text, e.g. read("README.md") or read("docs/serving.md")."""
    return (ROOT / page).read_text()


def flat(text: str) -> str:
    """The text with every run of whitespace as one space, so a sentence matches however its lines wrap."""
    return " ".join(text.split())


def between(text: str, start: str, end: str) -> str:
    """What stands between `start` and the next `end` after it."""
    i = text.index(start) + len(start)
    return text[i : text.index(end, i)]


def names(text: str) -> set[str]:
    """The comma- or line-separated names of a list, backquotes and full stops dropped."""
    return {n.strip(" `.\n") for n in re.split(r",|\n", text) if n.strip(" `.\n")}


def quoted(text: str, pattern: str) -> tuple[str, ...]:
    """The groups of the one place `pattern` (a regex on flat() text) matches: fails naming the pattern when the
    page no longer says it that way, or says it twice."""
    found = list(re.finditer(pattern, text))
    assert len(found) == 1, f"{len(found)} matches of {pattern!r}: reword the test with the page"
    return found[0].groups()


def number(figure: str) -> float:
    """A figure as pages write it: thousands separators allowed."""
    return float(figure.replace(",", ""))


def agrees(figure: str, value: float) -> bool:
    """`value` rounds to `figure` as written: to its decimals ("4.421" holds 4.4205 ≤ value ≤ 4.4215)."""
    decimals = len(figure.split(".")[1]) if "." in figure else 0
    return abs(value - number(figure)) <= 0.5 * 10.0**-decimals * (1 + 1e-9) + 1e-12 * abs(value)


def table_rows(text: str, first_cell: str) -> list[list[str]]:
    """The cells of the markdown table rows whose first cell matches `first_cell` (a regex), in order."""
    rows = []
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.lstrip().startswith("|") and re.fullmatch(first_cell, cells[0]):
            rows.append(cells)
    return rows
