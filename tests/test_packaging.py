"""The built wheel, installed in a fresh virtual environment, runs: the
version, the demo (which syncs through the shared folder, so it needs the
packaged zstd dictionary), and every data file of the source tree is inside
the installed package. Dependencies come from the package index; without a
network the test is skipped."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlparse

import pytest

from tablespace import __version__

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "src" / "tablespace"


def data_files() -> list[str]:
    """Every file of the package that is not Python source, relative to it."""
    return sorted(
        str(p.relative_to(PACKAGE))
        for p in PACKAGE.rglob("*")
        if p.is_file() and p.suffix not in {".py", ".pyc"} and "__pycache__" not in p.parts
    )


def index_reachable() -> bool:
    host = urlparse(os.environ.get("PIP_INDEX_URL", "https://pypi.org/simple")).hostname or "pypi.org"
    try:
        socket.create_connection((host, 443), timeout=5).close()
    except OSError:
        return False
    return True


def run(*args: str | Path, cwd: Path | None = None, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TABLESPACE_")}
    env.pop("PYTHONPATH", None)  # the installed package, not the sources under test
    return subprocess.run([str(a) for a in args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


def need(done: subprocess.CompletedProcess[str], what: str) -> None:
    if done.returncode != 0:
        if not index_reachable():
            pytest.skip(f"{what} needs the package index, which is unreachable")
        pytest.fail(f"{what} failed:\n{done.stdout}\n{done.stderr}")


def test_the_wheel_installs_in_a_fresh_venv_and_runs(tmp_path: Path) -> None:
    assert "tui/app.tcss" in data_files() and "sync/changeset-dict-1.zdict" in data_files()
    dist = tmp_path / "dist"
    need(run(sys.executable, "-m", "pip", "wheel", REPO, "--no-deps", "--quiet", "-w", dist), "building the wheel")
    (wheel,) = dist.glob("tablespace-*.whl")
    venv = tmp_path / "venv"
    need(run(sys.executable, "-m", "venv", venv), "creating a virtual environment")
    need(run(venv / "bin" / "python", "-m", "pip", "install", "--quiet", wheel), "installing the wheel")
    tablespace = venv / "bin" / "tablespace"

    version = run(tablespace, "--version", cwd=tmp_path)
    assert version.returncode == 0, version.stderr
    assert version.stdout.strip() == f"tablespace, version {__version__}"

    missing = run(
        venv / "bin" / "python",
        "-c",
        "import sys; from importlib.resources import files; "
        "print([f for f in sys.argv[1:] if not files('tablespace').joinpath(f).is_file()])",
        *data_files(),
        cwd=tmp_path,
    )
    assert missing.stdout.strip() == "[]", missing.stderr

    demo = run(tablespace, "demo", "--no-open", "--dir", tmp_path / "demo", cwd=tmp_path)
    assert demo.returncode == 0, demo.stderr
    assert "Built a sample group" in demo.stdout and "Traceback" not in demo.stderr
    assert (tmp_path / "demo" / "shared").is_dir()
