"""hwsim: cycle and energy models of LLM accelerators, number formats, and design-space sweeps."""

from hwsim.errors import HwsimError

__version__ = "0.1.0"
__all__ = ["HwsimError", "__version__"]
