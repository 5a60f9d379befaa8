"""The code package: equal source, equal bytes, whatever the file system says about it."""

from __future__ import annotations

import base64
import hashlib
import os
import stat
import struct
import zipfile
import zlib
from pathlib import Path

import pytest

from reconciler.adapters.pulumi.packaging import (
    COMPRESS_LEVEL,
    ZIP_DATE_TIME,
    PackageInfo,
    build_zip,
)
from reconciler.ports import PermanentError

FILES = {
    "app.py": "def handler(event, context):\n    return {'statusCode': 200}\n",
    "lib/util.py": "ANSWER = 42\n",
    "lib/data/table.json": '{"a": 1}\n',
    "run.sh": "#!/bin/sh\nexec python app.py\n",
}


def write_source(root: Path, files: dict[str, str], *, order: list[str] | None = None) -> Path:
    for name in order or list(files):
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(files[name])
    return root


def package(source: Path, destination: Path) -> tuple[PackageInfo, bytes]:
    info = build_zip(source, destination)
    return info, destination.read_bytes()


def modes(data_path: Path) -> dict[str, int]:
    with zipfile.ZipFile(data_path) as archive:
        return {info.filename: (info.external_attr >> 16) & 0o777 for info in archive.infolist()}


# --- determinism -------------------------------------------------------------------------------


def test_the_same_source_packaged_twice_gives_the_same_bytes(tmp_path: Path):
    source = write_source(tmp_path / "src", FILES)
    first, first_bytes = package(source, tmp_path / "one.zip")
    second, second_bytes = package(source, tmp_path / "two.zip")
    assert first_bytes == second_bytes
    assert (first.sha256_base64, first.sha256_hex, first.size) == (
        second.sha256_base64,
        second.sha256_hex,
        second.size,
    )


def test_file_times_do_not_reach_the_package(tmp_path: Path):
    old = write_source(tmp_path / "old", FILES)
    new = write_source(tmp_path / "new", FILES)
    for path in old.rglob("*"):
        os.utime(path, (315_532_800, 315_532_800))  # 1980
    for path in new.rglob("*"):
        os.utime(path, (2_000_000_000, 2_000_000_000))  # 2033
    assert package(old, tmp_path / "old.zip")[1] == package(new, tmp_path / "new.zip")[1]


def test_the_order_files_were_created_in_does_not_reach_the_package(tmp_path: Path):
    forward = write_source(tmp_path / "forward", FILES, order=sorted(FILES))
    backward = write_source(tmp_path / "backward", FILES, order=sorted(FILES, reverse=True))
    assert (
        package(forward, tmp_path / "forward.zip")[1]
        == package(backward, tmp_path / "backward.zip")[1]
    )


@pytest.mark.parametrize(
    ("loose", "strict"),
    [
        pytest.param(0o666, 0o600, id="umask-000-vs-077"),
        pytest.param(0o664, 0o644, id="umask-002-vs-022"),
    ],
)
def test_permissions_from_the_umask_do_not_reach_the_package(
    tmp_path: Path, loose: int, strict: int
):
    first = write_source(tmp_path / "first", FILES)
    second = write_source(tmp_path / "second", FILES)
    for path in first.rglob("*"):
        if path.is_file():
            path.chmod(loose)
    for path in second.rglob("*"):
        if path.is_file():
            path.chmod(strict)
    assert package(first, tmp_path / "first.zip")[1] == package(second, tmp_path / "second.zip")[1]


# --- what the entries hold ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("mode", "stored"),
    [
        pytest.param(0o755, 0o755, id="rwxr-xr-x"),
        pytest.param(0o744, 0o755, id="owner-only-exec"),
        pytest.param(0o645, 0o755, id="others-only-exec"),
        pytest.param(0o644, 0o644, id="not-executable"),
        pytest.param(0o600, 0o644, id="private"),
    ],
)
def test_any_exec_bit_is_kept_as_0755_and_everything_else_is_0644(
    tmp_path: Path, mode: int, stored: int
):
    source = write_source(tmp_path / "src", FILES)
    (source / "run.sh").chmod(mode)
    destination = tmp_path / "out.zip"
    build_zip(source, destination)
    assert modes(destination)["run.sh"] == stored
    assert modes(destination)["app.py"] == 0o644


