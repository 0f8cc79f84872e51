"""Two or more homes syncing through one real folder, driven through the CLI:
joining, admission, talking, and the folder's bad data."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from tests.clirun import TS, founder


def joined(tmp_path: Path, folder: Path, monkeypatch, ana: TS, name: str = "Ben") -> TS:
    member = TS(tmp_path / name.lower(), monkeypatch)
    code = ana.out("invite")
    ana.json("sync")
    request = member.out("join", code, "--as", name, "--folder", str(folder))
    assert [r["id"] for r in ana.json("requests")] == [request]
    ana.run("admit", request[:6])
    ana.json("sync")
    member.json("sync")
    return member


def sync(*members: TS) -> None:
    for _ in range(2):
        for m in members:
            m.json("sync")


def test_invite_join_admit_and_talk(tmp_path, folder, monkeypatch) -> None:
    ana = founder(tmp_path, folder, monkeypatch)
    welcome = ana.out("post", "Welcome", "--body", "Say hi")
    ben = TS(tmp_path / "ben", monkeypatch)
    code = ana.out("invite", "--expires", "24h", "--uses", "1")
    ana.json("sync")
    request = ben.out("join", code, "--as", "Ben", "--folder", str(folder))
    # not admitted yet: sync runs, nothing readable
    report = ben.json("sync")
    assert report["imported"] == 0 and report["pending"] >= 1 and report["quarantined"] == []
    assert ben.json("threads") == [] and ben.json("members") == []
    requests = ana.json("requests")
    assert [(r["id"], r["name"]) for r in requests] == [(request, "Ben")]
    assert set(requests[0]) >= {"id", "name", "created_at"}
    ana.run("admit", request[:6])
    assert ana.json("requests") == []
    sync(ana, ben)
    assert [t["id"] for t in ben.json("threads")] == [welcome]
    assert {m["name"] for m in ben.json("members")} == {"Ana", "Ben"}
    reply = ben.out("reply", welcome[:6], "--body", "Hi from Ben")
    sync(ben, ana)
    posts = ana.json("show", welcome[:6])["posts"]
    assert [(p["id"], p["author"]) for p in posts][-1] == (reply, "Ben")
    assert ana.json("threads")[0]["replies"] == 1


def test_members_converge_to_identical_views(tmp_path, folder, monkeypatch) -> None:
    ana = founder(tmp_path, folder, monkeypatch)
    ben = joined(tmp_path, folder, monkeypatch, ana, "Ben")
    cat = joined(tmp_path, folder, monkeypatch, ana, "Cat")
    t1 = ben.out("post", "From Ben", "--tag", "win")
    t2 = cat.out("post", "From Cat")
    sync(ben, cat, ana)
    ana.out("reply", t1[:6], "--body", "nice")
    cat.run("react", t1[:6], "🎉")
    sync(ana, ben, cat, ana, ben, cat)
    shows = [[m.json("show", t) for t in (t1, t2)] for m in (ana, ben, cat)]
    assert shows[0] == shows[1] == shows[2]
    from tablespace.core.group import Group
    from tablespace.core.home import Home

    digests = []
    for m in (ana, ben, cat):
        group = Group.open(Home(m.home))
        digests.append(group.store.dump_digest())
        group.close()
    assert len(set(digests)) == 1


def test_the_folder_holds_no_plaintext(tmp_path, folder, monkeypatch) -> None:
    ana = founder(tmp_path, folder, monkeypatch)
    ben = joined(tmp_path, folder, monkeypatch, ana, "CanaryBenName")
    thread = ana.out("post", "CANARY-title-7", "--body", "CANARY-body-7", "--tag", "canarytag")
    sync(ana, ben)
    ben.out("reply", thread[:6], "--body", "CANARY-reply-7")
    ana.out("library", "add", "CANARY-resource-7", "--url", "https://example.org/canary-7")
    sync(ana, ben)
    blobs = b"".join(p.read_bytes() for p in folder.rglob("*") if p.is_file())
    assert blobs  # the folder really holds the group
    for canary in (b"CANARY", b"canarytag", b"CanaryBenName", b"Sourdough", b"canary-7"):
        assert canary not in blobs
    # and the keys never leave the home
    for key_file in (tmp_path / "ana").rglob("*.pem"):
        assert key_file.read_bytes() not in blobs


def test_a_post_deleted_before_it_went_out_reaches_the_others_deleted(tmp_path, folder, monkeypatch) -> None:
    """Its text is sealed in the author's log (core/seal.py) before the first
    export: the export opens it, so the others can follow the author's chain."""
    ana = founder(tmp_path, folder, monkeypatch)
    ben = joined(tmp_path, folder, monkeypatch, ana)
    oops = ana.out("post", "Oops", "--body", "not for sharing")
    ana.run("delete", oops[:6])
    ana.out("post", "Hello", "--body", "again")
    sync(ana, ben)
    assert [t["title"] for t in ben.json("threads")] == ["Hello"]
    report = ben.json("sync")
    assert report["pending"] == 0 and report["quarantined"] == []


