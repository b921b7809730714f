"""Secret values: which recipe values are secret, and masking them in everything we write.

A value is secret when the recipe says so (a ``[secrets]`` entry referenced as
``{secret.NAME}``, or an env key named in a step's ``secrets = [...]`` list) or
when its name gives it away: an environment variable read with ``{env.NAME}``
or an ``env`` key whose name contains TOKEN, SECRET, PASSWORD or KEY.

The loader collects the *values*; everything stagedeck writes (the screen, log
lines, reports, the audit log, the SQLite file) passes through one function,
:func:`mask_secrets`, or a :class:`SecretMasker` built once from the recipe.
Masking works on values rather than on names because a password leaks as
text: in a connection URL, a crash message or a service that prints its env.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING
from urllib.parse import quote

if TYPE_CHECKING:
    from stagedeck.engine.logs import LogHub
    from stagedeck.recipe.model import Recipe

MASK = "•••"
SECRET_NAME_WORDS = ("TOKEN", "SECRET", "PASSWORD", "KEY")
MIN_SECRET_LENGTH = 4
"""Shorter values are not masked: hiding every "on" or "42" would garble all output.

A secret the recipe marks explicitly must be at least this long (a recipe error
otherwise); a value found only by its name is simply not treated as secret.
"""
_MIN_LINE_LENGTH = 8
"""Lines of a multi-line secret (a PEM key) masked on their own, from this length."""


def is_secret_name(name: str) -> bool:
    """True when a variable's name says its value is secret (``DB_PASSWORD``, ``API_KEY``)."""
    upper = name.upper()
    return any(word in upper for word in SECRET_NAME_WORDS)


def _variants(value: str) -> set[str]:
    """The forms a secret is likely to be written in: as is, URL-encoded, line by line."""
    forms = {value}
    quoted = quote(value, safe="")
    if quoted != value:
        forms.add(quoted)
    if "\n" in value:
        forms.update(
            line.strip() for line in value.splitlines() if len(line.strip()) >= _MIN_LINE_LENGTH
        )
    return {f for f in forms if len(f) >= MIN_SECRET_LENGTH}


def _pattern(secrets: Iterable[str]) -> re.Pattern[str] | None:
    forms: set[str] = set()
    for value in secrets:
        forms |= _variants(value)
    if not forms:
        return None
    # Longest first, so a secret that contains another is masked whole.
    ordered = sorted(forms, key=lambda s: (-len(s), s))
    return re.compile("|".join(re.escape(f) for f in ordered))


def mask_secrets(text: str, secrets: Iterable[str]) -> str:
    """``text`` with every occurrence of every secret value replaced by ``•••``."""
    pattern = _pattern(secrets)
    return text if pattern is None else pattern.sub(MASK, text)


class SecretMasker:
    """A compiled masker for one set of secrets; call it on text (a ``LogHub`` mask).

    It can be updated in place when a reloaded recipe brings other secrets, so the
    same object stays installed wherever it was handed out.
    """

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._secrets: frozenset[str] = frozenset()
        self._pattern: re.Pattern[str] | None = None
        self.update(secrets)

    @property
    def secrets(self) -> frozenset[str]:
        return self._secrets

    def update(self, secrets: Iterable[str]) -> None:
        self._secrets = frozenset(secrets)
        self._pattern = _pattern(self._secrets)

    def __call__(self, text: str) -> str:
        pattern = self._pattern
        return text if pattern is None else pattern.sub(MASK, text)


def install_masker(logs: LogHub, recipe: Recipe) -> SecretMasker:
    """Make ``logs`` mask ``recipe``'s secrets at ingest; idempotent (updates an installed one)."""
    for mask in logs.masks:
        if isinstance(mask, SecretMasker):
            mask.update(recipe.secrets)
            return mask
    masker = SecretMasker(recipe.secrets)
    logs.masks.insert(0, masker)
    return masker


def describe_value(recipe: Recipe, value: object) -> str:
    """A recipe value as ``stagedeck check`` and other views may show it: secrets as ``•••``."""
    text = " ".join(str(v) for v in value) if isinstance(value, list | tuple) else str(value)
    return recipe.mask(text)


def masked_env(recipe: Recipe, env: Mapping[str, str]) -> dict[str, str]:
    """An env table for display: every secret value (whole or inside a value) masked."""
    return {key: recipe.mask(value) for key, value in env.items()}


class MaskingFilter(logging.Filter):
    """A logging filter that masks secrets in stagedeck's own log records.

    Install it on the handler that writes stagedeck's log file:
    ``handler.addFilter(MaskingFilter(masker))``.
    """

    def __init__(self, masker: SecretMasker) -> None:
        super().__init__()
        self.masker = masker

    def filter(self, record: logging.LogRecord) -> bool:
        if self.masker.secrets:
            message = record.getMessage()
            if record.exc_info and not record.exc_text:
                record.exc_text = logging.Formatter().formatException(record.exc_info)
            record.msg = self.masker(message)
            record.args = None
            if record.exc_text:
                record.exc_text = self.masker(record.exc_text)
        return True
