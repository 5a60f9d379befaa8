"""SqliteStore on real files: schema and pragmas, round-trips, order, threads, errors, secrets."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import fields, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from builders import make_fingerprint as fingerprint
from builders import make_revision as revision
from builders import rest_spec, websocket_spec

from reconciler.adapters.store.migrations import MIGRATIONS, SchemaTooNewError, migrate
from reconciler.adapters.store.sqlite import DATABASE_NAME, SqliteStore
from reconciler.domain import events
from reconciler.domain.drift import SECRET_MASK, DriftFinding
from reconciler.domain.model import AppliedRevision, Deployment
from reconciler.domain.status import DriftState, Phase
from reconciler.ports import HistoryEntry, PermanentError, TransientError

NOW = datetime(2025, 11, 26, 7, 0, tzinfo=UTC)


def lived_in(name: str = "orders", *, phase: Phase = Phase.DEGRADED) -> Deployment:
    """A deployment with every field away from its default."""
    return Deployment(
        name=name,
        spec=websocket_spec(name),
        applied_spec=rest_spec(name),
        manifest_path=f"deploy/{name}.yaml",
        phase=phase,
        desired_revision=revision("new"),
        attempted_revision=revision("attempted"),
        applied_revision=revision("old"),
        applied_fingerprint=fingerprint("old"),
        attempted_fingerprint=fingerprint("attempted"),
        failures=2,
        next_attempt_at=NOW + timedelta(seconds=90),
        reason="RolledBack",
        message="serving old after an automatic rollback",
        drift=DriftState.DRIFTED,
        drift_reported=True,
        endpoint="https://orders.example.test/live",
        history=[AppliedRevision(revision("old"), fingerprint("old"), NOW, revision("bad"))],
    )


def record_of(deployment: Deployment | None) -> dict[str, object]:
    """Every field of the aggregate, which compares by identity."""
    assert deployment is not None
    return {field.name: getattr(deployment, field.name) for field in fields(deployment)}


def attempt(label: str, *, name: str = "orders", **changes) -> HistoryEntry:
    entry = HistoryEntry(
        deployment=name,
        revision=revision(label),
        fingerprint=fingerprint(label),
        outcome="applied",
        reason="Applied",
        message=f"serving {label}",
        started_at=NOW,
        duration_ms=1234,
    )
    return replace(entry, **changes)


def requested(label: str, *, name: str = "orders") -> events.DeploymentRequested:
    return events.DeploymentRequested(
        deployment=name, occurred_at=NOW, revision=revision(label), reason=label
    )


@pytest.fixture
def state_dir(tmp_path: Path) -> Path:
    return tmp_path / "state"


@pytest.fixture
def store(state_dir: Path) -> Iterator[SqliteStore]:
    with SqliteStore(state_dir) as opened:
        yield opened


@contextmanager
def raw(state_dir: Path) -> Iterator[sqlite3.Connection]:
    """A connection of our own, to look at the file the way another process would."""
    connection = sqlite3.connect(state_dir / DATABASE_NAME, isolation_level=None)
    try:
        yield connection
    finally:
        connection.close()


# --- opening: files, pragmas, migrations -------------------------------------------------------


class TestOpening:
    def test_opening_creates_an_owner_only_folder_and_database(self, tmp_path):
        state_dir = tmp_path / "deep" / "state"

        SqliteStore(state_dir).close()

        assert state_dir.stat().st_mode & 0o777 == 0o700
        assert (state_dir / DATABASE_NAME).stat().st_mode & 0o777 == 0o600

    @pytest.mark.usefixtures("store")
    def test_database_is_in_wal_mode_for_every_connection(self, state_dir):
        """WAL is a property of the file: another process's connection reads it too."""
        with raw(state_dir) as other:
            assert other.execute("PRAGMA journal_mode").fetchone() == ("wal",)

    @pytest.mark.parametrize(
        ("pragma", "expected"),
        [
            pytest.param("journal_mode", "wal", id="wal"),
            pytest.param("synchronous", 1, id="synchronous-normal"),
            pytest.param("foreign_keys", 1, id="foreign-keys-on"),
            pytest.param("busy_timeout", 5000, id="busy-timeout-5s"),
        ],
    )
    def test_connection_is_configured(self, store, pragma, expected):
        assert store._db.execute(f"PRAGMA {pragma}").fetchone()[0] == expected

    def test_opening_twice_migrates_once_and_keeps_the_data(self, state_dir):
        with SqliteStore(state_dir) as first:
            first.save(lived_in())

        with SqliteStore(state_dir) as second:
            assert record_of(second.load("orders")) == record_of(lived_in())
            version = second._db.execute("PRAGMA user_version").fetchone()[0]

        assert version == len(MIGRATIONS)

    def test_schema_has_every_table_and_index(self, store):
        names = {row[0] for row in store._db.execute("SELECT name FROM sqlite_schema")}

        assert {"deployments", "history", "drift_findings", "events"} <= names
        assert {"history_by_deployment", "events_by_deployment"} <= names

    def test_database_from_a_newer_reconciler_is_refused_with_a_hint(self, state_dir):
        SqliteStore(state_dir).close()
        with raw(state_dir) as newer:
            newer.execute(f"PRAGMA user_version = {len(MIGRATIONS) + 1}")

        with pytest.raises(SchemaTooNewError, match="upgrade reconciler") as refused:
            SqliteStore(state_dir)

        assert isinstance(refused.value, PermanentError)
        assert f"schema version {len(MIGRATIONS) + 1}" in str(refused.value)
        assert f"versions up to {len(MIGRATIONS)}" in str(refused.value)

    def test_a_failing_step_leaves_the_previous_version_in_place(self, tmp_path):
        """Each step commits with its version bump; a broken step rolls back alone."""
        steps = [
            ("CREATE TABLE first (x)",),
            ("CREATE TABLE second (x)", "INSERT INTO nope VALUES (1)"),
        ]
        connection = sqlite3.connect(tmp_path / "m.db", isolation_level=None)
        try:
            with pytest.raises(sqlite3.OperationalError, match="nope"):
                migrate(connection, database=tmp_path / "m.db", steps=steps)
            tables = {row[0] for row in connection.execute("SELECT name FROM sqlite_schema")}
            version = connection.execute("PRAGMA user_version").fetchone()[0]
        finally:
            connection.close()

        assert (version, tables) == (1, {"first"})


