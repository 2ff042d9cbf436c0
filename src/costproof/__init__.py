"""costproof: evidence-backed cost reconciliation for AI APIs."""

__version__ = "0.1.0"
