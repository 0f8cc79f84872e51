"""The library's resources."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from tablespace.core.clock import hlc_to_datetime, iso
from tablespace.core.database import tag_list
from tablespace.core.search_queries import fts_query


@dataclass(frozen=True)
class ResourceView:
    id: str
    title: str
    url: str
    summary: str
    tags: list[str]
    added_by: str
    created_at: datetime

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "title": self.title,
            "url": self.url,
            "summary": self.summary,
            "tags": self.tags,
            "added_by": self.added_by,
            "created_at": iso(self.created_at),
        }


def resources(conn: sqlite3.Connection, *, tag: str | None = None, text: str | None = None) -> list[ResourceView]:
    where = ["r.deleted = 0"]
    args: list[Any] = []
    if tag:
        where.append("r.id IN (SELECT resource_id FROM resource_tags WHERE tag = ?)")
        args.append(tag)
    if text:
        where.append("r.rowid IN (SELECT rowid FROM resources_fts WHERE resources_fts MATCH ?)")
        args.append(fts_query(text, prefix_last=True))
    sql = f"""SELECT r.id, r.title, r.url, r.summary,
                     (SELECT group_concat(tag) FROM resource_tags WHERE resource_id = r.id),
                     coalesce(m.name, substr(r.added_by, 1, 8)), r.created_hlc
              FROM resources r LEFT JOIN members m ON m.id = r.added_by
              WHERE {" AND ".join(where)} ORDER BY r.created_hlc DESC, r.id"""
    return [
        ResourceView(
            id=r[0],
            title=r[1],
            url=r[2],
            summary=r[3],
            tags=tag_list(r[4]),
            added_by=r[5],
            created_at=hlc_to_datetime(r[6]),
        )
        for r in conn.execute(sql, args)
    ]
