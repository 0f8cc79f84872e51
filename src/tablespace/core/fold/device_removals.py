"""Which device removals stand, decided from the op set, not the order.

Two devices of one member may remove each other (a thief with the laptop
removes the desktop that removes the laptop). The fold's order is by
timestamps the remover chooses, so it cannot decide: whichever removal
sorted first would cut the other's signer off and win. Instead every
replica decides from the removals and device certificates it holds:

- A removal names the removed device's last seq that counts. An act of that
  device (a removal, or the certificate of a further device) with a higher
  seq is blocked by it, wherever it sorts: a device that was removed cannot
  remove anyone afterwards, nor certify a device to do so.
- An act stands when nothing that stands blocks it and its signer is the
  member's first key or a device whose certificate stands.
- What that leaves undecided is a cycle: removals neither of which had seen
  the other's. There the device paired first (the member's first key, then
  by the position of its certificate in the log, fixed before any theft)
  keeps its place: its removal stands and those that would block it do not.
  Anything still undecided after that stands not.

The fold refuses a removal that does not stand (fold/devices.py); that a
removal stands does not make it accepted (the fold still checks it). Where
several removals of one device stand, the lowest seq any of them names is
its cut: each remover vouched for no more of it than it had seen.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from tablespace.core.ops import Op

KINDS = ("device.add", "device.remove")
MAX_CHAIN = 32  # certificates followed to find a device's member


@dataclass(frozen=True)
class Act:
    """A removal or a certificate, as the resolution sees it."""

    id: str
    signer: str
    seq: int
    order: tuple[int, str, int]
    removes: str | None = None  # a removal: the device it takes away
    last_seq: int = 0  # a removal: the removed device's last seq that counts
    certifies: str | None = None  # a certificate: the device it adds


def act_of(op: Op) -> Act | None:
    """The op as an act, or None if its payload is malformed (the fold refuses it)."""
    p = op.payload
    device = p.get("device")
    if not isinstance(device, str):
        return None
    order = (op.hlc, op.author, op.seq)
    if op.kind == "device.add":
        return Act(op.id, op.author, op.seq, order, certifies=device)
    last_seq = p.get("last_seq")
    if type(last_seq) is not int or not 0 <= last_seq < 2**63 or device == op.author:
        return None
    return Act(op.id, op.author, op.seq, order, removes=device, last_seq=last_seq)


@dataclass(frozen=True)
class Standing:
    """What the removals in an op set decide."""

    stands: dict[str, bool]  # op id -> whether that removal stands, for every well-formed removal
    lowest: dict[str, int]  # removed device -> the lowest last seq a standing removal of it names


def standing_removals(ops: Iterable[Op]) -> Standing:
    acts = [a for a in (act_of(op) for op in ops if op.kind in KINDS) if a is not None]
    resolution = _Resolution(acts)
    stands = resolution.run()
    lowest: dict[str, int] = {}
    for r in resolution.removals:
        if stands[r.id] and r.removes is not None:
            lowest[r.removes] = min(r.last_seq, lowest.get(r.removes, r.last_seq))
    return Standing(stands, lowest)


class _Resolution:
    def __init__(self, acts: list[Act]) -> None:
        self.certs: dict[str, Act] = {}
        for act in sorted((a for a in acts if a.certifies), key=lambda a: a.order):
            assert act.certifies is not None
            self.certs.setdefault(act.certifies, act)  # the fold keeps the first certificate of a key
        self.removals = [a for a in acts if a.removes and self.member(a.signer) == self.member(a.removes)]
        self.state: dict[str, bool | None] = {a.id: None for a in (*self.removals, *self.certs.values())}

    def member(self, chain: str) -> str:
        """The member whose key certified `chain`, through its certificates."""
        for _ in range(MAX_CHAIN):
            cert = self.certs.get(chain)
            if cert is None:
                return chain
            chain = cert.signer
        return ""  # a tangle of certificates: nobody's

    def rank(self, chain: str) -> tuple[int, tuple[int, str, int]]:
        """Paired earlier sorts first: the member's first key, then by certificate."""
        cert = self.certs.get(chain)
        return (0, (0, "", 0)) if cert is None else (1, cert.order)

    def blockers(self, act: Act) -> list[Act]:
        return [r for r in self.removals if r.removes == act.signer and act.seq > r.last_seq]

    def verdict(self, act: Act) -> bool | None:
        blocking = [self.state[r.id] for r in self.blockers(act)]
        cert = self.certs.get(act.signer)
        signer_ok = True if cert is None else self.state[cert.id]
        if True in blocking or signer_ok is False:
            return False
        if None in blocking or signer_ok is None:
            return None
        return True

    def settle(self) -> None:
        acts = [*self.removals, *self.certs.values()]
        changed = True
        while changed:
            changed = False
            for act in acts:
                if self.state[act.id] is None and (verdict := self.verdict(act)) is not None:
                    self.state[act.id] = verdict
                    changed = True

    def run(self) -> dict[str, bool]:
        self.settle()
        while True:
            open_ = [
                r
                for r in self.removals
                if self.state[r.id] is None
                and (r.signer not in self.certs or self.state[self.certs[r.signer].id] is True)
            ]
            if not open_:
                break
            first = min(open_, key=lambda r: (self.rank(r.signer), r.seq, r.id))
            self.state[first.id] = True
            for blocker in self.blockers(first):
                if self.state[blocker.id] is None:
                    self.state[blocker.id] = False
            self.settle()
        return {r.id: self.state[r.id] is True for r in self.removals}
