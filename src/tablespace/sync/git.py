"""A git remote as the shared folder: the same write-once files, committed and pushed.

Each member keeps a working clone of the remote in their home
(`<home>/groups/<group id>/remote/`); a `FolderStore` works on that clone's
working tree exactly as it would on a shared folder. A sync round is:

    pull (commit anything left in the tree, fetch, merge)
    → the usual engine round on the working tree
    → add the group's directory, commit if anything changed
    → push (on a non-fast-forward: wait a moment, fetch, merge, push again,
      for up to PUSH_PATIENCE seconds)
    → pack the clone's loose objects once there are many

File names are unique (author, seq range and a content hash), so merges never
conflict in practice; should two different files ever share a name (only a
forger can do that) the merge keeps ours and the signature checks on import
decide what the other one is worth. A commit that is not yet pushed is this
member's outbox: every push sends everything the remote does not have yet.

Git runs as a subprocess with a fixed, hardened invocation: no prompts
(`GIT_TERMINAL_PROMPT=0`, empty `GIT_ASKPASS`, ssh in batch mode), an identity
given with `-c` on every command (the user's git config is read for URLs and
credentials but never written, and their name never reaches the shared repo),
one fixed date on every commit (the history shows no one's hours, and a
report's commit cannot be matched to its sender's by time), no hooks, no signing, no line-ending or filter conversions, and a timeout on
every call. Every failure becomes one `SyncUnavailable` line, never git's
multi-line output.
"""

from __future__ import annotations

import os
import random
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from tablespace.core.errors import TablespaceError
from tablespace.sync.folder import NEUTRAL_TIME, OUTBOX, TMP_PREFIX, FolderStore, SyncUnavailable
from tablespace.sync.packing import PACK_PREFIX, claimed_range, named_range
from tablespace.sync.read_marks import READS_DIR
from tablespace.sync.read_marks import SUFFIX as READS_SUFFIX

if TYPE_CHECKING:
    from tablespace.core.group import Group

BRANCH = "main"
CLONE_DIR = "remote"  # inside the group's directory in the home
# Seconds: local commands (add, commit, merge) and commands that talk to the remote.
LOCAL_TIMEOUT = 120.0
NETWORK_TIMEOUT = 180.0
# A push that another member's beat (non-fast-forward) waits, fetches, merges
# and pushes again, for this many seconds at most. Each wait is drawn at
# random, growing from PUSH_FIRST_WAIT to PUSH_LONGEST_WAIT, so members who
# keep colliding part ways instead of colliding again in step.
PUSH_PATIENCE = 30.0
PUSH_FIRST_WAIT = 0.2
PUSH_LONGEST_WAIT = 5.0
# Every small fetch and commit leaves loose objects, a file (and a disk block)
# each: past this many the clone packs them; past PACKS_LIMIT packs, it packs
# them into one.
LOOSE_OBJECTS_LIMIT = 256
PACKS_LIMIT = 20
# Where our clone notes that the remote held the group's branch: a remote
# without it afterwards was replaced or wiped, and is said so, not refilled.
REMOTE_HELD = "refs/tablespace/remote-held"
# Who commits: the same for every member, so the shared repo holds no names.
IDENTITY = ("tablespace", "tablespace@invalid")
COMMIT_MESSAGE = "tablespace sync"

# Environment variables that would point git at another repository, or put
# the user's own name on our commits; never passed through.
_DROPPED_ENV = (
    "GIT_DIR",
    "GIT_WORK_TREE",
    "GIT_INDEX_FILE",
    "GIT_OBJECT_DIRECTORY",
    "GIT_ALTERNATE_OBJECT_DIRECTORIES",
    "GIT_COMMON_DIR",
    "GIT_NAMESPACE",
    "GIT_PREFIX",
    "GIT_AUTHOR_NAME",
    "GIT_AUTHOR_EMAIL",
    "GIT_AUTHOR_DATE",
    "GIT_COMMITTER_NAME",
    "GIT_COMMITTER_EMAIL",
    "GIT_COMMITTER_DATE",
)
# Applied to every command with -c: they win over any config file.
_CONFIG = (
    f"user.name={IDENTITY[0]}",
    f"user.email={IDENTITY[1]}",
    "commit.gpgSign=false",
    "core.hooksPath=" + os.devnull,
    "core.autocrlf=false",
    "core.fsmonitor=false",
    # A link committed to the remote is checked out as a small plain file:
    # nothing in the clone may point outside it (the walk never follows one either).
    "core.symlinks=false",
    "merge.renames=false",
    "diff.renames=false",
    "advice.detachedHead=false",
    "init.defaultBranch=" + BRANCH,
)
# Lines git adds after the real reason; never the reason themselves.
_BOILERPLATE = (
    "could not read from remote repository",
    "please make sure you have the correct access rights",
    "and the repository exists",
)


