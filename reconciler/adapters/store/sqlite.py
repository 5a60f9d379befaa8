"""`SqliteStore`: the `Store` port on one SQLite file, `<state_dir>/reconciler.db`.

The daemon writes to it from its apply threads; the CLI opens it too, often while the daemon
runs, which WAL mode allows (readers never wait for the writer). Secrets never get here: a spec
holds only `SecretRef` names and a secret drift finding is masked when it is built.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Self

from reconciler.adapters.store.codec import (
    decode_finding,
    encode_deployment,
    encode_event,
    encode_finding,
    to_json,
)
from reconciler.adapters.store.decoded import DecodedRecords
from reconciler.adapters.store.migrations import migrate, transaction
from reconciler.domain.drift import DriftFinding
from reconciler.domain.events import DomainEvent
from reconciler.domain.model import Deployment
from reconciler.domain.values import Fingerprint, Revision
from reconciler.ports import HistoryEntry, PermanentError, TransientError

DATABASE_NAME = "reconciler.db"
KEEP_EVENTS = 1000
"""Events kept per deployment; history (attempts) and drift findings are not pruned."""

# Another process (a CLI command, a second daemon) holding the write lock past the busy timeout.
_RETRYABLE = frozenset({sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED})


class SqliteStore:
    """Deployments, their history, drift findings and events, kept in one SQLite file.

    A write waits up to `busy_timeout` seconds for another process's lock, then fails as a
    `TransientError`; anything else wrong with the file or folder is a `PermanentError`. Each
    deployment's event log keeps its newest `keep_events` events.
    """

    def __init__(
        self, state_dir: Path, *, busy_timeout: float = 5.0, keep_events: int = KEEP_EVENTS
    ) -> None:
        self.path = state_dir / DATABASE_NAME
        self.keep_events = keep_events
        # Threads: one connection shared behind a lock, rather than one connection per thread.
        # SQLite lets one writer in at a time anyway, so more connections would only trade this
        # lock for SQLITE_BUSY waits; the rows are small, so the lock is held briefly; and one
        # connection is one thing for `close()` to close, where per-thread connections would
        # be left open in the thread pool's threads.
        self._lock = threading.Lock()
        self._decoded = DecodedRecords()
        with _translated(self.path):
            state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
            # Created owner-only before SQLite sees it: its -wal and -shm files copy the mode.
            self.path.touch(mode=0o600, exist_ok=True)
            self._db = sqlite3.connect(
                self.path,
                timeout=busy_timeout,
                isolation_level=None,  # autocommit: `transaction` says where each one begins
                check_same_thread=False,  # safe: every use holds `self._lock`
            )
            try:
                self._db.row_factory = sqlite3.Row
                # WAL: the CLI reads while the daemon writes. NORMAL never corrupts a WAL
                # database; a power cut may lose the last commits, which the next tick redoes.
                self._db.execute("PRAGMA journal_mode=WAL")
                self._db.execute("PRAGMA synchronous=NORMAL")
                # No table has a foreign key yet; on, so a later migration's can be relied on.
                self._db.execute("PRAGMA foreign_keys=ON")
                migrate(self._db, database=self.path)
            except BaseException:
                self._db.close()
                raise

    # --- lifecycle --------------------------------------------------------------------------

    def close(self) -> None:
        """Close the connection, after any operation in flight; closing twice is harmless."""
        with self._lock:
            self._db.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    # --- deployments ------------------------------------------------------------------------

    def load(self, name: str) -> Deployment | None:
        """The deployment called `name`, or None if the store has never seen it."""
        with self._read() as db:
            row = db.execute("SELECT record FROM deployments WHERE name = ?", (name,)).fetchone()
        return None if row is None else self._decoded.decode(name, row["record"])

    def load_all(self) -> list[Deployment]:
        """Every deployment the store knows, by name."""
        with self._read() as db:
            rows = db.execute("SELECT name, record FROM deployments ORDER BY name").fetchall()
        self._decoded.keep_only([row["name"] for row in rows])
        return [self._decoded.decode(row["name"], row["record"]) for row in rows]

    def save(self, deployment: Deployment) -> None:
        """Write the deployment's whole record, replacing the previous one."""
        record = to_json(encode_deployment(deployment))
        with self._write() as db:
            db.execute(
                "INSERT INTO deployments (name, phase, updated_at, record) VALUES (?, ?, ?, ?)"
                " ON CONFLICT (name) DO UPDATE SET phase = excluded.phase,"
                " updated_at = excluded.updated_at, record = excluded.record",
                (deployment.name, deployment.phase.value, datetime.now(UTC).isoformat(), record),
            )

    def delete(self, name: str) -> None:
        """Forget the deployment's record; its history, drift and events stay."""
        with self._write() as db:
            db.execute("DELETE FROM deployments WHERE name = ?", (name,))

    # --- history ----------------------------------------------------------------------------

    def append_history(self, entry: HistoryEntry) -> None:
        """Keep one attempt in the history."""
        row = (
            entry.deployment,
            _text(entry.revision),
            _text(entry.fingerprint),
            entry.outcome,
            entry.reason,
            entry.message,
            entry.started_at.isoformat(),
            entry.duration_ms,
            _text(entry.reverted),
            _text(entry.restored),
        )
        with self._write() as db:
            db.execute(
                "INSERT INTO history (deployment, revision, fingerprint, outcome, reason,"
                " message, started_at, duration_ms, reverted, restored)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                row,
            )

    def history(self, name: str, *, limit: int = 50) -> list[HistoryEntry]:
        """The latest attempts on `name`, newest first."""
        with self._read() as db:
            rows = db.execute(
                "SELECT * FROM history WHERE deployment = ? ORDER BY id DESC LIMIT ?",
                (name, max(limit, 0)),  # SQLite reads a negative limit as "no limit"
            ).fetchall()
        return [
            HistoryEntry(
                deployment=row["deployment"],
                revision=_revision(row["revision"]),
                fingerprint=None if row["fingerprint"] is None else Fingerprint(row["fingerprint"]),
                outcome=row["outcome"],
                reason=row["reason"],
                message=row["message"],
                started_at=datetime.fromisoformat(row["started_at"]),
                duration_ms=row["duration_ms"],
                reverted=_revision(row["reverted"]),
                restored=_revision(row["restored"]),
            )
            for row in rows
        ]

    # --- events -----------------------------------------------------------------------------

    def append_events(self, events: Sequence[DomainEvent]) -> None:
        """Keep `events` in the event log, each under its type name."""
        rows = [
            (
                event.deployment,
                event.name,
                event.occurred_at.isoformat(),
                to_json(encode_event(event)),
            )
            for event in events
        ]
        with self._write() as db:
            db.executemany(
                "INSERT INTO events (deployment, type, occurred_at, payload) VALUES (?, ?, ?, ?)",
                rows,
            )
            # The log is bounded per deployment: the oldest events beyond the limit go.
            db.executemany(
                "DELETE FROM events WHERE deployment = ? AND id <= (SELECT id FROM events"
                " WHERE deployment = ? ORDER BY id DESC LIMIT 1 OFFSET ?)",
                [(name, name, self.keep_events) for name in {row[0] for row in rows}],
            )

    def events(self, name: str | None = None, *, limit: int = 100) -> list[dict[str, object]]:
        """The latest events of `name`, or of every deployment, newest first (for the CLI).

        Each is the event's `type` and fields as `encode_event` wrote them, plus its `id`.
        """
        with self._read() as db:
            if name is None:
                query = "SELECT id, payload FROM events ORDER BY id DESC LIMIT ?"
                rows = db.execute(query, (max(limit, 0),)).fetchall()
            else:
                query = (
                    "SELECT id, payload FROM events WHERE deployment = ? ORDER BY id DESC LIMIT ?"
                )
                rows = db.execute(query, (name, max(limit, 0))).fetchall()
        return [{"id": row["id"], **json.loads(row["payload"])} for row in rows]

    # --- drift ------------------------------------------------------------------------------

    def save_drift(
        self, name: str, findings: Sequence[DriftFinding], *, checked_at: datetime
    ) -> None:
        """Replace the stored drift findings of `name` with the latest check."""
        rows = [
            {
                **encoded,
                "deployment": name,
                "desired": to_json(encoded["desired"]),
                "live": to_json(encoded["live"]),
                "checked_at": checked_at.isoformat(),
            }
            for encoded in map(encode_finding, findings)
        ]
        with self._write() as db:
            db.execute("DELETE FROM drift_findings WHERE deployment = ?", (name,))
            db.executemany(
                "INSERT INTO drift_findings (deployment, resource, path, desired, live, secret,"
                " checked_at) VALUES (:deployment, :resource, :path, :desired, :live, :secret,"
                " :checked_at)",
                rows,
            )

    def drift(self, name: str) -> list[DriftFinding]:
        """The findings of the latest drift check of `name`, in the order they were found."""
        with self._read() as db:
            rows = db.execute(
                "SELECT resource, path, desired, live, secret FROM drift_findings"
                " WHERE deployment = ? ORDER BY id",
                (name,),
            ).fetchall()
        return [
            decode_finding(
                dict(row) | {"desired": json.loads(row["desired"]), "live": json.loads(row["live"])}
            )
            for row in rows
        ]

    # --- internals --------------------------------------------------------------------------

    @contextmanager
    def _read(self) -> Iterator[sqlite3.Connection]:
        with self._lock, _translated(self.path):
            yield self._db

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        with self._lock, _translated(self.path), transaction(self._db) as db:
            yield db


@contextmanager
def _translated(database: Path) -> Iterator[None]:
    """Raise SQLite's and the file system's failures as the ports' two operational errors."""
    try:
        yield
    except sqlite3.OperationalError as exc:
        if exc.sqlite_errorcode & 0xFF in _RETRYABLE:
            raise TransientError(
                f"{database} is locked by another process: {exc}", retry_after=5.0
            ) from exc
        raise PermanentError(f"{database}: {exc}") from exc
    except sqlite3.DatabaseError as exc:
        if isinstance(exc, sqlite3.ProgrammingError | sqlite3.IntegrityError):
            raise  # our own mistakes, such as using a closed store: nothing for an operator
        raise PermanentError(f"{database} is not a usable reconciler database: {exc}") from exc
    except OSError as exc:
        raise PermanentError(f"cannot create {database}: {exc}") from exc


def _text(value: Revision | Fingerprint | None) -> str | None:
    return None if value is None else str(value)


def _revision(sha: str | None) -> Revision | None:
    return None if sha is None else Revision(sha)


if TYPE_CHECKING:
    from reconciler.ports import Store

    # mypy proves here that SqliteStore implements the port exactly.
    _conforms: type[Store] = SqliteStore
