"""README's lists and counts that follow from the code, checked against it (the project's rule: every figure
README quotes stays true). Figures that need a model run are in the tests their sections name."""

import re
import sys

from doc_text import ROOT, between, names, read

from hwsim.paths import preset_names

README = read("README.md")


def _between(start: str, end: str) -> str:
    return between(README, start, end)


def test_model_presets_listed_are_the_shipped_ones():
    """README's "Presets (parameter totals pinned by tests ...)" list names every workload preset (the
    Llama-3.1-405B preset was shipped without being listed)."""
    listed = names(_between("num_parameters()`):\n", ". Supported"))
    assert listed == set(preset_names("workloads"))


def test_accelerator_presets_in_the_family_table_are_the_shipped_ones():
    rows = [line.split("|") for line in README.splitlines() if re.match(r"\| `[a-z]+` \|", line)]
    listed = {n for row in rows for n in names(row[2])}
    assert listed == set(preset_names("archs"))


def test_shipped_studies_listed_are_the_shipped_ones():
    listed = names(
        _between("objectives. Shipped: ", " (docs/reproductions.md)").replace(
            " and one reproduction per seed paper:", ","
        )
    )
    assert listed == set(preset_names("studies"))


def test_fuzz_case_count():
    """README: "tests/test_fuzz.py drives 855 mutated presets, configs, studies, files and arguments"."""
    sys.path.insert(0, str(ROOT / "tests"))
    import test_fuzz

    quoted = int(re.search(r"test_fuzz\.py` drives ([\d,]+) mutated", README).group(1).replace(",", ""))
    assert quoted == len(test_fuzz.CASES)


def test_mixtral_active_parameters():
    """README's validation table: "Mixtral-8x7B active params/token | docs/references.md | 12,879,925,248"."""
    from hwsim.workload import load_model, trace

    quoted = re.search(r"\| Mixtral-8x7B active params/token \| [^|]+\| ([\d,]+) ", README).group(1)
    totals = trace(load_model("mixtral-8x7b"), "decode").totals()
    assert int(quoted.replace(",", "")) == totals["active_params_per_token"]
