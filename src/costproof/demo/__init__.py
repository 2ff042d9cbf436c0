"""The bundled demo: sample CometAPI prices, a month of new-api logs, labels, mapping and a ledger."""
