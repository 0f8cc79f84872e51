"""Two or more homes syncing through a real git remote (a local bare repository),
driven through the CLI: founding on an empty remote, joining, concurrent pushes,
an unreachable remote, and what the remote can see."""

from __future__ import annotations

import http.server
import json
import os
import shutil
import socket
import subprocess
import threading
import time
from pathlib import Path

import pytest

from tablespace.sync import git as gitmod
from tablespace.sync.git import GitRemote, git_env, git_reason
from tests.clirun import TS

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")


@pytest.fixture(autouse=True)
def no_git_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A fresh machine: no global or system git config, so no user.name either.
    Everything must work from the -c flags tablespace passes."""
    monkeypatch.setenv("HOME", str(tmp_path / "machine-home"))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", os.devnull)
    for var in ("GIT_AUTHOR_NAME", "GIT_AUTHOR_EMAIL", "GIT_COMMITTER_NAME", "GIT_COMMITTER_EMAIL", "EMAIL"):
        monkeypatch.delenv(var, raising=False)


def bare(path: Path) -> Path:
    subprocess.run(["git", "init", "--quiet", "--bare", str(path)], check=True, env=git_env())
    return path


@pytest.fixture
def remote(tmp_path: Path) -> Path:
    return bare(tmp_path / "remote.git")


def in_bare(repo: Path, *args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(["git", "--git-dir", str(repo), *args], capture_output=True, env=git_env())


def founder(tmp_path: Path, url: str, monkeypatch) -> TS:
    ana = TS(tmp_path / "ana", monkeypatch)
    ana.out("init", "Sourdough circle", "--as", "Ana", "--git", url)
    return ana


def joined(tmp_path: Path, url: str, monkeypatch, ana: TS, name: str = "Ben") -> TS:
    member = TS(tmp_path / name.lower(), monkeypatch)
    code = ana.out("invite")
    ana.json("sync")
    request = member.out("join", code, "--as", name, "--git", url)
    assert [r["id"] for r in ana.json("requests")] == [request]
    ana.run("admit", request[:6])
    ana.json("sync")  # pushes the member.add op and the key grant admit left in the clone
    member.json("sync")
    return member


def sync(*members: TS) -> None:
    for _ in range(2):
        for m in members:
            m.json("sync")


def clone_of(member: TS) -> Path:
    (path,) = member.home.glob("groups/*/remote")
    return path


def reject_pushes(repo: Path, on: bool) -> None:
    hook = repo / "hooks" / "pre-receive"
    if on:
        hook.write_text("#!/bin/sh\necho 'pushes are closed for maintenance' >&2\nexit 1\n")
        hook.chmod(0o755)
    else:
        hook.unlink()


def titles(member: TS) -> set[str]:
    return {t["title"] for t in member.json("threads")}


# --- the happy path -----------------------------------------------------------------


@pytest.mark.slow
def test_found_on_an_empty_remote_invite_join_admit_and_talk(tmp_path, remote, monkeypatch) -> None:
    ana = founder(tmp_path, str(remote), monkeypatch)
    welcome = ana.out("post", "Welcome", "--body", "Say hi")
    code = ana.out("invite")
    assert in_bare(remote, "rev-parse", "--verify", "refs/heads/main").returncode != 0  # still empty
    assert ana.json("sync")["exported"] >= 3
    assert in_bare(remote, "rev-parse", "--verify", "refs/heads/main").returncode == 0  # the first commit, on main
    assert (clone_of(ana) / ".git").is_dir()

    ben = TS(tmp_path / "ben", monkeypatch)
    request = ben.out("join", code, "--as", "Ben", "--git", str(remote))
    report = ben.json("sync")  # not admitted yet: runs, nothing readable
    assert report["imported"] == 0 and report["quarantined"] == []
    assert [(r["id"], r["name"]) for r in ana.json("requests")] == [(request, "Ben")]
    ana.run("admit", request[:6])
    assert ana.json("requests") == []
    sync(ana, ben)
    assert [t["id"] for t in ben.json("threads")] == [welcome]
    assert {m["name"] for m in ben.json("members")} == {"Ana", "Ben"}
    reply = ben.out("reply", welcome[:6], "--body", "Hi from Ben")
    sync(ben, ana)
    posts = ana.json("show", welcome[:6])["posts"]
    assert [(p["id"], p["author"]) for p in posts][-1] == (reply, "Ben")
    # nothing left behind: both clones clean and level with the remote
    for member in (ana, ben):
        status = subprocess.run(
            ["git", "status", "--porcelain"], cwd=clone_of(member), capture_output=True, text=True, env=git_env()
        )
        assert status.stdout == ""
        assert not GitRemote(str(remote), clone_of(member), "x").ahead()
    assert not list((tmp_path / "ben").glob(".join-*"))  # the staging clone was moved into place


@pytest.mark.slow
def test_three_members_converge(tmp_path, remote, monkeypatch) -> None:
    ana = founder(tmp_path, str(remote), monkeypatch)
    ben = joined(tmp_path, str(remote), monkeypatch, ana, "Ben")
    cat = joined(tmp_path, str(remote), monkeypatch, ana, "Cat")
    t1 = ben.out("post", "From Ben", "--tag", "win")
    t2 = cat.out("post", "From Cat")
    ana.out("post", "From Ana")
    sync(ben, cat, ana)
    cat.run("react", t1[:6], "🎉")
    ana.out("reply", t2[:6], "--body", "nice")
    sync(ana, ben, cat)
    shows = [[m.json("show", t) for t in (t1, t2)] for m in (ana, ben, cat)]
    assert shows[0] == shows[1] == shows[2]
    assert titles(ana) == titles(ben) == titles(cat) == {"From Ben", "From Cat", "From Ana"}


# --- concurrent pushes ----------------------------------------------------------------


@pytest.mark.slow
def test_both_commit_before_either_pushes(tmp_path, remote, monkeypatch) -> None:
    """Both members' rounds commit while the remote refuses pushes: each
    commit is that member's outbox, pushed (and merged) on the next sync."""
    ana = founder(tmp_path, str(remote), monkeypatch)
    ben = joined(tmp_path, str(remote), monkeypatch, ana)
    ana.out("post", "Ana offline")
    ben.out("post", "Ben offline")
    reject_pushes(remote, True)
    for member in (ana, ben):
        message = member.error("sync")
        assert "push" in message and "pre-receive hook declined" in message and "outbox" in message
        assert GitRemote(str(remote), clone_of(member), "x").ahead()  # committed, not pushed
    reject_pushes(remote, False)
    # nothing new to write (exported 0): the waiting commit is what goes out
    assert ana.json("sync")["exported"] == 0
    assert ben.json("sync")["exported"] == 0  # fetches Ana's commit, merges, pushes its own
    ana.json("sync")
    assert titles(ana) == titles(ben) == {"Ana offline", "Ben offline"}


