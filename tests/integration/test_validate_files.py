"""Validating manifest files on disk: every broken fixture is reported at its exact location."""

from pathlib import Path

import pytest

from reconciler.manifest import files, loader

REPO = Path(__file__).parent.parent / "fixtures" / "repo"
BROKEN = REPO / "manifests" / "broken"

# (file, line, column, field, words the message must contain)
EXPECTED = [
    ("alias-bomb.yaml", 1, 1, "", "expands to more than 20000 nodes"),
    ("bad-name.yaml", 4, 9, "metadata.name", "lowercase DNS label"),
    ("bad-route.yaml", 13, 7, "spec.routes[1]", "{proxy+} must be the last segment"),
    ("bad-runtime.yaml", 8, 14, "spec.function.runtime", "'python3.11'"),
    ("duplicate-key.yaml", 5, 3, "", "duplicate key 'name'"),
    ("duplicate-name.yaml", 4, 9, "metadata.name", "is already used by"),
    ("handler-module-missing.yaml", 9, 14, "spec.function.handler", "looked for main.py"),
    ("missing-handler.yaml", 8, 5, "spec.function.handler", "required field is missing"),
    ("second-document.yaml", 16, 101, "spec.function.timeoutSeconds", "less than or equal to 900"),
    ("secret-ref.yaml", 13, 12, "spec.function.environment.KEY.secretRef", "required field"),
    ("secret-ref.yaml", 13, 13, "spec.function.environment.KEY.secretName", "unknown field"),
    ("source-escape.yaml", 10, 13, "spec.function.source", "resolves outside the repository"),
    ("source-missing.yaml", 10, 13, "spec.function.source", "does not exist"),
    ("syntax.yaml", 5, 1, "", "expected ',' or ']'"),
    ("tab-indent.yaml", 4, 1, "", "it is a tab: YAML indents with spaces"),
    ("unknown-field.yaml", 11, 5, "spec.function.memory", "unknown field"),
    ("unknown-kind.yaml", 2, 7, "kind", "unknown kind 'Function'"),
    ("websocket-route.yaml", 11, 22, "spec.routes[1]", "unknown predefined route '$reconnect'"),
    ("wrong-provider-field.yaml", 6, 3, "spec.region", "provider aws needs a region"),
    ("wrong-provider-field.yaml", 7, 13, "spec.location", "applies to provider azure only"),
]


@pytest.fixture(scope="module")
def report() -> loader.LoadResult:
    # The valid folder comes first, so the duplicate is reported in the broken file.
    paths = [REPO / "manifests" / "valid", BROKEN]
    return files.validate(files.manifest_files(paths), root=REPO)


def test_every_broken_fixture_is_reported_exactly_where_expected(report: loader.LoadResult):
    """Each error names its file, line, column and field; no fixture fails silently."""
    seen = sorted(
        (Path(e.file).name, e.line, e.column, e.field, e.message)
        for e in report.errors
        if Path(e.file).parent == BROKEN
    )
    assert [row[:4] for row in seen] == [row[:4] for row in sorted(EXPECTED)]
    for (*_, message), (*_, words) in zip(seen, sorted(EXPECTED), strict=True):
        assert words in message


def test_every_broken_fixture_file_has_an_expectation():
    """A fixture added without an expected location fails this test instead of passing unseen."""
    assert {path.name for path in BROKEN.iterdir()} == {row[0] for row in EXPECTED}


def test_valid_manifests_survive_beside_broken_ones(report: loader.LoadResult):
    """A broken file fails alone: the good documents, even in a file with a bad one, load."""
    names = sorted(manifest.spec.name for manifest in report.manifests)
    assert names == ["first-is-fine", "rest-one", "socket-one"]


def test_duplicate_name_error_names_both_files(report: loader.LoadResult):
    (error,) = [e for e in report.errors if e.file.endswith("duplicate-name.yaml")]
    assert "valid/two-documents.yaml:4" in error.message


