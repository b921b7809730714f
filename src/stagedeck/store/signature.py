"""Failure signatures: the same failure gets the same short id in every run.

A test that fails with ``connection refused to 10.0.4.17:5432 after 3012 ms`` on
Monday and ``connection refused to 10.0.9.2:5432 after 2990 ms`` on Tuesday has
failed the same way. Annotations ("flaky: the seed job races the API"), history,
"seen 14 times since March" and stored suspects all hang off that sameness, so the
message is normalised (volatile parts masked) and hashed with the test id and the
source line that failed.

Real messages are not tidy. A failed integration test usually quotes the response
body it got: a JSON object full of request ids, order ids, reservation ids and
timestamps that change on every request. So:

1. **Embedded structures are parsed.** Every JSON object or array in the message
   (and every Python ``dict``/``list``/``set`` repr, as pytest prints them) is
   decoded and rewritten canonically: keys sorted and kept; values normalised by
   type. Values of id-like keys (``id``, ``rid``, ``order_id``, ``traceId``…)
   become ``<id>``, of time-like keys (``created_at``, ``ts``, ``expires``…)
   ``<ts>``; other numbers ``<n>`` except under status-like keys (``status``,
   ``code``, ``error_code``…); strings are masked like free text; ``null``,
   booleans and the structure's shape stay, so "payment_id: null" still differs
   from "payment_id: <id>".
2. **Free text is masked**, one pass, leftmost match first:

   ================================  =========  =====================================
   what                              becomes    example
   ================================  =========  =====================================
   HTTP status, exit code, errno     kept       ``HTTP 503``, ``502 Bad Gateway``,
                                                ``status_code=404``, ``exit code 137``
   id-like ``key=value``             ``<id>``   ``rid=t478bdbbc3``, ``X-Request-Id: x``
   timestamps of every common shape  ``<ts>``   ``2025-11-22T03:41:12.5Z``, ``03:41:12``,
                                                ``Tue, 01 Dec 2026 17:56:37 GMT``,
                                                ``Dec  1 17:56:37``, ``01/Dec/2026:17:56:37``
   UUIDs                             ``<id>``   ``123e4567-e89b-12d3-a456-426614174000``
   Kubernetes pod suffixes           ``-<id>``  ``api-7d9f8b6c5-x2x4z`` → ``api-<id>``
   IPv4/IPv6 addresses (+port)       ``<addr>`` ``10.0.0.5:8080``, ``[::1]:9000``, ``fe80::1``,
                                                ``ip-10-0-4-17`` (EC2 host names)
   temporary paths                   ``<tmp>``  ``/tmp/pytest-of-bob/pytest-12/x0/db``
   hex ids and pointers              ``<id>``   ``0x7f3a9c``, ``8f3a9c2e1b77``, ``ord_8f3a9c2e``
   generated ids                     ``<id>``   ``t478bdbbc3``, ``cus_NffrFeUfNV2Hib``, ULIDs
   numbers (durations, counters,     ``<n>``    ``after 3012 ms``, ``3.5s``, ``o-00006``,
   epoch seconds and ms)                        ``1764611797123``
   ================================  =========  =====================================

   Short numbers glued to a name stay (``utf8``, ``test_v2``, ``kafka-1``,
   ``SKU-4``, ``v1.2.3``): which broker or fixture failed is part of the failure.
   Host and service names stay (``db:5432`` → ``db:<n>``), and so do exception
   types, assertion operators and every word.
3. **pytest's explanations.** In ``assert 502 == 201`` followed by ``where 502 =
   <Response [502 Bad Gateway]>.status_code`` both numbers are status codes and stay;
   in ``assert 3 == 4`` they are counts and go. Object reprs lose their address. A
   set's "Extra items" (listed in hash order, which changes with every process) are
   sorted, or replaced by ``<items>`` when pytest truncated the list.
4. **The failing source line** (pytest's ``>`` line, the last one in the traceback)
   is part of the identity, verbatim but for spacing: two different assertions in
   one test stay two failures even when their masked messages look alike, and the
   expected constant written in the test (``== 201``) counts. Code, unlike output,
   does not change between runs.

Only the first :data:`MESSAGE_CHARS` characters of the message and the last
:data:`TRACEBACK_CHARS` of the traceback count: the store keeps at least that much,
so a signature can always be recomputed from a stored row (see
:mod:`stagedeck.store.resign`). Changing anything here changes stored
signatures: bump :data:`SIGNATURE_VERSION` and add a store migration that calls
``resign_all``, or every annotation made so far stops attaching.
"""

