"""Command modules; importing them registers their commands on the app."""

from costproof.cli.commands import core, ledger, mapping, pricing, usage  # noqa: F401
