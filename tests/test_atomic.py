"""``placement.atomic.atomic_write``: whole files or nothing, ordinary permissions, no temp files left behind."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from placement.atomic import atomic_write


def test_writes_text_bytes_or_through_a_function(tmp_path):
    assert atomic_write(tmp_path / "a.txt", "ρ = 1\n").read_text(encoding="utf-8") == "ρ = 1\n"
    assert atomic_write(tmp_path / "b.bin", b"\x00\x01").read_bytes() == b"\x00\x01"
    target = atomic_write(tmp_path / "c.txt", lambda tmp: Path(tmp).write_text("via a path"))
    assert target == tmp_path / "c.txt" and target.read_text() == "via a path"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.txt", "b.bin", "c.txt"]


def test_files_get_ordinary_permissions_not_mkstemps_0600(tmp_path):
    umask = os.umask(0)
    os.umask(umask)
    mode = stat.S_IMODE(atomic_write(tmp_path / "report.html", "<html/>").stat().st_mode)
    assert mode == 0o666 & ~umask


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temp_file(tmp_path):
    target = atomic_write(tmp_path / "summary.json", "old")

    def half_then_fail(tmp: str) -> None:
        with open(tmp, "w") as handle:
            handle.write("half")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        atomic_write(target, half_then_fail)
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["summary.json"]
