"""Train the zstd dictionary that changeset format v2 compresses every file with.

    .venv/bin/python scripts/train_changeset_dict.py           # rewrite src/tablespace/sync/changeset-dict-1.zdict
    .venv/bin/python scripts/train_changeset_dict.py --check   # exit 1 unless the shipped file is what this makes

The corpus is synthetic but shaped like a real group's traffic: v2 plaintexts
(sync/envelope.compact_ops) of 1-3 ops, signed by seeded identities, with the op
kinds a group writes (replies and reactions most, then threads, edits, tags,
pins, rituals, library, membership) and their payload fields, ids, emoji,
ISO times and markdown-ish prose drawn from a few hundred common English words
(listed below, plus made-up names). It does not use the benchmarks' text
generator, so bench_storage measures the dictionary on text it was not fitted to.

Everything is seeded and the trainer runs single-threaded with fixed
parameters, so the same zstandard version makes the same bytes. The shipped
file is normative: once released, dictionary id 1 never changes; a retrained
dictionary is shipped under a new id (DICTIONARIES in sync/envelope.py).
"""

from __future__ import annotations

import argparse
import hashlib
import random
import sys
from pathlib import Path

import zstandard
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from tablespace.core.identity import Identity
from tablespace.core.ops import Op, sign_op
from tablespace.sync.envelope import DICTIONARIES, compact_ops

OUT = Path(__file__).resolve().parents[1] / "src" / "tablespace" / "sync" / DICTIONARIES[1][0]
DICT_BYTES = 64 * 1024
SAMPLES = 12_000
SEED = 20251122
ZSTD_DICT_ID = 0x7453_0001  # zstd's own id inside the dictionary (frames never carry it)

WORDS = [
    "the",
    "a",
    "to",
    "and",
    "of",
    "I",
    "you",
    "it",
    "in",
    "that",
    "is",
    "for",
    "we",
    "on",
    "this",
    "with",
    "be",
    "have",
    "was",
    "my",
    "are",
    "so",
    "but",
    "not",
    "just",
    "do",
    "at",
    "if",
    "all",
    "can",
    "what",
    "like",
    "they",
    "there",
    "will",
    "about",
    "your",
    "get",
    "one",
    "me",
    "would",
    "out",
    "up",
    "think",
    "know",
    "when",
    "time",
    "some",
    "good",
    "how",
    "more",
    "no",
    "now",
    "people",
    "make",
    "going",
    "really",
    "also",
    "them",
    "been",
    "than",
    "then",
    "our",
    "very",
    "much",
    "see",
    "only",
    "by",
    "well",
    "going",
    "could",
    "said",
    "great",
    "from",
    "here",
    "still",
    "because",
    "thanks",
    "thank",
    "yes",
    "back",
    "maybe",
    "other",
    "first",
    "way",
    "us",
    "day",
    "new",
    "want",
    "who",
    "which",
    "an",
    "over",
    "even",
    "any",
    "these",
    "too",
    "need",
    "week",
    "next",
    "last",
    "tomorrow",
    "today",
    "tonight",
    "weekend",
    "morning",
    "evening",
    "lunch",
    "dinner",
    "bread",
    "sourdough",
    "starter",
    "flour",
    "water",
    "salt",
    "oven",
    "loaf",
    "crumb",
    "crust",
    "bake",
    "baking",
    "proof",
    "dough",
    "rise",
    "recipe",
    "hour",
    "hours",
    "minutes",
    "garden",
    "seeds",
    "tomatoes",
    "beans",
    "plant",
    "plants",
    "soil",
    "rain",
    "sun",
    "walk",
    "run",
    "bike",
    "meet",
    "meeting",
    "group",
    "everyone",
    "anyone",
    "someone",
    "something",
    "nothing",
    "thing",
    "things",
    "idea",
    "ideas",
    "question",
    "help",
    "try",
    "tried",
    "trying",
    "works",
    "worked",
    "working",
    "looks",
    "look",
    "looking",
    "sounds",
    "feel",
    "sure",
    "love",
    "nice",
    "cool",
    "fun",
    "hard",
    "easy",
    "long",
    "short",
    "little",
    "big",
    "small",
    "best",
    "better",
    "right",
    "left",
    "put",
    "take",
    "give",
    "bring",
    "share",
    "shared",
    "post",
    "thread",
    "reply",
    "read",
    "write",
    "book",
    "books",
    "page",
    "chapter",
    "notes",
    "list",
    "plan",
    "plans",
    "place",
    "home",
    "house",
    "kitchen",
    "table",
    "chair",
    "coffee",
    "tea",
    "friday",
    "saturday",
    "sunday",
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "january",
    "june",
    "september",
    "photo",
    "link",
    "update",
    "updates",
    "please",
    "sorry",
    "okay",
    "ok",
    "lol",
    "haha",
    "yeah",
    "hey",
    "hi",
    "hello",
    "hope",
    "again",
    "always",
    "never",
    "sometimes",
    "often",
    "usually",
    "probably",
    "actually",
    "definitely",
    "agree",
    "made",
    "make",
    "making",
    "found",
    "find",
    "finally",
    "started",
    "start",
    "done",
    "finish",
    "finished",
    "goal",
    "goals",
    "kids",
    "family",
    "friends",
    "neighbour",
    "town",
    "park",
    "library",
    "market",
    "shop",
    "price",
    "free",
    "open",
    "closed",
    "early",
    "late",
    "soon",
    "ago",
    "year",
    "years",
    "month",
    "months",
    "few",
    "many",
    "most",
    "every",
    "each",
    "both",
    "why",
    "where",
    "while",
    "before",
    "after",
    "since",
    "until",
    "though",
    "although",
    "through",
    "into",
    "onto",
    "off",
    "did",
    "does",
    "doing",
    "had",
    "has",
    "having",
    "got",
    "getting",
    "went",
    "go",
    "goes",
    "come",
    "came",
    "coming",
    "let",
    "lets",
    "should",
    "might",
    "must",
    "may",
    "can't",
    "don't",
    "it's",
    "I'm",
    "that's",
    "didn't",
    "won't",
    "there's",
    "you're",
]
NAMES = [
    "ana",
    "ben",
    "cat",
    "dev",
    "eli",
    "fay",
    "gus",
    "hana",
    "ivo",
    "jun",
    "kai",
    "lena",
    "mo",
    "nia",
    "omar",
    "pia",
    "quinn",
    "rosa",
    "sam",
    "tomas",
    "uma",
    "vik",
    "wen",
    "yara",
    "zoe",
]
EMOJI = ["👍", "❤️", "🎉", "🔥", "🙏", "😂", "👀", "😮", "😢", "✅", "🍞", "🌱", "☕", "💯", "🙌", "🤔"]
TAGS = [
    "baking",
    "garden",
    "books",
    "meta",
    "events",
    "help",
    "recipes",
    "photos",
    "kids",
    "music",
    "walks",
    "repair",
    "swap",
    "news",
    "questions",
    "weekly",
]
KINDS = [  # (kind, weight)
    ("post.reply", 40),
    ("post.react", 40),
    ("thread.start", 6),
    ("post.edit", 3),
    ("post.unreact", 2),
    ("thread.tag", 2),
    ("post.delete", 1),
    ("thread.pin", 1),
    ("ritual.occur", 1),
    ("library.add", 1),
    ("member.profile", 1),
    ("ritual.add", 0.3),
    ("library.edit", 0.3),
    ("ritual.pause", 0.2),
    ("group.edit", 0.1),
    ("role.grant", 0.1),
    ("member.add", 0.3),
    ("member.keys", 0.1),
]


