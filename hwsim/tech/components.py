"""Component library: the energy of one action and the area of one instance of the pieces hardware is
built from (MACs, adders, multipliers, register and SRAM bits, wires, DRAM), each with its source,
scaled to a technology node and supply voltage by the stated rules of hwsim.tech.scaling.

Families price their datapath as `Term`s (a component × how many times it acts, per op; or × how many
instances exist, for area). The engine sums the terms into the per-op compute energy and the area, and
`hwsim.engine.explain` prints them line by line, so every total can be reconciled by hand.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Callable, ParamSpec, TypeVar

import numpy as np
from numpy.typing import ArrayLike

from hwsim.core.precision import OperandType
from hwsim.tech import datapath as D
from hwsim.tech.scaling import RULE, VOLTAGE_RULE, scale_area, scale_energy
from hwsim.tech.tables import HOROWITZ, HOROWITZ_45NM as H

if TYPE_CHECKING:
    from hwsim.core.spec import Accelerator

REF_NODE_NM = D.NODE  # the Horowitz table's node
REF_VOLTS = 0.9  # Horowitz ISSCC 2014: 45 nm at 0.9 V

KECKLER = (
    "Keckler et al., 'GPUs and the future of parallel computing', IEEE Micro 31(5) 2011, Table 1: "
    "40 nm, 0.9 V, 256 bits over 10 mm of on-chip wire = 310 pJ"
)
OCONNOR = "O'Connor et al., 'Fine-grained DRAM', MICRO 2017: HBM2 ~3.9 pJ/bit"

_P = ParamSpec("_P")
_R = TypeVar("_R")


def priced_once(fn: Callable[_P, _R]) -> Callable[_P, _R]:
    """`fn` (a pure function of its arguments) kept per distinct arguments, their types included: a design
    point prices the same few components on every engine call, building each one's name and source text.
    Arrays over design points (sweeps) are not hashable: those calls are priced every time."""
    cached = functools.lru_cache(maxsize=4096, typed=True)(fn)

    @functools.wraps(fn)
    def price(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        try:  # lru_cache wants hashable arguments; an array is the TypeError caught here
            return cached(*args, **kwargs)  # type: ignore[arg-type]
        except TypeError:  # an unhashable argument (an array); a TypeError of fn itself raises again below
            return fn(*args, **kwargs)

    return price


@dataclass(frozen=True)
class Component:
    """One kind of hardware piece: joules per `action` and m² per instance, with where they come from.
    Values are floats, or arrays over design points in sweeps."""

    name: str
    action: str
    energy_j: Any = 0.0
    area_m2: Any = 0.0
    source: str = ""

    @priced_once
    def times(self, factor: float | np.ndarray, why: str) -> "Component":
        """The same piece with its energy and area multiplied (e.g. a PE's overhead over its bare MAC)."""
        return replace(
            self,
            energy_j=self.energy_j * factor,
            area_m2=self.area_m2 * factor,
            name=f"{self.name} x{show(factor)}",
            source=f"{self.source}; x{show(factor)}: {why}",
        )


@dataclass(frozen=True)
class Term:
    """A component used `count` times: per-op action counts for energy, instances for area."""

    component: Component
    count: Any

    @property
    def energy_j(self) -> float | np.ndarray:
        return self.count * self.component.energy_j

    @property
    def area_m2(self) -> float | np.ndarray:
        return self.count * self.component.area_m2


def show(x: ArrayLike) -> str:
    """A value for a source line: the number, or "(swept)" for an array over design points."""
    x = np.asarray(x)
    return f"{x.item():g}" if x.ndim == 0 else "(swept)"


def sum_energy(terms: list[Term], shape: int | tuple[int, ...]) -> np.ndarray:
    """Per-op energy (J) of a family's terms, in the order given (so explain and the engine agree)."""
    out = np.zeros(shape)
    for t in terms:
        out = out + t.energy_j
    return out


def sum_area_mm2(terms: list[Term]) -> float | np.ndarray:
    total: float | np.ndarray = 0.0
    for t in terms:
        total = total + t.area_m2
    return total * 1e6


# --- scaling from the reference tables ---------------------------------------------------------------


def _at(
    pj: float | np.ndarray,
    um2: float | np.ndarray,
    node_nm: float | np.ndarray,
    volts: float | np.ndarray | None,
    from_nm: float = REF_NODE_NM,
    from_volts: float = REF_VOLTS,
) -> tuple[float | np.ndarray, float | np.ndarray]:
    """(J, m²) of a reference (pJ, µm²) at a node and voltage. Voltage scaling applies only when given."""
    e = scale_energy(pj, from_nm, node_nm) * 1e-12
    if volts is not None:
        e = e * (np.asarray(volts) / from_volts) ** 2
    return e, scale_area(um2, from_nm, node_nm) * 1e-12


def _tech_source(source: str, node_nm: ArrayLike, volts: ArrayLike | None) -> str:
    v = "" if volts is None else f", {show(volts)} V ({VOLTAGE_RULE})"
    return f"{source}; scaled to {show(node_nm)} nm{v} ({RULE})"


def _fit_source(what: str) -> str:
    return f"{HOROWITZ}, {what}"


# --- arithmetic ----------------------------------------------------------------------------------------


@priced_once
def mac(
    a: OperandType,
    b: OperandType,
    node_nm: float | np.ndarray = REF_NODE_NM,
    volts: float | np.ndarray | None = None,
    terms: float | np.ndarray = 4096,
) -> Component:
    """One a×b multiply-accumulate into an accumulator sized for `terms` products (hwsim.tech.datapath)."""
    m = D.mac_cost(a, b, REF_NODE_NM, terms)
    e, ar = _at(m.energy_pj, m.area_um2, node_nm, volts)
    acc = f"{show(m.accumulator_bits)}-bit accumulator"
    src = _fit_source("multiplier and adder fits of hwsim.tech.datapath")
    return Component(f"MAC {a.name}x{b.name} ({acc})", "MAC", e, ar, _tech_source(src, node_nm, volts))


@priced_once
def int_adder(
    bits: float | np.ndarray, node_nm: float | np.ndarray = REF_NODE_NM, volts: float | np.ndarray | None = None
) -> Component:
    e, ar = _at(D.int_add(bits), D.int_add(bits, "um2"), node_nm, volts)
    src = _fit_source("int add 8/16/32-bit, interpolated in width")
    return Component(f"int{show(bits)} adder", "add", _scalar(e), _scalar(ar), _tech_source(src, node_nm, volts))


@priced_once
def fp_adder(
    bits: float | np.ndarray, node_nm: float | np.ndarray = REF_NODE_NM, volts: float | np.ndarray | None = None
) -> Component:
    e, ar = _at(D.fp_add(bits), D.fp_add(bits, "um2"), node_nm, volts)
    src = _fit_source("fp add 16/32-bit, interpolated in width")
    return Component(f"fp{show(bits)} adder", "add", _scalar(e), _scalar(ar), _tech_source(src, node_nm, volts))


@priced_once
def multiplier(
    a: OperandType, b: OperandType, node_nm: float | np.ndarray = REF_NODE_NM, volts: float | np.ndarray | None = None
) -> Component:
    e, ar = _at(D.multiplier(a, b, "pj"), D.multiplier(a, b, "um2"), node_nm, volts)
    src = _fit_source("int 8/32-bit and fp 16/32-bit multiplier fits of hwsim.tech.datapath")
    return Component(f"{a.name}x{b.name} multiplier", "multiply", e, ar, _tech_source(src, node_nm, volts))


def _scalar(x: ArrayLike) -> Any:
    return D.as_scalar(x)


# --- storage and movement ------------------------------------------------------------------------------

# assumed (no table entry): a register bit (flip-flop) ≈ one full-adder bit, in area and in the energy of
# a write (Horowitz's 8-bit adder / 8); an SRAM bit cell a quarter of that area (6T cell vs flip-flop)
_REG_BIT_UM2 = H["int_add_8_um2"].value / 8
_REG_BIT_PJ = H["int_add_8_pj"].value / 8
_SRAM_8KB_PJ_PER_BIT = H["sram_8kb_read_64b_pj"].value / 64
ASSUMED_REG = "assumed: a register bit ≈ one full-adder bit (Horowitz 45 nm 8-bit adder / 8), area and write energy"
ASSUMED_SRAM_CELL = "assumed: a 6T SRAM cell ≈ a quarter of a flip-flop's area"


@priced_once
def register_bit(node_nm: float | np.ndarray = REF_NODE_NM, volts: float | np.ndarray | None = None) -> Component:
    """One flip-flop bit: area per bit, energy per bit written (pipeline and accumulator registers)."""
    e, ar = _at(_REG_BIT_PJ, _REG_BIT_UM2, node_nm, volts)
    return Component("register bit", "bit written", e, ar, _tech_source(ASSUMED_REG, node_nm, volts))


@priced_once
def sram_bit(node_nm: float | np.ndarray = REF_NODE_NM, volts: float | np.ndarray | None = None) -> Component:
    """One bit of a small (8 KB-class) SRAM array: energy per bit read (Horowitz: 10 pJ per 64-bit read),
    area per bit cell (assumed, ASSUMED_SRAM_CELL)."""
    e, ar = _at(_SRAM_8KB_PJ_PER_BIT, _REG_BIT_UM2 / 4, node_nm, volts)
    src = f"{HOROWITZ}: 8 KB SRAM, 10 pJ per 64-bit read; area {ASSUMED_SRAM_CELL}"
    return Component("SRAM bit (8 KB array)", "bit read", e, ar, _tech_source(src, node_nm, volts))


@priced_once
def sram_entry_read(
    bits: float | np.ndarray, node_nm: float | np.ndarray = REF_NODE_NM, volts: float | np.ndarray | None = None
) -> Component:
    """Reading one `bits`-wide table entry from a small SRAM array (per lookup): bits × sram_bit."""
    bit = sram_bit(node_nm, volts)
    return replace(
        bit, name=f"table read ({show(bits)} SRAM bits)", action="lookup", energy_j=bit.energy_j * bits, area_m2=0.0
    )


@priced_once
def logic_bit(node_nm: float | np.ndarray = REF_NODE_NM, volts: float | np.ndarray | None = None) -> Component:
    """One in-array logic step on one bitline (bit-serial PIM)."""
    e, _ = _at(H["int_add_8_pj"].value / 8, 0.0, node_nm, volts)
    src = "assumed: a bitline logic step ≈ a 1-bit full add (Horowitz 45 nm 8-bit adder / 8)"
    return Component("bitline logic step", "bit op", e, 0.0, _tech_source(src, node_nm, volts))


# Horowitz ISSCC 2014, 45 nm: a 64-bit cache read costs 10 pJ (8 KB), 20 pJ (32 KB), 100 pJ (1 MB)
_SRAM_READ_64B = ((8 * 1024, 10.0), (32 * 1024, 20.0), (1024 * 1024, 100.0))


@priced_once
def sram_read(
    capacity_bytes: float | np.ndarray,
    width_bits: float | np.ndarray = 64,
    node_nm: float | np.ndarray = REF_NODE_NM,
    volts: float | np.ndarray | None = None,
) -> Component:
    """One `width_bits` read of an SRAM of `capacity_bytes`: Horowitz's 8 KB / 32 KB / 1 MB 64-bit reads,
    interpolated log-log in capacity (energy grows ~ capacity^0.4-0.5 with the bit- and word-line lengths),
    extrapolated along the end segments, and linear in width (assumed: the bitlines read scale with width)."""
    xs = np.log([c for c, _ in _SRAM_READ_64B])
    ys = np.log([e for _, e in _SRAM_READ_64B])
    lc = np.log(np.asarray(capacity_bytes, dtype=np.float64))
    lo = ys[0] + (lc - xs[0]) * (ys[1] - ys[0]) / (xs[1] - xs[0])
    hi = ys[1] + (lc - xs[1]) * (ys[2] - ys[1]) / (xs[2] - xs[1])
    pj = np.exp(np.where(lc <= xs[1], lo, hi)) * np.asarray(width_bits) / 64
    e, _ = _at(pj, 0.0, node_nm, volts)
    src = (
        f"{HOROWITZ}: 64-bit cache reads 10 pJ (8 KB), 20 pJ (32 KB), 100 pJ (1 MB), log-log interpolated; "
        "assumed linear in width"
    )
    return Component(
        f"SRAM {show(np.asarray(capacity_bytes) / 1024)} KiB, {show(width_bits)}-bit read",
        "read",
        _scalar(e),
        0.0,
        _tech_source(src, node_nm, volts),
    )


@priced_once
def wire(node_nm: float | np.ndarray = 40.0, volts: float | np.ndarray | None = None) -> Component:
    """Moving one bit over one mm of on-chip wire (Keckler 2011 at 40 nm; scaled like logic, assumed:
    wire capacitance per mm falls more slowly than gate capacitance, so this is on the low side)."""
    e, _ = _at(310.0 / (256 * 10), 0.0, node_nm, volts, from_nm=40.0)
    return Component("on-chip wire", "bit·mm", e, 0.0, _tech_source(KECKLER, node_nm, volts))


DRAM_KINDS = ("ddr", "hbm2")


def dram_bit(kind: str = "ddr") -> Component:
    """One bit moved to or from off-chip memory (I/O and array; not node-scaled: it is an interface)."""
    if kind == "hbm2":
        return Component("HBM2 bit", "bit", 3.9e-12, 0.0, OCONNOR)
    if kind == "ddr":
        pj = H["dram_read_64b_pj"].value / 64
        return Component("DRAM bit", "bit", pj * 1e-12, 0.0, H["dram_read_64b_pj"].source)
    raise ValueError(f"dram kind must be one of {DRAM_KINDS}")


# --- pieces priced from a preset's own constants ------------------------------------------------------


def busy_cycle(name: str, watts: float | np.ndarray, clock_hz: float | np.ndarray, source: str) -> Component:
    """A block drawing `watts` while busy, charged per busy cycle (energy = watts / clock per cycle)."""
    return Component(name, "busy cycle", watts / clock_hz, 0.0, source)


def block(name: str, area_m2: float | np.ndarray, source: str) -> Component:
    """An instance whose area a preset gives directly (a PE, a core, a die)."""
    return Component(name, "instance", 0.0, area_m2, source)


def tech_point(arch: Accelerator) -> tuple:
    """(node in nm, supply volts or None) of an architecture's `tech` section."""
    # not narrowed from None: unchanged behaviour (a spec without a tech section raises AttributeError here)
    return arch.tech.node_nm, getattr(arch.tech, "voltage", None)  # type: ignore[union-attr]