def test_non_moderators_get_exit_3(tmp_path, folder, monkeypatch) -> None:
    ana = founder(tmp_path, folder, monkeypatch)
    ben = joined(tmp_path, folder, monkeypatch, ana)
    ben.error("invite", code=3)
    ben.error("requests", code=3)
    ben.error("admit", "abcd", code=3)


def test_deny_removes_the_request(tmp_path, folder, monkeypatch) -> None:
    ana = founder(tmp_path, folder, monkeypatch)
    code = ana.out("invite")
    ana.json("sync")
    request = TS(tmp_path / "eve", monkeypatch).out("join", code, "--as", "Eve", "--folder", str(folder))
    ana.run("deny", request[:6], "--reason", "spam")
    assert ana.json("requests") == []
    assert "no pending join request" in ana.error("admit", request[:6])


def test_an_expired_invite_cannot_admit(tmp_path, folder, monkeypatch) -> None:
    ana = founder(tmp_path, folder, monkeypatch)
    code = ana.out("invite", "--expires", "30m")
    ana.json("sync")
    request = TS(tmp_path / "late", monkeypatch).out("join", code, "--as", "Late", "--folder", str(folder))
    monkeypatch.setenv("TABLESPACE_NOW", "2026-11-23T10:00:00Z")
    before = ana.ops()
    assert "expired" in ana.error("admit", request[:6])
    assert ana.ops() == before
    assert not list(folder.rglob("*.tsk"))  # no key was handed out


def test_bad_invite_codes(tmp_path, folder, monkeypatch) -> None:
    ana = founder(tmp_path, folder, monkeypatch)
    ana.json("sync")
    stranger = TS(tmp_path / "s", monkeypatch)
    assert "invite code" in stranger.error("join", "not-a-code", "--as", "S", "--folder", str(folder))
    other_group = "ts1-" + "ab" * 16 + "-" + "cd" * 16
    assert "no sign of that group" in stranger.error("join", other_group, "--as", "S", "--folder", str(folder))
    assert not (tmp_path / "s" / "groups").exists() or not list((tmp_path / "s" / "groups").iterdir())


def test_unmounted_folder_keeps_the_outbox(tmp_path, folder, monkeypatch) -> None:
    ana = founder(tmp_path, folder, monkeypatch)
    ana.json("sync")
    ana.out("post", "Written offline")
    moved = tmp_path / "unplugged"
    folder.rename(moved)
    assert "missing or unmounted" in ana.error("sync")
    assert not folder.exists()  # sync never creates the folder
    folder.mkdir()  # an empty mount point where the folder was
    assert "unmounted" in ana.error("sync")
    assert list(folder.iterdir()) == []  # and never writes into it
    folder.rmdir()
    moved.rename(folder)
    assert ana.json("sync")["exported"] == 1


def test_a_rolled_back_folder_gets_our_ops_again(tmp_path, folder, monkeypatch) -> None:
    ana = founder(tmp_path, folder, monkeypatch)
    ben = joined(tmp_path, folder, monkeypatch, ana)
    snapshot = tmp_path / "old"
    shutil.copytree(folder, snapshot)
    thread = ana.out("post", "After the snapshot")
    ana.json("sync")
    shutil.rmtree(folder)
    shutil.copytree(snapshot, folder)  # restored from an older copy
    assert ana.json("sync")["exported"] >= 1
    ben.json("sync")
    assert [t["id"] for t in ben.json("threads")] == [thread]


def _valid_file(folder: Path) -> Path:
    return sorted(folder.rglob("*.tsc"))[0]


