"""This member's keys for one group that are not the signing identity: the
X25519 exchange key (to receive wrapped epoch keys) and the epoch keys held so
far. Both live in the group's directory in the home, 0600, never in the folder.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from collections.abc import Callable
from pathlib import Path

from tablespace.core.errors import TablespaceError
from tablespace.core.identity import write_private_file
from tablespace.sync.keys import ExchangeKey, epoch_key_id, new_epoch_key

EXCHANGE_KEY_NAME = "exchange.pem"
EPOCHS_NAME = "epochs.json"


@dataclass
class Keyring:
    path: Path  # the group's directory in the home
    exchange: ExchangeKey
    epochs: dict[int, bytes] = field(default_factory=dict)
    # epoch -> author id of the moderator whose grant gave us the key; absent
    # for keys we made ourselves
    granted_by: dict[int, str] = field(default_factory=dict)

    @classmethod
    def create(cls, path: Path, *, first_epoch_key: bool) -> "Keyring":
        ring = cls(path, ExchangeKey.generate())
        ring.exchange.save(path / EXCHANGE_KEY_NAME)
        if first_epoch_key:
            ring.epochs[0] = new_epoch_key()
        ring.save_epochs()
        return ring

    @classmethod
    def load(cls, path: Path) -> "Keyring":
        exchange = ExchangeKey.load(path / EXCHANGE_KEY_NAME)
        try:
            data = json.loads((path / EPOCHS_NAME).read_text())
            epochs = {int(e["epoch"]): bytes.fromhex(e["key"]) for e in data["epochs"]}
            granted_by = {int(e["epoch"]): e["granted_by"] for e in data["epochs"] if e.get("granted_by")}
        except (FileNotFoundError, KeyError, ValueError, TypeError):
            raise TablespaceError(f"the epoch keys in {path / EPOCHS_NAME} are missing or damaged") from None
        return cls(path, exchange, epochs, granted_by)

    def save_epochs(self) -> None:
        data = {"epochs": [{"epoch": n, "key_id": epoch_key_id(k).hex(), "key": k.hex(),
                            "granted_by": self.granted_by.get(n)}
                           for n, k in sorted(self.epochs.items())]}
        target = self.path / EPOCHS_NAME
        if target.exists():
            target.unlink()  # write_private_file refuses to overwrite keys by design
        write_private_file(target, json.dumps(data, indent=2).encode())

    def add_granted(self, epochs: dict[int, bytes], granter: str) -> bool:
        """Keep keys from a grant; returns True if any was new."""
        new = {n: k for n, k in epochs.items() if n not in self.epochs}
        for n, key in new.items():
            self.epochs[n] = key
            self.granted_by[n] = granter
        if new:
            self.save_epochs()
        return bool(new)

    def writable(self, is_moderator: Callable[[str], bool]) -> tuple[int, bytes] | None:
        """The epoch our new changesets are written under: the newest key we
        made or that a moderator (as the fold sees it) granted us. Any key may
        be used to read; only a trusted one to write, so a stranger who drops a
        grant in the folder cannot read what we post."""
        trusted = [n for n in self.epochs if n not in self.granted_by or is_moderator(self.granted_by[n])]
        if not trusted:
            return None
        epoch = max(trusted)
        return epoch, self.epochs[epoch]