def test_entries_are_sorted_files_with_a_fixed_time_and_no_extras(tmp_path: Path):
    source = write_source(tmp_path / "src", FILES)
    destination = tmp_path / "out.zip"
    build_zip(source, destination)
    with zipfile.ZipFile(destination) as archive:
        infos = archive.infolist()
        assert archive.comment == b""
    assert [info.filename for info in infos] == sorted(FILES)  # no directory entries
    for info in infos:
        assert info.date_time == ZIP_DATE_TIME
        assert info.compress_type == zipfile.ZIP_DEFLATED
        assert info.create_system == 3
        assert stat.S_ISREG(info.external_attr >> 16)
        assert (info.extra, info.comment) == (b"", b"")


def test_entries_are_deflated_at_the_fixed_level(tmp_path: Path):
    """The raw stream is what zlib writes at `COMPRESS_LEVEL`: no default decides the bytes."""
    text = "".join(f"line {n}: {n * n}\n" for n in range(3000))
    source = write_source(tmp_path / "src", {"data.txt": text})
    destination = tmp_path / "out.zip"
    build_zip(source, destination)
    with zipfile.ZipFile(destination) as archive:
        info = archive.getinfo("data.txt")
    raw = destination.read_bytes()
    name_length, extra_length = struct.unpack(
        "<HH", raw[info.header_offset + 26 : info.header_offset + 30]
    )
    start = info.header_offset + 30 + name_length + extra_length
    compressor = zlib.compressobj(COMPRESS_LEVEL, zlib.DEFLATED, -15)
    expected = compressor.compress(text.encode()) + compressor.flush()
    assert raw[start : start + info.compress_size] == expected


def test_the_package_unzips_to_the_source(tmp_path: Path):
    source = write_source(tmp_path / "src", FILES)
    destination = tmp_path / "out.zip"
    build_zip(source, destination)
    with zipfile.ZipFile(destination) as archive:
        assert {name: archive.read(name).decode() for name in archive.namelist()} == FILES


@pytest.mark.parametrize(
    "junk",
    [
        pytest.param("__pycache__/app.cpython-312.pyc", id="pycache-folder"),
        pytest.param("lib/__pycache__/util.cpython-311.pyc", id="nested-pycache"),
        pytest.param("stray.pyc", id="pyc-outside-pycache"),
        pytest.param("__pycache__/notes.txt", id="anything-in-pycache"),
    ],
)
def test_bytecode_caches_are_left_out(tmp_path: Path, junk: str):
    clean = write_source(tmp_path / "clean", FILES)
    dirty = write_source(tmp_path / "dirty", {**FILES, junk: "compiled"})
    assert package(clean, tmp_path / "clean.zip")[1] == package(dirty, tmp_path / "dirty.zip")[1]


def test_a_content_change_changes_the_hash(tmp_path: Path):
    before = write_source(tmp_path / "before", FILES)
    after = write_source(tmp_path / "after", {**FILES, "lib/util.py": "ANSWER = 43\n"})
    assert (
        build_zip(before, tmp_path / "before.zip").sha256_hex
        != build_zip(after, tmp_path / "after.zip").sha256_hex
    )


def test_a_renamed_file_changes_the_hash(tmp_path: Path):
    before = write_source(tmp_path / "before", FILES)
    renamed = {("lib/helpers.py" if k == "lib/util.py" else k): v for k, v in FILES.items()}
    after = write_source(tmp_path / "after", renamed)
    assert (
        build_zip(before, tmp_path / "before.zip").sha256_hex
        != build_zip(after, tmp_path / "after.zip").sha256_hex
    )


