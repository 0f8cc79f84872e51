"""Two real Syncthing daemons on 127.0.0.1, sharing one folder between two
members' homes: no discovery, relays or NAT, each device given the other's
address. Driven through Syncthing's REST API with the standard library only.

Every folder entry sets `maxConflicts` itself: Syncthing 1.19 reads an entry
without it as 0, which makes no conflict copies and drops one side's edit.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

FOLDER_ID = "tablespace-shared"
API_KEY = "tablespace-test-key"
WAIT = 60.0  # seconds: generous, the machines are shared
# Syncthing's own files in a synced folder: its marker, its ignore list and
# the temp files it pulls into; not part of what the members share.
SYNCTHING_NAMES = (".stfolder", ".stignore")
SYNCTHING_TEMP_PREFIX = ".syncthing."
# What docs/transports.md recommends for a Syncthing folder: tablespace's own
# temp files are renamed within moments, never worth sending.
STIGNORE = "(?d).tmp-*\n"


def syncthing_missing() -> str | None:
    """Why the Syncthing tests cannot run here, or None when they can."""
    if shutil.which("syncthing") is None:
        return "needs the `syncthing` command (Debian package `syncthing`; .ci/run installs it)"
    return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_until(
    condition: Callable[[], object],
    what: str,
    timeout: float = WAIT,
    every: float = 0.05,
    explain: Callable[[], str] | None = None,
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(every)
    raise AssertionError(f"waited {timeout:.0f} s for {what}" + (f": {explain()}" if explain else ""))


@dataclass
class Daemon:
    """One member's Syncthing: its config home, the folder it shares, its process."""

    name: str
    home: Path
    folder: Path
    gui_port: int = field(default_factory=free_port)
    listen_port: int = field(default_factory=free_port)
    device_id: str = ""
    process: subprocess.Popen[bytes] | None = None

    def generate(self) -> None:
        self.home.mkdir(parents=True)
        self.folder.mkdir(parents=True)
        (self.folder / ".stfolder").mkdir()
        (self.folder / ".stignore").write_text(STIGNORE)
        subprocess.run(
            ["syncthing", "generate", "--home", str(self.home), "--no-default-folder", "--skip-port-probing"],
            check=True,
            capture_output=True,
            timeout=WAIT,
        )
        device = ET.parse(self.home / "config.xml").getroot().find("device")
        assert device is not None
        self.device_id = device.attrib["id"]

    def configure(self, peer: Daemon, *, fs_watcher_delay_s: int = 1) -> None:
        """Loopback only, the peer at its explicit address, one shared folder."""
        path = self.home / "config.xml"
        tree = ET.parse(path)
        root = tree.getroot()
        gui = root.find("gui")
        assert gui is not None
        _set(gui, "address", f"127.0.0.1:{self.gui_port}")
        _set(gui, "apikey", API_KEY)
        options = root.find("options")
        assert options is not None
        for name, value in {
            "listenAddress": f"tcp://127.0.0.1:{self.listen_port}",
            "globalAnnounceEnabled": "false",
            "localAnnounceEnabled": "false",
            "relaysEnabled": "false",
            "natEnabled": "false",
            "startBrowser": "false",
            "urAccepted": "-1",  # usage reporting declined: nothing leaves the machine
            "crashReportingEnabled": "false",
            "autoUpgradeIntervalH": "0",
            "reconnectionIntervalS": "1",
        }.items():
            _set(options, name, value)
        for old in root.findall("folder"):
            root.remove(old)
        device = ET.SubElement(root, "device", id=peer.device_id, name=peer.name, compression="metadata")
        _set(device, "address", f"tcp://127.0.0.1:{peer.listen_port}")
        folder = ET.Element(
            "folder",
            id=FOLDER_ID,
            label="tablespace",
            path=str(self.folder),
            type="sendreceive",
            rescanIntervalS="5",
            fsWatcherEnabled="true",
            fsWatcherDelayS=str(fs_watcher_delay_s),
            ignorePerms="false",
            autoNormalize="true",
        )
        for member in (self.device_id, peer.device_id):
            ET.SubElement(folder, "device", id=member)
        _set(folder, "maxConflicts", "10")  # never left out: 1.19 reads a missing one as 0
        root.insert(list(root).index(device) + 1, folder)
        tree.write(path)

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                "syncthing",
                "serve",
                "--home",
                str(self.home),
                "--no-browser",
                "--no-restart",
                "--no-upgrade",
                "--logfile",
                str(self.home / "syncthing.log"),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env={"HOME": str(self.home), "PATH": "/usr/bin:/bin", "STNORESTART": "1", "STNOUPGRADE": "1"},
        )
        wait_until(self._answers, f"{self.name}'s Syncthing to answer on 127.0.0.1:{self.gui_port}")

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=15)

    # --- the REST API -----------------------------------------------------------------

    def api(self, method: str, path: str, **params: str) -> object:
        query = "&".join(f"{k}={v}" for k, v in params.items())
        url = f"http://127.0.0.1:{self.gui_port}/rest/{path}" + (f"?{query}" if query else "")
        request = urllib.request.Request(url, method=method, headers={"X-API-Key": API_KEY})
        with urllib.request.urlopen(request, timeout=10) as response:
            body = response.read()
        return json.loads(body) if body.strip() else None

    def _answers(self) -> bool:
        if self.process is not None and self.process.poll() is not None:
            log = (self.home / "syncthing.log").read_text(errors="replace")[-2000:]
            raise AssertionError(f"{self.name}'s Syncthing exited with {self.process.returncode}:\n{log}")
        try:
            return self.api("GET", "system/ping") == {"ping": "pong"}
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            return False

    def connected(self, peer: Daemon) -> bool:
        connections = self.api("GET", "system/connections")
        assert isinstance(connections, dict)
        return bool(connections["connections"].get(peer.device_id, {}).get("connected"))

    def folder_status(self) -> dict[str, object]:
        status = self.api("GET", "db/status", folder=FOLDER_ID)
        assert isinstance(status, dict)
        return status

    def completion(self, peer: Daemon) -> dict[str, object]:
        """How far the peer has what this daemon has (this daemon's view of it)."""
        done = self.api("GET", "db/completion", folder=FOLDER_ID, device=peer.device_id)
        assert isinstance(done, dict)
        return done

    def pause(self, peer: Daemon) -> None:
        self.api("POST", "system/pause", device=peer.device_id)

    def resume(self, peer: Daemon) -> None:
        self.api("POST", "system/resume", device=peer.device_id)

    def scan(self) -> None:
        self.api("POST", "db/scan", folder=FOLDER_ID)