# --- deployments ------------------------------------------------------------------------------


class TestDeployments:
    def test_every_field_survives_save_and_load(self, store):
        """Spec and applied spec, revisions, fingerprints, times, enums and history."""
        store.save(lived_in())

        assert record_of(store.load("orders")) == record_of(lived_in())

    def test_unknown_deployment_loads_as_none(self, store):
        assert store.load("nobody") is None

    def test_save_replaces_the_whole_record(self, store, state_dir):
        store.save(lived_in())
        store.save(Deployment(name="orders", phase=Phase.SUSPENDED))

        assert record_of(store.load("orders")) == record_of(
            Deployment(name="orders", phase=Phase.SUSPENDED)
        )
        with raw(state_dir) as other:
            row = other.execute("SELECT phase, updated_at FROM deployments").fetchone()
        phase, updated_at = row
        assert phase == "Suspended"
        assert datetime.fromisoformat(updated_at).tzinfo is not None

    def test_pending_events_are_left_for_the_application_to_append(self, store):
        deployment = Deployment(name="orders")
        deployment.request(
            spec=rest_spec(),
            revision=revision("new"),
            fingerprint=fingerprint("new"),
            manifest_path=None,
            reason="NewRevision",
            now=NOW,
        )

        store.save(deployment)

        assert store.load("orders").pending_events == []
        assert store.events() == []

    def test_load_all_returns_every_deployment_by_name(self, store):
        for name in ("zeta", "alpha", "mid"):
            store.save(lived_in(name))

        assert [deployment.name for deployment in store.load_all()] == ["alpha", "mid", "zeta"]

    def test_each_load_is_a_private_copy_of_what_is_stored(self, store):
        """Records are decoded once and reused: a change not saved must never leak out."""
        store.save(lived_in())
        (first,) = store.load_all()

        first.phase = Phase.FAILED
        first.history.append(AppliedRevision(revision("new"), fingerprint("new"), NOW))
        first.pending_events.append(requested("new"))

        for loaded in (*store.load_all(), store.load("orders")):
            assert loaded is not first
            assert record_of(loaded) == record_of(lived_in())

    def test_a_record_saved_by_another_process_is_what_the_next_load_returns(
        self, store, state_dir
    ):
        """The CLI writes the same file while the daemon runs (`drift --heal`, `rollback`)."""
        store.save(lived_in(phase=Phase.DEGRADED))
        store.load_all()  # decoded and kept
        with SqliteStore(state_dir) as cli:
            cli.save(lived_in(phase=Phase.READY))
            cli.save(lived_in("added"))

        assert [(d.name, d.phase) for d in store.load_all()] == [
            ("added", Phase.DEGRADED),
            ("orders", Phase.READY),
        ]
        assert store.load("orders").phase is Phase.READY

    def test_a_deleted_record_is_not_loaded_again(self, store):
        store.save(lived_in())
        store.save(lived_in("other"))
        store.load_all()

        store.delete("other")

        assert [deployment.name for deployment in store.load_all()] == ["orders"]
        assert store.load("other") is None

    def test_delete_forgets_only_the_record(self, store):
        store.save(lived_in())
        store.append_history(attempt("old"))
        store.append_events([requested("old")])
        store.save_drift("orders", [DriftFinding("fn", "memory", 1, 2)], checked_at=NOW)

        store.delete("orders")

        assert store.load("orders") is None
        assert len(store.history("orders")) == 1
        assert len(store.events("orders")) == 1
        assert len(store.drift("orders")) == 1

    def test_everything_survives_closing_and_reopening(self, state_dir):
        """A restarted daemon resumes from what the last one wrote."""
        with SqliteStore(state_dir) as before:
            before.save(lived_in())
            before.append_history(attempt("old"))
            before.append_events([requested("old")])
            before.save_drift("orders", [DriftFinding("fn", "memory", 1, 2)], checked_at=NOW)

        with SqliteStore(state_dir) as after:
            assert record_of(after.load("orders")) == record_of(lived_in())
            assert after.history("orders") == [attempt("old")]
            assert [event["type"] for event in after.events()] == ["DeploymentRequested"]
            assert after.drift("orders") == [DriftFinding("fn", "memory", 1, 2)]

    def test_concurrent_saves_from_four_threads_all_land(self, store):
        """The daemon applies up to four deployments at once from a thread pool."""
        names = [f"api-{index}" for index in range(4)]
        start = threading.Barrier(len(names))

        def work(name: str) -> None:
            start.wait()
            for round_ in range(25):
                store.save(lived_in(name, phase=Phase.READY))
                store.append_history(attempt(f"{name}-{round_}", name=name))
                store.append_events([requested(f"{name}-{round_}", name=name)])

        with ThreadPoolExecutor(max_workers=len(names)) as pool:
            list(pool.map(work, names))

        assert [deployment.name for deployment in store.load_all()] == names
        for name in names:
            assert len(store.history(name, limit=100)) == 25
            assert store.history(name, limit=1) == [attempt(f"{name}-24", name=name)]
            assert len(store.events(name)) == 25