from __future__ import annotations

import ast
import hashlib
import http
import itertools
import json
import re
import tempfile
from collections.abc import Callable
from typing import Any, Final

SIGNATURE_LENGTH: Final = 16
"""Hex digits of the hash kept: 64 bits, ample for one team's failures, short to show."""

SIGNATURE_VERSION: Final = 2
"""1: masked message only. 2: structures parsed, ids of every shape, the failing line."""

MESSAGE_CHARS: Final = 4000
"""Characters of the raw message that count (the store keeps exactly this many)."""

TRACEBACK_CHARS: Final = 7000
"""Characters at the end of the traceback searched for the failing line (the store keeps 8000)."""

MESSAGE_LIMIT: Final = 2000
"""Characters of a normalised message that count; a huge dump should not make every run unique."""

_MAX_DEPTH = 6
_MAX_STRUCTURES = 40
"""Parse attempts per text: a message full of unbalanced braces stays linear enough."""


# ----------------------------------------------------------------------------- free text


def _temp_prefixes() -> list[str]:
    prefixes = ["/tmp", "/var/tmp", "/dev/shm", "/private/var/folders", "/var/folders"]
    local = tempfile.gettempdir().rstrip("/")
    if local and local not in prefixes:
        prefixes.append(local)
    # Longest first so /private/var/folders wins over /var/folders.
    return sorted(prefixes, key=len, reverse=True)


_HEX = "[0-9a-fA-F]"
_K8S = "[bcdfghjklmnpqrstvwxz2-9]"
"""The alphabet of Kubernetes' generated name suffixes: no vowels, so words never match."""
_MON = (
    "(?:Jan(?:uary)?|Feb(?:ruary)?|Mar(?:ch)?|Apr(?:il)?|May|June?|July?|Aug(?:ust)?"
    "|Sep(?:t|tember)?|Oct(?:ober)?|Nov(?:ember)?|Dec(?:ember)?)"
)
_DAY = "(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun)(?:day|sday|nesday|rsday|urday)?"
_TIME = r"\d{1,2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?(?:\s?[AaPp][Mm])?"
_ZONE = r"(?:\s?(?:Z|UTC|GMT|[+-]\d{2}:?\d{2})\b)?"
_PHRASES = "|".join(
    sorted({re.escape(s.phrase) for s in http.HTTPStatus if s.phrase}, key=len, reverse=True)
)
_KEEP_MARK = "\x00"
"""Wraps a number that must survive masking (a status code found by context)."""

