"""`tablespace demo`: a sample sourdough circle with a few weeks of history.

Every sample member has their own home and keys; they joined with invite
codes, the moderator admitted them, and each one's history was written in
their own home and reached the others as encrypted changesets through the
shared folder. While the app is open, `Simulator` keeps one of them posting.
"""

from __future__ import annotations

import os
import random
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from tablespace import actions
from tablespace.actions import admit, create_invite, found_group, join_group, sync_group
from tablespace.core import thread_queries
from tablespace.core.clock import datetime_to_hlc, iso, now
from tablespace.core.errors import TablespaceError
from tablespace.core.fold import derived_id
from tablespace.core.group import Group, Transport
from tablespace.core.home import Home
from tablespace.core.identity import Identity
from tablespace.core.ops import Op, sign_op
from tablespace.core.rituals import occurrences_between


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
        op = sign_op(
            self.identity,
            group=self.group_id,
            seq=self.seq,
            prev=self.prev,
            hlc=datetime_to_hlc(at) + self.seq,
            kind=kind,
            payload=payload,
        )
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
READY = ".demo-built"  # in the demo's directory once every home has converged

THREADS: list[tuple[str, str, str, list[str], list[tuple[str, str]]]] = [
    (
        "Ana",
        "Welcome to the circle 🍞",
        "This is our kitchen table: one loaf a week, shared notes, no judgement.\n\n"
        "**Start here:** say hi in *Introductions*, read the house rules, and grab the "
        "starter guide from the library.",
        ["welcome"],
        [("Ben", "Glad to be here! Week one starter is bubbling."), ("Farah", "Hi all, total beginner, very excited.")],
    ),
    (
        "Ben",
        "Introductions: who are you and what are you baking?",
        "I'm Ben, I bake on Sundays in a tiny flat with a temperamental oven.",
        ["intro"],
        [
            ("Chiara", "Chiara, Turin. Mostly focaccia, trying to learn proper boules."),
            ("Dev", "Dev here. I came for the bread, I stay for the spreadsheets."),
            ("Emeka", "Emeka, Lagos then Leeds. Rye obsessive."),
        ],
    ),
    (
        "Chiara",
        "My starter smells like nail polish — normal?",
        "Day 6. Lots of bubbles, but a sharp acetone smell. Feed more often?",
        ["starter", "help"],
        [
            ("Emeka", "Totally normal: it's hungry. Try 1:5:5 twice a day for a few days."),
            ("Ana", "Seconding Emeka. Warmer spot helps too (24–26°C)."),
            ("Chiara", "Did 1:5:5 — smells like yoghurt now. Thank you!"),
        ],
    ),
    (
        "Dev",
        "Hydration spreadsheet (75% vs 80%)",
        "I logged 12 bakes. 80% gives a better crumb for me but shaping is harder. Table in the library.",
        ["data"],
        [("Ben", "This is brilliant. What flour?"), ("Dev", "Strong white, 12.5% protein.")],
    ),
    (
        "Farah",
        "First loaf ever!! 🎉",
        "It's flat-ish but the crumb is open and it tastes amazing. Thank you all.",
        ["win"],
        [
            ("Ana", "That ear! Congratulations 🎉"),
            ("Chiara", "Flat-ish is how everyone starts."),
            ("Emeka", "Proud of you."),
        ],
    ),
    (
        "Emeka",
        "Rye ratios for a 100% rye",
        "Scald or no scald? I'm getting a gummy layer under the crust.",
        ["rye", "help"],
        [("Dev", "Longer bake at lower temp fixed it for me: 200°C for 70 min.")],
    ),
    (
        "Ben",
        "Oven spring: steam tray vs Dutch oven",
        "Ran both side by side. Dutch oven wins by a mile, pictures in thread.",
        ["technique"],
        [],
    ),
    (
        "Chiara",
        "Got my first proper ear!",
        "Scored at 30° with a razor, finally got it. Small but real.",
        ["win"],
        [("Farah", "Goals!"), ("Ben", "🔥🔥")],
    ),
    (
        "Dev",
        "Anyone going to the bread festival?",
        "Saturday the 5th, I can bring extra starter for anyone who wants some.",
        ["meetup"],
        [("Farah", "Yes! Would love some starter.")],
    ),
    (
        "Farah",
        "Cold retard: fridge overnight or 48h?",
        "Read conflicting advice. What do you all do?",
        ["technique", "help"],
        [],
    ),
    (
        "Emeka",
        "A page of everyone's starter recipes",
        "@Ana, could the library hold one page with all our feeding schedules? @Farah would love it.",
        ["library", "starter"],
        [("Farah", "I would! Beginner-proof please.")],
    ),
    (
        "Ana",
        "Starter swap at the festival?",
        "If a few of us go on Saturday, shall we swap starters? I can bring jars and labels.",
        ["meetup"],
        [
            ("Dev", "Count me in. @Ana, I'll bring the rye one too."),
            ("Chiara", 'Yes! @"Ana" can you label them by hydration?'),
        ],
    ),
]