def git_env(base: dict[str, str] | None = None) -> dict[str, str]:
    """The environment every git command runs with: never prompts, English messages, a fixed date."""
    env = {k: v for k, v in (os.environ if base is None else base).items() if k not in _DROPPED_ENV}
    env["GIT_TERMINAL_PROMPT"] = "0"  # no username/password prompt on the terminal
    env["GIT_ASKPASS"] = ""  # and no askpass program (an empty one disables core.askpass/SSH_ASKPASS too)
    env["SSH_ASKPASS"] = ""
    env["GCM_INTERACTIVE"] = "never"  # Git Credential Manager: fail instead of opening a dialog
    if "GIT_SSH_COMMAND" not in env and "GIT_SSH" not in env:
        env["GIT_SSH_COMMAND"] = "ssh -o BatchMode=yes"  # no passphrase or host-key questions either
    env["LC_ALL"] = "C"
    env["LANGUAGE"] = ""
    env["GIT_AUTHOR_DATE"] = env["GIT_COMMITTER_DATE"] = f"{NEUTRAL_TIME} +0000"  # git's raw date form
    return env


def redact(text: str) -> str:
    """Hide credentials written into a URL (https://user:token@host/...)."""
    return re.sub(r"([a-zA-Z][a-zA-Z0-9+.-]*://)[^/@\s]+@", r"\1***@", text)


def git_reason(stderr: str) -> str:
    """The one line of git's output that says what went wrong."""
    # Printable characters only: a remote's messages must not drive the terminal.
    lines = ["".join(ch for ch in line if ch.isprintable()).strip() for line in stderr.splitlines()]
    lines = [line for line in lines if line and not any(b in line.lower() for b in _BOILERPLATE)]
    own = [line for line in lines if not line.lower().startswith(("hint:", "to ", "remote:"))]
    rejected = [line for line in own if "rejected]" in line]
    line = (rejected or own or lines or ["git failed without saying why"])[-1]
    line = re.sub(r"^(remote|fatal|error|warning):\s*", "", line.lstrip("! ").strip())
    return redact(line)[:240]


def absolute_url(url: str) -> str:
    """The URL as every later git command must see it: a local path made
    absolute (git runs inside the clone, where a relative path means
    something else); URLs and scp-like `host:path` as given."""
    url = url.strip()
    if not url or url.startswith("-"):
        raise TablespaceError(f"{redact(url)!r} is not a git URL (e.g. ssh://host/group.git or /path/to/group.git)")
    if "://" in url or re.match(r"^[^/]*:", url):  # git's own rule: a colon before any slash is scp-like
        return url
    return str(Path(url).expanduser().absolute())


