"""What ``stagedeck failures`` prints: each failure with its notes and its likely cause.

Three forms of one list. ``--json``: the documented shape (README), nothing
else on standard output. A terminal: a Rich table, every cell a ``Text`` (a
message saying ``[red]`` prints as written). A pipe: one tab-separated line per
failure under a header, tabs and newlines inside a value turned into spaces, so
``cut -f``, ``awk -F'\\t'`` and ``grep`` work on it and the columns never move.
"""

from __future__ import annotations

import time
from typing import Any, TextIO

PLAIN_COLUMNS = (
    "RUN",
    "SUITE",
    "TEST",
    "OUTCOME",
    "SEEN",
    "SIGNATURE",
    "SUSPECT",
    "NOTES",
    "MESSAGE",
)
"""The piped form's columns, in order (a script may rely on them: add at the end only)."""


def failure_items(store: Any, failures: list[Any]) -> list[dict[str, Any]]:
    """Each failure with what the shared file knows about it (the ``--json`` shape)."""
    from stagedeck.suites.report import recurrence_line

    items = []
    for f in failures:
        r = f.result
        notes = store.annotations_for(r.signature) if r.signature else []
        stats = store.signature_stats(r.signature) if r.signature else None
        items.append(
            {
                "run_id": f.run_id,
                "suite": f.suite,
                "test_id": r.test_id,
                "outcome": r.outcome,
                "message": r.message,
                "signature": r.signature,
                "seen": stats.count if stats else 1,
                "first_seen": stats.first_seen if stats else None,
                "annotations": [
                    {
                        "id": a.id,
                        "author": a.author,
                        "tag": a.tag,
                        "note": a.note,
                        "link": a.link,
                        "updated": a.updated,
                    }
                    for a in notes
                ],
                "known": recurrence_line(stats, notes) if stats else "",
                "suspects": store.failure_suspects(r.id) if r.id is not None else [],
            }
        )
    return items


def _suspect_line(item: dict[str, Any]) -> str:
    from stagedeck.triage.model import Suspect

    suspects = item["suspects"]
    if not suspects:
        return ""
    try:
        return Suspect.from_dict(suspects[0]).line()
    except (KeyError, TypeError, ValueError):  # a row a newer stagedeck wrote
        return str(suspects[0].get("name", ""))


def _note_text(note: dict[str, Any]) -> str:
    link = f" ({note['link']})" if note.get("link") else ""
    return f"#{note['id']} {note['author']} [{note['tag']}]: {note['note']}{link}"


def _first_line(text: str | None) -> str:
    lines = (text or "").splitlines()
    return lines[0] if lines else ""


def _cell(value: object) -> str:
    return " ".join(str(value if value is not None else "").split())


def print_plain(items: list[dict[str, Any]], out: TextIO) -> None:
    """Tab-separated, one failure a line, under a header."""
    out.write("\t".join(PLAIN_COLUMNS) + "\n")
    for item in items:
        row = [
            item["run_id"],
            item["suite"],
            item["test_id"],
            item["outcome"],
            item["seen"],
            item["signature"] or "",
            _suspect_line(item),
            " | ".join(_note_text(n) for n in item["annotations"]),
            _first_line(item["message"]),
        ]
        out.write("\t".join(_cell(v) for v in row) + "\n")


def print_table(
    items: list[dict[str, Any]], title: str, out: TextIO, *, with_run: bool = False
) -> None:
    """On a terminal: a Rich table in the 16 standard colours (readable anywhere)."""
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    from stagedeck.suites.report import seen_text

    now = time.time()
    table = Table(title=Text(title), title_justify="left", show_lines=True)
    if with_run:
        table.add_column("RUN", justify="right", no_wrap=True)
    table.add_column("TEST", overflow="fold", ratio=2)
    table.add_column("SEEN", no_wrap=True)
    table.add_column("WHAT IS KNOWN", overflow="fold", ratio=5)
    for item in items:
        test = Text(f"{item['suite']} ", style="dim")
        test.append(item["test_id"].rpartition("::")[2] or item["test_id"], style="bold")
        seen = Text(str(item["seen"]) + "×")
        if item["seen"] > 1:
            seen.stylize("yellow")
        known = Text()
        suspect = _suspect_line(item)
        if suspect:
            known.append("▶ likely cause: ", style="bold red")
            known.append(suspect + "\n")
        for note in item["annotations"]:
            known.append(f"#{note['id']} {note['author']} [{note['tag']}]: ", style="bold")
            known.append(note["note"])
            if note.get("link"):
                known.append(f" ({note['link']})", style="underline")
            known.append("\n")
        since = seen_text(item["seen"], item["first_seen"], now)
        if since and item["seen"] > 1:
            known.append(since + "\n", style="yellow")
        outcome_style = "red" if item["outcome"] == "failed" else "magenta"
        known.append(f"{item['outcome']}: ", style=outcome_style)
        known.append(_first_line(item["message"]), style="dim")
        row = [test, seen, known]
        if with_run:
            row.insert(0, Text(str(item["run_id"])))
        table.add_row(*row)
    Console(file=out, highlight=False).print(table)
