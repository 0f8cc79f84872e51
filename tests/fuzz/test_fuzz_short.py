"""The fuzz targets in the normal suite: every corpus file through its parser
in process, the real encoders' files accepted whole, and a short
coverage-guided run (atheris, fixed seed) of every target at once.

TABLESPACE_FUZZ_RUNS sets the new inputs of the short run (default 4000);
TABLESPACE_FUZZ_SECONDS runs the long profile instead: each target for its
share of that many seconds (scripts/fuzz.py also grows the corpus)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tablespace.sync import envelope, membership, sealing
from tests.fuzz.fuzzing import combined_corpus, corpus_files, fuzz
from tests.fuzz.targets import NAMES, SEEDS, TARGETS, world

RUNS = int(os.environ.get("TABLESPACE_FUZZ_RUNS", "4000"))
LONG_SECONDS = int(os.environ.get("TABLESPACE_FUZZ_SECONDS", "0"))


@pytest.mark.parametrize("name", NAMES)
def test_every_corpus_file_is_read_or_refused_cleanly(name: str) -> None:
    files = corpus_files(name)
    assert files, f"tests/fuzz/corpus/{name} is empty: run scripts/fuzz.py --seed"
    for path in files:
        TARGETS[name](path.read_bytes())


def test_the_real_encoders_files_are_accepted_whole() -> None:
    """The fixed world still opens what the encoders make, so the seeds take the fuzzer past every check."""
    w = world()
    for data in SEEDS["changeset"]():
        assert envelope.decode_changeset(data, group_id=w.group_id, epoch_keys=w.epoch_keys).ops
    for data in SEEDS["join_request"]():
        assert membership.decode_request(data, group_id=w.group_id, secret=w.secret).public_key == w.joiner.public_key
    for data in SEEDS["key_grant"]():
        assert membership.decode_grant(data, group_id=w.group_id, me=w.joiner.author_id, exchange=w.exchange).keys
    for data in SEEDS["key_need"]():
        assert membership.decode_need(data, group_id=w.group_id, member=w.author.author_id).epochs
    for data in SEEDS["join_answer"]():
        assert membership.decode_answer(data, group_id=w.group_id, request_id=w.request.id, exchange=w.exchange)
    report = sealing.open_for_moderators(SEEDS["sealed_report"]()[0], w.group_id, {w.mod_key_id: w.mod_key})
    sealing.check_report(report, w.group)
    assert membership.is_withdrawn(SEEDS["withdrawal"]()[0], w.request, group_id=w.group_id)


def test_the_kept_corpus_still_opens_with_the_fixed_world() -> None:
    """The corpus holds files from earlier runs: the world's keys and group id must not drift."""
    w = world()
    opened = 0
    for path in corpus_files("changeset"):
        try:
            opened += bool(envelope.decode_changeset(path.read_bytes(), group_id=w.group_id, epoch_keys=w.epoch_keys))
        except envelope.BadChangeset:
            pass
    assert opened >= 8


@pytest.mark.slow
@pytest.mark.skipif(LONG_SECONDS > 0, reason="the long profile runs each target on its own")
def test_a_short_fuzzing_run_finds_nothing(tmp_path: Path) -> None:
    pytest.importorskip("atheris")
    corpus = combined_corpus(tmp_path / "corpus")
    (tmp_path / "new").mkdir()
    # New inputs go to a scratch directory first in line, so the kept corpus is only read.
    result = fuzz("all", [tmp_path / "new", corpus], f"-runs={RUNS}", "-seed=1", artifacts=tmp_path)
    assert result.returncode == 0, result.stderr[-6000:]


@pytest.mark.skipif(LONG_SECONDS <= 0, reason="set TABLESPACE_FUZZ_SECONDS for the long profile")
def test_a_long_fuzzing_run_finds_nothing(tmp_path: Path) -> None:
    """Each target for its share of TABLESPACE_FUZZ_SECONDS, one after another."""
    pytest.importorskip("atheris")
    seconds = max(1, LONG_SECONDS // len(NAMES))
    failed = []
    for name in NAMES:
        (tmp_path / name).mkdir()
        result = fuzz(
            name,
            [tmp_path / name, Path(__file__).parent / "corpus" / name],
            f"-max_total_time={seconds}",
            artifacts=tmp_path / name,
        )
        if result.returncode != 0:
            failed.append(f"{name}:\n{result.stderr[-4000:]}")
    assert not failed, "\n\n".join(failed)