class GitRemote:
    """One member's working clone of the group's git remote."""

    def __init__(self, url: str, workdir: Path, group_id: str, *, me: str | None = None) -> None:
        self.url = url
        self.workdir = workdir
        self.group_id = group_id
        self.me = me  # our author id: packing may remove our own files, and only ours

    @classmethod
    def for_group(cls, group: Group) -> GitRemote:
        url = group.transport.git
        if not url:
            raise SyncUnavailable("this group syncs through a folder, not a git remote")
        return cls(url, group.path / CLONE_DIR, group.id, me=group.device)

    @property
    def shown_url(self) -> str:
        return redact(self.url)

    def store(self) -> FolderStore:
        """The FolderStore on the clone's working tree."""
        return FolderStore(self.workdir, self.group_id)

    # --- the round -----------------------------------------------------------

    def pull(self) -> FolderStore:
        """Bring the working tree up to date with the remote (raises
        SyncUnavailable, changing nothing of ours, if it cannot be reached).

        Commits an earlier round could not push go out first, on their own:
        a round's commit must never share a push with the next round's (a
        report committed alone, then pushed with its sender's changesets,
        would name them)."""
        self.ensure_clone()
        if self.ahead():
            self.fetch()  # an emptied remote must be seen before anything goes to it
            self.push()
        self.commit()  # whatever `admit`, `deny` or an interrupted round left in the tree
        self.fetch()
        self.merge()
        return self.store()

    def publish(self) -> None:
        """Commit what the round wrote, push everything the remote lacks,
        and keep the clone packed."""
        self.commit()
        self.push()
        self.keep_packed()

    # --- the steps -----------------------------------------------------------

    def ensure_clone(self) -> None:
        """An empty repository wired to the remote, made once; fetch fills it.

        `init` + `fetch` rather than `clone`: it works the same on an empty new
        remote, and a failed first fetch leaves a clone that the next round
        simply fetches into again.
        """
        git_dir = self.workdir / ".git"
        if not (git_dir / "HEAD").is_file():
            self.workdir.mkdir(mode=0o700, parents=True, exist_ok=True)
            self._git("init", "--quiet")
            self._git("symbolic-ref", "HEAD", f"refs/heads/{BRANCH}")  # whatever git's default
            self._git("config", "remote.origin.fetch", "+refs/heads/*:refs/remotes/origin/*")
            info = git_dir / "info"
            info.mkdir(exist_ok=True)
            # Opaque bytes: no attribute in the shared tree may convert, filter or diff them.
            (info / "attributes").write_text("* -text -diff -filter -ident -working-tree-encoding\n")
            # A temp file left by a crash mid-write is never shared.
            (info / "exclude").write_text(f"{TMP_PREFIX}*\n")
        self._git("config", "remote.origin.url", self.url)  # follows a changed URL in local.json

    def fetch(self) -> None:
        """Fetch the remote's branches; raises SyncUnavailable if the remote
        no longer holds the group's branch that it held before."""
        self._git("fetch", "--quiet", "--no-tags", "--prune", "origin", network=True)
        if self._has(f"refs/remotes/origin/{BRANCH}"):
            self._git("update-ref", REMOTE_HELD, f"refs/remotes/origin/{BRANCH}")
        elif self._has(REMOTE_HELD):
            commits = self._git("rev-list", "--count", "HEAD").stdout.strip()
            raise SyncUnavailable(
                f"the git remote {self.shown_url} is empty, but this clone has {commits} commits it held before: "
                "was it replaced or wiped? Nothing was sent to it. If it is the group's remote now, fill it "
                f"from your clone with `git -C {self.workdir} push origin HEAD:refs/heads/{BRANCH}`, then "
                f"`tablespace sync`; {OUTBOX}"
            )

    def merge(self) -> None:
        """Merge the remote's branch into ours. Unique names: no conflicts; on
        the impossible one, keep ours (the import checks decide anyway)."""
        if not self._has(f"refs/remotes/origin/{BRANCH}"):
            return  # an empty new remote: our first push creates the branch
        result = self._git(
            "merge",
            "--quiet",
            "--no-edit",
            "--no-stat",
            "--allow-unrelated-histories",
            "-X",
            "ours",
            "-m",
            "tablespace merge",
            f"refs/remotes/origin/{BRANCH}",
            check=False,
        )
        if result.returncode != 0:
            self._git("merge", "--abort", check=False)
            raise SyncUnavailable(
                f"could not merge the git remote {self.shown_url} into your clone "
                f"({git_reason(result.stderr)}); {OUTBOX}"
            )

    def commit(self) -> bool:
        """Commit the group's directory if anything in it changed."""
        if not (self.workdir / self.group_id).is_dir():
            return False
        self._undo_damage()
        self._git("add", "--all", "--", self.group_id)
        if self._git("diff", "--cached", "--quiet", check=False).returncode == 0:
            return False
        self._git("commit", "--quiet", "--no-verify", "-m", COMMIT_MESSAGE)
        return True

    def _undo_damage(self) -> None:
        """Files are write-once: a committed file changed or gone from the
        clone is damage (a disk error, a stray editor, a cleanup), never
        something to share with everyone. Put the committed copy back."""
        if not self._has("HEAD"):
            return
        listed = self._git(
            "diff", "--name-only", "-z", "--no-renames", "--diff-filter=MDT", "HEAD", "--", self.group_id, names=True
        ).stdout
        gone = [path for path in listed.split("\0") if path]
        packed = self._our_pack_ranges() if gone else []
        damaged = [path for path in gone if not self._packed_away(path, packed) and not self._superseded(path)]
        if damaged:
            self._git("restore", "--source=HEAD", "--staged", "--worktree", "--", *damaged)

    def _our_pack_ranges(self) -> list[tuple[int, int]]:
        """The seq ranges our packs in the tree claim (by their names)."""
        if self.me is None:
            return []
        ranges = []
        for pack in (self.workdir / self.group_id / "changes" / self.me).glob(f"{PACK_PREFIX}*"):
            held = named_range(f"changes/{self.me}/{pack.name}")
            if held is not None:
                ranges.append((held[1], held[2]))
        return ranges

    def _packed_away(self, path: str, packed: list[tuple[int, int]]) -> bool:
        """A changeset of ours that a pack of ours in the tree holds, gone
        from the tree: packing removed it (sync/packing.py), and that
        removal is shared like a new file. Another member's file, or one no
        pack holds, is damage all the same."""
        if self.me is None or (self.workdir / path).exists():
            return False
        claimed = claimed_range(path.removeprefix(f"{self.group_id}/"))
        if claimed is None or claimed[0] != self.me:
            return False
        _, first, last = claimed
        return any(low <= first and last <= high for low, high in packed)

    def _superseded(self, path: str) -> bool:
        """Read marks of ours gone from the tree while another file of ours
        is there: a full one removed the earlier (sync/read_marks.py), and
        that removal is shared like a new file."""
        if self.me is None or not path.endswith(READS_SUFFIX) or (self.workdir / path).exists():
            return False
        ours = self.workdir / self.group_id / READS_DIR / self.me
        return path.startswith(f"{self.group_id}/{READS_DIR}/{self.me}/") and any(ours.glob(f"*{READS_SUFFIX}"))

    def push(self) -> None:
        """Push our branch; when someone pushed first, wait a random while,
        fetch, merge and push again, for PUSH_PATIENCE seconds at most."""
        deadline = time.monotonic() + PUSH_PATIENCE
        attempt = 0
        while self.ahead():
            result = self._git("push", "--quiet", "origin", f"HEAD:refs/heads/{BRANCH}", network=True, check=False)
            if result.returncode == 0:
                self._git("update-ref", REMOTE_HELD, "HEAD")
                return
            # Rejected, or unreachable? Fetch: it raises if the remote is gone,
            # and shows whether the remote moved on without us.
            self.fetch()
            remote = f"refs/remotes/origin/{BRANCH}"
            if not self._has(remote) or self._is_ancestor(remote, "HEAD"):
                raise SyncUnavailable(self._unreachable(result.stderr, "push to"))
            wait = push_wait(attempt)
            if time.monotonic() + wait > deadline:
                raise SyncUnavailable(
                    f"the git remote {self.shown_url} kept changing while we pushed, for {PUSH_PATIENCE:.0f} s; "
                    "run `tablespace sync` again (your changes are kept)"
                )
            time.sleep(wait)
            self.fetch()  # what others pushed while we waited
            self.merge()
            attempt += 1

    def keep_packed(self) -> None:
        """Pack the clone's loose objects once there are more than
        LOOSE_OBJECTS_LIMIT, and its packs into one past PACKS_LIMIT: a count
        of files each round, a repack now and then."""
        counts = dict(
            line.split(": ", 1) for line in self._git("count-objects", "-v").stdout.splitlines() if ": " in line
        )
        if int(counts.get("packs", "0")) > PACKS_LIMIT:
            self._git("repack", "-a", "-d", "-q")
        elif int(counts.get("count", "0")) > LOOSE_OBJECTS_LIMIT:
            self._git("repack", "-d", "-q")

    def ahead(self) -> bool:
        """Do we have commits the remote does not (the unpushed outbox)?"""
        if not self._has("HEAD"):
            return False
        remote = f"refs/remotes/origin/{BRANCH}"
        if not self._has(remote):
            return True
        count = self._git("rev-list", "--count", f"{remote}..HEAD").stdout.strip()
        return count not in ("", "0")

    # --- before there is a clone ------------------------------------------------

    @classmethod
    def probe(cls, url: str, outcome: str) -> None:
        """Check that `url` answers as a git repository we may read (`git
        ls-remote`, with the usual timeout and no prompts), changing nothing
        anywhere. Raises SyncUnavailable whose message ends with `outcome`."""
        remote = cls(url, Path(tempfile.gettempdir()), "")
        try:
            remote._git("ls-remote", "--heads", url, network=True)
        except SyncUnavailable as exc:
            raise SyncUnavailable(str(exc).replace(OUTBOX, outcome)) from None

    # --- joining ---------------------------------------------------------------

    @classmethod
    def staged(cls, url: str, parent: Path, group_id: str) -> GitRemote:
        """A fresh clone in a temp directory under `parent` (for `join`, before
        the group's directory exists); `move_to` puts it in place."""
        parent.mkdir(parents=True, exist_ok=True)
        remote = cls(url, Path(tempfile.mkdtemp(prefix=".join-", dir=parent)), group_id)
        try:
            remote.pull()
        except SyncUnavailable as exc:
            remote.discard()
            raise SyncUnavailable(str(exc).replace(OUTBOX, "nothing was joined")) from None
        except BaseException:
            remote.discard()
            raise
        return remote

    def move_to(self, workdir: Path) -> None:
        os.replace(self.workdir, workdir)
        self.workdir = workdir

    def discard(self) -> None:
        shutil.rmtree(self.workdir, ignore_errors=True)

    # --- running git -------------------------------------------------------------

    def _has(self, ref: str) -> bool:
        return self._git("rev-parse", "--quiet", "--verify", ref + "^{commit}", check=False).returncode == 0

    def _is_ancestor(self, older: str, newer: str) -> bool:
        return self._git("merge-base", "--is-ancestor", older, newer, check=False).returncode == 0

    def _unreachable(self, stderr: str, verb: str = "reach") -> str:
        reason = git_reason(stderr)
        named = any(u in reason for u in {self.url.rstrip("/"), self.shown_url.rstrip("/")})
        where = "" if named else f" {self.shown_url}"  # git's reason names it already: say it once
        return f"cannot {verb} the git remote{where}: {reason}; {OUTBOX}"

    def _git(
        self, *args: str, network: bool = False, check: bool = True, names: bool = False
    ) -> subprocess.CompletedProcess[str]:
        """`names`: the output lists file names, kept byte for byte (any
        bytes, as os.fsdecode gives them) to be passed back to git; never shown."""
        command = ["git", *_config_args(), *args]
        timeout = NETWORK_TIMEOUT if network else LOCAL_TIMEOUT
        try:
            result = subprocess.run(
                command,
                cwd=self.workdir,
                env=git_env(),
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                timeout=timeout,
                errors="surrogateescape" if names else "replace",
            )
        except FileNotFoundError:
            if not self.workdir.is_dir():
                raise SyncUnavailable(
                    f"the git clone {self.workdir} is missing; run `tablespace sync` again to make it afresh; {OUTBOX}"
                ) from None
            raise SyncUnavailable(
                f"git is not installed (or not on PATH); install git to sync through {self.shown_url}; {OUTBOX}"
            ) from None
        except subprocess.TimeoutExpired:
            what = "the git remote " + self.shown_url if network else "git"
            raise SyncUnavailable(f"{what} did not answer within {timeout:.0f}s (git {args[0]}); {OUTBOX}") from None
        except OSError as exc:
            raise SyncUnavailable(f"could not run git: {exc.strerror or exc}; {OUTBOX}") from None
        if check and result.returncode != 0:
            if network:
                raise SyncUnavailable(self._unreachable(result.stderr))
            raise SyncUnavailable(f"git {args[0]} failed in {self.workdir}: {git_reason(result.stderr)}; {OUTBOX}")
        return result


def push_wait(attempt: int) -> float:
    """Seconds to wait before pushing again after `attempt` + 1 lost races:
    drawn between half and all of a ceiling that doubles each time."""
    ceiling = min(PUSH_LONGEST_WAIT, PUSH_FIRST_WAIT * 2**attempt)
    return random.uniform(ceiling / 2, ceiling)


def _config_args() -> Sequence[str]:
    return [arg for item in _CONFIG for arg in ("-c", item)]
