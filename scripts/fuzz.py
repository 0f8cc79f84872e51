#!/usr/bin/env python3
"""The long fuzzing profile: run each target for a while and grow its corpus.

    .venv/bin/python scripts/fuzz.py [--total SECONDS] [TARGET ...]

Seeds each corpus with the real encoders' files, runs every target (all by
default) for its share of --total seconds under atheris, then merges into
tests/fuzz/corpus/<target>/ only the new inputs that reach new code
(libFuzzer's -merge=1, so the corpus stays small). A finding stops that
target and leaves its input in .fuzz/<target>/; the exit status is 1 if any
target found something. See tests/fuzz/README.md.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "src"), str(ROOT)]

from tests.fuzz.fuzzing import CORPUS, corpus_files, fuzz, write_seeds  # noqa: E402
from tests.fuzz.targets import NAMES  # noqa: E402

WORK = ROOT / ".fuzz"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--total", type=int, default=3600, help="seconds of fuzzing over all targets (3600)")
    parser.add_argument("targets", nargs="*", metavar="TARGET", help=f"of: {', '.join(NAMES)} (all)")
    args = parser.parse_args()
    unknown = set(args.targets) - set(NAMES)
    if unknown:
        parser.error(f"no such target: {', '.join(sorted(unknown))}")
    names = args.targets or NAMES
    print(f"seeded {write_seeds()} new files", flush=True)
    share = max(1, args.total // len(names))
    found = []
    for name in names:
        started = time.monotonic()
        scratch, artifacts = WORK / name / "new", WORK / name
        shutil.rmtree(scratch, ignore_errors=True)
        scratch.mkdir(parents=True)
        log = WORK / f"{name}.log"
        result = fuzz(name, [scratch, CORPUS / name], f"-max_total_time={share}", artifacts=artifacts, output=log)
        before = len(corpus_files(name))
        fuzz(name, [CORPUS / name, scratch], "-merge=1", artifacts=artifacts, output=log)
        shutil.rmtree(scratch, ignore_errors=True)
        outcome = "clean" if result.returncode == 0 else f"FINDING (exit {result.returncode}), see {log}"
        if result.returncode != 0:
            found.append(name)
        print(
            f"{name}: {time.monotonic() - started:.0f} s, corpus {before} -> {len(corpus_files(name))} files,"
            f" {outcome}",
            flush=True,
        )
    print("findings in: " + ", ".join(found) if found else "all targets clean", flush=True)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