def _set(parent: ET.Element, tag: str, text: str) -> None:
    child = parent.find(tag)
    if child is None:
        child = ET.SubElement(parent, tag)
    child.text = text


def shared_files(folder: Path) -> dict[str, bytes]:
    """What members share in `folder`: every file but Syncthing's own, by path."""
    files = {}
    for path in folder.rglob("*"):
        relative = path.relative_to(folder)
        if relative.parts[0] in SYNCTHING_NAMES or path.name.startswith(SYNCTHING_TEMP_PREFIX) or not path.is_file():
            continue
        try:
            files[relative.as_posix()] = path.read_bytes()
        except FileNotFoundError:  # renamed or removed as we looked
            continue
    return files


@dataclass
class Link:
    """Two daemons sharing one folder: Ana's and Ben's copies of it."""

    ana: Daemon
    ben: Daemon

    def connected(self) -> bool:
        return self.ana.connected(self.ben) and self.ben.connected(self.ana)

    def in_step(self) -> bool:
        """Both copies hold the same files, and neither daemon has anything left to do."""
        if shared_files(self.ana.folder) != shared_files(self.ben.folder):
            return False
        for mine, peer in ((self.ana, self.ben), (self.ben, self.ana)):
            status = mine.folder_status()
            if status["state"] != "idle" or status["needFiles"] or mine.completion(peer)["needItems"]:
                return False
        return True

    def scan(self) -> None:
        """Both daemons look at their folder now (each call returns when its scan is done)."""
        self.ana.scan()
        self.ben.scan()

    def wait_in_step(self, what: str = "the two folders to hold the same files") -> None:
        self.scan()
        wait_until(self.in_step, what, every=0.2)

    def pause(self) -> None:
        self.ana.pause(self.ben)
        self.ben.pause(self.ana)
        wait_until(lambda: not self.ana.connected(self.ben) and not self.ben.connected(self.ana), "the link to go down")

    def resume(self) -> None:
        self.ana.resume(self.ben)
        self.ben.resume(self.ana)
        wait_until(self.connected, "the link to come back")


@contextmanager
def syncthing_link(base: Path, *, fs_watcher_delay_s: int = 1) -> Iterator[Link]:
    """Two daemons under `base`, connected, sharing ana/shared and ben/shared;
    stopped (killed if they will not stop) however the block ends."""
    ana = Daemon("ana", base / "ana-syncthing", base / "ana-shared")
    ben = Daemon("ben", base / "ben-syncthing", base / "ben-shared")
    try:
        for daemon in (ana, ben):
            daemon.generate()
        ana.configure(ben, fs_watcher_delay_s=fs_watcher_delay_s)
        ben.configure(ana, fs_watcher_delay_s=fs_watcher_delay_s)
        ana.start()
        ben.start()
        link = Link(ana, ben)
        wait_until(link.connected, "the two Syncthing daemons to connect over 127.0.0.1")
        yield link
    finally:
        for daemon in (ana, ben):
            daemon.stop()
