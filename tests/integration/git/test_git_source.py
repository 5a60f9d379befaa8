"""`GitSource` against real repositories: local, bare and remote, read, exported and restored."""

from __future__ import annotations

import hashlib
import os
import stat
import subprocess
import threading
from collections.abc import Callable
from datetime import UTC
from pathlib import Path

import pytest
from gitkit import (
    MARKER_TOKEN,
    Repo,
    closed_port,
    dumb_http_server,
    files_under,
    git,
    push_commit,
    silent_server,
)

from reconciler.adapters.git.command import GitFailedError, classify
from reconciler.adapters.git.credentials import cache_folder_name, is_remote, redact
from reconciler.adapters.git.remote import Remote
from reconciler.adapters.git.source import GitSource
from reconciler.domain.values import Revision
from reconciler.ports import PermanentError, TransientError

MakeSource = Callable[..., GitSource]
TOKEN_ENV = "MY_TOKEN"  # noqa: S105 (the name of a variable)


@pytest.fixture
def marker_token(monkeypatch: pytest.MonkeyPatch) -> None:
    """The default token variable holds a value that must never show up anywhere."""
    monkeypatch.setenv("RECONCILER_GIT_TOKEN", MARKER_TOKEN)


def fingerprint(folder: Path) -> str:
    """A digest of every file's path, mode and bytes below `folder`."""
    digest = hashlib.sha256()
    for path in sorted(folder.rglob("*")):
        if path.is_file() and not path.is_symlink():
            digest.update(f"{path}:{path.stat().st_mode}".encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()


def every_byte(folder: Path) -> bytes:
    """Every file below `folder`, concatenated: what a leaked secret would hide in."""
    return b"".join(p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file())


class TestLocalWorkingCopy:
    def test_current_revision_is_the_tip_of_the_checked_out_branch(
        self, work: Repo, make_source: MakeSource
    ):
        source = make_source(work.root)
        assert source.current_revision() == work.head()
        assert source.branch == "main"
        assert source.describe() == str(work.root)

    def test_uncommitted_edits_are_not_seen_only_committed_blobs(
        self, work: Repo, make_source: MakeSource
    ):
        (work.root / "manifests/a.yaml").write_text("name: edited\n")
        (work.root / "manifests/c.yaml").write_text("name: untracked\n")
        (work.root / "manifests/team/b.yml").write_text("name: staged\n")
        git(work.root, "add", "manifests/team/b.yml")
        source = make_source(work.root)
        files = source.manifests_at(source.current_revision())
        assert [f.path for f in files] == ["manifests/a.yaml", "manifests/team/b.yml"]
        assert [source.read(f.blob_id) for f in files] == [b"name: a\n", b"name: b\n"]

    def test_reading_leaves_the_repository_untouched(
        self, work: Repo, make_source: MakeSource, tmp_path: Path
    ):
        (work.root / "manifests/a.yaml").write_text("name: edited\n")
        before = fingerprint(work.root)
        source = make_source(work.root)
        head = source.current_revision()
        for file in source.manifests_at(head):
            source.read(file.blob_id)
        source.tree_ids(head, ["functions/a"])
        source.commits_between(None, head)
        (tmp_path / "out").mkdir()
        source.export_tree(head, "functions/a", tmp_path / "out")
        source.close()
        assert fingerprint(work.root) == before

    def test_another_branch_can_be_followed_than_the_checked_out_one(
        self, work: Repo, make_source: MakeSource
    ):
        git(work.root, "branch", "release")
        work.commit({"manifests/a.yaml": "name: a2\n"})
        source = make_source(work.root, branch="release")
        assert source.current_revision() == work.head("release")

    def test_a_detached_head_asks_for_a_branch(self, work: Repo, make_source: MakeSource):
        git(work.root, "checkout", "--quiet", "--detach")
        with pytest.raises(PermanentError, match=r"detached; pass --branch"):
            make_source(work.root).current_revision()
        assert make_source(work.root, branch="main").current_revision() == work.head()

    def test_a_missing_branch_is_permanent(self, work: Repo, make_source: MakeSource):
        with pytest.raises(PermanentError, match=r"branch 'nope' not found in .*work"):
            make_source(work.root, branch="nope").current_revision()

    @pytest.mark.parametrize(
        ("exists", "expected"),
        [
            pytest.param(False, "does not exist", id="missing-folder"),
            pytest.param(True, "is not a git repository", id="plain-folder"),
        ],
    )
    def test_a_folder_that_is_not_a_repository_is_permanent(
        self, make_source: MakeSource, tmp_path: Path, exists: bool, expected: str
    ):
        folder = tmp_path / "plain"
        if exists:
            folder.mkdir()
        with pytest.raises(PermanentError, match=expected):
            make_source(folder).current_revision()

    def test_a_closed_source_reopens_and_works_as_a_context_manager(
        self, work: Repo, tmp_path: Path
    ):
        with GitSource(str(work.root), cache_dir=tmp_path / "cache") as source:
            first = source.current_revision()
            source.close()
            assert source.manifests_at(first)
        source.close()  # closing twice is harmless

    def test_readers_on_several_threads_share_one_source(self, work: Repo, make_source: MakeSource):
        source = make_source(work.root)
        files = source.manifests_at(source.current_revision())
        results: list[bytes] = []

        def read_all() -> None:
            for _ in range(20):
                results.extend(source.read(f.blob_id) for f in files)

        threads = [threading.Thread(target=read_all) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert sorted(set(results)) == [b"name: a\n", b"name: b\n"]
        assert len(results) == 4 * 20 * 2


class TestBareRepository:
    def test_the_default_branch_is_the_bare_repositorys_head(
        self, origin: Repo, make_source: MakeSource
    ):
        git(origin.root, "branch", "trunk", "main")
        git(origin.root, "symbolic-ref", "HEAD", "refs/heads/trunk")
        source = make_source(origin.root)
        assert source.branch == "trunk"
        assert source.current_revision() == origin.head("trunk")

    def test_an_empty_bare_repository_has_no_branch_tip(
        self, tmp_path: Path, make_source: MakeSource
    ):
        empty = Repo(tmp_path / "empty.git", bare=True)
        with pytest.raises(PermanentError, match="branch 'main' not found"):
            make_source(empty.root).current_revision()


class TestRemote:
    def test_a_file_remote_is_cloned_into_the_cache_and_new_commits_are_fetched(
        self, origin: Repo, make_source: MakeSource, tmp_path: Path
    ):
        source = make_source(origin.url)
        assert source.current_revision() == origin.head()
        caches = [p for p in (tmp_path / "cache").iterdir() if p.suffix == ".git"]
        assert [p.name for p in caches] == [cache_folder_name(origin.url)]
        assert git(caches[0], "rev-parse", "--is-bare-repository") == "true"
        assert "origin.git" not in (caches[0] / "config").read_text()  # no URL kept on disk

        pushed = push_commit(origin.root, tmp_path, {"manifests/d.yaml": "name: d\n"})
        assert source.current_revision() == pushed
        assert "manifests/d.yaml" in [f.path for f in source.manifests_at(pushed)]

    def test_a_second_source_reuses_the_cache(
        self, origin: Repo, make_source: MakeSource, tmp_path: Path
    ):
        make_source(origin.url).current_revision()
        pushed = push_commit(origin.root, tmp_path, {"manifests/d.yaml": "name: d\n"})
        assert make_source(origin.url).current_revision() == pushed

    def test_the_remotes_default_branch_is_followed(
        self, origin: Repo, make_source: MakeSource, work: Repo
    ):
        git(work.root, "push", "--quiet", str(origin.root), "main:trunk")
        git(origin.root, "symbolic-ref", "HEAD", "refs/heads/trunk")
        source = make_source(origin.url)
        assert source.branch == "trunk"
        assert source.current_revision() == work.head()

    def test_a_branch_missing_on_the_remote_is_permanent(
        self, origin: Repo, make_source: MakeSource
    ):
        with pytest.raises(PermanentError, match=r"cannot fetch 'nope' from .*branch does not"):
            make_source(origin.url, branch="nope").current_revision()

    @pytest.mark.parametrize(
        "branch", [pytest.param("bad..name", id="double-dot"), pytest.param("a b", id="space")]
    )
    def test_an_invalid_branch_name_is_permanent(
        self, origin: Repo, make_source: MakeSource, tmp_path: Path, branch: str
    ):
        with pytest.raises(PermanentError, match="not a valid branch name"):
            make_source(origin.url, branch=branch).current_revision()
        assert [p.name for p in (tmp_path / "cache").iterdir()] == []

    def test_an_empty_remote_has_no_default_branch(self, tmp_path: Path, make_source: MakeSource):
        empty = Repo(tmp_path / "empty.git", bare=True)
        with pytest.raises(PermanentError, match=r"default branch .* pass --branch"):
            make_source(empty.url).current_revision()

    @pytest.mark.parametrize(
        ("url", "error", "reason"),
        [
            pytest.param(
                "file:///nonexistent/repo.git",
                PermanentError,
                "does not exist or is not visible",
                id="no-such-file-repo",
            ),
            pytest.param(
                f"https://127.0.0.1:{closed_port()}/org/repo.git",
                TransientError,
                "cannot connect to the server",
                id="https-port-closed",
            ),
            pytest.param(
                f"https://someone:pa55word@127.0.0.1:{closed_port()}/org/repo.git",
                TransientError,
                "cannot connect to the server",
                id="https-password-in-url",
            ),
        ],
    )
    @pytest.mark.usefixtures("marker_token")
    def test_unreachable_remotes_fail_without_leaking_the_token(
        self,
        make_source: MakeSource,
        tmp_path: Path,
        url: str,
        error: type[Exception],
        reason: str,
    ):
        source = make_source(url)
        with pytest.raises(error, match=reason) as caught:
            source.current_revision()
        assert MARKER_TOKEN not in str(caught.value)
        assert "pa55word" not in str(caught.value)
        assert "pa55word" not in source.describe()
        assert MARKER_TOKEN.encode() not in every_byte(tmp_path / "cache")

    def test_a_server_that_never_answers_times_out_as_transient(self, make_source: MakeSource):
        with silent_server() as port:
            source = make_source(f"http://127.0.0.1:{port}/repo.git", fetch_timeout=1)
            with pytest.raises(TransientError, match="timed out") as caught:
                source.current_revision()
        assert caught.value.retry_after > 0

    def test_the_token_reaches_git_through_askpass_and_is_never_written(
        self,
        origin: Repo,
        make_source: MakeSource,
        monkeypatch: pytest.MonkeyPatch,
        tmp_path: Path,
    ):
        monkeypatch.setenv(TOKEN_ENV, MARKER_TOKEN)
        with dumb_http_server(origin.root, token=MARKER_TOKEN) as url:
            source = make_source(url, token_env=TOKEN_ENV)
            head = source.current_revision()
        assert head == origin.head()
        assert [f.path for f in source.manifests_at(head)] == [
            "manifests/a.yaml",
            "manifests/team/b.yml",
        ]
        askpass = tmp_path / "cache" / "askpass.sh"
        assert stat.S_IMODE(askpass.stat().st_mode) == 0o700
        assert MARKER_TOKEN.encode() not in every_byte(tmp_path / "cache")

    @pytest.mark.parametrize(
        ("token", "reason"),
        [
            pytest.param(None, r"asks for credentials; set \$MY_TOKEN", id="no-token"),
            pytest.param("wrong-token", r"authentication failed; check .*\$MY_TOKEN", id="wrong"),
        ],
    )
    def test_refused_credentials_are_permanent_and_name_the_variable(
        self,
        origin: Repo,
        make_source: MakeSource,
        monkeypatch: pytest.MonkeyPatch,
        token: str | None,
        reason: str,
    ):
        if token:
            monkeypatch.setenv(TOKEN_ENV, token)
        with dumb_http_server(origin.root, token=MARKER_TOKEN) as url:
            source = make_source(url, token_env=TOKEN_ENV, branch="main")
            with pytest.raises(PermanentError, match=reason) as caught:
                source.current_revision()
        assert "wrong-token" not in str(caught.value)

    def test_an_ssh_remote_uses_the_given_key(self, make_source: MakeSource, tmp_path: Path):
        key = tmp_path / "id_test"
        key.write_text("not really a key\n")
        key.chmod(0o600)
        source = make_source(f"ssh://git@127.0.0.1:{closed_port()}/org/repo.git", ssh_key=key)
        with pytest.raises(TransientError, match="cannot connect"):
            source.current_revision()

    def test_a_missing_ssh_key_is_permanent(self, make_source: MakeSource, tmp_path: Path):
        source = make_source("git@127.0.0.1:org/repo.git", ssh_key=tmp_path / "absent")
        with pytest.raises(PermanentError, match=r"ssh key .*absent does not exist"):
            source.current_revision()


class TestLocations:
    @pytest.mark.parametrize(
        ("repo", "remote"),
        [
            pytest.param("https://github.com/org/repo.git", True, id="https"),
            pytest.param("ssh://git@host:22/org/repo.git", True, id="ssh"),
            pytest.param("git@github.com:org/repo.git", True, id="scp-like"),
            pytest.param("file:///srv/repo.git", True, id="file-url"),
            pytest.param("/srv/repo", False, id="absolute-path"),
            pytest.param("repos/a:b", False, id="relative-path-with-colon"),
            pytest.param("C:/repo", False, id="drive-letter"),
        ],
    )
    def test_urls_are_told_from_paths(self, repo: str, remote: bool):
        assert is_remote(repo) is remote

    def test_userinfo_and_secrets_are_redacted(self):
        text = "fatal: https://me:pw@host/r.git and ssh://git@host/r and tok-1"
        assert redact(text, "tok-1", "") == (
            "fatal: https://***@host/r.git and ssh://***@host/r and ***"
        )

    def test_the_cache_folder_ignores_credentials(self):
        plain = cache_folder_name("https://host/org/repo.git")
        assert plain.startswith("repo-")
        assert cache_folder_name("https://me:pw@host/org/repo.git") == plain
        assert cache_folder_name("git@host:org/other.git").startswith("other-")

    def test_a_manifest_path_outside_the_repository_is_refused(self, tmp_path: Path):
        with pytest.raises(PermanentError, match="leaves the repository"):
            GitSource(str(tmp_path), path="../elsewhere", cache_dir=tmp_path / "cache")


class TestErrors:
    @pytest.mark.parametrize(
        ("output", "error", "reason"),
        [
            pytest.param(
                "fatal: unable to access 'https://h/r/': Could not resolve host: h",
                TransientError,
                "the host name does not resolve",
                id="dns",
            ),
            pytest.param(
                "fatal: unable to access 'https://h/r/': The requested URL returned error: 503",
                TransientError,
                "the server failed",
                id="http-5xx",
            ),
            pytest.param(
                "remote: Repository not found.\nfatal: repository 'https://h/r/' not found",
                PermanentError,
                "does not exist or is not visible; check the token",
                id="not-found",
            ),
            pytest.param(
                "git@h: Permission denied (publickey).",
                PermanentError,
                "the ssh key was refused",
                id="ssh-key",
            ),
            pytest.param(
                "fatal: early EOF",
                TransientError,
                "the connection was lost",
                id="cut-off",
            ),
            pytest.param(
                "fatal: something nobody expected",
                TransientError,
                "doing it: something nobody expected",
                id="unknown",
            ),
        ],
    )
    def test_git_messages_become_typed_errors_with_one_line_reasons(
        self, output: str, error: type[Exception], reason: str
    ):
        failure = GitFailedError(128, output)
        found = classify(failure, doing="doing it", hint="check the token")
        assert type(found) is error
        assert reason in str(found)
        assert "\n" not in str(found)

    def test_an_unknown_failure_of_a_local_command_is_permanent(self):
        found = classify(GitFailedError(1, ""), doing="x", transient_by_default=False)
        assert isinstance(found, PermanentError)
        assert str(found) == "x: git exited with status 1"

    def test_a_missing_git_program_is_permanent(
        self, work: Repo, make_source: MakeSource, monkeypatch: pytest.MonkeyPatch
    ):
        monkeypatch.setenv("PATH", "")
        with pytest.raises(PermanentError, match="git is not installed"):
            make_source(work.root).current_revision()


def crafted_commit(repo: Repo, entry: str) -> Revision:
    """A commit whose `functions/a` holds just `entry` (an `ls-tree` line), unchecked by git."""

    def mktree(line: str) -> str:
        done = subprocess.run(
            ["git", "mktree", "--missing"],
            cwd=repo.root,
            input=line,
            text=True,
            capture_output=True,
            check=True,
        )
        return done.stdout.strip()

    functions = mktree(f"040000 tree {mktree(entry)}\ta\n")
    root = mktree(f"040000 tree {functions}\tfunctions\n")
    return Revision(git(repo.root, "commit-tree", root, "-m", "crafted"))


class TestManifests:
    def test_manifests_are_listed_recursively_by_path_with_blob_ids_and_sizes(
        self, work: Repo, make_source: MakeSource
    ):
        head = work.commit(
            {
                "manifests/z/deep/c.yaml": "name: c\nextra: 1\n",
                "manifests/notes.md": "not a manifest\n",
                "manifests/values.json": "{}",
                "manifests/link.yaml": "@link:a.yaml",
                "elsewhere.yaml": "name: outside\n",
            }
        )
        files = make_source(work.root).manifests_at(head)
        assert [(f.path, f.size) for f in files] == [
            ("manifests/a.yaml", 8),
            ("manifests/team/b.yml", 8),
            ("manifests/z/deep/c.yaml", 17),
        ]
        assert files[0].blob_id == git(work.root, "rev-parse", f"{head}:manifests/a.yaml")

    @pytest.mark.parametrize(
        ("path", "expected"),
        [
            pytest.param("manifests", ["manifests/a.yaml", "manifests/team/b.yml"], id="no-slash"),
            pytest.param("./manifests/team/", ["manifests/team/b.yml"], id="dot-and-slash"),
            pytest.param("manifests/a.yaml", ["manifests/a.yaml"], id="one-file"),
            pytest.param("functions/a/app.py", [], id="one-non-yaml-file"),
            pytest.param("nowhere", [], id="absent"),
            pytest.param("", ["manifests/a.yaml", "manifests/team/b.yml"], id="whole-repo"),
        ],
    )
    def test_the_manifest_path_is_normalised(
        self, work: Repo, make_source: MakeSource, path: str, expected: list[str]
    ):
        files = make_source(work.root, path=path).manifests_at(work.head())
        assert [f.path for f in files] == expected
        assert all(f.size == 8 for f in files)

    @pytest.mark.parametrize(
        "blob_id",
        [
            pytest.param("0" * 40, id="unknown"),
            pytest.param("HEAD", id="not-an-id"),
        ],
    )
    def test_reading_an_unknown_blob_is_permanent(
        self, work: Repo, make_source: MakeSource, blob_id: str
    ):
        with pytest.raises(PermanentError):
            make_source(work.root).read(blob_id)

    def test_reading_a_tree_as_a_blob_is_permanent(self, work: Repo, make_source: MakeSource):
        tree = git(work.root, "rev-parse", "HEAD:manifests")
        with pytest.raises(PermanentError, match="is a tree, not a blob"):
            make_source(work.root).read(tree)

    def test_an_unknown_revision_is_permanent(self, work: Repo, make_source: MakeSource):
        with pytest.raises(PermanentError, match="commit 000000000000 is not in the repository"):
            make_source(work.root).manifests_at(Revision("0" * 40))


class TestTreeIds:
    @pytest.mark.parametrize(
        ("path", "same"),
        [
            pytest.param("functions/a", True, id="unchanged-folder"),
            pytest.param("functions/a/", True, id="trailing-slash"),
            pytest.param("functions/b", False, id="changed-folder"),
            pytest.param("functions", False, id="changed-parent"),
        ],
    )
    def test_a_folder_keeps_its_id_exactly_while_its_content_does(
        self, work: Repo, make_source: MakeSource, path: str, same: bool
    ):
        first = work.commit({"functions/b/x.py": "x = 1\n"})
        second = work.commit({"functions/b/x.py": "x = 2\n"})
        source = make_source(work.root)
        before, after = source.tree_ids(first, [path])[path], source.tree_ids(second, [path])[path]
        assert before == git(work.root, "rev-parse", f"{first}:{path.rstrip('/')}")
        assert (before == after) is same

    def test_absent_folders_and_files_have_no_id(self, work: Repo, make_source: MakeSource):
        paths = ["functions/missing", "functions/a/app.py", "functions/a/app.py/x", "../out", ""]
        ids = make_source(work.root).tree_ids(work.head(), paths)
        assert ids == {
            "functions/missing": None,
            "functions/a/app.py": None,
            "functions/a/app.py/x": None,
            "../out": None,
            "": git(work.root, "rev-parse", "HEAD^{tree}"),
        }

    def test_thousands_of_paths_are_answered_from_few_tree_reads(
        self, work: Repo, make_source: MakeSource
    ):
        paths = [f"functions/f{i}" for i in range(3000)] + ["functions/a"]
        ids = make_source(work.root).tree_ids(work.head(), paths)
        assert sum(value is not None for value in ids.values()) == 1


class TestHistory:
    def test_changed_paths_lists_edits_additions_deletions_and_both_sides_of_a_rename(
        self, work: Repo, make_source: MakeSource
    ):
        old = work.head()
        git(work.root, "mv", "manifests/team/b.yml", "manifests/team/c.yml")
        new = work.commit(
            {"manifests/a.yaml": "name: a2\n", "functions/a/app.py": None, "new.txt": "n"}
        )
        assert make_source(work.root).changed_paths(old, new) == {
            "manifests/a.yaml",
            "functions/a/app.py",
            "new.txt",
            "manifests/team/b.yml",
            "manifests/team/c.yml",
        }

    def test_commits_between_include_both_sides_of_a_merge_newest_first(
        self, work: Repo, make_source: MakeSource
    ):
        base = work.head()
        git(work.root, "checkout", "--quiet", "-b", "feature")
        side = work.commit({"functions/b/x.py": "x\n"}, "side")
        git(work.root, "checkout", "--quiet", "main")
        main = work.commit({"manifests/a.yaml": "name: a2\n"}, "main")
        git(work.root, "merge", "--quiet", "--no-ff", "-m", "merge feature", "feature")
        merge = work.head()
        commits = make_source(work.root).commits_between(base, merge)
        assert commits[0].revision == merge
        assert commits[0].parents == (main, side)
        assert {c.revision for c in commits} == {merge, main, side}

    def test_commits_between_nothing_and_a_commit_is_that_commit(
        self, work: Repo, make_source: MakeSource
    ):
        commits = make_source(work.root).commits_between(None, work.head())
        assert [c.revision for c in commits] == [work.head()]

    def test_commits_between_stop_at_one_hundred(self, work: Repo, make_source: MakeSource):
        base = work.head()
        stream = "".join(
            f"commit refs/heads/main\ncommitter A <a@b> {1700000000 + i} +0000\n"
            f"data {len(str(i))}\n{i}\n" + (f"from {base}\n" if i == 0 else "")
            for i in range(120)
        )
        subprocess.run(
            ["git", "fast-import", "--quiet"], cwd=work.root, input=stream, text=True, check=True
        )
        commits = make_source(work.root).commits_between(base, work.head("main"))
        assert len(commits) == 100
        assert commits[0].revision == work.head("main")

    def test_a_revert_commit_says_what_it_reverts(self, work: Repo, make_source: MakeSource):
        bad = work.commit({"manifests/a.yaml": "name: broken\n"}, "break a")
        git(work.root, "revert", "--no-edit", str(bad))
        info = make_source(work.root).commit(work.head())
        assert info.reverts == bad
        assert info.parents == (bad,)
        assert info.author == "Test Author <author@example.com>"
        assert info.committed_at.tzinfo == UTC
        assert info.message.startswith('Revert "break a"\n\nThis reverts commit ')

    def test_an_unknown_commit_is_permanent_everywhere(self, work: Repo, make_source: MakeSource):
        source = make_source(work.root)
        ghost = Revision("1" * 40)
        with pytest.raises(PermanentError, match="not in the repository"):
            source.commit(ghost)
        with pytest.raises(PermanentError, match="cannot compare"):
            source.changed_paths(ghost, work.head())
        with pytest.raises(PermanentError, match="cannot list the commits"):
            source.commits_between(ghost, work.head())

    @pytest.mark.parametrize(
        ("spec", "expected"),
        [
            pytest.param("main", "main", id="branch"),
            pytest.param("HEAD~1", "HEAD~1", id="relative"),
            pytest.param("v1", "v1^{commit}", id="annotated-tag"),
        ],
    )
    def test_user_revisions_resolve_to_full_commits(
        self, work: Repo, make_source: MakeSource, spec: str, expected: str
    ):
        work.commit({"manifests/a.yaml": "name: a2\n"})
        git(work.root, "tag", "-a", "-m", "one", "v1", "HEAD~1")
        source = make_source(work.root)
        assert source.resolve(spec) == work.head(expected)
        assert source.resolve(work.head().short) == work.head()
        with pytest.raises(PermanentError, match="'nope' names no commit"):
            source.resolve("nope")

    def test_a_remote_revision_newer_than_the_cache_is_fetched(
        self, origin: Repo, make_source: MakeSource, tmp_path: Path
    ):
        source = make_source(origin.url)
        source.current_revision()
        pushed = push_commit(origin.root, tmp_path, {"manifests/d.yaml": "d: 1\n"})
        assert source.resolve(pushed.sha) == pushed
        with pytest.raises(PermanentError, match="names no commit"):
            source.resolve("2" * 40)


class TestExport:
    @pytest.fixture
    def head(self, work: Repo) -> Revision:
        work.write(
            {
                "functions/a/run.sh": "#!/bin/sh\necho hi\n",
                "functions/a/lib/util.py": "u = 1\n",
                "functions/a/lib/up": "@link:../app.py",
                "functions/a/same": "@link:lib/util.py",
            }
        )
        (work.root / "functions/a/run.sh").chmod(0o755)
        return work.commit({}, "function a")

    def test_files_folders_exec_bits_and_inside_symlinks_are_written(
        self, work: Repo, make_source: MakeSource, head: Revision, tmp_path: Path
    ):
        (work.root / "functions/a/app.py").write_text("uncommitted\n")
        out = tmp_path / "out"
        out.mkdir()
        make_source(work.root).export_tree(head, "functions/a/", out)
        assert files_under(out) == {
            "app.py": "print('a')\n",
            "lib": "dir",
            "lib/up": "@link:../app.py",
            "lib/util.py": "u = 1\n",
            "run.sh": "#!/bin/sh\necho hi\n",
            "same": "@link:lib/util.py",
        }
        assert os.access(out / "run.sh", os.X_OK)
        assert not os.access(out / "app.py", os.X_OK)
        assert (out / "lib/up").read_text() == "print('a')\n"

    @pytest.mark.parametrize(
        ("links", "named"),
        [
            pytest.param({"functions/a/bad": "@link:../../manifests/a.yaml"}, "bad", id="parent"),
            pytest.param({"functions/a/lib/abs": "@link:/etc/passwd"}, "lib/abs", id="absolute"),
            pytest.param(
                {"functions/a/lib/root": "@link:..", "functions/a/out": "@link:lib/root/.."},
                "out",
                id="chain-of-inside-links",
            ),
        ],
    )
    def test_a_symlink_leaving_the_folder_is_refused_by_name(
        self,
        work: Repo,
        make_source: MakeSource,
        tmp_path: Path,
        links: dict[str, str],
        named: str,
    ):
        head = work.commit(dict(links))
        out = tmp_path / "out"
        out.mkdir()
        with pytest.raises(PermanentError, match=f"symlink functions/a/{named} "):
            make_source(work.root).export_tree(head, "functions/a", out)
        assert list(out.iterdir()) == []

    def test_a_submodule_is_refused(self, work: Repo, make_source: MakeSource, tmp_path: Path):
        git(
            work.root,
            *("update-index", "--add", "--cacheinfo"),
            f"160000,{work.head()},functions/a/vendor",
        )
        git(work.root, "commit", "--quiet", "-m", "add a gitlink")
        head = work.head()
        out = tmp_path / "out"
        out.mkdir()
        with pytest.raises(PermanentError, match="functions/a/vendor is a submodule"):
            make_source(work.root).export_tree(head, "functions/a", out)

    def test_an_entry_that_would_climb_out_is_refused(
        self, work: Repo, make_source: MakeSource, tmp_path: Path
    ):
        blob = git(work.root, "rev-parse", "HEAD:manifests/a.yaml")
        crafted = crafted_commit(work, f"100644 blob {blob}\t..\n")
        out = tmp_path / "out"
        out.mkdir()
        with pytest.raises(PermanentError, match=r"functions/a/\.\. is not a safe path"):
            make_source(work.root).export_tree(crafted, "functions/a", out)
        assert list(out.iterdir()) == []

    @pytest.mark.parametrize(
        "path",
        [
            pytest.param("functions/none", id="absent"),
            pytest.param("functions/a/app.py", id="a-file"),
            pytest.param("../up", id="outside"),
        ],
    )
    def test_exporting_what_is_not_a_folder_is_refused(
        self, work: Repo, make_source: MakeSource, tmp_path: Path, path: str
    ):
        with pytest.raises(PermanentError, match="there is no folder"):
            make_source(work.root).export_tree(work.head(), path, tmp_path)


class TestRestore:
    def test_restore_on_a_bare_repository_moves_the_branch(
        self, work: Repo, origin: Repo, make_source: MakeSource
    ):
        good = work.head()
        work.commit({"functions/a/app.py": "print('bad')\n", "functions/a/new.py": "n\n"})
        later = work.commit({"manifests/a.yaml": "name: a2\n"})
        git(work.root, "push", "--quiet", str(origin.root), "main")
        source = make_source(origin.root)
        restored = source.restore(["functions/a/"], to=good, message="Roll back a\n\nwhy\n")
        assert origin.head("main") == restored
        info = source.commit(restored)
        assert info.parents == (later,)
        assert info.message == "Roll back a\n\nwhy\n"
        assert info.author == "reconciler <reconciler@localhost>"
        assert git(origin.root, "rev-parse", f"{restored}:functions/a") == git(
            origin.root, "rev-parse", f"{good}:functions/a"
        )
        assert origin.show(restored, "manifests/a.yaml") == "name: a2"

    def test_restore_with_the_branch_checked_out_updates_the_working_tree(
        self, work: Repo, make_source: MakeSource
    ):
        good = work.head()
        work.commit({"manifests/a.yaml": "name: broken\n"})
        (work.root / "untracked.txt").write_text("left alone\n")
        restored = make_source(work.root).restore(["manifests/a.yaml"], to=good, message="fix")
        assert work.head() == restored
        assert (work.root / "manifests/a.yaml").read_text() == "name: a\n"
        assert git(work.root, "status", "--porcelain") == "?? untracked.txt"
        assert git(work.root, "log", "-1", "--format=%an <%ae>") == (
            "Test Author <author@example.com>"
        )

    def test_restore_on_a_dirty_working_tree_is_refused_and_changes_nothing(
        self, work: Repo, make_source: MakeSource
    ):
        good = work.head()
        broken = work.commit({"manifests/a.yaml": "name: broken\n"})
        (work.root / "functions/a/app.py").write_text("work in progress\n")
        with pytest.raises(PermanentError, match="has uncommitted changes; commit or stash"):
            make_source(work.root).restore(["manifests/a.yaml"], to=good, message="fix")
        assert work.head() == broken
        assert (work.root / "functions/a/app.py").read_text() == "work in progress\n"
        assert (work.root / "manifests/a.yaml").read_text() == "name: broken\n"

    def test_restore_over_an_untracked_file_in_the_way_is_refused(
        self, work: Repo, make_source: MakeSource
    ):
        before = work.commit({"notes.txt": "committed\n"})
        tip = work.commit({"notes.txt": None})
        (work.root / "notes.txt").write_text("mine, untracked\n")
        with pytest.raises(PermanentError, match="untracked files in the working tree"):
            make_source(work.root).restore(["notes.txt"], to=before, message="x")
        assert work.head() == tip
        assert (work.root / "notes.txt").read_text() == "mine, untracked\n"

    def test_restore_of_a_branch_not_checked_out_moves_only_the_ref(
        self, work: Repo, make_source: MakeSource
    ):
        good = work.head()
        git(work.root, "checkout", "--quiet", "-b", "release")
        work.commit({"manifests/a.yaml": "name: broken\n"})
        git(work.root, "checkout", "--quiet", "main")
        (work.root / "functions/a/app.py").write_text("dirty but elsewhere\n")
        source = make_source(work.root, branch="release")
        restored = source.restore(["manifests/a.yaml"], to=good, message="fix")
        assert work.head("release") == restored
        assert work.head() == good
        assert work.show(restored, "manifests/a.yaml") == "name: a"

    def test_restore_on_a_file_remote_pushes_to_the_origin(
        self, work: Repo, origin: Repo, make_source: MakeSource
    ):
        good = work.head()
        work.commit({"manifests/a.yaml": "name: broken\n"})
        git(work.root, "push", "--quiet", str(origin.root), "main")
        source = make_source(origin.url)
        restored = source.restore(["manifests"], to=good, message="fix")
        assert origin.head("main") == restored
        assert origin.show(restored, "manifests/a.yaml") == "name: a"
        assert source.current_revision() == restored

    def test_a_path_absent_at_the_target_is_removed(self, work: Repo, make_source: MakeSource):
        before = work.head()
        work.commit({"functions/b/x.py": "x\n", "functions/b/sub/y.py": "y\n"})
        restored = make_source(work.root).restore(["functions/b"], to=before, message="drop b")
        names = git(work.root, "ls-tree", "-r", "--name-only", str(restored)).splitlines()
        assert names == ["functions/a/app.py", "manifests/a.yaml", "manifests/team/b.yml"]
        assert not (work.root / "functions/b").exists()

    def test_a_file_that_became_a_folder_is_restored_as_a_file(
        self, work: Repo, make_source: MakeSource
    ):
        before = work.commit({"functions/c": "a file\n"})
        work.commit({"functions/c": None})
        work.commit({"functions/c/inner.py": "now a folder\n"})
        restored = make_source(work.root).restore(["functions/c"], to=before, message="back")
        assert work.show(restored, "functions/c") == "a file"

    def test_restoring_what_already_matches_makes_no_commit(
        self, work: Repo, make_source: MakeSource
    ):
        before = work.head()
        tip = work.commit({"manifests/team/b.yml": "name: b2\n"})
        assert make_source(work.root).restore(["manifests/a.yaml"], to=before, message="x") == tip

    @pytest.mark.parametrize(
        "paths",
        [pytest.param([], id="nothing"), pytest.param(["../outside"], id="outside")],
    )
    def test_restore_needs_paths_inside_the_repository(
        self, work: Repo, make_source: MakeSource, paths: list[str]
    ):
        with pytest.raises(PermanentError, match="paths inside the repository"):
            make_source(work.root).restore(paths, to=work.head(), message="x")

    def test_a_target_with_missing_objects_is_refused_and_nothing_moves(
        self, work: Repo, make_source: MakeSource
    ):
        tip = work.head()
        broken = crafted_commit(work, f"100644 blob {'4' * 40}\tapp.py\n")
        with pytest.raises(PermanentError, match="cannot build the restore commit"):
            make_source(work.root).restore(["functions/a"], to=broken, message="x")
        assert work.head() == tip

    def test_restore_to_an_unknown_commit_is_permanent(self, work: Repo, make_source: MakeSource):
        with pytest.raises(PermanentError, match="not in the repository"):
            make_source(work.root).restore(["manifests"], to=Revision("3" * 40), message="x")

    def test_a_push_after_someone_else_moved_the_branch_is_transient(
        self,
        work: Repo,
        origin: Repo,
        make_source: MakeSource,
        monkeypatch: pytest.MonkeyPatch,
        tmp_path: Path,
    ):
        good = work.head()
        work.commit({"functions/a/app.py": "print('bad')\n"})
        git(work.root, "push", "--quiet", str(origin.root), "main")
        source = make_source(origin.url)
        source.current_revision()
        theirs = push_commit(origin.root, tmp_path, {"manifests/x.yaml": "x: 1\n"})
        # Their push lands between our fetch and our push: skip the fetch to stand in for it.
        monkeypatch.setattr(Remote, "fetch", lambda *_args, **_kw: None)
        with pytest.raises(TransientError, match="branch moved meanwhile; retry"):
            source.restore(["functions/a"], to=good, message="x")
        assert origin.head("main") == theirs

    def test_a_push_refused_by_a_server_hook_is_permanent(
        self, work: Repo, origin: Repo, make_source: MakeSource
    ):
        good = work.head()
        work.commit({"manifests/a.yaml": "name: broken\n"})
        git(work.root, "push", "--quiet", str(origin.root), "main")
        hook = origin.root / "hooks" / "pre-receive"
        hook.write_text("#!/bin/sh\necho 'protected branch' >&2\nexit 1\n")
        hook.chmod(0o755)
        with pytest.raises(PermanentError, match="refused"):
            make_source(origin.url).restore(["manifests"], to=good, message="x")

    def test_restore_takes_the_author_from_git_config(
        self, work: Repo, origin: Repo, make_source: MakeSource
    ):
        git(origin.root, "config", "user.name", "Release Bot")
        git(origin.root, "config", "user.email", "bot@example.com")
        good = work.head()
        work.commit({"manifests/a.yaml": "name: broken\n"})
        git(work.root, "push", "--quiet", str(origin.root), "main")
        source = make_source(origin.root)
        restored = source.restore(["manifests"], to=good, message="x")
        assert source.commit(restored).author == "Release Bot <bot@example.com>"
