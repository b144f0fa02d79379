from __future__ import annotations

import pytest

from factorprobe.io.files import atomic_output


def test_atomic_output_writes_and_renames(tmp_path):
    out = tmp_path / "sub" / "table.csv"
    with atomic_output(out) as tmp:
        assert tmp.parent == out.parent
        assert tmp != out
        tmp.write_text("a\n")
        assert not out.exists()
    assert out.read_text() == "a\n"
    assert sorted(p.name for p in out.parent.iterdir()) == ["table.csv"]


def test_atomic_output_leaves_nothing_on_error(tmp_path):
    out = tmp_path / "table.csv"
    out.write_text("old\n")
    with pytest.raises(RuntimeError, match="boom"), atomic_output(out) as tmp:
        tmp.write_text("half")
        raise RuntimeError("boom")
    assert out.read_text() == "old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["table.csv"]


def test_atomic_output_replaces_a_directory(tmp_path):
    out = tmp_path / "store"
    out.mkdir()
    (out / "old").write_text("x")
    with atomic_output(out) as tmp:
        tmp.mkdir()
        (tmp / "new").write_text("y")
    assert sorted(p.name for p in out.iterdir()) == ["new"]
    assert [p.name for p in tmp_path.iterdir()] == ["store"]