# --- history, drift, events -------------------------------------------------------------------


class TestHistory:
    @pytest.mark.parametrize(
        ("limit", "expected"),
        [
            pytest.param(50, ["e", "d", "c", "b", "a"], id="all-newest-first"),
            pytest.param(2, ["e", "d"], id="latest-two"),
            pytest.param(0, [], id="zero"),
            pytest.param(-1, [], id="negative-is-none-not-all"),
        ],
    )
    def test_history_is_newest_first_within_the_limit(self, store, limit, expected):
        for label in "abcde":
            store.append_history(attempt(label))
        store.append_history(attempt("other", name="payments"))

        entries = store.history("orders", limit=limit)

        assert [entry.message for entry in entries] == [f"serving {label}" for label in expected]

    def test_rollback_entry_round_trips_with_its_revisions(self, store):
        entry = attempt(
            "old", outcome="rolled-back", reverted=revision("bad"), restored=revision("older")
        )
        store.append_history(entry)

        assert store.history("orders") == [entry]

    def test_rejected_entry_without_revision_or_fingerprint_round_trips(self, store):
        entry = attempt("x", outcome="rejected", revision=None, fingerprint=None)
        store.append_history(entry)

        assert store.history("orders") == [entry]


class TestDrift:
    def test_latest_check_replaces_the_previous_findings(self, store):
        store.save_drift("orders", [DriftFinding("fn", "memory", 128, 256)], checked_at=NOW)
        store.save_drift("payments", [DriftFinding("fn", "timeout", 3, 9)], checked_at=NOW)
        latest = [DriftFinding("api", "stage", "live", "dev"), DriftFinding("fn", "env", {}, [])]

        store.save_drift("orders", latest, checked_at=NOW + timedelta(minutes=5))

        assert store.drift("orders") == latest
        assert store.drift("payments") == [DriftFinding("fn", "timeout", 3, 9)]

    def test_a_clean_check_clears_the_findings(self, store):
        store.save_drift("orders", [DriftFinding("fn", "memory", 128, 256)], checked_at=NOW)

        store.save_drift("orders", [], checked_at=NOW)

        assert store.drift("orders") == []

    def test_secret_finding_comes_back_masked(self, store):
        secret = DriftFinding("fn", "env.DB", "a", "b", secret=True)
        store.save_drift("orders", [secret], checked_at=NOW)

        (finding,) = store.drift("orders")

        assert (finding.desired, finding.live, finding.secret) == (SECRET_MASK, SECRET_MASK, True)


