"""A write that fails (a full disk, a file size limit) leaves no temp file
behind: not in the shared folder, not in the home. On a real full file
system (a small tmpfs, mounted when we may) and under RLIMIT_FSIZE."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tablespace.core.files import write_atomically
from tablespace.core.home import Home
from tablespace.sync.folder import FolderStore

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.xdist_group("mounts")  # mount and unmount tmpfs: one at a time on the machine


@pytest.fixture
def full_disk(tmp_path: Path) -> Iterator[Path]:
    """A 64 KiB tmpfs; skipped without the privilege to mount one."""
    where = tmp_path / "small"
    where.mkdir()
    mounted = (
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(where)], capture_output=True)
        if os.geteuid() == 0
        else None
    )
    if mounted is None or mounted.returncode != 0:
        pytest.skip("cannot mount a small tmpfs here (needs root)")
    try:
        yield where
    finally:
        subprocess.run(["umount", str(where)], check=False)


def leftovers(path: Path) -> list[str]:
    return sorted(p.name for p in path.rglob("*") if "tmp" in p.name or p.name.endswith(".new"))


def test_write_atomically_on_a_full_disk_leaves_nothing(full_disk: Path) -> None:
    target = full_disk / "big.bin"
    with pytest.raises(OSError):
        write_atomically(target, os.urandom(256 * 1024), mode=0o644)
    assert list(full_disk.iterdir()) == []


def test_the_folder_on_a_full_disk_keeps_no_temp_file(full_disk: Path) -> None:
    folder = FolderStore(full_disk, "g" * 26)
    with pytest.raises(OSError):
        folder.write_once("changes/me/1-2-0000000000000000.tsc", os.urandom(256 * 1024))
    assert leftovers(full_disk) == []
    assert not (full_disk / ("g" * 26) / "changes" / "me" / "1-2-0000000000000000.tsc").exists()


def test_the_config_on_a_full_disk_keeps_no_temp_file(full_disk: Path) -> None:
    home = Home(full_disk / "home")
    home.ensure()
    home.update_config(theme="dark")
    with pytest.raises(OSError):
        home.update_config(note="x" * 256 * 1024)
    assert leftovers(full_disk) == []
    assert home.config() == {"theme": "dark"}  # the old config stands, whole


def test_a_file_size_limit_leaves_no_temp_file(tmp_path: Path) -> None:
    """RLIMIT_FSIZE in a child: the write fails with EFBIG part way."""
    script = (
        "import os, resource, signal, sys\n"
        "from pathlib import Path\n"
        "from tablespace.core.files import write_atomically\n"
        "signal.signal(signal.SIGXFSZ, signal.SIG_IGN)\n"
        "resource.setrlimit(resource.RLIMIT_FSIZE, (4096, 4096))\n"
        "try:\n"
        "    write_atomically(Path(sys.argv[1]), b'x' * 65536, mode=0o644, tmp_name='.tmp-1-f')\n"
        "except OSError as exc:\n"
        "    print(exc.errno)\n"
    )
    target = tmp_path / "out" / "f.tsc"
    target.parent.mkdir()
    result = subprocess.run(
        [sys.executable, "-c", script, str(target)],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO / "src")},
    )
    assert result.stdout.strip(), result.stderr
    assert list(target.parent.iterdir()) == []


def test_export_to_a_full_folder_leaves_no_temp_file_and_keeps_the_outbox(full_disk, tmp_path, monkeypatch) -> None:
    from tests.clirun import TS

    ana = TS(tmp_path / "ana", monkeypatch)
    ana.out("init", "Circle", "--as", "Ana", "--folder", str(full_disk))
    ana.json("sync")
    ballast = full_disk / f"ballast-{uuid.uuid4().hex}"
    try:  # fill the disk
        with open(ballast, "wb") as f:
            while True:
                f.write(b"\0" * 4096)
                f.flush()
    except OSError:
        pass
    ana.out("post", "Big", "--body", os.urandom(12_000).hex())
    ana.run("sync", code=1)
    assert leftovers(full_disk) == []
    ballast.unlink()
    assert ana.json("sync")["exported"] >= 1
