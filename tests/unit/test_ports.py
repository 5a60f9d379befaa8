"""The small logic in the ports: the retry delay of a transient error, reverts read from Git."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from reconciler.domain.values import Revision
from reconciler.ports import CommitInfo, PermanentError, TransientError

REVERTED = "4f1c2a9e8b7d6c5f4e3d2c1b0a9f8e7d6c5b4a39"
REVERTING = "9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f1a0b"
PARENT = "1111111111111111111111111111111111111111"
SHA256_REVERTED = "ab" * 32


def commit(message: str) -> CommitInfo:
    """A commit on main with `message` and nothing else of note."""
    return CommitInfo(
        revision=Revision(REVERTING),
        parents=(Revision(PARENT),),
        author="Ada <ada@example.test>",
        committed_at=datetime(2025, 11, 26, 7, 0, tzinfo=UTC),
        message=message,
    )


class TestTransientError:
    """A transient error tells the scheduler how long to wait before trying again."""

    def test_transient_error_retries_after_thirty_seconds_by_default(self):
        """Adapters that know no better delay ask for a retry in 30 seconds."""
        error = TransientError("stack is locked")

        assert error.retry_after == 30.0
        assert str(error) == "stack is locked"

    def test_transient_error_keeps_the_delay_it_was_given(self):
        """A delay the provider asked for (a rate limit) is kept as given."""
        assert TransientError("rate limited", retry_after=2.5).retry_after == 2.5

    def test_the_two_operational_errors_are_unrelated(self):
        """A handler catching one must never catch the other by accident."""
        assert not issubclass(TransientError, PermanentError)
        assert not issubclass(PermanentError, TransientError)


class TestCommitReverts:
    """`git revert` writes "This reverts commit <sha>." into the message it proposes."""

    @pytest.mark.parametrize(
        ("message", "reverted"),
        [
            pytest.param(
                f'Revert "Raise orders memory"\n\nThis reverts commit {REVERTED}.\n',
                REVERTED,
                id="standard-message",
            ),
            pytest.param(
                f'Revert "Merge orders"\n\nThis reverts commit {REVERTED}, reversing\n'
                f"changes made to {PARENT}.\n",
                REVERTED,
                id="reverted-merge",
            ),
            pytest.param(
                f"Undo the memory bump\n\nThis reverts commit {REVERTED}.\n\nIt broke checkout.\n",
                REVERTED,
                id="reworded-subject-with-body",
            ),
            pytest.param(
                f"Revert\n\nThis reverts commit {SHA256_REVERTED}.\n",
                SHA256_REVERTED,
                id="sha256-repository",
            ),
        ],
    )
    def test_revert_message_names_the_reverted_commit(self, message, reverted):
        """The sha in the standard phrase is the commit being undone, for SHA-1 and SHA-256."""
        assert commit(message).reverts == Revision(reverted)

    @pytest.mark.parametrize(
        "message",
        [
            pytest.param("Raise orders memory to 256 MB\n", id="ordinary-commit"),
            pytest.param("", id="empty-message"),
            pytest.param(f"This reverts commit {REVERTED[:12]}.\n", id="abbreviated-sha"),
            pytest.param(f"This reverts commit {REVERTED}0.\n", id="41-hex"),
            pytest.param(f"This reverts commit {REVERTED.upper()}.\n", id="uppercase-sha"),
            pytest.param(f"Mentions {REVERTED} without reverting it.\n", id="sha-without-phrase"),
        ],
    )
    def test_other_messages_revert_nothing(self, message):
        """Without the phrase and a full lowercase sha, a commit reverts nothing."""
        assert commit(message).reverts is None
