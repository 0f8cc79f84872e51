"""Run one fuzz target under atheris (libFuzzer), with coverage of tablespace.

    python tests/fuzz/run.py TARGET [libFuzzer options and corpus directories]

e.g. `python tests/fuzz/run.py changeset -runs=1000 -seed=1 tests/fuzz/corpus/changeset`;
TARGET `all` takes every target's inputs, each behind its index byte (targets.any_target).
An exception other than the parser's documented refusal, a hang past
-timeout, or memory past -rss_limit_mb stops the run with a non-zero exit
and leaves the input under -artifact_prefix. See tests/fuzz/README.md.
"""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

import atheris

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT / "src"), str(ROOT)]

with atheris.instrument_imports(include=["tablespace"]):
    from tests.fuzz.targets import TARGETS, any_target, world


def main() -> None:
    targets = {**TARGETS, "all": any_target}
    if len(sys.argv) < 2 or sys.argv[1] not in targets:
        sys.exit(f"usage: run.py TARGET [libFuzzer args]; targets: {', '.join(targets)}")
    target = targets[sys.argv[1]]
    world()  # made before fuzzing starts, so no input pays for it (or counts it as coverage)
    # libFuzzer runs argv[0] again through the shell for -merge=1 (and -fork):
    # this script under this Python, and the target, as one shell word list.
    again = " ".join(shlex.quote(part) for part in (sys.executable, __file__, sys.argv[1]))
    atheris.Setup([again, *sys.argv[2:]], target)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
