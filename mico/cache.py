"""The evaluation cache: SQLite in WAL mode, shared by runs and processes.

Keys are hashes of everything that changes a result (see `Problem.cache_key`); every value is
stored with a checksum, so a corrupted entry is detected (and recomputed), never silently reused.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import sqlite3
import time
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


def default_cache_dir() -> Path:
    """``$MICO_CACHE`` or ``<repo>/.mico_cache``."""
    env = os.environ.get("MICO_CACHE")
    return Path(env) if env else Path(__file__).resolve().parent.parent / ".mico_cache"


def stable_hash(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()


class EvalCache:
    """``get(key) -> dict | None`` and ``put(key, value)`` on one SQLite file."""

    def __init__(self, path: str | os.PathLike | None = None):
        self.path = Path(path) if path is not None else default_cache_dir() / "evals.sqlite"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._conn: sqlite3.Connection | None = None
        self._pid = -1

    @property
    def conn(self) -> sqlite3.Connection:
        if self._conn is None or self._pid != os.getpid():  # one connection per process
            try:
                conn = sqlite3.connect(self.path, timeout=60, isolation_level=None)
                conn.execute("PRAGMA journal_mode=WAL")
                conn.execute("PRAGMA synchronous=NORMAL")
                conn.execute(
                    "CREATE TABLE IF NOT EXISTS evals (key TEXT PRIMARY KEY, value TEXT NOT NULL, "
                    "checksum TEXT NOT NULL, created REAL NOT NULL)"
                )
            except sqlite3.DatabaseError as e:
                raise RuntimeError(
                    f"the evaluation cache {self.path} is not a readable SQLite database ({e}); "
                    "move it away (nothing in it is needed: results are also in each run's trials.jsonl)"
                ) from e
            self._conn, self._pid = conn, os.getpid()
        return self._conn

    def get(self, key: str) -> dict[str, Any] | None:
        row = self.conn.execute("SELECT value, checksum FROM evals WHERE key = ?", (key,)).fetchone()
        if row is None:
            return None
        value, checksum = row
        if hashlib.sha256(value.encode()).hexdigest() != checksum:
            log.warning("cache entry %s is corrupted (checksum mismatch); recomputing it", key[:12])
            self.conn.execute("DELETE FROM evals WHERE key = ?", (key,))
            return None
        return json.loads(value)

    def put(self, key: str, value: dict[str, Any]) -> None:
        text = json.dumps(value, sort_keys=True)
        checksum = hashlib.sha256(text.encode()).hexdigest()
        self.conn.execute(
            "INSERT OR REPLACE INTO evals (key, value, checksum, created) VALUES (?, ?, ?, ?)",
            (key, text, checksum, time.time()),
        )

    def __len__(self) -> int:
        return int(self.conn.execute("SELECT COUNT(*) FROM evals").fetchone()[0])

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def __getstate__(self) -> dict[str, Any]:  # picklable for process / Ray backends
        return {"path": self.path, "_conn": None, "_pid": -1}