class TestEvents:
    def test_events_are_stored_under_their_type_names_newest_first(self, store, state_dir):
        resolved = events.DriftResolved(deployment="orders", occurred_at=NOW)
        store.append_events([requested("a"), resolved])
        store.append_events([requested("b", name="payments")])

        assert [event["type"] for event in store.events()] == [
            "DeploymentRequested",
            "DriftResolved",
            "DeploymentRequested",
        ]
        assert [event["type"] for event in store.events("orders")] == [
            "DriftResolved",
            "DeploymentRequested",
        ]
        with raw(state_dir) as other:
            types = other.execute("SELECT deployment, type FROM events ORDER BY id").fetchall()
        assert types == [
            ("orders", "DeploymentRequested"),
            ("orders", "DriftResolved"),
            ("payments", "DeploymentRequested"),
        ]

    def test_event_fields_are_plain_json(self, store):
        finding = DriftFinding("fn", "memory", 128, 256)
        store.append_events(
            [events.DriftDetected(deployment="orders", occurred_at=NOW, findings=(finding,))]
        )
        store.append_events([requested("a")])

        newest, oldest = store.events("orders")

        assert newest["revision"] == revision("a").sha
        assert newest["id"] > oldest["id"]
        assert oldest == {
            "id": oldest["id"],
            "type": "DriftDetected",
            "deployment": "orders",
            "occurred_at": "2025-11-26T07:00:00+00:00",
            "findings": [
                {"resource": "fn", "path": "memory", "desired": 128, "live": 256, "secret": False}
            ],
        }

    @pytest.mark.parametrize(
        ("name", "limit", "expected"),
        [
            pytest.param(None, 2, ["c", "b"], id="all-deployments-latest-two"),
            pytest.param("orders", 1, ["b"], id="one-deployment-latest-one"),
            pytest.param(None, -5, [], id="negative-is-none"),
        ],
    )
    def test_events_honour_their_limit(self, store, name, limit, expected):
        store.append_events([requested("a"), requested("b"), requested("c", name="payments")])

        assert [event["reason"] for event in store.events(name, limit=limit)] == expected

    def test_each_deployments_event_log_keeps_only_its_newest_events(self, state_dir):
        with SqliteStore(state_dir, keep_events=3) as store:
            store.append_events([requested(label) for label in ("a", "b")])
            store.append_events([requested("x", name="payments")])
            store.append_events([requested(label) for label in ("c", "d", "e")])

            assert [event["reason"] for event in store.events("orders")] == ["e", "d", "c"]
            assert [event["reason"] for event in store.events("payments")] == ["x"]


