"""Use cases: one function per command, composing workspace, sources, engine and reconcile."""