LIBRARY = [
    (
        "Ben",
        "Starter guide for week one",
        "https://example.org/starter-week-one",
        "Day-by-day feeding schedule with photos of what 'ready' looks like.",
        ["starter", "beginner"],
    ),
    (
        "Dev",
        "Hydration calculator",
        "https://example.org/hydration",
        "Works out water and flour for any target hydration and loaf weight.",
        ["tools", "data"],
    ),
    (
        "Emeka",
        "The rye baker's notebook",
        "https://example.org/rye-notes",
        "Scalds, sours and why rye needs a different mindset.",
        ["rye"],
    ),
    (
        "Ana",
        "How to shape a boule (video)",
        "https://example.org/boule-shaping",
        "Six minutes, no talking, just hands. The clearest shaping video we know.",
        ["technique", "beginner"],
    ),
]

RITUALS = [
    ("Monday goals", "What will you bake (or try) this week?", "FREQ=WEEKLY;BYDAY=MO"),
    ("Wednesday: show your mess", "Share a loaf that went wrong, and what you learned.", "FREQ=WEEKLY;BYDAY=WE"),
    ("Friday wins + gratitude", "One win from your week, and one person you'd like to thank.", "FREQ=WEEKLY;BYDAY=FR"),
]

RITUAL_REPLIES = [
    "Trying a 20% wholemeal blend.",
    "Focaccia for a friend's birthday.",
    "Overproofed. Again. Slower fridge next time.",
    "Finally got the starter to double in 4 hours!",
    "Thanks to Emeka for the rye tips.",
    "Shaping practice, three small loaves.",
]


def build_demo(directory: Path | None = None, *, seed: int = 7) -> Home:
    """Build the sample group and return the moderator's home; a directory
    that already holds a finished demo is reused as it is, never built twice.

    Everyone has their own home under the directory (ana/, ben/, …) and they
    sync through directory/shared, exactly as real members would: Ana founds
    the group, invites and admits each member, everyone writes their own
    (back-dated) history in their own home, and sync rounds run until every
    replica holds every op.
    """
    base = (directory or Path(tempfile.mkdtemp(prefix="tablespace-demo-"))).expanduser().absolute()
    if built_before(base):
        return Home(base / "ana")  # open it again, with whatever happened in it since
    leftovers = [name for name in ("ana", "shared", *(p.lower() for p in PEOPLE)) if (base / name).exists()]
    if leftovers:
        raise TablespaceError(
            f"{base} already holds {', '.join(leftovers)} but no finished demo; "
            "choose another --dir or remove those first"
        )
    shared = base / "shared"
    shared.mkdir(parents=True, exist_ok=True)
    transport = Transport(folder=shared)
    end = now() - timedelta(minutes=20)
    start = end - timedelta(days=16)

    with clock_at(start):
        ana = found_group(
            Home(base / "ana"),
            "Sourdough circle",
            "Ana",
            transport,
            purpose="One loaf a week, shared notes, no judgement.",
        )
        sync_group(ana)  # the group's directory in the folder: joiners look for it
    groups: dict[str, Group] = {"Ana": ana}
    for i, name in enumerate(PEOPLE):
        with clock_at(start + timedelta(minutes=5 + i)):
            code = create_invite(ana, timedelta(days=1), 1)
            groups[name], request = join_group(Home(base / name.lower()), code, name, transport)
            admit(ana, request[:8])
    try:
        feeds = {name: Feed(g.identity, name, g.id, *g.store.head(g.me)) for name, g in groups.items()}
        events = _timeline(feeds, start, end, random.Random(seed))
        events.sort(key=lambda e: e[0])
        ids: dict[str, str] = {}
        mine: dict[str, list[Op]] = {name: [] for name in groups}
        for at, who, kind, payload, key in events:
            op = feeds[who].sign(kind, {k: _resolve(v, ids) for k, v in payload.items()}, at)
            mine[who].append(op)
            if key:
                ids[key] = op.id
        # Each member's history goes into their own home: their own ops, chained
        # from their join, exported by their own sync engine as their changesets.
        for name, group in groups.items():
            group.store.ingest(mine[name])
        converge(list(groups.values()))
        _moderation_sample(base, groups, transport, end)
        _circles_sample(groups, end)
        # The moderator has read everything older than two days; the rest is unread.
        for (thread_id,) in ana.conn.execute(
            "SELECT id FROM threads WHERE last_activity_hlc < ?", (datetime_to_hlc(end - timedelta(days=2)),)
        ).fetchall():
            ana.mark_read(thread_id)
    finally:
        for group in groups.values():
            group.close()
    (base / READY).write_text("tablespace demo: built; `tablespace demo --dir` here opens it again\n")
    return Home(base / "ana")