@pytest.mark.slow
def test_a_rejected_push_is_merged_and_retried(tmp_path, remote, monkeypatch) -> None:
    """Ben fetches, then Ana pushes before Ben does: Ben's push is refused as
    non-fast-forward; he fetches, merges and pushes again within the same sync."""
    ana = founder(tmp_path, str(remote), monkeypatch)
    ben = joined(tmp_path, str(remote), monkeypatch, ana)
    ana.out("post", "Ana first")
    reject_pushes(remote, True)
    ana.error("sync")  # Ana's commit waits in her clone
    reject_pushes(remote, False)
    ben.out("post", "Ben second")

    ana_clone, ben_clone = clone_of(ana), clone_of(ben)
    original_push = GitRemote.push
    pushes: list[Path] = []
    real_git = GitRemote._git

    def counting_git(self, *args, **kw):
        if args and args[0] == "push":
            pushes.append(self.workdir)
        return real_git(self, *args, **kw)

    def racing_push(self) -> None:
        if self.workdir == ben_clone and not pushes:
            original_push(GitRemote(str(remote), ana_clone, self.group_id))  # Ana wins the race
            pushes.clear()
        original_push(self)

    with monkeypatch.context() as patched:
        patched.setattr(GitRemote, "_git", counting_git)
        patched.setattr(GitRemote, "push", racing_push)
        assert ben.json("sync")["exported"] == 1
    assert pushes == [ben_clone, ben_clone]  # refused once, then accepted after the merge
    sync(ana, ben)
    assert titles(ana) == titles(ben) == {"Ana first", "Ben second"}