# Each entry: (name, regex, replacement). A replacement is a string, None (keep the
# match), or a function of the match. Inner groups must be named ``<name>_...``.
_PATTERNS: list[tuple[str, str, str | Callable[[re.Match[str]], str] | None]] = [
    ("mark", rf"{_KEEP_MARK}(?P<mark_n>\d+){_KEEP_MARK}", lambda m: m.group("mark_n")),
    # Status codes, exit codes, errno, signals: what failed, not noise.
    (
        "status",
        r"(?i:\b(?:HTTP(?:/\d(?:\.\d)?)?|status(?:[ _-]?code)?|statusCode|returned|responded"
        r"|answered|response)\"?\s*[:=]?\s*)[1-5]\d\d\b",
        None,
    ),
    ("phrase", rf"\b[1-5]\d\d (?:{_PHRASES})\b", None),
    (
        "code",
        r"(?i:\b(?:exit(?:ed)?(?: with)?(?: code| status)?|exit_?code|return ?code|errno"
        r"|error[ _]?code|code|signal|sqlstate)\"?\s*[:=]?\s*)-?\d+\b",
        None,
    ),
    # key=value where the key says the value is an identifier.
    (
        "kv",
        r"(?P<kv_key>\b(?:[A-Za-z][A-Za-z0-9]*[_-])*(?:[a-z]+(?:Id|ID|Ids)|(?i:(?:r|p|u)?ids?"
        r"|uuid|guid|token|nonce|etag|trace|span|session)))"
        r"(?P<kv_sep>\"?\s*[:=]\s*)(?P<kv_value>\"[^\"\n]*\"|'[^'\n]*'|[^\s\"',;)\]}>]+)",
        lambda m: m.group("kv_key") + m.group("kv_sep") + _id_value(m.group("kv_value")),
    ),
    # Timestamps: ISO 8601 (extended and basic), HTTP/RFC 1123/850, ctime, syslog,
    # Apache CLF, slashed dates, times of day.
    (
        "iso",
        r"\b\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?)?"
        r"(?:Z|[+-]\d{2}:?\d{2}\b)?|\b\d{8}T\d{6}(?:\.\d+)?(?:Z|[+-]\d{4})?",
        "<ts>",
    ),
    (
        "httpdate",
        rf"\b(?:{_DAY},?\s+)?\d{{1,2}}[ -]{_MON}[ -]\d{{2,4}}(?:\s+{_TIME})?{_ZONE}",
        "<ts>",
    ),
    (
        "ctime",
        rf"\b(?:{_DAY},?\s+)?{_MON}\s+\d{{1,2}}(?:st|nd|rd|th)?,?(?:\s+\d{{4}})?\s+{_TIME}"
        rf"{_ZONE}(?:\s+\d{{4}}\b)?|\b{_MON}\s+\d{{1,2}},\s+\d{{4}}\b",
        "<ts>",
    ),
    ("clf", rf"\b\d{{1,2}}/{_MON}/\d{{4}}(?::{_TIME})?(?:\s[+-]\d{{4}})?", "<ts>"),
    (
        "slashdate",
        rf"\b(?:\d{{4}}/\d{{1,2}}/\d{{1,2}}|\d{{1,2}}/\d{{1,2}}/\d{{4}})(?:[ T]{_TIME})?{_ZONE}",
        "<ts>",
    ),
    ("time", r"\b\d{1,2}:\d{2}:\d{2}(?:[.,]\d+)?(?:\s?[AaPp][Mm])?\b", "<ts>"),
    (
        "uuid",
        rf"(?<![A-Za-z0-9]){_HEX}{{8}}-{_HEX}{{4}}-{_HEX}{{4}}-{_HEX}{{4}}-{_HEX}{{12}}"
        r"(?![A-Za-z0-9])",
        "<id>",
    ),
    (
        "pod",
        rf"(?<=[a-z0-9])-(?:{_K8S}{{8,10}}-{_K8S}{{5}}|(?={_K8S}{{0,4}}\d){_K8S}{{5}})\b",
        "-<id>",
    ),
    ("ipv4", r"\b(?:\d{1,3}\.){3}\d{1,3}(?::\d{1,5})?\b|\bip-(?:\d{1,3}-){3}\d{1,3}\b", "<addr>"),
    ("ipv6", r"\[[0-9a-fA-F]*:[0-9a-fA-F]*:[0-9a-fA-F:.]*\](?::\d{1,5})?", "<addr>"),
    (
        "ipv6bare",
        r"(?<![\w:])(?=[0-9a-fA-F:]*\d)(?:(?:[0-9a-fA-F]{1,4}:){7}[0-9a-fA-F]{1,4}"
        r"|(?:[0-9a-fA-F]{1,4}(?::[0-9a-fA-F]{1,4}){0,6})?::(?:[0-9a-fA-F]{1,4}"
        r"(?::[0-9a-fA-F]{1,4}){0,6})?)(?![\w:])",
        "<addr>",
    ),
    (
        "tmp",
        "(?:" + "|".join(re.escape(p) for p in _temp_prefixes()) + r")/[^\s'\"`,;:)\]}>]*",
        "<tmp>",
    ),
    ("ptr", rf"\b0[xX]{_HEX}+\b", "<id>"),
    ("decimal", r"(?<![\w.])\d+\.\d+(?:\.\d+)*(?:[eE][+-]?\d+)?", "<n>"),
    # Only runs with a digit or a capital can be ids or numbers: lowercase words are
    # skipped by the regex itself (a callback per word would dominate the cost).
    (
        "word",
        r"(?<![A-Za-z0-9])(?=[a-z]*[0-9A-Z])[A-Za-z0-9]+(?![A-Za-z0-9])",
        lambda m: _word(m),
    ),
]
_COMBINED = re.compile("|".join(f"(?P<{name}>{regex})" for name, regex, _ in _PATTERNS))
_REPLACEMENTS = {name: replacement for name, _, replacement in _PATTERNS}
_SPACE = re.compile(r"\s+")
_DIGITS = re.compile(r"\d+")
_HEX_ID = re.compile(rf"(?=.*\d)(?=.*[a-fA-F]){_HEX}{{8,}}")


