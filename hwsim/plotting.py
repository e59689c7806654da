"""Writing figures: PNG/PDF/SVG, atomically, with one-line errors on a bad path (shared by every plot)."""
from __future__ import annotations

import os

from hwsim.errors import HwsimError
from hwsim.fileio import os_reason, prepare_output


def save_figure(fig, path) -> None:
    """Save via a temporary file and os.replace; PNG metadata stripped so the same plot gives the same bytes."""
    path = os.fspath(path)
    ext = os.path.splitext(path)[1].lower()
    if ext not in (".png", ".pdf", ".svg"):
        raise HwsimError("plot file must end in .png, .pdf or .svg", file=path, field="--plot")
    prepare_output(path, field="--plot")
    tmp = f"{path}.tmp{os.getpid()}{ext}"
    try:
        fig.savefig(tmp, dpi=300, metadata={"Software": None} if ext == ".png" else None)
        os.replace(tmp, path)
    except OSError as exc:
        raise HwsimError(f"cannot write plot: {os_reason(exc)}", file=path, field="--plot") from None
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
