"""Pairing a device once the log holds a device removal that does not stand.

Two devices of a member that removed each other leave a removal in the log
that does not stand (core/fold/device_removals.py). Whether a later device
op changes which removals stand decides if the fold goes on from where it
is or folds the whole log again.

  floor      the cached N-post group where the founder paired a laptop and
             removed it: one more `device.add` (a device paired), folded by
             Store.ingest as a sync or `device add`'s approval does.
  contested  the same group where the laptop also removed the founder,
             back-dated, before hearing of its own removal: that removal
             does not stand. Then the same `device.add`.

Each run folds the op on a fresh copy of the prepared database; CPU
(`time.process_time`) of the ingest alone. Ratio: contested / floor, per run.

Usage: python benchmarks/bench_devices.py [--n 5000] [--runs 5]
"""

from __future__ import annotations

import shutil
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (  # noqa: E402
    base_args,
    cached_group,
    checkpoint,
    cleanup_tmp,
    copy_group,
    header,
    open_store,
    parse,
    table,
)

from tablespace.core.home import DB_NAME, KEY_NAME  # noqa: E402
from tablespace.core.identity import Identity  # noqa: E402
from tablespace.core.ops import Op, sign_op  # noqa: E402
from tablespace.core.store import Store  # noqa: E402


class Signer:
    """One signing key's chain in the group, with HLCs from the store's clock."""

    def __init__(self, store: Store, identity: Identity, group_id: str) -> None:
        self.store, self.identity, self.group_id = store, identity, group_id
        self.seq, self.prev = store.head(identity.author_id)

    def sign(self, kind: str, payload: dict[str, Any], hlc: int | None = None) -> Op:
        op = sign_op(
            self.identity,
            group=self.group_id,
            seq=self.seq + 1,
            prev=self.prev,
            hlc=self.store.clock.tick() if hlc is None else hlc,
            kind=kind,
            payload=payload,
        )
        self.seq, self.prev = op.seq, op.id
        return op


def certificate(device: Identity, name: str) -> dict[str, Any]:
    return {
        "device": device.author_id,
        "public_key": device.public_key.hex(),
        "exchange_key": Identity.generate().public_key.hex(),
        "name": name,
    }


def prepare(src: Path, contested: bool) -> Path:
    """A copy of the group where the founder paired a laptop and removed it
    (and, if `contested`, the laptop removed the founder first, back-dated)."""
    path = copy_group(src, "devices")
    store = open_store(path)
    group_id = store.get_meta("group_id") or ""
    founder = Signer(store, Identity.load(path / KEY_NAME), group_id)
    laptop_key = Identity.generate()
    store.ingest([founder.sign("device.add", certificate(laptop_key, "laptop"))])
    laptop = Signer(store, laptop_key, group_id)
    store.ingest([laptop.sign("thread.start", {"title": "from the laptop", "body": "", "tags": []})])
    founder_seq = founder.seq
    removal = founder.sign("device.remove", {"device": laptop_key.author_id, "last_seq": laptop.seq})
    ops = [removal]
    if contested:  # neither had seen the other's removal: the founder's key was paired first and wins
        back = removal.hlc - 1000
        ops.append(laptop.sign("device.remove", {"device": founder.identity.author_id, "last_seq": founder_seq}, back))
    store.ingest(ops)
    states = [store.conn.execute("SELECT state FROM ops WHERE id = ?", (op.id,)).fetchone()[0] for op in ops]
    assert states == ["accepted", "rejected"][: len(ops)], states
    checkpoint(store.conn)
    store.close()
    return path


def pair_once(prepared: Path) -> float:
    """CPU seconds to fold one device.add on a fresh copy of `prepared`."""
    work = prepared.parent / "run"
    shutil.rmtree(work, ignore_errors=True)
    shutil.copytree(prepared, work)
    store = open_store(work)
    founder = Signer(store, Identity.load(work / KEY_NAME), store.get_meta("group_id") or "")
    op = founder.sign("device.add", certificate(Identity.generate(), "tablet"))
    t0 = time.process_time()
    store.ingest([op])
    spent = time.process_time() - t0
    assert store.conn.execute("SELECT state FROM ops WHERE id = ?", (op.id,)).fetchone() == ("accepted",)
    store.close()
    shutil.rmtree(work)
    return spent


def main() -> None:
    p = base_args(__doc__ or "")
    p.add_argument("--runs", type=int, default=5)
    args = parse(p)
    header("pairing a device beside a removal that does not stand", args)
    src = cached_group(args.n, args.seed)
    prepared = {name: prepare(src, name == "contested") for name in ("floor", "contested")}
    for path in prepared.values():
        assert (path / DB_NAME).exists()
    times: dict[str, list[float]] = {"floor": [], "contested": []}
    for _ in range(args.runs):  # alternating, so load changes fall on both alike
        for name, path in prepared.items():
            times[name].append(pair_once(path))
    ratios = [c / f for c, f in zip(times["contested"], times["floor"], strict=True)]

    def fmt(values: list[float], unit: float, suffix: str) -> str:
        return f"{statistics.median(values) * unit:.2f} ({min(values) * unit:.2f}-{max(values) * unit:.2f}){suffix}"

    rows = [[name, fmt(values, 1000, " ms")] for name, values in times.items()]
    rows.append(["contested / floor", fmt(ratios, 1, "x")])
    print(table(["pairing one device", "CPU, median (min-max)"], rows))
    for path in prepared.values():
        cleanup_tmp(path)


if __name__ == "__main__":
    main()