def _id_value(value: str) -> str:
    quote = value[0] if value[:1] in ("'", '"') else ""
    inner = value[1:-1] if quote else value
    if inner in ("", "-", "null", "None", "none", "nil", "undefined"):
        return value
    return f"{quote}<id>{quote}"


def _looks_generated(word: str) -> bool:
    """True for a token no person named: hex ids, base62/ULID-ish ids, random case soup."""
    if len(word) >= 8 and _HEX_ID.fullmatch(word):
        return True
    letters = sum(c.isalpha() for c in word)
    digits = len(word) - letters
    if letters and digits and len(word) >= 6:
        switches = sum(a.isdigit() != b.isdigit() for a, b in itertools.pairwise(word))
        if switches >= 2:
            return True
    if not digits and len(word) >= 10:
        # Random case (NffrFeUfNVHib): about as many capitals as not, case flipping at
        # every other letter. CamelCase words (CrashLoopBackOff, JSONDecodeError) have
        # far fewer capitals or flips.
        upper = sum(c.isupper() for c in word)
        flips = sum(a.isupper() != b.isupper() for a, b in itertools.pairwise(word))
        return 0.3 <= upper / letters <= 0.7 and flips / (len(word) - 1) >= 0.5
    return False


def _word(match: re.Match[str]) -> str:
    """One alphanumeric run: an id, a number, a name with a number, or a word."""
    word = match.group(0)
    if word.isalpha():
        return "<id>" if _looks_generated(word) else word
    if _looks_generated(word):
        return "<id>"
    start = match.start()
    text = match.string
    if word.isdigit():
        # Glued to a name by _ - or . (x86_64, kafka-1, SKU-4, v1.2.3): part of the name.
        sep = text[start - 1] if start else ""
        before = text[start - 2] if start > 1 else ""
        glued = (sep in "_." and before.isalnum()) or (sep == "-" and before.isalpha())
        return word if glued and len(word) <= 2 else "<n>"

    # Letters and digits: a leading number is a quantity (3012ms); a long number after
    # letters is a counter (order12345); a short one is part of the name (utf8, http2).
    def digits(m: re.Match[str]) -> str:
        run = m.group(0)
        return "<n>" if m.start() == 0 or len(run) > 2 else run

    return _DIGITS.sub(digits, word)


def _replace(match: re.Match[str]) -> str:
    name = match.lastgroup
    assert name is not None
    replacement = _REPLACEMENTS[name]
    if replacement is None:
        return match.group(0)
    if isinstance(replacement, str):
        return replacement
    return replacement(match)


# ----------------------------------------------------------------------------- structures

_STATUS_KEY = re.compile(
    r"(?i)^(?:http_?)?(?:status(?:_?code)?|code|error_?code|errno|exit_?code|returncode"
    r"|signal|sqlstate|http_?code)$"
)
_TIME_KEY = re.compile(
    r"^[a-z]+(?:At|On|Time|Date)$|(?i:^(?:.*[_-])?(?:at|on|ts|time|timestamp|date|datetime|when"
    r"|since|until|expires?|expiry|deadline)$|^(?:created|updated|modified|deleted|started"
    r"|ended|finished|now|last_?seen|first_?seen)$)"
)
_ID_KEY = re.compile(
    r"^[a-z]+(?:Id|ID|Ids)$|(?i:^(?:.*[_-])?(?:r|p|u)?ids?$|^(?:.*[_-])?(?:uuid|guid|etag|nonce"
    r"|token|cursor|checksum|hash|digest|signature|trace|traceparent|span|session)$)"
)


