"""`tablespace demo`: a sample sourdough circle with a few weeks of history.

Each sample member signs their own ops with their own key; the moderator's
home folds them exactly as it would ops arriving from the shared folder.
"""

from __future__ import annotations

import os
import random
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Iterator

from tablespace.core.clock import datetime_to_hlc, iso, now
from tablespace.core.fold import derived_id
from tablespace.core.group import Transport
from tablespace.core.home import Home
from tablespace.core.identity import Identity
from tablespace.core.ops import Op, sign_op
from tablespace.core.rituals import occurrences_between
from tablespace.sync.service import found_group


@dataclass(frozen=True)
class Ref:
    """Stands for the id of an op signed earlier in the timeline."""

    key: str


@dataclass(frozen=True)
class OccurrenceRef:
    """Stands for the thread of one ritual occurrence."""

    ritual_key: str
    at: datetime


@dataclass
class Feed:
    """One member's chain of ops, signed with their own key at chosen times."""

    identity: Identity
    name: str
    group_id: str
    seq: int = 0
    prev: str | None = None

    def sign(self, kind: str, payload: dict[str, Any], at: datetime) -> Op:
        self.seq += 1
        op = sign_op(self.identity, group=self.group_id, seq=self.seq, prev=self.prev,
                     hlc=datetime_to_hlc(at) + self.seq, kind=kind, payload=payload)
        self.prev = op.id
        return op


@contextmanager
def clock_at(moment: datetime) -> Iterator[None]:
    saved = os.environ.get("TABLESPACE_NOW")
    os.environ["TABLESPACE_NOW"] = iso(moment)
    try:
        yield
    finally:
        if saved is None:
            os.environ.pop("TABLESPACE_NOW", None)
        else:
            os.environ["TABLESPACE_NOW"] = saved


PEOPLE = ["Ben", "Chiara", "Dev", "Emeka", "Farah"]

THREADS: list[tuple[str, str, str, list[str], list[tuple[str, str]]]] = [
    ("Ana", "Welcome to the circle 🍞",
     "This is our kitchen table: one loaf a week, shared notes, no judgement.\n\n"
     "**Start here:** say hi in *Introductions*, read the house rules, and grab the "
     "starter guide from the library.",
     ["welcome"], [("Ben", "Glad to be here! Week one starter is bubbling."),
                   ("Farah", "Hi all, total beginner, very excited.")]),
    ("Ben", "Introductions: who are you and what are you baking?",
     "I'm Ben, I bake on Sundays in a tiny flat with a temperamental oven.",
     ["intro"], [("Chiara", "Chiara, Turin. Mostly focaccia, trying to learn proper boules."),
                 ("Dev", "Dev here. I came for the bread, I stay for the spreadsheets."),
                 ("Emeka", "Emeka, Lagos then Leeds. Rye obsessive.")]),
    ("Chiara", "My starter smells like nail polish — normal?",
     "Day 6. Lots of bubbles, but a sharp acetone smell. Feed more often?",
     ["starter", "help"], [("Emeka", "Totally normal: it's hungry. Try 1:5:5 twice a day for a few days."),
                           ("Ana", "Seconding Emeka. Warmer spot helps too (24–26°C)."),
                           ("Chiara", "Did 1:5:5 — smells like yoghurt now. Thank you!")]),
    ("Dev", "Hydration spreadsheet (75% vs 80%)",
     "I logged 12 bakes. 80% gives a better crumb for me but shaping is harder. Table in the library.",
     ["data"], [("Ben", "This is brilliant. What flour?"), ("Dev", "Strong white, 12.5% protein.")]),
    ("Farah", "First loaf ever!! 🎉",
     "It's flat-ish but the crumb is open and it tastes amazing. Thank you all.",
     ["win"], [("Ana", "That ear! Congratulations 🎉"), ("Chiara", "Flat-ish is how everyone starts."),
               ("Emeka", "Proud of you.")]),
    ("Emeka", "Rye ratios for a 100% rye",
     "Scald or no scald? I'm getting a gummy layer under the crust.",
     ["rye", "help"], [("Dev", "Longer bake at lower temp fixed it for me: 200°C for 70 min.")]),
    ("Ben", "Oven spring: steam tray vs Dutch oven",
     "Ran both side by side. Dutch oven wins by a mile, pictures in thread.",
     ["technique"], []),
    ("Chiara", "Got my first proper ear!",
     "Scored at 30° with a razor, finally got it. Small but real.",
     ["win"], [("Farah", "Goals!"), ("Ben", "🔥🔥")]),
    ("Dev", "Anyone going to the bread festival?",
     "Saturday the 5th, I can bring extra starter for anyone who wants some.",
     ["meetup"], [("Farah", "Yes! Would love some starter.")]),
    ("Farah", "Cold retard: fridge overnight or 48h?",
     "Read conflicting advice. What do you all do?",
     ["technique", "help"], []),
]

LIBRARY = [
    ("Ben", "Starter guide for week one", "https://example.org/starter-week-one",
     "Day-by-day feeding schedule with photos of what 'ready' looks like.", ["starter", "beginner"]),
    ("Dev", "Hydration calculator", "https://example.org/hydration",
     "Works out water and flour for any target hydration and loaf weight.", ["tools", "data"]),
    ("Emeka", "The rye baker's notebook", "https://example.org/rye-notes",
     "Scalds, sours and why rye needs a different mindset.", ["rye"]),
    ("Ana", "How to shape a boule (video)", "https://example.org/boule-shaping",
     "Six minutes, no talking, just hands. The clearest shaping video we know.", ["technique", "beginner"]),
]