@pytest.mark.slow
def test_a_rolled_back_remote_gets_our_commits_again(tmp_path, remote, monkeypatch) -> None:
    ana = founder(tmp_path, str(remote), monkeypatch)
    ben = joined(tmp_path, str(remote), monkeypatch, ana)
    old = in_bare(remote, "rev-parse", "refs/heads/main").stdout.decode().strip()
    thread = ana.out("post", "After the snapshot")
    ana.json("sync")
    assert in_bare(remote, "update-ref", "refs/heads/main", old).returncode == 0  # a force-push back in time
    ana.json("sync")  # her clone is ahead of the rolled-back branch: pushed again
    ben.json("sync")
    assert [t["id"] for t in ben.json("threads")] == [thread]


def test_damage_in_the_clone_is_never_pushed(tmp_path, remote, monkeypatch) -> None:
    """A committed file changed or deleted in a member's clone is repaired
    from the commit, not shared: on a folder nobody could do that to
    everyone's copy, and through git nobody should."""
    ana = founder(tmp_path, str(remote), monkeypatch)
    ana.out("post", "Kept")
    ana.json("sync")
    ben = joined(tmp_path, str(remote), monkeypatch, ana)
    files = sorted(p for p in clone_of(ana).rglob("*.tsc"))
    originals = {p: p.read_bytes() for p in files[:2]}
    files[0].write_bytes(files[0].read_bytes()[:-1])
    files[1].unlink()
    assert ana.json("sync")["quarantined"] == []
    assert {p: p.read_bytes() for p in originals} == originals
    changed = in_bare(remote, "log", "--format=", "--diff-filter=MD", "--name-only", "main").stdout
    assert changed.strip() == b""  # every commit on the remote only ever added files
    assert titles(ben) == {"Kept"}


# --- an unreachable remote -------------------------------------------------------------


def test_a_missing_remote_keeps_the_outbox(tmp_path, remote, monkeypatch) -> None:
    url = remote
    ana = founder(tmp_path, str(url), monkeypatch)
    ana.out("post", "Written offline")
    url.rename(tmp_path / "away.git")
    message = ana.error("sync")
    assert "cannot reach the git remote" in message and "does not appear to be a git repository" in message
    assert "outbox" in message and "Please make sure" not in message
    result = ana.run("sync", "--json", code=1)
    document = json.loads(result.stdout)  # one JSON document, with the error, even so
    assert "cannot reach the git remote" in document["error"] and document["kind"] == "unreachable"
    assert (document["exported"], document["imported"]) == (0, 0) and document["outbox"] >= 2
    assert result.stderr.strip() == f"tablespace: {document['error']}"
    (tmp_path / "away.git").rename(url)  # the remote comes back
    assert ana.json("sync")["exported"] >= 2  # the genesis and the post
    ben = joined(tmp_path, str(url), monkeypatch, ana)
    assert titles(ben) == {"Written offline"}


@pytest.mark.slow
def test_an_unreadable_remote_keeps_the_outbox(tmp_path, remote, monkeypatch) -> None:
    ana = founder(tmp_path, str(remote), monkeypatch)
    ana.json("sync")
    ana.out("post", "While the remote was away")
    if os.geteuid() == 0:  # root reads through any mode: break the repository instead
        (remote / "HEAD").rename(remote / "HEAD.away")
    else:
        remote.chmod(0)
    try:
        message = ana.error("sync")
    finally:
        if os.geteuid() == 0:
            (remote / "HEAD.away").rename(remote / "HEAD")
        else:
            remote.chmod(0o755)
    assert "cannot reach the git remote" in message and "outbox" in message
    assert ana.json("sync")["exported"] == 1
    ben = joined(tmp_path, str(remote), monkeypatch, ana)
    assert titles(ben) == {"While the remote was away"}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _has_https() -> bool:
    exec_path = subprocess.run(["git", "--exec-path"], capture_output=True, text=True).stdout.strip()
    return (Path(exec_path) / "git-remote-http").exists()


