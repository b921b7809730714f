"""A JSON Schema for recipes, generated from the loader's own key tables.

The loader in :mod:`stagedeck.recipe.model` checks every table against a dict of
key → check function (``SERVICE_KEYS``, ``SUITE_KEYS``, ...). This module turns
those same dicts into JSON Schema, so an editor (Taplo-based TOML extensions,
anything that reads JSON Schema) completes and validates the keys the loader
knows, and a key added to the loader appears in the schema without a second
edit. A check function this module does not know is an error at generation
time (and in the tests), never a silently permissive schema.

The schema checks shape only: unknown keys, types, ranges. What needs the whole
recipe (a dependency on a service that does not exist, a cycle, a placeholder
with no value) stays the loader's job; ``stagedeck check`` reports it.

The generated schema is also committed as ``recipe.schema.json`` beside this
module (so it ships in the wheel and editors can point at a file); a test keeps
the file equal to what :func:`recipe_schema` generates.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from stagedeck.recipe import gate, model

SCHEMA_FILE = Path(__file__).resolve().parent / "recipe.schema.json"

_STR_LIST = {"type": "array", "items": {"type": "string"}}


def _bounded(check: Callable[[Any], str | None]) -> dict[str, Any] | None:
    """The loader's parameterised checks (``_seconds(low, high)``, ``_whole(low, high)``):
    closures, read back through the values they closed over."""
    made_by = check.__qualname__.split(".<locals>.")[0]
    if made_by not in ("_seconds", "_whole"):
        return None
    bounds = inspect.getclosurevars(check).nonlocals
    low, high = bounds["low"], bounds["high"]
    if made_by == "_whole":
        return {"type": "integer", "minimum": low, "maximum": high}
    lower = "exclusiveMinimum" if bounds.get("above") else "minimum"
    return {"type": "number", lower: low, "maximum": high}


def _fragment(check: Callable[[Any], str | None], key: str) -> dict[str, Any]:
    fragment = _fragments().get(check) or _bounded(check)
    if fragment is None:
        raise LookupError(f"no JSON Schema for the check {check.__qualname__} of {key!r}")
    return dict(fragment)


def _fragments() -> dict[Callable[[Any], str | None], dict[str, Any]]:
    """Each check function of the loader, as the JSON Schema that accepts what it accepts."""
    share = {"type": "number", "minimum": 0, "maximum": 1}
    return {
        model._is_str: {"type": "string"},
        model._is_bool: {"type": "boolean"},
        model._is_positive_int: {"type": "integer", "minimum": 1},
        model._is_str_list: _STR_LIST,
        model._is_argv: {
            "anyOf": [
                {"type": "string", "description": "split into words only with shell = true"},
                {"type": "array", "items": {"type": "string"}, "minItems": 1},
            ]
        },
        model._is_str_table: {
            "type": "object",
            "additionalProperties": {"type": ["string", "number", "boolean"]},
        },
        model._is_port: {
            "anyOf": [{"type": "integer", "minimum": 1, "maximum": 65535}, {"const": "auto"}]
        },
        model._is_status: {
            "anyOf": [
                {"type": "integer", "minimum": 100, "maximum": 599},
                {
                    "type": "array",
                    "items": {"type": "integer", "minimum": 100, "maximum": 599},
                    "minItems": 2,
                    "maxItems": 2,
                },
            ]
        },
        model._is_target: {"enum": ["local", "docker", "kubernetes"]},
        model._is_share_mode: {"enum": ["read-only", "read-write"]},
        model._is_str_or_table: {"type": ["string", "object"]},
        gate._share: share,
        gate._count: {"type": "integer", "minimum": 0},
        gate._baseline: {"anyOf": [{"const": gate.LAST_GO}, {"type": "integer", "minimum": 1}]},
        gate._error_rate: {"anyOf": [{"const": False}, share]},
        gate._method: {"enum": ["GET", "POST", "PUT", "DELETE"]},
        gate._table: {"type": "object"},
    }


def _nested() -> dict[tuple[str, str], Mapping[str, model.Check]]:
    """Keys whose value is a table checked against its own key table (or a string for
    health and verify, which accept a URL)."""
    return {
        ("services", "health"): model.HEALTH_KEYS,
        ("seeds", "verify"): model.VERIFY_KEYS,
        ("scenarios", "fail_fast"): gate._schemas()[2],
    }


def _table(
    keys: Mapping[str, model.Check], section: str = "", required: tuple[str, ...] = ()
) -> dict[str, Any]:
    properties: dict[str, Any] = {}
    for key, check in keys.items():
        fragment = _fragment(check, key)
        nested = _nested().get((section, key))
        if nested is not None:
            inner = _table(nested)
            string_too = fragment.get("type") == ["string", "object"]
            fragment = {"anyOf": [{"type": "string"}, inner]} if string_too else inner
        properties[key] = fragment
    table: dict[str, Any] = {
        "type": "object",
        "properties": properties,
        "additionalProperties": False,
    }
    if required:
        table["required"] = list(required)
    return table


def _named(keys: Mapping[str, model.Check], section: str) -> dict[str, Any]:
    """``[services.NAME]`` and the like: any name, each a table of ``keys``."""
    return {
        "type": "object",
        "additionalProperties": _table(keys, section, model.REQUIRED.get(section, ())),
    }


def recipe_schema() -> dict[str, Any]:
    """The recipe schema (draft 2020-12) for the keys the loader knows today."""
    sections: dict[str, Any] = {
        "include": {"anyOf": [{"type": "string"}, _STR_LIST]},
        "environment": _table(model.ENVIRONMENT_KEYS, "environment"),
        "secrets": {"type": "object", "additionalProperties": {"type": "string"}},
        "services": _named(model.SERVICE_KEYS, "services"),
        "seeds": _named(model.SEED_KEYS, "seeds"),
        "suites": _named(model.SUITE_KEYS, "suites"),
        "traces": _table(model.TRACES_KEYS, "traces"),
        "gate": _table(gate._schemas()[0], "gate"),
        "scenarios": _named(gate._schemas()[1], "scenarios"),
    }
    missing = set(model.TOP_KEYS) - set(sections)
    if missing:
        raise LookupError(f"no JSON Schema for the recipe tables {sorted(missing)}")
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "stagedeck-recipe.schema.json",
        "title": "stagedeck recipe",
        "description": "An environment for stagedeck: services, seeds, suites, traces, "
        "a GO / NO-GO gate and failure scenarios.",
        "type": "object",
        "properties": {key: sections[key] for key in model.TOP_KEYS},
        "additionalProperties": False,
    }


def schema_text() -> str:
    return json.dumps(recipe_schema(), indent=2, ensure_ascii=False) + "\n"
