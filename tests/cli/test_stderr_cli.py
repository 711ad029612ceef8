"""Each command run once with the real model (all-MiniLM-L6-v2, offline): stderr holds likewise's own lines
only, never another library's (tqdm bars, Hugging Face or torch warnings, trainer dicts, tracebacks)."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

THIRD_PARTY = re.compile(
    r"(it/s\]|s/it\]|\d+%\|| Batches|Warning:|warnings\.warn|Traceback|\.py:\d+|\{'train_runtime'|huggingface|"
    r"UserWarning|FutureWarning|DeprecationWarning|TracerWarning|torch\.|transformers|sentence_transformers)")
COMMANDS = [
    ["tune"],
    ["index"],
    ["search", "--text", "a warm and funny film", "-k", "5"],
    ["search", "--id", "rt-0003", "-k", "5"],
    ["session", "--from", "rt-0003", "--size", "20"],
    ["session", "compare", "--from", "rt-0003", "--size", "20"],
    ["classify"],
    ["map"],
    ["report"],
    ["info"], ["labels"], ["runs"],
]


def likewise(args, env, cwd):
    exe = Path(sys.executable).with_name("likewise")
    return subprocess.run([str(exe), *args], capture_output=True, text=True, env=env, cwd=cwd, timeout=600)


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    folder = tmp_path_factory.mktemp("stderr")
    lines = ["id,text,label"]
    words = {"fresh": "wonderful moving funny warm brilliant", "rotten": "dull boring flat tired clumsy"}
    for i in range(60):
        label = "fresh" if i % 2 else "rotten"
        extra = words[label].split()[i % 5]
        lines.append(f"rt-{i:04d},A {extra} film number {i} about people,{label if i < 40 else ''}")
    (folder / "reviews.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    e = {**os.environ, "LIKEWISE_WORKSPACE": str(folder / "ws"), "LIKEWISE_LOG": str(folder / "likewise.log"),
         "COLUMNS": "100"}
    out = likewise(["embed", "reviews.csv", "-l", "label", "--runtime", "torch"], e, folder)
    assert out.returncode == 0, out.stderr
    return e, folder, out.stderr


def _leaks(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if THIRD_PARTY.search(line)]


def test_embed_with_the_real_model_leaks_nothing(env):
    _, _, stderr = env
    assert _leaks(stderr) == []


@pytest.mark.parametrize("args", COMMANDS, ids=lambda a: " ".join(a[:2]))
def test_command_stderr_holds_no_third_party_lines(env, args):
    e, folder, _ = env
    out = likewise(args, e, folder)
    assert out.returncode == 0, out.stderr
    assert _leaks(out.stderr) == []