CONDUCT = """\
We are here to bake and to help each other bake.

- **Be generous.** Share what you tried, including what went wrong.
- **Be kind.** Critique the loaf, never the baker.
- **No selling.** Classes and shops go in the monthly promo thread.
- **Ask a moderator** (Ana) if something feels off, or press `!` on a post to report it.
"""


def _moderation_sample(base: Path, groups: dict[str, Group], transport: Transport, end: datetime) -> None:
    """Something for the Moderation section: a code of conduct, a weekly cap,
    two reports (one waiting over a day), and a join request."""

    ana = groups["Ana"]
    # Ana's writes happen now: converging opened today's rituals at the real time.
    actions.change_settings(ana, conduct=CONDUCT, post_cap=20)
    replies = ana.conn.execute(
        """SELECT p.id, p.author FROM posts p WHERE p.id != p.thread_id AND p.deleted = 0 AND p.author != ?
           ORDER BY p.created_hlc DESC LIMIT 2""",
        (ana.me,),
    ).fetchall()
    reporters = [name for name in ("Dev", "Chiara") if name in groups]
    reasons = ["Reads like an ad for their own paid course.", "This came across as a put-down; can someone check in?"]
    for (post, author), reporter, reason, hours in zip(replies, reporters, reasons, (30, 3), strict=False):
        if groups[reporter].me != author:
            with clock_at(end - timedelta(hours=hours)):  # a report is a sealed file: its time is its own
                actions.report(groups[reporter], post, reason)
    _poll_and_survey(groups)
    code = create_invite(ana, timedelta(days=3), 1)
    visitor, _request = join_group(Home(base / "visitor"), code, "Gus", transport)
    visitor.close()
    converge(list(groups.values()))


POD = "Rye pod"


def _circles_sample(groups: dict[str, Group], end: datetime) -> None:
    """Small rooms for the Threads section's room bar: a pod of three with a
    daily check-in, and a direct message from Ben to Ana, both unread by her."""
    ana, ben, chiara = groups["Ana"], groups.get("Ben"), groups.get("Chiara")
    if ben is None or chiara is None:
        return
    ends = (end + timedelta(days=14)).date().isoformat()
    actions.circle_add(ana, POD, ["Ben", "Chiara"], purpose="Daily rye check-ins for two weeks", ends=ends)
    converge(list(groups.values()))
    check_in = actions.post(ben, "Day 3 check-in", "Starter doubled in 6 hours at 24 °C. Bake tomorrow.", circle=POD)
    actions.dm(ben, "Ana", "About Saturday: can I bring a friend to the bake-along?")
    sync_group(ben)
    sync_group(chiara)
    actions.reply(chiara, check_in, "Mine is slower: 9 hours. Trying a warmer spot.")
    converge(list(groups.values()))


SURVEY = [
    "What has worked best for you here so far?",
    "What should change?",
    "Which ritual do you skip, and why?",
    "Who helped you, and how?",
    "What would make you invite a friend?",
]


