"""Distributed traces: an OTLP/HTTP receiver, a bounded span store, trace queries.

UI-free like the rest of the core. The receiver runs on the engine's loop,
the store keeps recent traces within caps, and :mod:`stagedeck.traces.query`
answers the questions the views, the CLI, the report and triage ask.
"""
