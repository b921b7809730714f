"""The Textual cockpit: a thin view over :mod:`stagedeck.engine.engine`."""
