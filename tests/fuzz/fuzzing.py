"""Running the fuzz targets: the corpus on disk and the atheris command line.

Shared by the short run in the test suite (test_fuzz_short.py) and the long
profile (scripts/fuzz.py)."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

from tests.fuzz.targets import NAMES, SEEDS

HERE = Path(__file__).resolve().parent
CORPUS = HERE / "corpus"
DICTIONARY = HERE / "tokens.dict"
RUNNER = HERE / "run.py"
ROOT = HERE.parents[1]
# Per input: a hang past TIMEOUT seconds or a process past RSS_LIMIT_MB is a finding.
TIMEOUT = 10
RSS_LIMIT_MB = 2048


def corpus_files(name: str) -> list[Path]:
    folder = CORPUS / name
    return sorted(folder.iterdir()) if folder.is_dir() else []


def file_name(data: bytes) -> str:
    """libFuzzer's own naming: the SHA-1 of the content."""
    return hashlib.sha1(data).hexdigest()


def write_seeds() -> int:
    """Start each empty corpus with the real encoders' valid files; returns how many were written.
    (Only empty ones: most encoders use a fresh nonce, so their files differ every time.)"""
    added = 0
    for name in NAMES:
        folder = CORPUS / name
        folder.mkdir(parents=True, exist_ok=True)
        if corpus_files(name):
            continue
        for data in SEEDS[name]():
            path = folder / file_name(data)
            if not path.exists():
                path.write_bytes(data)
                added += 1
    return added


def combined_corpus(into: Path) -> Path:
    """Every target's corpus as inputs of the `all` target (its index byte first)."""
    into.mkdir(parents=True, exist_ok=True)
    for index, name in enumerate(NAMES):
        for path in corpus_files(name):
            data = bytes([index]) + path.read_bytes()
            (into / file_name(data)).write_bytes(data)
    return into


def fuzz(
    target: str, dirs: list[Path], *options: str, artifacts: Path, output: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """Run one target (or `all`) under atheris. New inputs go to the first of `dirs`."""
    command = [
        sys.executable,
        str(RUNNER),
        target,
        f"-timeout={TIMEOUT}",
        f"-rss_limit_mb={RSS_LIMIT_MB}",
        f"-dict={DICTIONARY}",
        f"-artifact_prefix={artifacts}/",
        "-print_final_stats=1",
        *options,
        *map(str, dirs),
    ]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT / "src"), os.environ.get("PYTHONPATH")]))}
    if output is None:
        return subprocess.run(command, env=env, capture_output=True, text=True, errors="replace")
    with output.open("a") as log:
        return subprocess.run(command, env=env, stdout=log, stderr=subprocess.STDOUT, text=True)