@pytest.mark.skipif(not _has_https(), reason="git built without http transport")
def test_a_refused_connection_and_an_auth_prompt_fail_fast(tmp_path, monkeypatch) -> None:
    """`init` asks the remote first (as `sync` does every time): both fail
    at once with one line, and nothing is created in the home."""
    # nothing listens on the port: connection refused
    ana = TS(tmp_path / "ana", monkeypatch)
    message = ana.error("init", "G", "--as", "Ana", "--git", f"http://127.0.0.1:{_free_port()}/group.git")
    assert "cannot reach the git remote" in message and "127.0.0.1" in message
    assert "nothing was created" in message and not ana.home.exists()

    # a server that wants a password: git must not ask for one, and says so
    class NeedsAuth(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            self.send_response(401)
            self.send_header("WWW-Authenticate", 'Basic realm="group"')
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), NeedsAuth)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        port = server.server_address[1]
        ben = TS(tmp_path / "ben", monkeypatch)
        message = ben.error("init", "Other", "--as", "Ben", "--git", f"http://user:s3cret@127.0.0.1:{port}/group.git")
    finally:
        server.shutdown()
        server.server_close()
    assert "cannot reach the git remote" in message and not ben.home.exists()
    assert "s3cret" not in message  # credentials in the URL are never shown
    assert "Authentication failed" in message or "terminal prompts disabled" in message


def test_joining_a_wrong_or_empty_remote_leaves_nothing(tmp_path, remote, monkeypatch) -> None:
    ana = founder(tmp_path, str(remote), monkeypatch)
    code = ana.out("invite")
    ben = TS(tmp_path / "ben", monkeypatch)
    assert "cannot reach the git remote" in ben.error("join", code, "--as", "Ben", "--git", str(tmp_path / "nope"))
    assert not ben.home.exists()  # asked before anything was made
    # Ana has not synced yet: the remote is empty
    assert "no sign of that group" in ben.error("join", code, "--as", "Ben", "--git", str(remote))
    leftovers = [p for p in (tmp_path / "ben").rglob("*") if p.name != "config.json" and p.name != "groups"]
    assert leftovers == []
    ana.json("sync")
    assert ben.out("join", code, "--as", "Ben", "--git", str(remote))


def test_init_asks_the_remote_before_creating_anything(tmp_path, remote, monkeypatch) -> None:
    ana = TS(tmp_path / "ana", monkeypatch)
    (tmp_path / "plain").mkdir()
    for url in (tmp_path / "nope.git", tmp_path / "plain"):
        message = ana.error("init", "G", "--as", "Ana", "--git", str(url))
        assert "cannot reach the git remote" in message and "nothing was created" in message
        assert not ana.home.exists()
    assert "not a git URL" in ana.error("init", "G", "--as", "Ana", "--git", "--upload-pack=touch x")
    assert "not a git URL" in ana.error("init", "G", "--as", "Ana", "--git", " ")
    assert not ana.home.exists()


def test_a_relative_remote_path_is_kept_absolute(tmp_path, remote, monkeypatch) -> None:
    """git runs inside the clone in the home: a path relative to where the
    user typed `init` or `join` would name something else there."""
    monkeypatch.chdir(tmp_path)
    ana = founder(tmp_path, "remote.git", monkeypatch)
    ana.out("post", "Relative")
    ana.json("sync")
    ben = TS(tmp_path / "ben", monkeypatch)
    code = ana.out("invite")
    ana.json("sync")
    request = ben.out("join", code, "--as", "Ben", "--git", "./remote.git")
    ana.run("admit", request[:6])
    monkeypatch.chdir(tmp_path / "ana")  # later commands run from anywhere
    sync(ana, ben)
    assert titles(ben) == {"Relative"}
    for member in (ana, ben):
        (local,) = member.home.glob("groups/*/local.json")
        assert json.loads(local.read_text())["transport"]["git"] == str(remote)


def test_doctor_asks_the_remote_and_changes_nothing(tmp_path, remote, monkeypatch) -> None:
    ana = founder(tmp_path, str(remote), monkeypatch)
    ana.json("sync")
    ana.out("post", "Not yet pushed")
    assert f"git remote {remote} is reachable" in ana.out("doctor")
    before = snapshot(remote), snapshot(clone_of(ana))
    remote.rename(tmp_path / "away.git")
    result = ana.run("doctor", code=1)
    (failed,) = [line for line in result.stdout.splitlines() if line.startswith("FAIL")]
    assert "cannot reach the git remote" in failed and "check the URL" in failed
    (tmp_path / "away.git").rename(remote)
    assert (snapshot(remote), snapshot(clone_of(ana))) == before  # nothing fetched, committed or pushed


