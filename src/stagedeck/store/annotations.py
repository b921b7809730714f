"""Annotations: what people wrote about a failure signature, shared by everyone on the file."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sqlite_utils import Database

from stagedeck.store.connection import Connection, _insert
from stagedeck.store.errors import NotAuthor, StoreError
from stagedeck.store.records import (
    TAGS,
    Annotation,
    Row,
    from_iso,
    iso,
)


class Annotations(Connection):
    """The ``annotations`` table: add, edit and delete (authors only), read by signature or test."""

    def add_annotation(
        self,
        signature: str,
        test_id: str,
        env: str,
        author: str,
        tag: str,
        note: str,
        link: str | None = None,
    ) -> int:
        """Say what a failure is ("flaky", "data", …); shared with everyone on the file."""
        _check_tag(tag)

        def tx(db: Database) -> int:
            now = iso(self.clock())
            row = {
                "signature": signature,
                "test_id": test_id,
                "environment": env,
                "author": author,
                "tag": tag,
                "note": note,
                "link": link,
                "created": now,
                "updated": now,
                "deleted": 0,
            }
            annotation_id = _insert(db, "annotations", row)
            self._touch(db, "annotations")
            return annotation_id

        return self._write(tx)

    def edit_annotation(
        self,
        annotation_id: int,
        author: str,
        *,
        tag: str | None = None,
        note: str | None = None,
        link: str | None = None,
    ) -> Annotation:
        """Change an annotation; only its author may (:class:`NotAuthor` otherwise)."""
        if tag is not None:
            _check_tag(tag)

        def tx(db: Database) -> Annotation:
            current = self._own_annotation(db, annotation_id, author, "edit")
            updates: dict[str, Any] = {"updated": iso(self.clock())}
            for key, value in (("tag", tag), ("note", note), ("link", link)):
                if value is not None:
                    updates[key] = value
            self._update(db, "annotations", annotation_id, updates)
            self._touch(db, "annotations")
            return _annotation({**current, **updates})

        return self._write(tx)

    def delete_annotation(self, annotation_id: int, author: str) -> None:
        """Hide an annotation (kept, flagged deleted, for the record); author only."""

        def tx(db: Database) -> None:
            self._own_annotation(db, annotation_id, author, "delete")
            self._update(
                db, "annotations", annotation_id, {"deleted": 1, "updated": iso(self.clock())}
            )
            self._touch(db, "annotations")

        self._write(tx)

    def _own_annotation(self, db: Database, annotation_id: int, author: str, verb: str) -> Row:
        rows = list(
            db.query("SELECT * FROM annotations WHERE id = ? AND deleted = 0", [annotation_id])
        )
        if not rows:
            raise StoreError(f"no annotation #{annotation_id} to {verb}", self.path, "not-found")
        if rows[0]["author"] != author:
            raise NotAuthor(
                f"annotation #{annotation_id} is {rows[0]['author']}'s: only its author "
                f"may {verb} it (add your own note instead)",
                self.path,
                "not-author",
            )
        return rows[0]

    def annotations_for(self, signature: str) -> list[Annotation]:
        """Live annotations of one failure signature, oldest first."""
        return self._annotations("signature = ?", signature)

    def annotations_for_test(self, test_id: str) -> list[Annotation]:
        """Live annotations of any failure of one test (e.g. "flaky" on the test itself)."""
        return self._annotations("test_id = ?", test_id)

    def _annotations(self, where: str, value: str) -> list[Annotation]:
        sql = f"SELECT * FROM annotations WHERE {where} AND deleted = 0 ORDER BY id"
        return self._read(lambda db: [_annotation(r) for r in db.query(sql, [value])])


def _check_tag(tag: str) -> None:
    if tag not in TAGS:
        raise ValueError(f"tag must be one of {', '.join(TAGS)}; not {tag!r}")


def _annotation(r: Row) -> Annotation:
    return Annotation(
        id=int(r["id"]),
        signature=r["signature"],
        test_id=r["test_id"],
        environment=r["environment"],
        author=r["author"],
        tag=r["tag"],
        note=r["note"],
        link=r["link"],
        created=from_iso(r["created"]),
        updated=from_iso(r["updated"] or r["created"]),
        deleted=bool(r["deleted"]),
    )
