"""kill -9 at every file operation of embed, index and tune: the workspace is wholly the old state or wholly
the new one, `likewise info --check` passes, and an interrupted first embed resumes from the cache.

The hook: with $LIKEWISE_CRASH_AFTER=N a likewise process SIGKILLs itself right after its N-th file
operation (likewise.atomic.file_operation_done).
"""
from __future__ import annotations

import shutil

import pytest
from workspace_procs import digest, likewise, write_records

MAX_OPERATIONS = 60


def _crash_every_operation(template, args, tmp_path):
    """Run ``args`` on a fresh copy of ``template`` once per N = 1, 2, ... with a kill -9 after the N-th file
    operation, until it completes; after each kill the state must be the old one or the new one."""
    old = digest(template)
    clean = tmp_path / "clean"
    shutil.copytree(template, clean)
    done = likewise(*args, "-w", str(clean))
    assert done.returncode == 0, done.stderr
    new = digest(clean)
    assert new != old
    seen = set()
    for n in range(1, MAX_OPERATIONS):
        ws = tmp_path / f"crash-{n}"
        shutil.copytree(template, ws)
        result = likewise(*args, "-w", str(ws), env={"LIKEWISE_CRASH_AFTER": str(n)})
        if result.returncode == 0:
            assert digest(ws) == new
            return n, seen
        assert result.returncode == -9, result.stderr
        state = digest(ws)
        assert state in (old, new), f"torn state after file operation {n}"
        seen.add("old" if state == old else "new")
        info = likewise("info", "--check", "-w", str(ws))
        assert info.returncode == 0, info.stderr
        again = likewise(*args, "-w", str(ws))  # and the command still works afterwards
        assert again.returncode == 0, again.stderr
        assert digest(ws) == new
        shutil.rmtree(ws)
    pytest.fail(f"the command did not finish within {MAX_OPERATIONS} file operations")


@pytest.fixture
def embedded(tmp_path):
    data = write_records(tmp_path / "a.csv", 120, seed=1)
    ws = tmp_path / "template"
    assert likewise("embed", str(data), "-m", "hashing", "-w", str(ws)).returncode == 0
    return ws


def test_kill_at_every_file_operation_of_embed(embedded, tmp_path):
    other = write_records(tmp_path / "b.csv", 150, seed=2)
    operations, seen = _crash_every_operation(embedded, ["embed", str(other), "-m", "hashing"], tmp_path)
    assert operations > 5 and seen == {"old", "new"}  # kills landed before and after the switch


def test_kill_at_every_file_operation_of_index(embedded, tmp_path):
    operations, seen = _crash_every_operation(embedded, ["index", "--kind", "raw"], tmp_path)
    assert operations > 2 and "old" in seen


@pytest.mark.slow
def test_kill_at_every_file_operation_of_tune(embedded, tmp_path):
    operations, seen = _crash_every_operation(embedded, ["tune", "--epochs", "3", "--force"], tmp_path)
    assert operations > 3 and "old" in seen


def test_an_interrupted_first_embed_resumes_from_the_cache(tmp_path):
    data = write_records(tmp_path / "big.csv", 9000, seed=3)  # three cache chunks of 4,096 records
    ws = tmp_path / "first"
    killed = likewise("embed", str(data), "-m", "hashing", "-w", str(ws), env={"LIKEWISE_CRASH_AFTER": "2"})
    assert killed.returncode == -9 and digest(ws) is None
    again = likewise("embed", str(data), "-m", "hashing", "-w", str(ws), "--json")
    assert again.returncode == 0, again.stderr
    import json

    stats = json.loads(again.stdout)["embedding"]
    assert stats["cache_hits"] >= 4096 and stats["cache_hits"] + stats["encoded"] + stats["duplicates"] == 9000
    assert len(digest(ws)[0]) == 9000