def snapshot(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


# --- what the remote sees, and how git is run ---------------------------------------------


@pytest.mark.slow
def test_the_remote_holds_no_plaintext(tmp_path, remote, monkeypatch) -> None:
    ana = founder(tmp_path, str(remote), monkeypatch)
    ben = joined(tmp_path, str(remote), monkeypatch, ana, "CanaryBenName")
    thread = ana.out("post", "CANARY-title-7", "--body", "CANARY-body-7", "--tag", "canarytag")
    sync(ana, ben)
    ben.out("reply", thread[:6], "--body", "CANARY-reply-7")
    ana.out("library", "add", "CANARY-resource-7", "--url", "https://example.org/canary-7")
    sync(ana, ben)
    objects = in_bare(remote, "cat-file", "--batch-all-objects", "--batch").stdout
    assert b".tsc" in objects and len(objects) > 2000  # the remote really holds the group
    for canary in (b"CANARY", b"canarytag", b"CanaryBenName", b"Sourdough", b"canary-7", b"Ana"):
        assert canary not in objects
    for key_file in (tmp_path / "ana").rglob("*.pem"):
        assert key_file.read_bytes() not in objects
    # every commit carries the same neutral identity, never a member's name
    log = in_bare(remote, "log", "--format=%an <%ae> %cn <%ce>", "main").stdout.decode().splitlines()
    assert log and set(log) == {"tablespace <tablespace@invalid> tablespace <tablespace@invalid>"}


def test_every_git_call_is_non_interactive_and_bounded(tmp_path, remote, monkeypatch) -> None:
    calls: list[tuple[list[str], dict]] = []
    real_run = subprocess.run

    def spy(command, *args, **kw):
        calls.append((list(command), kw))
        return real_run(command, *args, **kw)

    monkeypatch.setattr(gitmod.subprocess, "run", spy)
    monkeypatch.setenv("GIT_AUTHOR_NAME", "Real Person")  # must not reach the shared repo
    ana = founder(tmp_path, str(remote), monkeypatch)
    ana.out("post", "Hello")
    ana.json("sync")
    assert {c[0][-1] if c[0][0:1] == ["git"] else None for c in calls} and calls
    verbs = set()
    for command, kw in calls:
        assert command[0] == "git"
        env = kw["env"]
        assert env["GIT_TERMINAL_PROMPT"] == "0" and env["GIT_ASKPASS"] == "" and env["SSH_ASKPASS"] == ""
        assert "GIT_AUTHOR_NAME" not in env and env["LC_ALL"] == "C"
        assert kw["timeout"] and kw["timeout"] > 0 and kw["stdin"] is subprocess.DEVNULL
        flags = {command[i + 1] for i, arg in enumerate(command) if arg == "-c"}
        assert {"user.name=tablespace", "user.email=tablespace@invalid", "commit.gpgSign=false"} <= flags
        verbs.add(next(a for i, a in enumerate(command[1:], 1) if command[i - 1] != "-c" and a != "-c"))
    assert {"init", "fetch", "add", "commit", "push"} <= verbs
    assert in_bare(remote, "log", "-1", "--format=%an", "main").stdout.strip() == b"tablespace"
    assert not (tmp_path / "machine-home" / ".gitconfig").exists()  # global config never written


def test_git_env_and_reasons() -> None:
    env = git_env({"PATH": "/bin", "GIT_DIR": "/elsewhere", "GIT_COMMITTER_EMAIL": "me@home"})
    assert env["GIT_TERMINAL_PROMPT"] == "0" and env["GIT_ASKPASS"] == ""
    assert "GIT_DIR" not in env and "GIT_COMMITTER_EMAIL" not in env
    assert env["GIT_SSH_COMMAND"] == "ssh -o BatchMode=yes"
    assert git_env({"GIT_SSH_COMMAND": "ssh -i key"})["GIT_SSH_COMMAND"] == "ssh -i key"
    ssh = (
        "ssh: Could not resolve hostname git.invalid: Name or service not known\n"
        "fatal: Could not read from remote repository.\n\n"
        "Please make sure you have the correct access rights\nand the repository exists.\n"
    )
    assert git_reason(ssh) == "ssh: Could not resolve hostname git.invalid: Name or service not known"
    push = (
        "remote: closed        \nTo /srv/group.git\n"
        " ! [remote rejected] HEAD -> main (pre-receive hook declined)\n"
        "error: failed to push some refs to '/srv/group.git'\n"
    )
    assert git_reason(push) == "[remote rejected] HEAD -> main (pre-receive hook declined)"
    auth = (
        "remote: Invalid username or password.\n"
        "fatal: Authentication failed for 'https://bob:tok3n@example.org/g.git/'\n"
    )
    assert git_reason(auth) == "Authentication failed for 'https://***@example.org/g.git/'"
    assert git_reason("") and "\n" not in git_reason("a\nb\n")
    assert git_reason("remote: \x1b[31mgo away\x1b[0m\n") == "[31mgo away[0m"  # no escape reaches the terminal


def test_git_missing_is_one_clear_line(tmp_path, remote, monkeypatch) -> None:
    ana = founder(tmp_path, str(remote), monkeypatch)
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))
    assert "git is not installed" in ana.error("sync")


