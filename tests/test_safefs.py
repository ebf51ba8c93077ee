"""The file-system layer (pytest_jaws.host.safefs) on its own, as any user.

Which links it follows, what it refuses to read, and that writes replace links instead of
writing through them.
"""

import os
import stat

import pytest

from pytest_jaws import errors
from pytest_jaws.host import safedirs, safefs, saferead


def test_link_in_own_directory_is_followed(tmp_path):
    (tmp_path / "real").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "real")
    fd = safefs.open_dir(tmp_path / "link")
    try:
        assert os.fstat(fd).st_ino == (tmp_path / "real").stat().st_ino
    finally:
        os.close(fd)


def test_link_in_a_world_writable_directory_is_not_followed(tmp_path):
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o777)
    (tmp_path / "real").mkdir()
    (shared / "link").symlink_to(tmp_path / "real")
    with pytest.raises(errors.UnsafePathError, match="never follows such links"):
        safefs.open_dir(shared / "link")


def test_write_replaces_a_link_and_leaves_its_target_alone(tmp_path):
    target = tmp_path / "target"
    target.write_text("untouched\n")
    (tmp_path / "out.json").symlink_to(target)
    safefs.write_file(tmp_path / "out.json", "{}\n", 0o644, parent_owned=True)
    assert target.read_text() == "untouched\n"
    assert not (tmp_path / "out.json").is_symlink()
    assert (tmp_path / "out.json").read_text() == "{}\n"


def test_ensure_dir_refuses_a_link_and_sets_mode_through_the_descriptor(tmp_path):
    (tmp_path / "elsewhere").mkdir(mode=0o700)
    (tmp_path / "logs").symlink_to(tmp_path / "elsewhere")
    with pytest.raises(errors.UnsafePathError, match="is a symbolic link"):
        safedirs.ensure_dir(tmp_path / "logs", 0o755)
    assert stat.S_IMODE((tmp_path / "elsewhere").stat().st_mode) == 0o700
    safedirs.ensure_dir(tmp_path / "fresh", 0o750)
    assert stat.S_IMODE((tmp_path / "fresh").stat().st_mode) == 0o750


def test_read_refuses_fifo_link_and_reads_at_most_the_limit(tmp_path):
    os.mkfifo(tmp_path / "fifo")
    with pytest.raises(errors.UnsafePathError, match="not a regular file"):
        saferead.read_file(tmp_path / "fifo", 100)
    (tmp_path / "zero").symlink_to("/dev/zero")
    with pytest.raises(errors.UnsafePathError, match="symbolic link"):
        saferead.read_file(tmp_path / "zero", 100)
    (tmp_path / "log").write_bytes(b"a" * 1000 + b"END")
    assert saferead.read_file(tmp_path / "log", 3, tail=True) == b"END"
    assert len(saferead.read_file(tmp_path / "log", 10)) == 10


def test_base_directory_writable_by_others_is_refused(tmp_path):
    base = tmp_path / "base"
    base.mkdir()
    base.chmod(0o777)
    with pytest.raises(errors.UnsafePathError, match="writable by other users"):
        safedirs.check_base(base)