def _value(value: Any, key: str, depth: int) -> Any:
    if isinstance(value, dict):
        pairs = [(_text(str(k), depth + 1), _value(v, str(k), depth + 1)) for k, v in value.items()]
        return {k: v for k, v in sorted(pairs, key=lambda kv: json.dumps(kv, sort_keys=True))}
    if isinstance(value, list | tuple):
        return [_value(v, key, depth + 1) for v in value]
    if isinstance(value, set | frozenset):
        items = [_value(v, key, depth + 1) for v in value]
        return {"<set>": sorted(items, key=lambda v: json.dumps(v, sort_keys=True))}
    if value is None or isinstance(value, bool):
        return value
    if key and _ID_KEY.match(key):
        return "<id>" if value != "" else ""
    if key and _TIME_KEY.match(key):
        return "<ts>" if value != "" else ""
    if isinstance(value, int):
        return value if key and _STATUS_KEY.match(key) else "<n>"
    if isinstance(value, float):
        return "<n>"
    if isinstance(value, str):
        return _text(value, depth + 1)
    return _text(repr(value), depth + 1)


def _closing(text: str, start: int) -> int:
    """Index after the bracket closing the one at ``start`` (quotes respected), or -1."""
    pairs = {"{": "}", "[": "]", "(": ")"}
    stack: list[str] = []
    quote = ""
    i = start
    while i < len(text):
        c = text[i]
        if quote:
            if c == "\\":
                i += 1
            elif c == quote:
                quote = ""
        elif c in "'\"":
            quote = c
        elif c in pairs:
            stack.append(pairs[c])
        elif c in ")]}":
            if not stack or stack.pop() != c:
                return -1
            if not stack:
                return i + 1
        i += 1
    return -1


_DECODER = json.JSONDecoder()


def _structure(text: str, start: int) -> tuple[Any, int] | None:
    """A JSON value or Python literal (dict, list, set) starting at ``start``, and its end."""
    try:
        value, end = _DECODER.raw_decode(text, start)
    except (json.JSONDecodeError, RecursionError):
        end = _closing(text, start)
        if end < 0:
            return None
        try:
            value = ast.literal_eval(text[start:end])
        except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
            return None
    if not isinstance(value, dict | list | set | tuple) or not value:
        return None
    return value, end


_MASKABLE = re.compile(r"[0-9A-Z/:=\[{\x00]")
"""Text without any of these (a lowercase word, "failed") has nothing to mask: every
pattern needs a digit, a capital, a path, a key separator or a bracket."""


def _text(text: str, depth: int = 0) -> str:
    """Free text with its embedded structures rewritten and its volatile tokens masked."""
    if not _MASKABLE.search(text):
        return text
    parts: list[str] = []
    pos = 0
    if depth < _MAX_DEPTH:
        attempts = 0
        i = 0
        while attempts < _MAX_STRUCTURES:
            i = min((j for j in (text.find("{", i), text.find("[", i)) if j >= 0), default=-1)
            if i < 0:
                break
            attempts += 1
            found = _structure(text, i)
            if found is None:
                i += 1
                continue
            value, end = found
            parts.append(_COMBINED.sub(_replace, text[pos:i]))
            parts.append(json.dumps(_value(value, "", depth), sort_keys=True, ensure_ascii=False))
            pos = i = end
    parts.append(_COMBINED.sub(_replace, text[pos:]))
    return "".join(parts)


# ----------------------------------------------------------------------------- pytest

_STATUS_EXPLAINED = re.compile(
    r"where (\d{3}) = .*?(?:status(?:_code)?\b|<Response \[\d{3})", re.IGNORECASE
)
_ASSERT_LINE = re.compile(r"^(?:E\s+)?(?:AssertionError: )?assert .*$", re.MULTILINE)
_WHERE_LINE = re.compile(r"^(?:E)?\s*\+\s+where .*$", re.MULTILINE)
_COMPARE_LINE = re.compile(r"^.*(?:\bassert |\bdiff: |\s!=\s).*$", re.MULTILINE)
_STATUS_NUMBER = re.compile(r"(?<![\w.])[1-5]\d\d(?![\w.])")
_LISTED_NUMBER = re.compile(r"(?<![\w\x00])(?<!\d\.)\d{3}(?![\w\x00]|\.\d)")
COMMON_STATUSES: Final = frozenset(
    str(code)
    for code in (200, 201, 202, 204, 301, 302, 304, 307, 308, 400, 401, 403, 404, 405, 406)
    + (408, 409, 410, 412, 413, 415, 422, 423, 425, 429, 500, 501, 502, 503, 504)
)
"""Status codes tests compare against. A comparison made only of these (``assert 404 ==
200``, ``At index 0 diff: 500 != 201``) is about statuses, even with no explanation."""