def test_the_git_transport_never_imports_textual() -> None:
    import sys

    code = (
        "import sys, tablespace.sync.git; "
        "bad = [m for m in sys.modules if m == 'textual' or m.startswith(('textual.', 'tablespace.tui'))]; "
        "sys.exit(1 if bad else 0)"
    )
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0


@pytest.mark.slow
def test_a_report_travels_through_git_sealed(tmp_path, remote, monkeypatch) -> None:
    ana = founder(tmp_path, str(remote), monkeypatch)
    ben = joined(tmp_path, str(remote), monkeypatch, ana)
    post = ana.out("post", "Hello")
    sync(ana, ben)
    ben.out("report", post, "--reason", "CANARY-git report")
    sync(ben, ana)
    assert [r["reason"] for r in ana.json("reports")] == ["CANARY-git report"]
    objects = in_bare(remote, "cat-file", "--batch-all-objects", "--batch").stdout  # every object, inflated
    assert b".tsm" in objects and b"CANARY" not in objects  # the report is in the remote, sealed
    assert not list(ben.home.rglob("outbox/*.tsm"))  # delivered: Ben's outbox is empty


def commit_files(repo: Path, rev: str) -> list[str]:
    out = in_bare(repo, "show", "--name-only", "--format=", rev).stdout.decode()
    return [line for line in out.splitlines() if line]


def pushed_tips(repo: Path) -> list[str]:
    """Every commit the branch pointed at after a push, oldest first (the bare
    repository keeps a reflog: see `remote_with_reflog`)."""
    out = in_bare(repo, "reflog", "show", "--format=%H", "refs/heads/main").stdout.decode()
    return out.split()[::-1]


@pytest.mark.slow
def test_a_report_gets_a_commit_and_a_push_of_its_own_and_no_commit_has_a_time(tmp_path, remote, monkeypatch) -> None:
    """Anyone with the history must not be able to tie a report to its sender:
    it is never in a commit or a push with the reporter's own changesets, and
    no commit carries a time to match them by."""
    subprocess.run(["git", "--git-dir", str(remote), "config", "core.logAllRefUpdates", "always"], check=True)
    ana = founder(tmp_path, str(remote), monkeypatch)
    ben = joined(tmp_path, str(remote), monkeypatch, ana)
    post = ana.out("post", "Hello")
    sync(ana, ben)
    ben.out("post", "Ben's news")
    assert "waits in your outbox" in ben.run("report", post, "--reason", "spam").stderr
    # The push fails after Ben's round committed his post: that commit is his
    # unpushed outbox. The next round pushes it first, on its own, and only
    # then sends the report (nothing else of Ben's is left to send).
    reject_pushes(remote, True)
    ben.error("sync")
    reject_pushes(remote, False)
    first = ben.json("sync")
    assert (first["exported"], first["reports_sent"], first["reports_waiting"]) == (0, 1, 0)
    # And the other way round: a report committed alone whose push failed
    # goes out alone before the changes Ben wrote since.
    assert "waits" in ben.run("report", post, "--reason", "more spam").stderr
    reject_pushes(remote, True)
    assert "outbox" in ben.error("sync")  # the report-only commit stays unpushed
    reject_pushes(remote, False)
    ben.out("post", "Ben's second news")
    assert ben.json("sync")["exported"] >= 1
    tips = pushed_tips(remote)
    with_reports = [t for t in tips if any(n.endswith(".tsm") for n in commit_files(remote, t))]
    assert len(with_reports) == 2  # each report was the tip of a push...
    for tip in with_reports:  # ...whose new commit held reports and nothing else
        assert all("/reports/" in name for name in commit_files(remote, tip))
        parent = in_bare(remote, "rev-parse", tip + "^").stdout.decode().strip()
        assert parent in tips  # the push before it ended right below it: nothing else rode along
    sync(ana)
    assert sorted(r["reason"] for r in ana.json("reports")) == ["more spam", "spam"]
    dates = in_bare(remote, "log", "--format=%at %ct", "main").stdout.decode().split()
    assert dates and set(dates) == {str(gitmod.NEUTRAL_TIME)}