def _poll_and_survey(groups: dict[str, Group]) -> None:
    """A poll a few members voted in, and the end-of-week-2 survey with one
    member's answers (sealed to the moderators, as always): `v` and `a` in
    their threads, and `A` for the moderator, have something to show."""
    ana = groups["Ana"]
    poll = actions.poll(ana, "Next bake-along: which loaf?", ["Rye", "Focaccia", "Bagels"], closes_in=timedelta(days=5))
    survey = actions.survey(ana, "End of week 2: how is the circle going?", SURVEY)
    converge(list(groups.values()))
    for name, choice in (("Ben", "Focaccia"), ("Chiara", "Rye"), ("Dev", "Focaccia")):
        if name in groups:
            actions.vote(groups[name], poll, [choice])
    if "Farah" in groups:
        actions.answer(groups["Farah"], survey, ["The Friday wins thread.", "Fewer pings at night."])


def built_before(base: Path) -> bool:
    """A finished demo is here: marked so, or (built before the mark existed)
    every member's home holds the group."""
    if (base / READY).exists():
        return True
    homes = [base / name.lower() for name in ["Ana", *PEOPLE]]
    return all(home.is_dir() and Home(home).groups() for home in homes)


def converge(groups: list[Group], rounds: int = 4) -> None:
    """Sync every replica until a full round brings nothing new anywhere."""
    for _ in range(rounds):
        moved = 0
        for group in groups:
            report = sync_group(group)
            moved += report.imported + report.exported
        if not moved:
            return


def member_homes(base: Path) -> dict[str, Home]:
    """The sample members' homes under a demo directory (not the moderator's)."""
    return {name: Home(base / name.lower()) for name in PEOPLE if (base / name.lower()).is_dir()}


SIM_REPLIES = [
    "Just pulled a loaf out, the crust is singing 🎶",
    "Trying this tonight, will report back.",
    "Same here! A longer autolyse helped me a lot.",
    "Has anyone tried this with spelt?",
    "Thanks, this is exactly what I needed today.",
    "My kitchen is 19°C this week, everything is slow.",
    "Photo of the crumb later, it's still cooling.",
    "I'd bump the salt to 2.2%, but otherwise spot on.",
]

SIM_THREADS = [
    (
        "Quick one: rice flour for dusting?",
        "My bannetons keep sticking. Rice flour or semolina?",
        ["help", "technique"],
    ),
    ("Today's bake", "Fed the starter at 7, mixed at noon. Fingers crossed.", ["bake-log"]),
    ("Discard crackers recipe", "Discard, olive oil, rosemary, salt. 180°C for 25 min. Dangerous.", ["recipe"]),
    ("Small win", "First loaf that didn't spread in the oven!", ["win"]),
]


