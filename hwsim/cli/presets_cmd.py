"""`hwsim presets [archs|models|studies|formats]`: what ships with this install."""

from __future__ import annotations

import argparse

from hwsim.cli.output import emit_json

HELP = "list the shipped presets: accelerators, models, studies and number formats"
EXAMPLES = ("hwsim presets", "hwsim presets archs --json")
KINDS = {"archs": "archs", "models": "workloads", "studies": "studies", "links": "links"}


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("kind", nargs="?", choices=(*KINDS, "formats"), help="one kind (default: all)")
    p.add_argument("--json", action="store_true", help="one JSON document on stdout")


def _describe(kind: str, name: str) -> str:
    """The preset's own one-line description (archs, studies) or source (models); '' when it has none."""
    from hwsim.fileio import read_mapping
    from hwsim.paths import resolve_preset

    try:
        data = read_mapping(resolve_preset(name, kind, what="preset"))
    except Exception:  # a listing must not fail on one broken user preset under $HWSIM_HOME
        return "(unreadable)"
    family = f"[{data['family']}] " if isinstance(data.get("family"), str) else ""
    text = data.get("description") or data.get("source") or ""
    return family + (text if isinstance(text, str) else "")


def _listing(kind: str) -> list[dict]:
    from hwsim.paths import preset_names

    if kind == "formats":
        from hwsim.formats import get_format, list_formats

        return [
            {"name": n, "description": f"{float(get_format(n).bits_per_element):g} bits/element"}
            for n in list_formats()
        ]
    folder = KINDS[kind]
    return [{"name": n, "description": _describe(folder, n)} for n in preset_names(folder)]


def run(args: argparse.Namespace) -> int:
    kinds = [args.kind] if args.kind else [*KINDS, "formats"]
    doc = {k: _listing(k) for k in kinds}
    if args.json:
        emit_json(doc if args.kind is None else doc[args.kind])
        return 0
    for k, rows in doc.items():
        print(f"{k} ({len(rows)}):")
        width = max((len(r["name"]) for r in rows), default=0)
        for r in rows:
            text = r["description"] if len(r["description"]) <= 100 else r["description"][:99] + "…"
            print(f"  {r['name']:<{width}}  {text}".rstrip())
    return 0
