"""Compare, explain, checklist and escalations over priced rows and statements."""