RITUALS = [
    ("Monday goals", "What will you bake (or try) this week?", "FREQ=WEEKLY;BYDAY=MO"),
    ("Wednesday: show your mess", "Share a loaf that went wrong, and what you learned.", "FREQ=WEEKLY;BYDAY=WE"),
    ("Friday wins + gratitude", "One win from your week, and one person you'd like to thank.", "FREQ=WEEKLY;BYDAY=FR"),
]

RITUAL_REPLIES = [
    "Trying a 20% wholemeal blend.", "Focaccia for a friend's birthday.", "Overproofed. Again. Slower fridge next time.",
    "Finally got the starter to double in 4 hours!", "Thanks to Emeka for the rye tips.", "Shaping practice, three small loaves.",
]


def build_demo(directory: Path | None = None, *, seed: int = 7) -> Home:
    """Build the sample group and return the moderator's home."""
    base = (directory or Path(tempfile.mkdtemp(prefix="tablespace-demo-"))).expanduser().absolute()
    shared = base / "shared"
    shared.mkdir(parents=True, exist_ok=True)
    home = Home(base / "ana")
    end = now() - timedelta(minutes=20)
    start = end - timedelta(days=16)

    with clock_at(start):
        group = found_group(home, "Sourdough circle", "Ana", Transport(folder=shared),
                            purpose="One loaf a week, shared notes, no judgement.")
    feeds = {"Ana": Feed(group.identity, "Ana", group.id, *group.store.head(group.me))}
    for name in PEOPLE:
        feeds[name] = Feed(Identity.generate(), name, group.id)

    events = _timeline(feeds, start, end, random.Random(seed))
    events.sort(key=lambda e: e[0])
    ids: dict[str, str] = {}
    ops = []
    for at, who, kind, payload, key in events:
        op = feeds[who].sign(kind, {k: _resolve(v, ids) for k, v in payload.items()}, at)
        ops.append(op)
        if key:
            ids[key] = op.id
    group.store.ingest(ops)
    # The moderator has read everything older than two days; the rest is unread.
    for (thread_id,) in group.conn.execute(
        "SELECT id FROM threads WHERE last_activity_hlc < ?", (datetime_to_hlc(end - timedelta(days=2)),)
    ).fetchall():
        group.mark_read(thread_id)
    group.close()
    return home


Event = tuple[datetime, str, str, dict[str, Any], str | None]


def _resolve(value: Any, ids: dict[str, str]) -> Any:
    if isinstance(value, Ref):
        return ids[value.key]
    if isinstance(value, OccurrenceRef):
        return derived_id("ritual.occur", ids[value.ritual_key], iso(value.at))
    return value


def _timeline(feeds: dict[str, Feed], start: datetime, end: datetime, rng: random.Random) -> list[Event]:
    """Everything that happens in the sample group, as (time, who, kind, payload, key)."""
    events: list[Event] = []
    step = start + timedelta(minutes=5)
    for name in PEOPLE:
        ident = feeds[name].identity
        events.append((step, "Ana", "member.add",
                       {"member": ident.author_id, "name": name, "public_key": ident.public_key.hex()}, None))
        step += timedelta(minutes=1)
    events.append((step, "Ana", "role.grant", {"member": feeds["Emeka"].identity.author_id, "role": "curator"}, None))
    names = list(feeds)

    span = (end - start - timedelta(hours=6)) / len(THREADS)
    for i, (author, title, text, tags, replies) in enumerate(THREADS):
        at = start + timedelta(hours=1) + span * i + timedelta(minutes=rng.randint(0, 90))
        key = f"thread{i}"
        events.append((at, author, "thread.start", {"title": title, "body": text, "tags": tags}, key))
        for fan in rng.sample(names, 3):
            events.append((min(at + timedelta(minutes=rng.randint(5, 300)), end), fan, "post.react",
                           {"post": Ref(key), "emoji": rng.choice(["🍞", "👍", "❤️"])}, None))
        reply_at = at
        for j, (who, reply) in enumerate(replies):
            reply_at = min(reply_at + timedelta(minutes=rng.randint(20, 600)), end)
            reply_key = f"{key}.reply{j}"
            events.append((reply_at, who, "post.reply", {"thread": Ref(key), "body": reply}, reply_key))
            if rng.random() < 0.6:
                fan = rng.choice([n for n in names if n != who])
                events.append((min(reply_at + timedelta(minutes=7), end), fan, "post.react",
                               {"post": Ref(reply_key), "emoji": rng.choice(["👍", "❤️", "🎉", "🔥", "🙏"])}, None))
    events.append((start + timedelta(hours=2), "Ana", "thread.pin", {"thread": Ref("thread0"), "pinned": True}, None))

    for i, (who, title, url, summary, tags) in enumerate(LIBRARY):
        events.append((start + timedelta(days=1 + i * 3), who, "library.add",
                       {"title": title, "url": url, "summary": summary, "tags": tags}, None))

    for i, (name, prompt, rule) in enumerate(RITUALS):
        key = f"ritual{i}"
        events.append((start + timedelta(minutes=30 + i), "Ana", "ritual.add",
                       {"name": name, "prompt": prompt, "rrule": rule, "start": start.date().isoformat()}, key))
        for at in occurrences_between(rule, start.date().isoformat(), start + timedelta(hours=1), end):
            events.append((at, rng.choice(names), "ritual.occur", {"ritual": Ref(key), "at": iso(at)}, None))
            for who in rng.sample(names, 2):
                events.append((min(at + timedelta(hours=rng.randint(1, 20)), end), who, "post.reply",
                               {"thread": OccurrenceRef(key, at), "body": rng.choice(RITUAL_REPLIES)}, None))
    return events
