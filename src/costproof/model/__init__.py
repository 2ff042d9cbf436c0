"""Domain types: money, meters, price rules, usage columns, variances (stdlib only)."""

from costproof.model.errors import InputError, RowError
from costproof.model.meters import METERS, Meter
from costproof.model.money import D, dec, to_str

__all__ = ["D", "METERS", "InputError", "Meter", "RowError", "dec", "to_str"]
