"""Number formats: element grids, group scales and a name grammar (docs/formats.md)."""

from hwsim.formats.format import Format
from hwsim.formats.grammar import KNOWN_FORMATS, get_format, list_formats

__all__ = ["Format", "KNOWN_FORMATS", "get_format", "list_formats"]
