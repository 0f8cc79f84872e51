"""This member's keys for one group besides the signing identity: the X25519
exchange key (epoch keys are wrapped for it) and every epoch key held so far.
Both live in the group's directory in the home, 0600, never in the folder.

Two members can rotate at once, so one epoch may have several keys; a key
is named by (epoch, key id) and any of them opens files written under it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from tablespace.core.errors import TablespaceError
from tablespace.core.home import EXCHANGE_KEY_NAME, KEY_NAME
from tablespace.core.identity import write_private_file
from tablespace.core.keyfile import for_disk, read_key_file
from tablespace.sync.keys import ExchangeKey, epoch_key_id, new_epoch_key

EPOCHS_NAME = "epochs.json"


@dataclass(frozen=True)
class EpochKey:
    epoch: int
    key: bytes
    granted_by: str | None = None  # the member whose grant gave it to us; None if we made it

    @property
    def key_id(self) -> str:
        return epoch_key_id(self.key).hex()


@dataclass
class Keyring:
    path: Path  # the group's directory in the home
    exchange: ExchangeKey
    keys: list[EpochKey] = field(default_factory=list)

    @classmethod
    def create(cls, path: Path, *, first_epoch_key: bool) -> Keyring:
        ring = cls(path, ExchangeKey.generate())
        ring.exchange.save(path / EXCHANGE_KEY_NAME)
        if first_epoch_key:
            ring.keys.append(EpochKey(0, new_epoch_key()))
        ring.save()
        return ring

    @classmethod
    def load(cls, path: Path) -> Keyring:
        exchange = ExchangeKey.load(path / EXCHANGE_KEY_NAME)
        try:
            data = json.loads(read_key_file(path / EPOCHS_NAME))
            keys = [EpochKey(int(e["epoch"]), bytes.fromhex(e["key"]), e.get("granted_by")) for e in data["epochs"]]
        except (FileNotFoundError, KeyError, ValueError, TypeError):
            raise TablespaceError(f"the epoch keys in {path / EPOCHS_NAME} are missing or damaged") from None
        return cls(path, exchange, keys)

    def save(self) -> None:
        data = {
            "epochs": [
                {"epoch": k.epoch, "key_id": k.key_id, "key": k.key.hex(), "granted_by": k.granted_by}
                for k in sorted(self.keys, key=lambda k: (k.epoch, k.key_id))
            ]
        }
        target = self.path / EPOCHS_NAME
        tmp = target.with_name(target.name + ".new")
        tmp.unlink(missing_ok=True)
        write_private_file(tmp, for_disk(target, json.dumps(data, indent=2).encode()))
        tmp.replace(target)

    @property
    def epochs(self) -> dict[int, list[bytes]]:
        """Keys by epoch number, as the changeset reader wants them."""
        found: dict[int, list[bytes]] = {}
        for k in self.keys:
            found.setdefault(k.epoch, []).append(k.key)
        return found

    def add(self, items: Iterable[tuple[int, bytes]], granted_by: str | None = None) -> bool:
        """Keep keys we did not have; returns True if any was new."""
        held = {(k.epoch, k.key) for k in self.keys}
        new = [EpochKey(epoch, key, granted_by) for epoch, key in items if (epoch, key) not in held]
        if new:
            self.keys.extend(new)
            self.save()
        return bool(new)

    @staticmethod
    def key_files(path: Path) -> list[Path]:
        """Every private key of ours in the group's directory `path`."""
        return [path / KEY_NAME, path / EXCHANGE_KEY_NAME, path / EPOCHS_NAME]

    def writable(self, announced: set[tuple[int, str]]) -> EpochKey | None:
        """The key our new changesets are written under: among keys a member
        announced in the log (so a stranger cannot plant one), the newest
        epoch, and within it the lowest key id, which every member picks alike
        when two members rotated at once."""
        usable = [k for k in self.keys if (k.epoch, k.key_id) in announced]
        if not usable:
            return None
        return min(usable, key=lambda k: (-k.epoch, k.key_id))
