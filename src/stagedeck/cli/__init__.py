"""The ``stagedeck`` command line: one module per command family."""
