"""Command modules; importing them registers their commands on the app."""

import costproof.cli.commands.pack  # noqa: F401
import costproof.cli.commands.probe  # noqa: F401
from costproof.cli.commands import core, ledger, mapping, pricing, review, usage  # noqa: F401
