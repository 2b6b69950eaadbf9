"""Atomic writes: whole files or none, with the permissions the user's umask gives."""

from __future__ import annotations

import os
import stat

import pytest

import cadenza
from cadenza.utils import _umask, atomic_dir, atomic_path, atomic_write_text


def _mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_atomic_files_follow_the_umask(tmp_path):
    atomic_write_text(tmp_path / "a.txt", "hello")
    assert (tmp_path / "a.txt").read_text() == "hello"
    assert _mode(tmp_path / "a.txt") == 0o666 & ~_umask()
    with atomic_dir(tmp_path / "folder") as tmp:
        (tmp / "x").write_text("1")
    assert _mode(tmp_path / "folder") == 0o777 & ~_umask()


def test_a_failed_write_leaves_the_old_file(tmp_path):
    atomic_write_text(tmp_path / "a.txt", "old")
    with pytest.raises(RuntimeError), atomic_path(tmp_path / "a.txt") as tmp:
        tmp.write_text("half")
        raise RuntimeError("interrupted")
    assert (tmp_path / "a.txt").read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.txt"]


def test_run_and_output_files_are_readable_by_others(tmp_path):
    if _umask() & 0o044:
        pytest.skip("this umask hides files from others")
    model = cadenza.create("lsystem")
    run = model.save(tmp_path / "run")
    for file in run.iterdir():
        assert _mode(file) & 0o044 == 0o044, file.name