class Text:
    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.weights = [1 / (rank + 1) ** 0.9 for rank in range(len(WORDS))]

    def word(self) -> str:
        rng = self.rng
        r = rng.random()
        if r < 0.06:
            return rng.choice(NAMES).capitalize()
        if r < 0.14:  # a word the list does not have
            return "".join(rng.choice("abcdefghijklmnoprstuvwy") for _ in range(rng.randint(3, 10)))
        return rng.choices(WORDS, self.weights)[0]

    def sentence(self) -> str:
        rng = self.rng
        words = [self.word() for _ in range(rng.randint(3, 16))]
        if rng.random() < 0.05:
            words.insert(rng.randrange(len(words)), "@" + rng.choice(NAMES))
        if rng.random() < 0.04:
            words.append(f"https://example.{rng.choice(['org', 'com', 'net'])}/{self.word().lower()}")
        s = " ".join(words)
        return s[0].upper() + s[1:] + rng.choice([".", ".", ".", "!", "?", "...", " :)"])

    def body(self, low: int, high: int) -> str:
        rng = self.rng
        target = int(min(high, max(low, rng.lognormvariate(5.3, 0.8))))
        parts: list[str] = []
        while sum(len(p) + 1 for p in parts) < target:
            s = self.sentence()
            r = rng.random()
            if r < 0.05:
                s = "- " + s
            elif r < 0.08:
                s = "**" + s + "**"
            parts.append(s)
            if rng.random() < 0.12:
                parts.append("\n\n")
        return " ".join(parts).replace(" \n\n ", "\n\n").strip()

    def title(self) -> str:
        return " ".join(self.word() for _ in range(self.rng.randint(2, 8))).capitalize()


def hex_id(rng: random.Random) -> str:
    return rng.randbytes(16).hex()


