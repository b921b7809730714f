"""The embedded demo environment: six small services, a seed and two test suites.

It ships inside the package so ``stagedeck demo`` works from an installed wheel
with nothing else to download. Everything under ``stagedeck.demo`` (except the
suites, which are pytest files) uses only the standard library, so the same
services also run in a plain ``python`` container image.

Run one service by hand with ``python -m stagedeck.demo.serve orders``, all of
them with ``python -m stagedeck.demo.launch``, and load fixtures with
``python -m stagedeck.demo.seed``.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["recipe_path", "suites_dir"]


def recipe_path() -> Path:
    """The packaged demo recipe (``demo.toml``), next to this module."""
    return Path(__file__).resolve().parent / "demo.toml"


def suites_dir() -> Path:
    """The folder holding the demo's pytest suites (the recipe refers to it)."""
    return Path(__file__).resolve().parent / "suites"
