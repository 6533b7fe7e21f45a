"""The effect store of a real run: a SQLite database per consumer group.

An effect is a row (message id, when); the processed-id store is a table of ids in the same
database. With ``atomic_dedup`` the id lookup, the effect and the id are one transaction; without
it they are two, and a crash after processing falls between them (the id is never written).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import numpy as np


class EffectStore:
    """One consumer group's database (a file of its own)."""

    def __init__(self, path: Path):
        self.path = path
        self.db = sqlite3.connect(path, isolation_level=None)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.execute("CREATE TABLE IF NOT EXISTS effects (message INTEGER, at REAL)")
        self.db.execute("CREATE TABLE IF NOT EXISTS processed (message INTEGER PRIMARY KEY)")

    def seen(self, message: int) -> bool:
        """Whether the processed-id store holds ``message``."""
        row = self.db.execute("SELECT 1 FROM processed WHERE message = ?", (message,)).fetchone()
        return row is not None

    def applied(self, message: int) -> bool:
        """Whether the effect of ``message`` was applied (at least once)."""
        row = self.db.execute("SELECT 1 FROM effects WHERE message = ?", (message,)).fetchone()
        return row is not None

    def apply(self, message: int, at: float, dedup: bool, atomic: bool, crash: bool) -> bool:
        """Apply the effect of ``message`` (at ``at`` seconds into the run), skipping it when
        ``dedup`` and the id is stored. ``crash``: the instance crashes after the effect, so a
        non-atomic store never writes the id. Returns whether the effect was applied."""
        db = self.db
        if not dedup:
            db.execute("INSERT INTO effects VALUES (?, ?)", (message, at))
            return True
        if atomic:
            db.execute("BEGIN IMMEDIATE")
            try:
                if self.seen(message):
                    db.execute("COMMIT")
                    return False
                db.execute("INSERT INTO effects VALUES (?, ?)", (message, at))
                db.execute("INSERT INTO processed VALUES (?)", (message,))
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
            return True
        if self.seen(message):
            return False
        db.execute("INSERT INTO effects VALUES (?, ?)", (message, at))  # transaction 1
        if not crash:
            db.execute("INSERT OR IGNORE INTO processed VALUES (?)", (message,))  # transaction 2
        return True

    def tally(self, messages: int) -> tuple[np.ndarray, np.ndarray]:
        """(effects per message, time of each message's first effect or NaN)."""
        effects = np.zeros(messages, dtype=np.int64)
        first = np.full(messages, np.nan)
        rows = self.db.execute(
            "SELECT message, COUNT(*), MIN(at) FROM effects GROUP BY message"
        ).fetchall()
        for message, count, at in rows:
            if 0 <= message < messages:
                effects[message] = count
                first[message] = at
        return effects, first

    def close(self) -> None:
        """Close the database."""
        self.db.close()