# --- racing members, packing and a replaced remote ---------------------------------------


class Rival:
    """Another member's clone that pushes a commit of its own whenever asked:
    a real race on the real remote."""

    def __init__(self, remote: Path, where: Path) -> None:
        self.path = where
        self.pushed = 0
        subprocess.run(["git", "clone", "--quiet", str(remote), str(where)], check=True, env=git_env())

    def push_one(self) -> None:
        self.pushed += 1
        git = ["git", "-C", str(self.path), "-c", "user.name=r", "-c", "user.email=r@invalid"]
        subprocess.run([*git, "pull", "--quiet", "--no-rebase", "origin", "main"], check=True, env=git_env())
        (self.path / "rival").mkdir(exist_ok=True)
        (self.path / "rival" / f"{self.pushed}.txt").write_text("first\n")
        subprocess.run([*git, "add", "rival"], check=True, env=git_env())
        subprocess.run([*git, "commit", "--quiet", "-m", "rival"], check=True, env=git_env())
        subprocess.run([*git, "push", "--quiet", "origin", "HEAD:main"], check=True, env=git_env())


class Clock:
    """The git module's clock: waits are recorded and pass at once."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    def monotonic(self) -> float:
        return time.monotonic() + sum(self.waits)

    def sleep(self, seconds: float) -> None:
        self.waits.append(seconds)


def racing(monkeypatch, member: TS, rival: Rival, times: int) -> list[float]:
    """Before each of `member`'s first `times` pushes, the rival pushes first.
    Returns the waits between pushes."""
    clone, real_git = clone_of(member), GitRemote._git
    clock = Clock()

    def git(self, *args, **kw):
        if args and args[0] == "push" and self.workdir == clone and rival.pushed < times:
            rival.push_one()
        return real_git(self, *args, **kw)

    monkeypatch.setattr(GitRemote, "_git", git)
    monkeypatch.setattr(gitmod, "time", clock)
    return clock.waits


@pytest.mark.slow
def test_a_push_that_keeps_losing_races_backs_off_and_gets_through(tmp_path, remote, monkeypatch) -> None:
    ana = founder(tmp_path, str(remote), monkeypatch)
    ana.json("sync")
    rival = Rival(remote, tmp_path / "rival")
    ana.out("post", "Patient")
    waits = racing(monkeypatch, ana, rival, times=8)  # more than a handful of immediate retries survive
    assert ana.json("sync")["exported"] == 1
    assert rival.pushed == 8 and len(waits) == 8
    assert min(waits) > 0 and len(set(waits)) == len(waits)  # jittered: members racing each other part ways
    assert waits[-1] > waits[0] and sum(waits) <= gitmod.PUSH_PATIENCE
    assert "rival" in in_bare(remote, "ls-tree", "--name-only", "main").stdout.decode()  # merged, not overwritten
    assert titles(joined(tmp_path, str(remote), monkeypatch, ana)) == {"Patient"}


@pytest.mark.slow
def test_a_push_gives_up_after_its_patience(tmp_path, remote, monkeypatch) -> None:
    ana = founder(tmp_path, str(remote), monkeypatch)
    ana.json("sync")
    rival = Rival(remote, tmp_path / "rival")
    ana.out("post", "Kept for later")
    waits = racing(monkeypatch, ana, rival, times=10_000)
    monkeypatch.setattr(gitmod, "PUSH_PATIENCE", 2.0)
    message = ana.error("sync")
    assert "kept changing" in message and "kept" in message
    assert waits and sum(waits) <= 2.0
    assert GitRemote(str(remote), clone_of(ana), "x").ahead()  # the commit waits, the outbox is kept


def loose_objects(repo: Path) -> int:
    out = subprocess.run(["git", "-C", str(repo), "count-objects", "-v"], capture_output=True, text=True).stdout
    return int(dict(line.split(": ") for line in out.splitlines())["count"])


@pytest.mark.slow
def test_the_clone_stays_packed(tmp_path, remote, monkeypatch) -> None:
    monkeypatch.setattr(gitmod, "LOOSE_OBJECTS_LIMIT", 12)
    ana = founder(tmp_path, str(remote), monkeypatch)
    for n in range(6):
        ana.out("post", f"Round {n}")
        ana.json("sync")
        assert loose_objects(clone_of(ana)) <= 12
    assert in_bare(clone_of(ana) / ".git", "count-objects", "-v").stdout.count(b"packs: 0") == 0
    assert in_bare(clone_of(ana) / ".git", "fsck", "--no-progress").returncode == 0


def test_a_remote_replaced_by_an_empty_one_is_said_not_refilled(tmp_path, remote, monkeypatch) -> None:
    ana = founder(tmp_path, str(remote), monkeypatch)
    ana.out("post", "Before the move")
    ana.json("sync")
    shutil.rmtree(remote)
    bare(remote)  # an empty repository where the group's was
    ana.out("post", "After the move")
    for _ in range(2):  # said every time, not only the first
        result = ana.run("sync", "--json", code=1)
        error = json.loads(result.stdout)["error"]
        assert "the git remote" in error and "is empty, but this clone has" in error and "replaced" in error
        assert in_bare(remote, "rev-parse", "--verify", "--quiet", "refs/heads/main").returncode != 0
    # the member decides: fill it from the clone, as the message says
    subprocess.run(
        ["git", "-C", str(clone_of(ana)), "push", "--quiet", "origin", "HEAD:refs/heads/main"],
        check=True,
        env=git_env(),
    )
    assert ana.json("sync")["exported"] == 1
    ben = joined(tmp_path, str(remote), monkeypatch, ana)
    assert titles(ben) == {"Before the move", "After the move"}


# --- packing ---------------------------------------------------------------------------


def tree_of(repo: Path) -> list[str]:
    listed = in_bare(repo, "ls-tree", "-r", "--name-only", "main").stdout.decode()
    return [line for line in listed.splitlines() if line.endswith(".tsc")]


@pytest.mark.slow
def test_members_pack_over_git_and_the_remote_drops_what_a_pack_holds(tmp_path, remote, monkeypatch) -> None:
    """Over git as in a folder: a member's small files go into a pack, and
    once the pack has waited out the delay the member's commit removes the
    small files it holds from the remote's tree (never anyone else's), while
    a member who joins later still reads every op."""
    from tablespace.sync.packing import PackPolicy, is_pack_name

    ana = founder(tmp_path, str(remote), monkeypatch)
    ben = joined(tmp_path, str(remote), monkeypatch, ana)
    ana_id = ana.json("members")[0]["id"]
    for i in range(PackPolicy().min_files + 2):
        ana.out("post", f"Post {i}")
        ana.json("sync")
    ben.out("post", "Ben's one")
    sync(ana, ben)
    theirs_before = sorted(path for path in tree_of(remote) if f"/{ana_id}/" not in path)
    ours_before = [path for path in tree_of(remote) if f"/{ana_id}/" in path]
    assert any(is_pack_name(path) for path in ours_before)

    monkeypatch.setenv("TABLESPACE_NOW", "2026-12-02T09:00:00Z")  # past the pack's delay
    sync(ana, ben)
    ours_after = [path for path in tree_of(remote) if f"/{ana_id}/" in path]
    assert len(ours_after) < len(ours_before) / 2  # the small files the pack holds left the tree
    assert sorted(path for path in tree_of(remote) if f"/{ana_id}/" not in path) == theirs_before
    removed = in_bare(remote, "log", "--format=", "--diff-filter=D", "--name-only", "main").stdout.decode()
    assert removed.strip() and all(f"/{ana_id}/" in line for line in removed.split())  # only Ana's, by Ana
    assert ben.json("sync")["quarantined"] == []

    cat = joined(tmp_path, str(remote), monkeypatch, ana, "Cat")
    sync(ana, ben, cat)
    assert titles(cat) == titles(ana) == titles(ben)
    assert len(titles(cat)) == PackPolicy().min_files + 3
    assert cat.ops() == ana.ops()