# --- failures and secrets ---------------------------------------------------------------------


class TestFailures:
    def test_a_write_lock_held_elsewhere_is_transient(self, state_dir):
        with SqliteStore(state_dir, busy_timeout=0.05) as store:
            with raw(state_dir) as other:
                other.execute("BEGIN IMMEDIATE")
                with pytest.raises(TransientError, match="locked") as busy:
                    store.save(lived_in())
                other.execute("ROLLBACK")
            store.save(lived_in())  # and it works again once the lock is gone

        assert busy.value.retry_after > 0
        assert isinstance(busy.value.__cause__, sqlite3.OperationalError)

    def test_a_file_that_is_not_a_database_is_permanent(self, state_dir):
        state_dir.mkdir()
        (state_dir / DATABASE_NAME).write_bytes(b"this is not sqlite, " * 100)

        with pytest.raises(PermanentError, match="not a usable reconciler database"):
            SqliteStore(state_dir)

    def test_a_folder_where_the_database_belongs_is_permanent(self, state_dir):
        (state_dir / DATABASE_NAME).mkdir(parents=True)

        with pytest.raises(PermanentError, match="unable to open"):
            SqliteStore(state_dir)

    def test_a_state_dir_that_cannot_be_created_is_permanent(self, tmp_path):
        (tmp_path / "file").write_text("")

        with pytest.raises(PermanentError, match="cannot create"):
            SqliteStore(tmp_path / "file" / "state")

    def test_a_failed_write_leaves_nothing_behind(self, store):
        def write_then_fail() -> None:
            with store._write() as db:
                db.execute(
                    "INSERT INTO events (deployment, type, occurred_at, payload)"
                    " VALUES ('orders', 'X', 'now', '{}')"
                )
                raise RuntimeError("boom")

        with pytest.raises(RuntimeError, match="boom"):
            write_then_fail()

        assert store.events() == []
        store.save(lived_in())  # the connection is usable again

    def test_a_closed_store_is_a_programming_error_and_closing_again_is_harmless(self, state_dir):
        store = SqliteStore(state_dir)
        store.close()
        store.close()

        with pytest.raises(sqlite3.ProgrammingError):
            store.load("orders")


def test_secret_values_never_reach_the_database_file(state_dir):
    """The spec names the secret and the finding was masked when built: no value can leak.

    The marker is given only to the secret finding's constructor, which masks it at once; it
    could reach the file only if something serialised what it should not.
    """
    marker = "s3cr3t-marker-7f1c9"
    finding = DriftFinding("fn", "environment.DB_PASSWORD", marker, marker + "-live", secret=True)
    deployment = lived_in()
    deployment.drift_reported = True

    with SqliteStore(state_dir) as store:
        store.save(deployment)
        store.save_drift("orders", [finding], checked_at=NOW)
        store.append_events(
            [events.DriftDetected(deployment="orders", occurred_at=NOW, findings=(finding,))]
        )
        store.append_history(attempt("old", message="drift on environment.DB_PASSWORD"))
        while_open = b"".join(path.read_bytes() for path in sorted(state_dir.iterdir()))
    after_close = b"".join(path.read_bytes() for path in sorted(state_dir.iterdir()))

    for contents in (while_open, after_close):
        assert b"orders-db" in contents  # the secret's name is stored, as a reference
        assert SECRET_MASK.encode() in contents
        assert marker.encode() not in contents
