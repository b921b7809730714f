"""stagedeck: a terminal cockpit for shared integration and staging environments."""

__version__ = "0.1.0"
