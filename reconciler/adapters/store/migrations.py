"""The store's schema, as an ordered list of migration steps applied when `SqliteStore` opens.

The schema version is SQLite's `PRAGMA user_version`: step N brings version N-1 to N, in one
transaction with the version bump, so a crash mid-step leaves the previous version intact.
Steps are never edited once released; a change to the schema is a new step at the end.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from reconciler.ports import PermanentError

Step = Sequence[str]
"""The SQL statements of one migration step."""

MIGRATIONS: Sequence[Step] = (
    # 1: deployments, their history, the latest drift findings and the event log.
    (
        """
        CREATE TABLE deployments (
            name TEXT PRIMARY KEY,
            phase TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            record TEXT NOT NULL
        )
        """,
        # Not linked to `deployments` by a foreign key: a deleted deployment keeps its past.
        """
        CREATE TABLE history (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            deployment TEXT NOT NULL,
            revision TEXT,
            fingerprint TEXT,
            outcome TEXT NOT NULL,
            reason TEXT NOT NULL,
            message TEXT NOT NULL,
            started_at TEXT NOT NULL,
            duration_ms INTEGER NOT NULL,
            reverted TEXT,
            restored TEXT
        )
        """,
        "CREATE INDEX history_by_deployment ON history (deployment, id)",
        """
        CREATE TABLE drift_findings (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            deployment TEXT NOT NULL,
            resource TEXT NOT NULL,
            path TEXT NOT NULL,
            desired TEXT NOT NULL,
            live TEXT NOT NULL,
            secret INTEGER NOT NULL,
            checked_at TEXT NOT NULL
        )
        """,
        "CREATE INDEX drift_findings_by_deployment ON drift_findings (deployment, id)",
        """
        CREATE TABLE events (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            deployment TEXT NOT NULL,
            type TEXT NOT NULL,
            occurred_at TEXT NOT NULL,
            payload TEXT NOT NULL
        )
        """,
        "CREATE INDEX events_by_deployment ON events (deployment, id)",
    ),
)


class SchemaTooNewError(PermanentError):
    """The database was written by a newer reconciler than this one."""


@contextmanager
def transaction(connection: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """One write transaction on a connection in autocommit mode: committed, or rolled back."""
    try:
        # IMMEDIATE takes the write lock up front: a reader never has to upgrade its lock
        # half-way, which is where WAL databases hand out SQLITE_BUSY without waiting.
        connection.execute("BEGIN IMMEDIATE")
        yield connection
        connection.execute("COMMIT")
    except BaseException:
        if connection.in_transaction:
            connection.execute("ROLLBACK")
        raise


def schema_version(connection: sqlite3.Connection) -> int:
    """The version the database's schema is at; 0 for a new, empty file."""
    (version,) = connection.execute("PRAGMA user_version").fetchone()
    return int(version)


def migrate(
    connection: sqlite3.Connection, *, database: Path, steps: Sequence[Step] = MIGRATIONS
) -> None:
    """Apply every step the database lacks, in order, each in its own transaction."""
    while True:
        with transaction(connection):
            # Read inside the transaction: another process may have migrated meanwhile.
            version = schema_version(connection)
            if version > len(steps):
                raise SchemaTooNewError(
                    f"{database} has schema version {version}, but this reconciler knows "
                    f"versions up to {len(steps)}; upgrade reconciler, or use another --state-dir"
                )
            if version == len(steps):
                return
            for statement in steps[version]:
                connection.execute(statement)
            # user_version cannot be a bound parameter; `version` is an int read from SQLite.
            connection.execute(f"PRAGMA user_version = {version + 1}")