class Simulator:
    """A sample member who keeps posting while the demo is open.

    Runs in a thread of its own and acts through that member's own home: a
    post or reply, then a sync round that writes it to the shared folder,
    where the moderator's open app picks it up like any other member's.
    """

    def __init__(self, base: Path, *, every: tuple[float, float] = (20.0, 40.0), seed: int | None = None) -> None:
        self.homes = member_homes(base)
        self.every = every
        self.rng = random.Random(seed)
        self.stop_event = threading.Event()
        self.thread = threading.Thread(target=self._run, name="demo member", daemon=True)
        self.actions = 0
        self._threads_left: list[tuple[str, str, list[str]]] = []
        self.last_error: str | None = None  # what stopped the latest failed action, for whoever asks

    def start(self) -> Simulator:
        if self.homes:
            self.thread.start()
        return self

    def stop(self) -> None:
        self.stop_event.set()
        if self.thread.is_alive():
            self.thread.join(timeout=5)

    def _run(self) -> None:
        while not self.stop_event.wait(self.rng.uniform(*self.every)):
            name = self.rng.choice(sorted(self.homes))
            try:
                self.act(self.homes[name])
            except Exception as exc:  # noqa: BLE001 - a demo extra must never take the app down
                self.last_error = f"{type(exc).__name__}: {exc}"

    def _next_thread(self) -> tuple[str, str, list[str]]:
        """The sample threads in a shuffled order, each once before any again:
        a watcher of the demo never sees the same question asked twice in a row."""
        if not self._threads_left:
            self._threads_left = self.rng.sample(SIM_THREADS, len(SIM_THREADS))
        return self._threads_left.pop()

    def act(self, home: Home) -> None:
        group = Group.open(home)
        try:
            sync_group(group)  # catch up first, like a member opening their app
            recent = thread_queries.threads(group.conn, limit=6)
            if recent and self.rng.random() < 0.75:
                actions.reply(group, self.rng.choice(recent).id, self.rng.choice(SIM_REPLIES))
            else:
                title, body, tags = self._next_thread()
                actions.post(group, title, body, tags)
            sync_group(group)
            self.actions += 1
        finally:
            group.close()


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
    # (Everyone was admitted in the first minutes: see build_demo.)
    events.append(
        (
            start + timedelta(minutes=20),
            "Ana",
            "role.grant",
            {"member": feeds["Emeka"].identity.author_id, "role": "curator"},
            None,
        )
    )
    names = list(feeds)

    span = (end - start - timedelta(hours=6)) / len(THREADS)
    for i, (author, title, text, tags, replies) in enumerate(THREADS):
        at = start + timedelta(hours=1) + span * i + timedelta(minutes=rng.randint(0, 90))
        key = f"thread{i}"
        events.append((at, author, "thread.start", {"title": title, "body": text, "tags": tags}, key))
        for fan in rng.sample(names, 3):
            events.append(
                (
                    min(at + timedelta(minutes=rng.randint(5, 300)), end),
                    fan,
                    "post.react",
                    {"post": Ref(key), "emoji": rng.choice(["🍞", "👍", "❤️"])},
                    None,
                )
            )
        reply_at = at
        for j, (who, reply) in enumerate(replies):
            reply_at = min(reply_at + timedelta(minutes=rng.randint(20, 600)), end)
            reply_key = f"{key}.reply{j}"
            events.append((reply_at, who, "post.reply", {"thread": Ref(key), "body": reply}, reply_key))
            if rng.random() < 0.6:
                fan = rng.choice([n for n in names if n != who])
                events.append(
                    (
                        min(reply_at + timedelta(minutes=7), end),
                        fan,
                        "post.react",
                        {"post": Ref(reply_key), "emoji": rng.choice(["👍", "❤️", "🎉", "🔥", "🙏"])},
                        None,
                    )
                )
    events.append((start + timedelta(hours=2), "Ana", "thread.pin", {"thread": Ref("thread0"), "pinned": True}, None))

    for i, (who, title, url, summary, tags) in enumerate(LIBRARY):
        events.append(
            (
                start + timedelta(days=1 + i * 3),
                who,
                "library.add",
                {"title": title, "url": url, "summary": summary, "tags": tags},
                None,
            )
        )

    for i, (name, prompt, rule) in enumerate(RITUALS):
        key = f"ritual{i}"
        events.append(
            (
                start + timedelta(minutes=30 + i),
                "Ana",
                "ritual.add",
                {"name": name, "prompt": prompt, "rrule": rule, "start": start.date().isoformat()},
                key,
            )
        )
        for at in occurrences_between(rule, start.date().isoformat(), start + timedelta(hours=1), end):
            events.append((at, rng.choice(names), "ritual.occur", {"ritual": Ref(key), "at": iso(at)}, None))
            for who in rng.sample(names, 2):
                events.append(
                    (
                        min(at + timedelta(hours=rng.randint(1, 20)), end),
                        who,
                        "post.reply",
                        {"thread": OccurrenceRef(key, at), "body": rng.choice(RITUAL_REPLIES)},
                        None,
                    )
                )
    events += _ama(end)
    return events


def _ama(end: datetime) -> list[Event]:
    """The month's AMA, a few days ahead on a call, set two days ago; some have answered."""
    added = end - timedelta(days=2)
    at = (end + timedelta(days=4)).replace(hour=17, minute=0, second=0, microsecond=0)
    ama = {
        "title": "Monthly AMA: shaping, with Ben",
        "at": iso(at),
        "tz": "Europe/Berlin",
        "minutes": 60,
        "where": "https://meet.example.org/sourdough-ama",
        "body": "Ben answers your shaping questions. Post them here ahead and press r in the calendar to say you come.",
    }
    found: list[Event] = [(added, "Ana", "event.add", ama, "ama")]
    for hours, (who, answer) in enumerate(
        (("Ben", "going"), ("Chiara", "going"), ("Dev", "maybe"), ("Farah", "no")), 1
    ):
        found.append((added + timedelta(hours=hours), who, "event.rsvp", {"event": Ref("ama"), "answer": answer}, None))
    return found
