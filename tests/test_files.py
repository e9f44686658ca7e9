"""Atomic writes: whole files or nothing, ordinary permissions."""

from __future__ import annotations

import os
import stat

import pytest

from dagnet.files import atomic_write_bytes, write_json


def test_write_replaces_in_one_step_with_ordinary_permissions(tmp_path):
    path = atomic_write_bytes(tmp_path / "sub" / "f.bin", b"first")
    atomic_write_bytes(path, b"second")
    assert path.read_bytes() == b"second"
    mask = os.umask(0)
    os.umask(mask)
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~mask
    assert [p.name for p in path.parent.iterdir()] == ["f.bin"]


def test_failed_write_leaves_the_old_file_and_no_temporary(tmp_path):
    path = write_json(tmp_path / "m.json", {"a": 1})
    with pytest.raises(ValueError):
        write_json(path, {"a": float("nan")})  # NaN is not JSON: refused before writing
    assert path.read_text() == '{\n  "a": 1\n}\n'

    with pytest.raises(TypeError):
        atomic_write_bytes(path, object())  # the write itself fails midway
    assert path.read_text() == '{\n  "a": 1\n}\n'
    assert [p.name for p in tmp_path.iterdir()] == ["m.json"]
