"""Family `bitserial`: analytical model (model.py), cycle-level model (cycle.py). Bit-serial PE arrays (BitMoD, HPCA 2025; Stripes): H×W PEs, each a `dot_width`-wide dot product"""

from hwsim.families.bitserial.model import BitSerial, serial_latency

FAMILY = BitSerial()

__all__ = ["FAMILY", "BitSerial", "serial_latency"]