def payload_for(kind: str, rng: random.Random, text: Text) -> dict:
    ref = hex_id(rng)
    if kind == "post.reply":
        return {"thread": ref, "body": text.body(20, 1500)}
    if kind in ("post.react", "post.unreact"):
        return {"post": ref, "emoji": rng.choice(EMOJI)}
    if kind == "thread.start":
        return {"title": text.title(), "body": text.body(0, 2500), "tags": sorted(rng.sample(TAGS, rng.randint(0, 3)))}
    if kind == "post.edit":
        p: dict = {"post": ref, "body": text.body(20, 1500)}
        if rng.random() < 0.2:
            p["title"] = text.title()
        return p
    if kind == "post.delete":
        return {"post": ref}
    if kind == "thread.tag":
        return {
            "thread": ref,
            "add": sorted(rng.sample(TAGS, rng.randint(0, 2))),
            "remove": sorted(rng.sample(TAGS, rng.randint(0, 1))),
        }
    if kind == "thread.pin":
        return {"thread": ref, "pinned": rng.random() < 0.8}
    if kind == "ritual.occur":
        return {
            "ritual": ref,
            "at": f"2025-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}T{rng.randint(6, 20):02d}:00:00Z",
        }
    if kind == "ritual.add":
        return {
            "name": text.title(),
            "prompt": text.sentence(),
            "rrule": rng.choice(
                ["FREQ=WEEKLY;BYDAY=MO", "FREQ=WEEKLY;BYDAY=WE", "FREQ=WEEKLY;BYDAY=FR", "FREQ=MONTHLY;BYMONTHDAY=1"]
            ),
            "start": "2025-01-06T09:00:00Z",
        }
    if kind == "ritual.pause":
        return {"ritual": ref, "paused": rng.random() < 0.5}
    if kind in ("library.add", "library.edit"):
        return {
            "title": text.title(),
            "url": f"https://example.org/{text.word().lower()}",
            "summary": text.sentence(),
            "tags": sorted(rng.sample(TAGS, rng.randint(0, 2))),
        }
    if kind == "member.profile":
        return {"name": rng.choice(NAMES).capitalize(), "bio": text.sentence()}
    if kind == "member.add":
        return {
            "member": ref,
            "name": rng.choice(NAMES).capitalize(),
            "public_key": rng.randbytes(32).hex(),
            "exchange_key": rng.randbytes(32).hex(),
        }
    if kind == "member.keys":
        return {"exchange_key": rng.randbytes(32).hex()}
    if kind == "group.edit":
        return {"name": text.title(), "description": text.sentence()}
    if kind == "role.grant":
        return {"member": ref, "role": "moderator"}
    raise AssertionError(kind)


def corpus(seed: int = SEED, samples: int = SAMPLES) -> list[bytes]:
    rng = random.Random(seed)
    text = Text(rng)
    group = hex_id(rng)
    people = [Identity(Ed25519PrivateKey.from_private_bytes(rng.randbytes(32))) for _ in range(40)]
    heads = {i: (rng.randint(1, 3000), hex_id(rng)) for i in range(len(people))}
    kinds, weights = zip(*KINDS, strict=True)
    hlc = 1_735_689_600_000 << 16  # 2025-01-01
    out: list[bytes] = []
    for _ in range(samples):
        who = rng.randrange(len(people))
        seq, prev = heads[who]
        ops: list[Op] = []
        for _ in range(rng.choices([1, 2, 3, 5], [60, 20, 12, 8])[0]):
            hlc += int(rng.expovariate(1 / 3_600_000)) << 16
            kind = rng.choices(kinds, weights)[0]
            op = sign_op(
                people[who],
                group=group,
                seq=seq + 1,
                prev=prev,
                hlc=hlc + seq + 1,
                kind=kind,
                payload=payload_for(kind, rng, text),
            )
            ops.append(op)
            seq, prev = op.seq, op.id
        heads[who] = (seq, prev)
        out.append(compact_ops(ops, group_id=group, max_hlc=max(o.hlc for o in ops)))
    return out


def train() -> bytes:
    samples = corpus()
    d = zstandard.train_dictionary(DICT_BYTES, samples, k=256, d=8, dict_id=ZSTD_DICT_ID, level=19, threads=0, steps=0)
    return d.as_bytes()


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--check", action="store_true", help="compare with the shipped file instead of writing it")
    args = p.parse_args()
    data = train()
    digest = hashlib.sha256(data).hexdigest()
    if args.check:
        same = OUT.exists() and OUT.read_bytes() == data
        print(
            f"{OUT.name}: {'matches' if same else 'DIFFERS from'} a fresh training ({len(data)} bytes, sha256 {digest})"
        )
        return 0 if same else 1
    OUT.write_bytes(data)
    print(
        f"wrote {OUT} ({len(data)} bytes, zstandard {zstandard.__version__}, libzstd "
        f"{'.'.join(map(str, zstandard.ZSTD_VERSION))}); sha256 {digest}"
    )
    print("pin that hash in DICTIONARIES in src/tablespace/sync/envelope.py")
    return 0


if __name__ == "__main__":
    sys.exit(main())