def test_damaged_files_are_quarantined_and_the_rest_still_imports(tmp_path, folder, monkeypatch) -> None:
    ana = founder(tmp_path, folder, monkeypatch)
    ben = joined(tmp_path, folder, monkeypatch, ana)
    thread = ana.out("post", "Good news")
    ana.json("sync")
    good = sorted((folder).rglob("*.tsc"), key=lambda p: p.stat().st_mtime_ns)[-1]
    data = good.read_bytes()
    truncated = good.with_name("00000099-00000099-aaaaaaaaaaaaaaaa.tsc")
    truncated.write_bytes(data[: len(data) // 2])
    flipped = good.with_name("00000098-00000098-bbbbbbbbbbbbbbbb.tsc")
    flipped.write_bytes(data[:200] + bytes([data[200] ^ 1]) + data[201:])
    junk = folder.joinpath(good.relative_to(folder).parts[0], "changes", "nobody", "junk.tsc")
    junk.parent.mkdir(parents=True)
    junk.write_bytes(os.urandom(500))
    report = ben.json("sync")
    assert [t["id"] for t in ben.json("threads")] == [thread]  # the good file imported
    reasons = {Path(q["file"]).name: q["reason"] for q in report["quarantined"]}
    assert set(reasons) == {truncated.name, flipped.name, junk.name}
    assert all(reasons.values())
    # never deleted or changed in the folder; a copy and its reason kept in the home
    assert truncated.read_bytes() == data[: len(data) // 2]
    assert len(list((tmp_path / "ben").rglob("quarantine/*.json"))) == 3
    # listed again next time, but nothing is imported twice
    again = ben.json("sync")
    assert again["imported"] == 0 and len(again["quarantined"]) == 3


def test_a_quarantined_file_that_completes_is_tried_again(tmp_path, folder, monkeypatch) -> None:
    ana = founder(tmp_path, folder, monkeypatch)
    ben = joined(tmp_path, folder, monkeypatch, ana)
    thread = ana.out("post", "Arriving slowly")
    ana.json("sync")
    newest = sorted(folder.rglob("*.tsc"), key=lambda p: p.stat().st_mtime_ns)[-1]
    data = newest.read_bytes()
    newest.write_bytes(data[:100])  # a transfer still in progress
    assert len(ben.json("sync")["quarantined"]) == 1
    newest.write_bytes(data)  # the transfer completes
    report = ben.json("sync")
    assert report["quarantined"] == [] and [t["id"] for t in ben.json("threads")] == [thread]


def test_conflict_copies_and_misnamed_files_are_harmless(tmp_path, folder, monkeypatch) -> None:
    ana = founder(tmp_path, folder, monkeypatch)
    ben = joined(tmp_path, folder, monkeypatch, ana)
    thread = ana.out("post", "Copied around")
    ana.json("sync")
    newest = sorted(folder.rglob("*.tsc"), key=lambda p: p.stat().st_mtime_ns)[-1]
    shutil.copy(newest, newest.with_name(newest.stem + ".sync-conflict-20261123-090000-ABCDEFG.tsc"))
    shutil.copy(newest, newest.with_name(newest.stem + " (Ben's conflicted copy 2026-11-23).tsc"))
    misnamed = newest.parent.parent / "ffffffffffffffffffffffffffffffff" / "00000001-00000001-0000000000000000.tsc"
    misnamed.parent.mkdir()
    shutil.copy(newest, misnamed)  # the header, not the name, says whose it is
    report = ben.json("sync")
    assert report["quarantined"] == []
    assert [t["id"] for t in ben.json("threads")] == [thread]
    assert ben.json("sync")["imported"] == 0


def test_a_stranger_cannot_plant_a_key(tmp_path, folder, monkeypatch) -> None:
    """A key grant signed by someone who is not a moderator is never used to write."""
    from tablespace.core.group import Group
    from tablespace.core.home import Home
    from tablespace.core.identity import Identity
    from tablespace.sync.keyring import Keyring
    from tablespace.sync.keys import new_epoch_key
    from tablespace.sync.membership import encode_grant, grant_path

    ana = founder(tmp_path, folder, monkeypatch)
    code = ana.out("invite")
    ana.json("sync")
    ben = TS(tmp_path / "ben", monkeypatch)
    ben.out("join", code, "--as", "Ben", "--folder", str(folder))
    group = Group.open(Home(ben.home))
    ring = Keyring.load(group.path)
    grant = encode_grant(
        Identity.generate(),
        group_id=group.id,
        member=group.me,
        member_exchange=ring.exchange.public_key,
        keys=[(0, new_epoch_key())],
    )
    target = folder / group.id / grant_path(group.me, grant)
    target.parent.mkdir(parents=True)
    target.write_bytes(grant)
    group.close()
    report = ben.json("sync")
    assert report["exported"] == 0
    assert not list((folder).rglob(f"*/changes/{group.me}/*"))


def test_links_and_pipes_in_requests_and_keys_are_never_opened(tmp_path, folder, monkeypatch) -> None:
    ana = founder(tmp_path, folder, monkeypatch)
    ben = joined(tmp_path, folder, monkeypatch, ana)
    (group_dir,) = [p for p in folder.iterdir() if p.is_dir()]
    os.mkfifo(group_dir / "requests" / "evil.tsr")  # would block a plain read forever
    (ben_keys,) = [p for p in (group_dir / "keys").iterdir()]
    (ben_keys / "evil.tsk").symlink_to("/dev/zero")  # would be read without end
    assert ana.json("requests") == []
    report = ben.json("sync")
    assert report["quarantined"] == []


def test_a_damaged_file_of_ours_is_written_again_so_the_rest_still_flows(tmp_path, folder, monkeypatch) -> None:
    ana = founder(tmp_path, folder, monkeypatch)
    ben = joined(tmp_path, folder, monkeypatch, ana)
    ana.out("post", "Batch one")
    ana.json("sync")
    newest = sorted(folder.rglob("*.tsc"), key=lambda p: p.stat().st_mtime_ns)[-1]
    newest.write_bytes(newest.read_bytes()[:100])  # damaged on the way
    ana.out("post", "After the damage")
    ana.json("sync")  # notices its own file changed and writes those ops again
    ben.json("sync")
    assert {"Batch one", "After the damage"} <= {t["title"] for t in ben.json("threads")}
    assert newest.exists()  # never deleted in the folder


def test_joining_again_after_a_mistyped_code(tmp_path, folder, monkeypatch) -> None:
    ana = founder(tmp_path, folder, monkeypatch)
    code = ana.out("invite")
    ana.json("sync")
    ben = TS(tmp_path / "ben", monkeypatch)
    typo = code[:-6] + ("0" if code[-6] != "0" else "1") + code[-5:]  # one hex digit of the secret
    assert "typo" in ben.error("join", typo, "--as", "Ben", "--folder", str(folder))  # the code's check
    assert not (ben.home / "groups").exists() or not any((ben.home / "groups").iterdir())
    # A code made before codes had a check (no 4-hex end) cannot be checked:
    # the request goes in, and nobody can read it.
    ben.out("join", typo[:-5], "--as", "Ben", "--folder", str(folder))
    assert ana.json("requests") == []
    assert "not a member of this group yet" in ben.error("post", "Hello", code=3)
    request = ben.out("join", code, "--as", "Ben", "--folder", str(folder))  # try again, right code
    ana.run("admit", request[:6])
    sync(ana, ben)
    ben.out("post", "Hello")
    assert "already a member" in ben.error("join", code, "--as", "Ben", "--folder", str(folder))


# --- what a joiner is told ---------------------------------------------------------------


def test_a_joiner_is_told_when_turned_down(tmp_path, folder, monkeypatch) -> None:
    ana = founder(tmp_path, folder, monkeypatch)
    code = ana.out("invite")
    ana.json("sync")
    ben = TS(tmp_path / "ben", monkeypatch)
    request = ben.out("join", code, "--as", "Ben", "--folder", str(folder))
    assert ben.json("sync")["join_answer"] is None  # nothing decided yet
    assert "not admitted yet" in ben.run("threads").stderr  # why the list is empty
    hidden = folder.with_name("unplugged")
    folder.rename(hidden)
    message = ana.error("requests")
    assert "missing or unmounted" in message and "outbox" not in message  # nothing of ours waits for it
    hidden.rename(folder)
    ana.run("deny", request[:6], "--reason", "CANARY-deny-reason")
    result = ben.run("sync")
    assert "turned down your request" in result.stderr
    assert ben.json("sync")["join_answer"] == "declined"
    assert b"CANARY-deny-reason" not in b"".join(p.read_bytes() for p in folder.rglob("*") if p.is_file())


def test_a_joiner_whose_invite_was_used_up_is_told_and_can_ask_again(tmp_path, folder, monkeypatch) -> None:
    ana = founder(tmp_path, folder, monkeypatch)
    code = ana.out("invite")  # one use
    ana.json("sync")
    ben, cat = TS(tmp_path / "ben", monkeypatch), TS(tmp_path / "cat", monkeypatch)
    first = ben.out("join", code, "--as", "Ben", "--folder", str(folder))
    late = cat.out("join", code, "--as", "Cat", "--folder", str(folder))
    ana.run("admit", first[:6])
    (waiting,) = ana.json("requests")
    assert (waiting["id"], waiting["problem"]) == (late, "invite used up")
    assert "invite used up" in ana.out("requests")
    assert "used up" in ana.error("admit", late[:6])
    ana.json("sync")  # the moderator's sync answers Cat
    assert cat.json("sync")["join_answer"] == "invite used up"
    assert "ask for a new code" in cat.run("sync").stderr
    # Cat asks again from the same home with a new code: the old request is
    # withdrawn (gone from the list), the old attempt kept aside, not deleted.
    again = cat.out("join", ana.out("invite"), "--as", "Cat", "--folder", str(folder))
    assert [r["id"] for r in ana.json("requests")] == [again]
    assert len(list((cat.home / "replaced").iterdir())) == 1
    ana.run("admit", again[:6])
    sync(ana, cat)
    assert "Cat" in {m["name"] for m in cat.json("members")}


def test_a_failed_second_join_keeps_the_first(tmp_path, folder, monkeypatch) -> None:
    ana = founder(tmp_path, folder, monkeypatch)
    code = ana.out("invite", "--uses", "2")
    ana.json("sync")
    dan = TS(tmp_path / "dan", monkeypatch)
    request = dan.out("join", code, "--as", "Dan", "--folder", str(folder))
    empty = tmp_path / "elsewhere"
    empty.mkdir()
    assert "no sign of that group" in dan.error("join", code, "--as", "Dan", "--folder", str(empty))
    assert dan.json("sync")["join_answer"] is None  # the pending join is still there, still waiting
    assert [r["id"] for r in ana.json("requests")] == [request]
    ana.run("admit", request[:6])
    # Admitted, not synced yet: joining again must not throw the admitted identity away.
    assert "already a member" in dan.error("join", code, "--as", "Dan", "--folder", str(folder))
    sync(ana, dan)
    dan.out("post", "Hello from Dan")


def test_joining_again_is_all_or_nothing(tmp_path, folder, monkeypatch) -> None:
    """A join that fails after moving an earlier attempt aside puts it back;
    joins in quick succession each replace the one before."""
    ana = founder(tmp_path, folder, monkeypatch)
    code = ana.out("invite", "--uses", "5")
    ana.json("sync")
    dan = TS(tmp_path / "dan", monkeypatch)
    first = dan.out("join", code, "--as", "Dan", "--folder", str(folder))
    (group_dir,) = (dan.home / "groups").iterdir()
    key_before = (group_dir / "identity.pem").read_bytes()
    requests_dir = next(folder.glob("*/requests"))
    shutil.move(requests_dir, tmp_path / "requests-away")
    requests_dir.write_text("not a directory")  # the folder refuses the new request
    assert "nothing was joined" in dan.error("join", code, "--as", "Dan", "--folder", str(folder))
    assert (group_dir / "identity.pem").read_bytes() == key_before  # the pending attempt, as it was
    requests_dir.unlink()
    shutil.move(tmp_path / "requests-away", requests_dir)
    assert [r["id"] for r in ana.json("requests")] == [first]
    second = dan.out("join", code, "--as", "Dan", "--folder", str(folder))
    third = dan.out("join", code, "--as", "Dan", "--folder", str(folder))  # within the same second
    assert [r["id"] for r in ana.json("requests")] == [third] and len({first, second, third}) == 3
    assert len(list((dan.home / "replaced").iterdir())) == 2


def test_deny_holds_when_the_folder_refuses_the_answer(tmp_path, folder, monkeypatch) -> None:
    ana = founder(tmp_path, folder, monkeypatch)
    code = ana.out("invite", "--uses", "2")
    ana.json("sync")
    ben, cat = TS(tmp_path / "ben", monkeypatch), TS(tmp_path / "cat", monkeypatch)
    request = ben.out("join", code, "--as", "Ben", "--folder", str(folder))
    other = cat.out("join", code, "--as", "Cat", "--folder", str(folder))
    (group_dir,) = [p for p in folder.iterdir() if p.is_dir()]
    (group_dir / "answers" / f"{request}.tsa").mkdir(parents=True)  # planted by someone with folder access
    ana.run("deny", request[:6])  # decided, though the answer could not be left
    assert [r["id"] for r in ana.json("requests")] == [other]
    ana.run("deny", other[:6])
    answer = (group_dir / "answers" / f"{other}.tsa").read_bytes()
    assert cat.json("sync")["join_answer"] == "declined"
    # Every answer is one size, so the folder host cannot tell "declined" by its length.
    from tablespace.sync.keys import ExchangeKey
    from tablespace.sync.membership import ANSWERS, JoinRequest, encode_answer

    joiner = JoinRequest(other, "00" * 16, "Cat", bytes(32), ExchangeKey.generate().public_key, "")
    gid = group_dir.name
    assert {len(encode_answer(joiner, word, group_id=gid)) for word in ANSWERS} == {len(answer)}