def test_the_hashes_are_of_the_written_file(tmp_path: Path):
    """`sha256_base64` is what Lambda computes as CodeSha256 of the uploaded zip."""
    source = write_source(tmp_path / "src", FILES)
    destination = tmp_path / "deep" / "er" / "out.zip"
    info = build_zip(source, destination)
    data = destination.read_bytes()
    digest = hashlib.sha256(data).digest()
    assert info == PackageInfo(
        path=destination,
        sha256_base64=base64.b64encode(digest).decode(),
        sha256_hex=digest.hex(),
        size=len(data),
    )
    assert sorted(p.name for p in destination.parent.iterdir()) == ["out.zip"]  # no partials


def test_a_failed_write_leaves_no_partial_file(tmp_path: Path):
    source = write_source(tmp_path / "src", FILES)
    destination = tmp_path / "out" / "taken.zip"
    (destination / "inside").mkdir(parents=True)  # a folder cannot be replaced by a file
    with pytest.raises(OSError, match=r"taken\.zip"):
        build_zip(source, destination)
    assert sorted(p.name for p in destination.parent.iterdir()) == ["taken.zip"]


def test_an_existing_package_is_replaced(tmp_path: Path):
    source = write_source(tmp_path / "src", FILES)
    destination = tmp_path / "out.zip"
    destination.write_bytes(b"stale")
    info = build_zip(source, destination)
    assert destination.stat().st_size == info.size


# --- symlinks and refusals ---------------------------------------------------------------------


def test_a_symlinked_file_is_stored_as_the_file_it_points_to(tmp_path: Path):
    linked = write_source(tmp_path / "linked", FILES)
    (linked / "alias.py").symlink_to("app.py")
    copied = write_source(tmp_path / "copied", {**FILES, "alias.py": FILES["app.py"]})
    assert package(linked, tmp_path / "l.zip")[1] == package(copied, tmp_path / "c.zip")[1]


def test_a_symlinked_folder_is_stored_as_the_files_under_it(tmp_path: Path):
    linked = write_source(tmp_path / "linked", FILES)
    (linked / "vendor").symlink_to("lib", target_is_directory=True)
    vendored = {f"vendor/{k.removeprefix('lib/')}": v for k, v in FILES.items() if k[:4] == "lib/"}
    copied = write_source(tmp_path / "copied", {**FILES, **vendored})
    assert package(linked, tmp_path / "l.zip")[1] == package(copied, tmp_path / "c.zip")[1]


def test_an_executable_behind_a_symlink_keeps_its_exec_bit(tmp_path: Path):
    source = write_source(tmp_path / "src", FILES)
    (source / "run.sh").chmod(0o755)
    (source / "start").symlink_to("run.sh")
    destination = tmp_path / "out.zip"
    build_zip(source, destination)
    assert modes(destination)["start"] == 0o755


@pytest.mark.parametrize(
    ("link", "target", "message"),
    [
        pytest.param("gone.py", "missing.py", "cannot be followed", id="dangling"),
        pytest.param("escape.py", "../outside.py", "outside the function source", id="escapes"),
        pytest.param("lib/again", "..", "loops back", id="folder-loop"),
        pytest.param("me.py", "me.py", "cannot be followed", id="link-to-itself"),
    ],
)
def test_a_bad_symlink_is_refused(tmp_path: Path, link: str, target: str, message: str):
    source = write_source(tmp_path / "src", FILES)
    (tmp_path / "outside.py").write_text("SECRET = 'host file'\n")
    (source / link).symlink_to(target)
    with pytest.raises(PermanentError, match=message):
        build_zip(source, tmp_path / "out.zip")
    assert not (tmp_path / "out.zip").exists()


def test_a_source_with_no_files_is_refused(tmp_path: Path):
    source = tmp_path / "src"
    (source / "__pycache__").mkdir(parents=True)
    (source / "empty-folder").mkdir()
    with pytest.raises(PermanentError, match="no files to package"):
        build_zip(source, tmp_path / "out.zip")