class TestSourceFolderSafety:
    """Function sources must stay inside the repository, symlinks included."""

    @staticmethod
    def _repo(tmp_path: Path, *, source: str = "../fn") -> Path:
        (tmp_path / ".git").mkdir(parents=True)
        (tmp_path / "manifests").mkdir()
        (tmp_path / "manifests" / "api.yaml").write_text(
            "apiVersion: reconciler/v1\nkind: RestApi\nmetadata:\n  name: api\n"
            "spec:\n  provider: local\n  function:\n    runtime: nodejs20.x\n"
            f"    handler: lib/index.handler\n    source: {source}\n"
            "  routes: ['GET /']\n"
        )
        return tmp_path

    def test_source_folder_linking_outside_the_repository_is_rejected(self, tmp_path: Path):
        repo = self._repo(tmp_path / "repo")
        outside = tmp_path / "elsewhere"
        outside.mkdir()
        (repo / "fn").symlink_to(outside)
        (error,) = files.validate([repo / "manifests"], root=repo).errors
        assert (error.line, error.column, error.field) == (10, 13, "spec.function.source")
        assert "links outside the repository" in error.message

    def test_symlink_inside_the_source_leading_out_is_rejected(self, tmp_path: Path):
        repo = self._repo(tmp_path / "repo")
        (repo / "fn" / "lib").mkdir(parents=True)
        (repo / "fn" / "lib" / "index.js").write_text("exports.handler = async () => 1;\n")
        (repo / "fn" / "secrets").symlink_to("/etc")
        (error,) = files.validate([repo / "manifests"], root=repo).errors
        assert error.message == "fn/secrets links outside the repository"

    def test_source_that_is_a_file_is_rejected(self, tmp_path: Path):
        repo = self._repo(tmp_path / "repo")
        (repo / "fn").write_text("not a folder")
        (error,) = files.validate([repo / "manifests"], root=repo).errors
        assert error.message == "fn is not a folder"

    def test_node_handler_in_a_subfolder_is_found(self, tmp_path: Path):
        repo = self._repo(tmp_path / "repo")
        (repo / "fn" / "lib").mkdir(parents=True)
        (repo / "fn" / "lib" / "index.js").write_text("exports.handler = async () => 1;\n")
        result = files.validate([repo / "manifests"], root=repo)
        assert result.errors == []
        assert result.manifests[0].spec.function.source == "fn"


def test_file_over_one_mebibyte_is_refused_before_reading(tmp_path: Path):
    big = tmp_path / "big.yaml"
    big.write_bytes(b"# padding\n" * 110_000)
    (error,) = files.validate([big], root=tmp_path).errors
    assert (error.line, error.column) == (1, 1)
    assert "a manifest may be at most 1 MiB" in error.message


def test_unreadable_file_is_reported_not_raised(tmp_path: Path):
    missing = tmp_path / "gone.yaml"
    (error,) = files.validate([missing], root=tmp_path).errors
    assert error.message.startswith("cannot read")


def test_file_outside_the_root_is_reported(tmp_path: Path):
    (tmp_path / "root").mkdir()
    stray = tmp_path / "stray.yaml"
    stray.write_text("kind: RestApi\n")
    (error,) = files.validate([stray], root=tmp_path / "root").errors
    assert "is outside the repository" in error.message


def test_root_is_the_enclosing_git_repository(tmp_path: Path):
    (tmp_path / ".git").mkdir()
    nested = tmp_path / "a" / "b"
    nested.mkdir(parents=True)
    assert files.find_root(nested) == tmp_path.resolve()


def test_root_without_git_is_the_folder_itself_or_the_file_parent(tmp_path: Path):
    manifest = tmp_path / "m.yaml"
    manifest.write_text("")
    assert files.find_root(manifest) == tmp_path.resolve()
    assert files.find_root(tmp_path) == tmp_path.resolve()
