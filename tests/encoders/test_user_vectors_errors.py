"""Garbage vector files end in one-line InputErrors naming the file and the fix; nothing is ever unpickled."""
from __future__ import annotations

import os
import pickle
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from likewise.encoders import UserVectors
from likewise.encoders.user_vectors import load_npy
from likewise.errors import InputError


class _Trap:
    """Unpickling this writes a file: proof that a loader unpickled something it should not have."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Callable[..., object], tuple[str, str]]:
        return open, (str(self.marker), "w")


def _random_bytes(path: Path) -> None:
    path.write_bytes(np.random.default_rng(0).bytes(512))


def _empty(path: Path) -> None:
    path.write_bytes(b"")


def _pickled_list(path: Path) -> None:
    path.write_bytes(pickle.dumps([[0.1, 0.2], [0.3, 0.4]]))


def _object_array(path: Path) -> None:
    np.save(path, np.array([[0.1, "x"], [0.3, None]], dtype=object), allow_pickle=True)


def _one_dimensional(path: Path) -> None:
    np.save(path, np.ones(8, dtype=np.float32))


def _three_dimensional(path: Path) -> None:
    np.save(path, np.ones((3, 2, 4), dtype=np.float32))


def _strings(path: Path) -> None:
    np.save(path, np.array([["0.1", "0.2"], ["0.3", "0.4"]]))


def _complex(path: Path) -> None:
    np.save(path, np.ones((3, 4), dtype=np.complex64))


def _structured(path: Path) -> None:
    np.save(path, np.zeros(3, dtype=[("a", "f4"), ("b", "f4")]))


def _datetimes(path: Path) -> None:
    np.save(path, np.array([["2024-01-01", "2024-01-02"]], dtype="datetime64[D]"))


def _cut_short(path: Path) -> None:
    np.save(path, np.ones((300, 4), dtype=np.float32))
    path.write_bytes(path.read_bytes()[:400])


def _header_only(path: Path) -> None:
    np.save(path, np.ones((3, 4), dtype=np.float32))
    path.write_bytes(path.read_bytes()[:30])


def _npz_renamed(path: Path) -> None:
    np.savez(path.with_suffix(".npz"), vectors=np.ones((3, 4)))
    os.replace(path.with_suffix(".npz"), path)


def _no_rows(path: Path) -> None:
    np.save(path, np.ones((0, 4), dtype=np.float32))


def _no_columns(path: Path) -> None:
    np.save(path, np.ones((3, 0), dtype=np.float32))


GARBAGE = {
    "random bytes": (_random_bytes, "does not start with the .npy header"),
    "empty file": (_empty, "the file is empty"),
    "pickled list": (_pickled_list, "Python pickle"),
    "object array": (_object_array, "Python objects"),
    "1-D array": (_one_dimensional, "1-D array of shape (8,)"),
    "3-D array": (_three_dimensional, "3-D array"),
    "strings": (_strings, "<U3 values, not real numbers"),
    "complex": (_complex, "complex64 values"),
    "structured": (_structured, "values, not real numbers"),
    "datetimes": (_datetimes, "datetime64[D] values"),
    "cut short": (_cut_short, "damaged or cut short"),
    "header only": (_header_only, "damaged or cut short"),
    "npz renamed": (_npz_renamed, ".npz archive"),
    "no rows": (_no_rows, "empty array of shape (0, 4)"),
    "no columns": (_no_columns, "empty array of shape (3, 0)"),
}


@pytest.mark.parametrize("case", list(GARBAGE))
def test_garbage_npy_is_one_line_naming_the_file_and_the_fix(tmp_path: Path, case: str) -> None:
    write, reason = GARBAGE[case]
    path = tmp_path / "vectors.npy"
    write(path)
    with pytest.raises(InputError) as info:
        UserVectors(path)
    message = str(info.value)
    assert "\n" not in message
    assert str(path) in message and reason in message
    assert "numpy.save" in message  # the fix


def test_good_npy_still_loads_memory_mapped(tmp_path: Path) -> None:
    vectors = np.arange(1, 13, dtype=np.float16).reshape(3, 4)
    np.save(tmp_path / "v.npy", vectors)
    array = load_npy(tmp_path / "v.npy")
    assert isinstance(array, np.memmap) and array.shape == (3, 4)
    np.save(tmp_path / "b.npy", np.eye(3, dtype=bool))
    assert UserVectors(tmp_path / "b.npy").dim == 3  # bool and integer arrays are numbers too


def test_a_pickle_inside_a_npy_is_never_unpickled(tmp_path: Path) -> None:
    marker = tmp_path / "unpickled.txt"
    for name, data in (
        ("object.npy", None),
        ("plain.npy", pickle.dumps(_Trap(marker))),
    ):
        path = tmp_path / name
        if data is None:
            np.save(path, np.array([_Trap(marker)], dtype=object), allow_pickle=True)
        else:
            path.write_bytes(data)
        with pytest.raises(InputError, match="never"):
            UserVectors(path)
        with pytest.raises(InputError, match="never"):
            load_npy(path, query=True)
    assert not marker.exists()


def test_query_vector_file_takes_one_vector(tmp_path: Path) -> None:
    np.save(tmp_path / "q1.npy", np.ones(4, dtype=np.float32))
    np.save(tmp_path / "q2.npy", np.ones((1, 4), dtype=np.float64))
    np.save(tmp_path / "many.npy", np.ones((3, 4), dtype=np.float32))
    assert load_npy(tmp_path / "q1.npy", query=True).shape == (1, 4)
    assert load_npy(tmp_path / "q2.npy", query=True).shape == (1, 4)
    with pytest.raises(InputError, match=r"shape \(3, 4\), not one vector; save one vector"):
        load_npy(tmp_path / "many.npy", query=True)
    with pytest.raises(InputError, match="query vector file not found"):
        load_npy(tmp_path / "nope.npy", query=True)


def test_table_vectors_that_are_not_numbers_are_one_line(tmp_path: Path) -> None:
    path = tmp_path / "v.jsonl"
    path.write_text('{"id": "a", "vector": ["x", "y"]}\n{"id": "b", "vector": ["z", "w"]}\n')
    with pytest.raises(InputError, match="not all numbers.*list of floats"):
        UserVectors(path)
    path.write_text('{"id": "a", "vector": "0.1 0.2"}\n{"id": "b", "vector": "0.3 0.4"}\n')
    with pytest.raises(InputError, match="not lists"):
        UserVectors(path)
    pd.DataFrame({"id": pd.Series([], dtype=str), "vector": pd.Series([], dtype=object)}).to_parquet(
        tmp_path / "empty.parquet"
    )
    with pytest.raises(InputError, match="has no rows"):
        UserVectors(tmp_path / "empty.parquet")


@pytest.mark.parametrize("case", ["random bytes", "object array", "1-D array", "strings"])
def test_embed_cli_with_a_garbage_vector_file_is_one_error_line(tmp_path: Path, case: str) -> None:
    from likewise.cli.main import cli

    data = tmp_path / "items.csv"
    pd.DataFrame({"id": ["a", "b", "c"], "text": ["one", "two", "three"]}).to_csv(data, index=False)
    GARBAGE[case][0](tmp_path / "vectors.npy")
    result = CliRunner().invoke(
        cli, ["embed", str(data), "--vectors", str(tmp_path / "vectors.npy"), "-w", str(tmp_path / "ws"), "--quiet"],
        catch_exceptions=False,
    )
    assert result.exit_code == 2, result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("Error: ") and "vectors.npy" in lines[0]
    assert "Traceback" not in result.output