def _keep(number: re.Match[str]) -> str:
    return f"{_KEEP_MARK}{number.group(0)}{_KEEP_MARK}"


def _mark_statuses(message: str) -> str:
    """Keep the numbers of comparisons that are about HTTP statuses (see the module doc).

    Either pytest explains a value as a status (``where 502 = <Response [502 …]>
    .status_code``): then the numbers on the assertion and where lines are statuses.
    Or every three-digit number on a comparison line is a common status code.
    """
    if _STATUS_EXPLAINED.search(message):

        def mark(line: re.Match[str]) -> str:
            return _STATUS_NUMBER.sub(_keep, line.group(0))

        message = _WHERE_LINE.sub(mark, _ASSERT_LINE.sub(mark, message))

    def listed(line: re.Match[str]) -> str:
        # Not inside list reprs: how many of ten racing requests got 409 rather than
        # 502 varies between runs; pytest's "At index 0 diff: 409 != 201" line is kept.
        text = line.group(0)
        if "[" in text or "{" in text or "..." in text:
            return text
        numbers = _LISTED_NUMBER.findall(text)
        if numbers and all(n in COMMON_STATUSES for n in numbers):
            return _LISTED_NUMBER.sub(_keep, text)
        return text

    return _COMPARE_LINE.sub(listed, message)


_MARKED_SOURCE = re.compile(r"^>\s{3,}(\S.*)$", re.MULTILINE)
"""pytest's mark: ``>`` then the source indented to column 8 (a quoted ``> text`` is not it)."""


def failing_line(traceback: str) -> str:
    """The source line pytest marks with ``>`` last in the traceback, spacing collapsed.

    Source, not output: taken verbatim, so ``== 201`` in the test still counts.
    """
    found = _MARKED_SOURCE.findall(traceback[-TRACEBACK_CHARS:])
    return _SPACE.sub(" ", found[-1]).strip()[:300] if found else ""


# ----------------------------------------------------------------------------- API


_SET_DIFF = re.compile(r"^\s*Extra items in the (?:left|right) set:\s*$")


def _sort_set_diffs(message: str) -> str:
    """pytest lists a set's extra items one a line in hash order, which changes with
    every process (and, when the output is truncated, so does which items show): sort
    a complete list, replace a truncated one by ``<items>``."""
    if "Extra items in the" not in message:
        return message
    lines = message.split("\n")
    out: list[str] = []
    i = 0
    while i < len(lines):
        out.append(lines[i])
        i += 1
        if not _SET_DIFF.match(out[-1]):
            continue
        items = []
        while i < len(lines) and lines[i].strip() and not lines[i].rstrip().endswith(":"):
            items.append(lines[i].strip())
            i += 1
        cut = "output truncated" in message or any(item.endswith("...") for item in items)
        out.extend(["<items>"] if cut else sorted(items))
    return "\n".join(out)


def normalise_message(message: str) -> str:
    """The message with embedded structures canonical, volatile parts masked, spacing collapsed."""
    text = _mark_statuses(_sort_set_diffs(message[:MESSAGE_CHARS]))
    return _SPACE.sub(" ", _text(text)).strip()[:MESSAGE_LIMIT]


def failure_signature(test_id: str, message: str, traceback: str = "") -> str:
    """A short stable id for "this test failed this way" (see the module docstring)."""
    text = f"{test_id}\n{normalise_message(message)}"
    line = failing_line(traceback)
    if line:
        text += f"\nat {line}"
    return hashlib.sha256(text.encode()).hexdigest()[:SIGNATURE_LENGTH]
