"""The command line: parse, call the service API, print. Nothing else lives here.

The public contract is ../shared/spec/cli.md; keep every command, option, exit
code and JSON key it lists working.
"""

from __future__ import annotations

import gc
import os
import sqlite3
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date, datetime, timedelta
from functools import wraps
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple, TypeVar

import click

from tablespace import __version__, actions
from tablespace.core import (
    circle_queries,
    clock,
    group_queries,
    keyfile,
    limits,
    member_queries,
    thread_queries,
)
from tablespace.core.circles import day_words, end_day
from tablespace.core.clock import now
from tablespace.core.database import busy_message, is_busy
from tablespace.core.errors import TablespaceError
from tablespace.core.files import TooBig, read_text_at_most, unix_line_ends
from tablespace.core.home import Home
from tablespace.core.text import json_text, visible

# A command's own reads (search, the library, rituals, events, polls) are
# imported in the command: the bare `tablespace` that opens the app loads this
# module before its first frame, and needs none of them.

if TYPE_CHECKING:
    from tablespace.actions import DigestFormat, ExportFormat, Group, SyncReport
    from tablespace.core.polls import PollView

F = TypeVar("F", bound=Callable[..., Any])


class TablespaceCLI(click.Group):
    """Turns every user-facing error into one line on stderr and an exit code."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            with keyfile.forgetting():  # an unlocked key lasts one command
                return super().invoke(ctx)
        except TablespaceError as exc:
            # The class is the kind and carries the exit code (core/errors.py):
            # UsageError 2, PermissionDenied 3; Busy, Unreachable and any other
            # refusal 1. The message is worded already, for whoever ran it.
            echo(f"tablespace: {exc}", err=True)
            ctx.exit(exc.exit_code)
        except sqlite3.OperationalError as exc:
            # Writes raise Busy themselves (core/database.py); any other step that
            # meets a held lock lands here, and is told the same.
            if is_busy(exc):  # mere contention: nothing is wrong, doctor has nothing to say
                echo(f"tablespace: {busy_message()}", err=True)
                ctx.exit(1)
            echo(f"tablespace: the group database could not be used ({exc}); try `tablespace doctor`", err=True)
            ctx.exit(1)
        except BrokenPipeError:
            # `tablespace threads | head`: the reader has what it wanted
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            ctx.exit(0)
        except OSError as exc:
            where = f" {exc.filename}" if exc.filename else ""
            echo(f"tablespace: cannot access{where}: {exc.strerror or exc}", err=True)
            ctx.exit(1)
        except (click.exceptions.Exit, click.ClickException, click.Abort):
            raise
        except Exception as exc:  # a bug: still one line, never a traceback
            if os.environ.get("TABLESPACE_DEBUG"):
                raise
            echo(f"tablespace: internal error: {exc!r} (set TABLESPACE_DEBUG=1 for details)", err=True)
            ctx.exit(1)


@click.group(
    cls=TablespaceCLI,
    invoke_without_command=True,
    context_settings={"help_option_names": ["-h", "--help"]},
    epilog="Exit status: 0 done; 1 refused or failed (one line on stderr, nothing changed); "
    "2 a usage mistake; 3 not allowed (e.g. a moderator's command run by a member).",
)
@click.option(
    "--home",
    "home_dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Your home: keys, config and one database per group. [default: $TABLESPACE_HOME or the platform data dir]",
)
@click.option(
    "--group", "group_name", metavar="NAME", help="Which group (name or id prefix) when the home holds several."
)
@click.version_option(__version__, prog_name="tablespace")
@click.pass_context
def main(ctx: click.Context, home_dir: Path | None, group_name: str | None) -> None:
    """A kitchen table for a small group, in the terminal, with no server.

    Run with no command to open the app. Every command below also works in
    scripts; add --json to the listing commands for machine-readable output.
    """
    now()  # a clock (or TABLESPACE_NOW) outside the supported range is refused by every command alike
    ctx.obj = {"home": Home(home_dir), "group": group_name}
    if ctx.invoked_subcommand is not None:
        keyfile.set_asker(ask_passphrase if stdin_is_terminal() else None)
    if ctx.invoked_subcommand is None:
        gc.disable()  # while the app loads and draws its first frame: run() resumes it (cold start is measured)
        from tablespace.tui.app import run

        run(ctx.obj["home"], group_name)


@contextmanager
def opened_group(ctx: click.Context) -> Iterator[Group]:
    """The group --group selects (or the only or last one used), closed afterwards."""
    group = actions.open_group(ctx.obj["home"], ctx.obj["group"])
    try:
        yield group
    finally:
        group.close()


def with_group(fn: F) -> F:
    """Open the selected group for the command and close it afterwards."""

    @wraps(fn)
    @click.pass_context
    def wrapper(ctx: click.Context, *args: Any, **kwargs: Any) -> Any:
        with opened_group(ctx) as group:
            return fn(group, *args, **kwargs)

    return wrapper  # type: ignore[return-value]


def emit_json(value: Any) -> None:
    click.echo(json_text(value))


def ago(moment: datetime | None) -> str:
    import humanize  # here, not at the top: the app, launched through this module, never needs it

    return humanize.naturaltime(now() - moment) if moment else "—"


class Styled(NamedTuple):
    """A part of a line in our own style (bold, a colour): made visible first, then styled."""

    text: str
    style: dict[str, Any]


def styled(text: str, **style: Any) -> Styled:
    return Styled(text, style)


def echo(*parts: str | Styled, err: bool = False) -> None:
    """Print one line (or a body) made of `parts`. Every human-readable line
    leaves through here: members' text is made visible (core/text.py) before
    our own styling is added, so only our escape codes reach the terminal."""
    click.echo("".join(_shown(part) for part in parts), err=err)


def _shown(part: str | Styled) -> str:
    if isinstance(part, str):
        return visible(part, multiline=True)
    text = visible(part.text, multiline=True)
    return text if os.environ.get("NO_COLOR") else click.style(text, **part.style)


def read_body(
    body: str | None, body_file: str | None, *, required: bool, limit: int = limits.BODY_MAX_BYTES, what: str = "a post"
) -> str:
    """The text from --body, or from --body-file (a path, or - for stdin), read
    no further than `limit` bytes: `what` names whose limit it is."""
    if body is not None and body_file is not None:
        raise click.UsageError("give --body or --body-file, not both")
    if body_file is not None:
        source = "stdin" if body_file == "-" else body_file
        try:
            if body_file == "-":
                return read_text_at_most(sys.stdin.buffer, limit)
            with open(body_file, "rb") as stream:
                return read_text_at_most(stream, limit)
        except FileNotFoundError:
            raise TablespaceError(f"no such file: {body_file}") from None
        except IsADirectoryError:
            raise TablespaceError(f"{body_file} is a directory, not a file") from None
        except UnicodeDecodeError:
            raise TablespaceError(f"{source} is not UTF-8 text") from None
        except TooBig:
            raise TablespaceError(f"{source} is over the limit for {what}: the limit is {limit} bytes") from None
    if body is None and required:
        raise click.UsageError("give the text with --body TEXT or --body-file PATH (- for stdin)")
    return unix_line_ends(body or "")


body_options = [
    click.option("--body", help="The text (markdown)."),
    click.option("--body-file", metavar="PATH", help="Read the text from a file; - reads stdin."),
]


def add_options(options: list[Callable[[F], F]]) -> Callable[[F], F]:
    def decorate(fn: F) -> F:
        for option in reversed(options):
            fn = option(fn)
        return fn

    return decorate


json_option = click.option("--json", "as_json", is_flag=True, help="Print one JSON document.")
passphrase_option = click.option(
    "--passphrase",
    "lock",
    is_flag=True,
    help="Lock this group's keys in your home with a passphrase (asked twice; $TABLESPACE_PASSPHRASE in scripts).",
)


# --- passphrases ----------------------------------------------------------------------


def stdin_is_terminal() -> bool:
    return sys.stdin.isatty()


def ask_passphrase(prompt: str) -> str:
    """Asked by core/keyfile.py when a locked key is first needed."""
    return click.prompt(prompt, hide_input=True, err=True)


def ask_new_passphrase(env: str) -> str:
    """A new passphrase: from `env` if set, else typed twice at a terminal."""
    given = os.environ.get(env)
    if given is None:
        if not stdin_is_terminal():
            raise TablespaceError(f"no terminal to ask for the new passphrase: set {env}")
        given = click.prompt("New passphrase", hide_input=True, confirmation_prompt=True, err=True)
    return keyfile.check_new_passphrase(given)


# --- groups and members ---------------------------------------------------------


# What `sync` says once this home can no longer take part (Group.my_status).
GONE_WORDS = {
    "removed": "you were removed from this group",
    "left": "you left this group",
    "device_removed": "this device was removed by another of your devices",
}


@main.command()
@click.argument("name")
@click.option("--as", "display_name", required=True, metavar="DISPLAY", help="Your display name in the group.")
@click.option("--folder", type=click.Path(file_okay=False), help="The shared folder to sync through.")
@click.option("--git", "git_url", metavar="URL", help="A git remote to sync through instead of a folder.")
@click.option("--purpose", default="", help="One line on what the group is for.")
@passphrase_option
@click.pass_context
def init(
    ctx: click.Context, name: str, display_name: str, folder: str | None, git_url: str | None, purpose: str, lock: bool
) -> None:
    """Found a group; you become its first member and a moderator. Prints the group id."""
    transport = actions.Transport.choose(folder, git_url)
    passphrase = ask_new_passphrase(keyfile.PASSPHRASE_ENV) if lock else None
    group = actions.found_group(ctx.obj["home"], name, display_name, transport, purpose=purpose, passphrase=passphrase)
    echo(group.id)  # alone on stdout: scripts read it
    echo(
        f"Founded “{name}”; that is its group id (`--group` takes it, or the name, when "
        "your home holds several groups). Next: `tablespace invite` makes a code for someone to join, "
        "and `tablespace sync` puts the group in the folder for them.",
        err=True,
    )
    group.close()


def parse_duration(text: str) -> timedelta:
    """A duration option; a malformed one is a usage error (exit 2)."""
    try:
        return clock.parse_duration(text)
    except TablespaceError as exc:
        raise click.BadParameter(str(exc)) from None


@main.command()
@click.option("--expires", default="7d", show_default=True, help="How long the code works: 30m, 24h, 7d.")
@click.option("--uses", default=1, show_default=True, type=int, help="How many people can join with it.")
@with_group
def invite(group: Group, expires: str, uses: int) -> None:
    """Moderator: make an invite code to give to someone (prints it)."""
    echo(actions.create_invite(group, parse_duration(expires), uses))


@main.command()
@click.argument("code")
@click.option("--as", "display_name", required=True, metavar="DISPLAY", help="Your display name in the group.")
@click.option("--folder", type=click.Path(file_okay=False), help="The group's shared folder.")
@click.option("--git", "git_url", metavar="URL", help="The group's git remote instead of a folder.")
@passphrase_option
@click.pass_context
def join(ctx: click.Context, code: str, display_name: str, folder: str | None, git_url: str | None, lock: bool) -> None:
    """Join with an invite code: leaves a join request for the moderators (prints its id)."""
    transport = actions.Transport.choose(folder, git_url)
    passphrase = ask_new_passphrase(keyfile.PASSPHRASE_ENV) if lock else None
    group, request_id = actions.join_group(ctx.obj["home"], code, display_name, transport, passphrase=passphrase)
    group.close()
    echo(request_id)
    echo("Waiting for a moderator to admit you; run `tablespace sync` to check.", err=True)


@main.command()
@json_option
@with_group
def requests(group: Group, as_json: bool) -> None:
    """Moderator: pending join requests."""
    from tablespace.actions import PROBLEM_NOTES

    rows = actions.join_requests(group)
    if as_json:
        return emit_json(
            [
                {
                    "id": r.id,
                    "name": r.name,
                    "created_at": r.created_at,
                    "member": r.member_id,
                    "problem": r.problem,
                    "name_taken_by": r.name_taken_by,
                }
                for r in rows
            ]
        )
    if not rows:
        echo("no pending join requests", err=True)
    names = member_queries.member_names(group.conn)
    for r in rows:
        note = f"  ({r.problem}: cannot be admitted; {PROBLEM_NOTES[r.problem]})" if r.problem else ""
        if r.name_taken_by:
            note += f"  ({names.get(r.name_taken_by, '?')!r} has that name)"
        echo(f"{r.id[:8]}  {r.name:<24} asked {r.created_at}{note}")


@main.command()
@click.argument("request", metavar="REQUEST", required=False)
@click.option(
    "--all",
    "every",
    is_flag=True,
    help="Every waiting request that can be admitted (none if they would pass the member cap).",
)
@with_group
def admit(group: Group, request: str | None, every: bool) -> None:
    """Moderator: admit a join request, or --all of them (and share the group's keys with them)."""
    if (request is None) == (not every):
        raise click.UsageError("give one REQUEST or --all")
    if request is not None:
        actions.admit(group, request)
        echo("Admitted. They can read once you have synced and they sync.", err=True)
        return
    admitted = actions.admit_all(group)
    if not admitted:
        echo("nobody is asking to join (or every request has a problem: see `tablespace requests`)", err=True)
        return
    names = ", ".join(visible(r.name) for r in admitted)
    echo(f"Admitted {names}. They can read once you have synced and they sync.", err=True)


@main.command()
@click.argument("request", metavar="REQUEST")
@click.option("--reason", default="", help="Why (sealed: only moderators can read it, in `modlog`).")
@with_group
def deny(group: Group, request: str, reason: str) -> None:
    """Moderator: turn down a join request."""
    actions.deny(group, request, reason)


@main.command()
@click.argument("member")
@click.option("--reason", default="", help="Why (sealed: only moderators can read it, in `modlog`).")
@with_group
def remove(group: Group, member: str, reason: str) -> None:
    """Moderator: remove a member. The group's key is rotated: nothing written afterwards is readable by them."""
    actions.remove(group, member, reason)
    echo("Removed. Nothing written from now on is readable by them.", err=True)


@main.command()
@click.argument("member")
@click.option("--for", "duration", metavar="DURATION", help="30m, 24h, 7d (at most 28d).")
@click.option("--end", is_flag=True, help="End the member's time-out now instead.")
@click.option("--reason", default="", help="Why (sealed: only moderators can read it, in `modlog`).")
@with_group
def timeout(group: Group, member: str, duration: str | None, end: bool, reason: str) -> None:
    """Moderator: stop a member posting, replying and reacting for a while (or --end it early)."""
    if bool(duration) == end:
        raise click.UsageError("give --for DURATION, or --end")
    if end:
        actions.end_time_out(group, member, reason)
        echo("The time-out has ended; they can post again after they sync.", err=True)
    else:
        actions.time_out(group, member, parse_duration(duration or ""), reason)
        echo(f"Timed out for {duration}: they can read, but not post, reply or react.", err=True)


@main.command()
@with_group
def leave(group: Group) -> None:
    """Leave the group gracefully (your posts stay; the group's key is renewed without you)."""
    actions.leave(group)
    echo("You have left. Run `tablespace sync` once more so the others hear of it.", err=True)


def note_if_not_admitted(group: Group) -> None:
    """Say why a listing is empty for a joiner still waiting (stderr: scripts read stdout)."""
    if group.my_status is None:
        echo(
            "tablespace: not admitted yet: you see the group once a moderator admits you and you `tablespace sync`",
            err=True,
        )


@main.command()
@click.pass_context
def groups(ctx: click.Context) -> None:
    """List the groups in this home."""
    for entry in ctx.obj["home"].groups():
        echo(f"{entry.id[:12]}  {entry.name}")


@main.command()
@json_option
@with_group
def members(group: Group, as_json: bool) -> None:
    """The roster: names, roles and status."""
    roster = member_queries.members(group.conn)
    note_if_not_admitted(group)
    if as_json:
        return emit_json([m.to_json() for m in roster])
    for m in roster:
        roles = ", ".join(m.roles) or "member"
        until = f" until {m.timeout_until:%Y-%m-%d %H:%M} UTC" if m.timeout_until else ""
        echo(f"{m.id[:8]}  {m.name:<20} {roles:<24} {m.status.replace('_', ' ')}{until}")


@main.command()
@click.argument("member")
@click.argument("role", type=click.Choice(["moderator", "greeter", "note-taker", "curator"]))
@click.option("--revoke", is_flag=True, help="Take the role away instead.")
@click.option("--reason", default="", help="Why (kept in the moderators' sealed record).")
@with_group
def role(group: Group, member: str, role: str, revoke: bool, reason: str) -> None:
    """Moderator: grant (or --revoke) a role."""
    actions.set_role(group, member, role, revoke=revoke, why=reason)


# --- devices -------------------------------------------------------------------------


@main.group()
def device() -> None:
    """Your other devices: one member, several keys."""


@device.command("add")
@click.option("--name", default=None, metavar="NAME", help="What to call this device in `devices`.")
@with_group
def device_add(group: Group, name: str | None) -> None:
    """On a device of yours: a one-time pairing code for another device (prints it)."""
    echo(actions.add_device(group, name))
    echo("On the new device: `tablespace device link CODE --name NAME --folder PATH`; then sync here.", err=True)


@device.command("link")
@click.argument("code")
@click.option("--name", required=True, metavar="NAME", help="What to call the new device.")
@click.option("--folder", type=click.Path(file_okay=False), help="The group's shared folder.")
@click.option("--git", "git_url", metavar="URL", help="The group's git remote instead of a folder.")
@click.pass_context
def device_link(ctx: click.Context, code: str, name: str, folder: str | None, git_url: str | None) -> None:
    """On the new device's home: joins as the same member once your other device syncs."""
    group = actions.link_device(ctx.obj["home"], code, name, actions.Transport.choose(folder, git_url))
    group.close()
    echo("Sync your other device, then `tablespace sync` here.", err=True)


@device.command("remove")
@click.argument("device_ref", metavar="DEVICE")
@with_group
def device_remove(group: Group, device_ref: str) -> None:
    """From another of your devices: it reads nothing written afterwards and its later changes are refused."""
    removed = actions.remove_device(group, device_ref)
    if not removed.key_renewed:
        echo(
            "The folder did not answer: the group's key is renewed at the next sync."
            if group.is_moderator
            else "It reads nothing written from now on: the group's key is renewed without it "
            "before anything new leaves a home that knows of the removal.",
            err=True,
        )


@main.command()
@json_option
@with_group
def devices(group: Group, as_json: bool) -> None:
    """Your devices, and which one this is."""
    rows = actions.my_devices(group)
    if as_json:
        return emit_json([d.to_json() for d in rows])
    for d in rows:
        echo(f"{d.id[:8]}  {d.name:<24} added {d.added_at:%Y-%m-%d}{'  (this device)' if d.this else ''}")


# --- circles -------------------------------------------------------------------------


@main.group()
def circle() -> None:
    """Small rooms inside the group, with keys of their own."""


@circle.command("add")
@click.argument("name")
@click.option("--member", "members", multiple=True, required=True, metavar="MEMBER", help="A member (repeatable).")
@click.option("--purpose", default="", help="What the circle is for.")
@click.option("--ends", metavar="DATE", help="When it ends (YYYY-MM-DD).")
@with_group
def circle_add(group: Group, name: str, members: tuple[str, ...], purpose: str, ends: str | None) -> None:
    """A circle of 2-12 members, you included. Prints its id."""
    echo(actions.circle_add(group, name, members, purpose=purpose, ends=ends))


@circle.command("invite")
@click.argument("circle_ref", metavar="CIRCLE")
@click.argument("member")
@with_group
def circle_invite(group: Group, circle_ref: str, member: str) -> None:
    """Let a member of the group into one of your circles: they read its history."""
    actions.circle_invite(group, circle_ref, member)


@circle.command("remove")
@click.argument("circle_ref", metavar="CIRCLE")
@click.argument("member")
@with_group
def circle_remove(group: Group, circle_ref: str, member: str) -> None:
    """The circle's maker or a moderator: take someone out; they read nothing written afterwards."""
    actions.circle_remove(group, circle_ref, member)


@circle.command("leave")
@click.argument("circle_ref", metavar="CIRCLE")
@with_group
def circle_leave(group: Group, circle_ref: str) -> None:
    """Leave one of your circles."""
    actions.circle_leave(group, circle_ref)


@main.command()
@click.argument("member")
@add_options(body_options)
@with_group
def dm(group: Group, member: str, body: str | None, body_file: str | None) -> None:
    """A direct message: a two-person circle with MEMBER. Prints the thread id."""
    echo(actions.dm(group, member, read_body(body, body_file, required=True)))


@main.command()
@json_option
@with_group
def dms(group: Group, as_json: bool) -> None:
    """Your direct conversations, newest first."""
    rows = circle_queries.dms(group.conn, group.me)
    if as_json:
        return emit_json([d.to_json() for d in rows])
    for d in rows:
        unread = styled(f"  {d.unread} unread", fg="yellow") if d.unread else ""
        thread = d.thread[:8] if d.thread else "--------"
        echo(f"{thread}  {d.with_name}{unread}")
    return None


@main.command()
@json_option
@click.option(
    "--all",
    "every",
    is_flag=True,
    help="Moderator: every circle in the group, its members and activity (not its name or content).",
)
@with_group
def circles(group: Group, as_json: bool, every: bool) -> None:
    """The circles you are in; with --all (moderators), every circle."""
    if every:
        return _all_circles(group, as_json)
    rows = circle_queries.circles(group.conn, group.me)
    if as_json:
        return emit_json([c.to_json() for c in rows])
    for c in rows:
        echo(f"{c.id[:8]}  {c.name or '(sealed)'}  {', '.join(c.members)}{_end_words(c.ends, c.ended)}")
    return None


def _end_words(ends: str | None, ended: bool | None) -> str:
    """`  until 2027-01-31` after a circle's members, or `  ended 12 Dec` once
    its last day has passed; nothing if it has no end date."""
    day = end_day(ends)
    if day is None:
        return ""
    return f"  ended {day_words(day, clock.today())}" if ended else f"  until {ends}"


def _all_circles(group: Group, as_json: bool) -> None:
    rows = actions.all_circles(group)
    if as_json:
        return emit_json([c.to_json() for c in rows])
    if not rows:
        echo("no circles in the group", err=True)
    for c in rows:
        name = c.name if c.in_circle and c.name else styled("(sealed)", dim=True)
        active = f", last {ago(c.last_activity)}" if c.last_activity else ""
        echo(
            f"{c.id[:8]}  {len(c.members):>2} members  ", name, f"  {', '.join(c.members)}{_end_words(c.ends, c.ended)}"
        )
        echo(
            f"          made by {c.maker} {ago(c.created_at)}; {c.ops} sealed {'entry' if c.ops == 1 else 'entries'}{active}"
        )
    return None


# --- content -------------------------------------------------------------------------


@main.command()
@click.argument("title")
@add_options(body_options)
@click.option("--tag", "tags", multiple=True, help="A tag (repeatable), e.g. --tag win.")
@click.option("--circle", metavar="CIRCLE", help="Start it in one of your circles (its name or id).")
@with_group
def post(
    group: Group, title: str, body: str | None, body_file: str | None, tags: tuple[str, ...], circle: str | None
) -> None:
    """Start a thread. Prints the thread id."""
    text = read_body(body, body_file, required=False)
    echo(actions.post(group, title, text, list(tags), circle=circle))


@main.command()
@click.argument("thread")
@add_options(body_options)
@click.option("--quote", "quote", metavar="POST", help="Quote this post of the thread above your reply.")
@click.option("--yes", "insist", is_flag=True, help="Post a reply that only says +1, same or an emoji all the same.")
@with_group
def reply(group: Group, thread: str, body: str | None, body_file: str | None, quote: str | None, insist: bool) -> None:
    """Reply in a thread. Prints the post id. A reply that only says "+1",
    "same" or an emoji is refused with the reaction to give instead."""
    text = read_body(body, body_file, required=True)
    echo(actions.reply(group, thread, text, quote=quote, insist=insist))


@main.command()
@click.argument("post_ref", metavar="POST")
@add_options(body_options)
@click.option("--title", help="A new title (opening posts only).")
@with_group
def edit(group: Group, post_ref: str, body: str | None, body_file: str | None, title: str | None) -> None:
    """Edit your own post (its text, or an opening post's --title, or both)."""
    text = read_body(body, body_file, required=title is None)
    actions.edit(group, post_ref, text if body is not None or body_file is not None else None, title=title)


@main.command()
@click.argument("post_ref", metavar="POST")
@with_group
def delete(group: Group, post_ref: str) -> None:
    """Delete a post (yours, or any as a moderator). Deleting an opening post deletes its thread."""
    actions.delete(group, post_ref)


@main.command()
@click.argument("post_ref", metavar="POST")
@click.argument("emoji")
@click.option("--undo", is_flag=True, help="Remove your reaction instead.")
@with_group
def react(group: Group, post_ref: str, emoji: str, undo: bool) -> None:
    """Add (or --undo) a reaction to a post: an emoji, or one short word."""
    actions.react(group, post_ref, emoji, undo=undo)
    echo(f"Took back your {emoji.strip()}." if undo else f"Reacted {emoji.strip()}.", err=True)


@main.command()
@json_option
@click.option("--tag", help="Only threads with this tag.")
@click.option("--unread", is_flag=True, help="Only threads with something you have not read.")
@click.option("--limit", type=click.IntRange(min=1), help="At most this many.")
@click.option("--archived", is_flag=True, help="Archived threads instead (read-only, out of the usual list).")
@click.option("--circle", metavar="CIRCLE", help="The threads of one of your circles (its name or id).")
@with_group
def threads(
    group: Group, as_json: bool, tag: str | None, unread: bool, limit: int | None, archived: bool, circle: str | None
) -> None:
    """Threads, pinned ones first, then most recent activity first."""
    rows = thread_queries.threads(
        group.conn,
        tag=tag.lower().lstrip("#") if tag else None,
        unread=unread,
        limit=limit,
        archived=archived,
        pinned_first=True,
        circle=None if circle is None else actions.circle_id(group, circle),
    )
    note_if_not_admitted(group)
    if as_json:
        return emit_json([t.to_json() for t in rows])
    for t in rows:
        mark = styled("●", fg="yellow") if t.unread else " "
        pin = "📌 " if t.pinned else ""
        tags = styled(" " + " ".join(f"#{x}" for x in t.tags), fg="cyan") if t.tags else ""
        echo(mark, f" {t.id[:8]}  {pin}", styled(t.title, bold=True), tags)
        echo(f"    {t.author} · {t.replies} repl{'y' if t.replies == 1 else 'ies'} · {ago(t.last_activity)}")


@main.command()
@click.argument("thread_ref", metavar="THREAD")
@json_option
@with_group
def show(group: Group, thread_ref: str, as_json: bool) -> None:
    """A thread with its posts, oldest first (marks it read)."""
    detail = actions.read_thread(group, thread_ref)
    if as_json:
        return emit_json(detail.to_json())
    tags = "  " + " ".join(f"#{t}" for t in detail.tags) if detail.tags else ""
    archived = styled("  (archived: read-only)", dim=True) if detail.archived else ""
    echo(styled(detail.title, bold=True), styled(tags, fg="cyan"), archived)
    for p in detail.posts:
        edited = " (edited)" if p.edited_at else ""
        echo("")
        echo(styled(f"── {p.author} · {ago(p.created_at)}{edited} · {p.id[:8]}", dim=True))
        if p.quote is not None:
            quoted = "(deleted)" if p.quote.deleted else " ".join(p.quote.excerpt.split())[:80]
            echo(styled(f"   > {p.quote.author} ({p.quote.post[:8]}): {quoted}", dim=True))
        if p.body.strip():
            echo(p.body.rstrip())
        if p.reactions:
            echo("   " + "  ".join(f"{e} {n}" for e, n in p.reactions.items()))
        if p.id == detail.id and detail.poll is not None:
            poll_results(detail.poll)


@main.command()
@json_option
@click.option("--all", "show_all", is_flag=True, help="Read entries too, not only unread ones.")
@click.option("--limit", type=click.IntRange(min=1), default=200, show_default=True, help="At most this many.")
@with_group
def inbox(group: Group, as_json: bool, show_all: bool, limit: int) -> None:
    """What concerns you, newest first: mentions of you, replies in threads you
    started or follow, reactions to your posts, answers to your events,
    reminders (an event the day before, a ritual the day it opens), your
    reports' outcomes."""
    entries = actions.inbox(group, include_read=show_all, limit=limit)
    if as_json:
        return emit_json([e.to_json() for e in entries])
    if not entries:
        echo("Nothing new." if not show_all else "Your inbox is empty.", err=True)
    for e in entries:
        mark = " " if e.read else styled("●", fg="yellow")
        echo(mark, f" {e.post[:8]}  ", styled(e.headline, bold=True))
        excerpt = f" · {e.text[:60]}" if e.text else ""
        echo(f"    {e.title or '(deleted thread)'}{excerpt} · {ago(e.at)}")


@main.command()
@click.argument("thread_ref", metavar="THREAD")
@click.option("--undo", is_flag=True, help="Stop following it.")
@with_group
def follow(group: Group, thread_ref: str, undo: bool) -> None:
    """Follow a thread: its replies reach your inbox. Kept in your home only."""
    actions.follow(group, thread_ref, undo=undo)
    echo("No longer following it." if undo else "Following it: its replies reach your inbox.", err=True)


@main.command()
# One of the two is needed, which the usage line says (click would print THREAD as required).
@click.argument("thread_ref", metavar="(THREAD | --member MEMBER)", required=False)
@click.option("--member", "member_ref", metavar="MEMBER", help="Mute a member instead of a thread.")
@click.option("--undo", is_flag=True, help="Unmute.")
@with_group
def mute(group: Group, thread_ref: str | None, member_ref: str | None, undo: bool) -> None:
    """Mute a thread (or --member MEMBER): nothing of it reaches your inbox. Kept in your home only."""
    if (thread_ref is None) == (member_ref is None):
        raise click.UsageError("give a THREAD or --member MEMBER (one of them)")
    if member_ref is not None:
        actions.mute_member(group, member_ref, undo=undo)
    else:
        actions.mute_thread(group, thread_ref or "", undo=undo)
    echo("Unmuted." if undo else "Muted: nothing of it reaches your inbox.", err=True)


@main.command()
@click.argument("query")
@json_option
@with_group
def search(group: Group, query: str, as_json: bool) -> None:
    """Full-text search over threads, posts and the library, best match first."""
    from tablespace.core import search_queries

    hits = search_queries.search(group.conn, query)
    if as_json:
        return emit_json([h.to_json() for h in hits])
    if not hits:
        echo("no matches", err=True)
    for h in hits:
        echo(f"{h.kind:<8} {h.id[:8]}  ", styled(h.title, bold=True))
        echo(f"         {h.snippet.replace(chr(10), ' ')}")


# --- polls and surveys ------------------------------------------------------------------


closes_option = click.option(
    "--closes", metavar="DURATION", help="Close after this long (30m, 24h, 7d); later votes are refused."
)


@main.command()
@click.argument("title")
@click.option("--option", "options", multiple=True, required=True, help="A choice (repeat: 2 to 10).")
@click.option("--multi", is_flag=True, help="Members may choose several options.")
@closes_option
@click.option("--body", default="", help="Text above the options.")
@click.option("--circle", metavar="CIRCLE", help="In one of your circles (its name or id), for its members only.")
@with_group
def poll(
    group: Group, title: str, options: tuple[str, ...], multi: bool, closes: str | None, body: str, circle: str | None
) -> None:
    """Start a thread with a poll. Prints the thread id."""
    closes_in = optional_duration(closes)
    echo(actions.poll(group, title, options, multi=multi, closes_in=closes_in, body=body, circle=circle))


def optional_duration(text: str | None) -> timedelta | None:
    return parse_duration(text) if text is not None else None


@main.command()
@click.argument("poll_ref", metavar="POLL")
@click.argument("choices", metavar="OPTION...", nargs=-1, required=True)
@with_group
def vote(group: Group, poll_ref: str, choices: tuple[str, ...]) -> None:
    """Vote in a poll: each OPTION is its number (1-based) or its text.
    Voting again replaces your vote."""
    mine = actions.vote(group, poll_ref, choices)
    echo(f"Voted for {', '.join(map(str, mine))}.", err=True)


def poll_results(view: PollView) -> None:
    from tablespace.core.polls import result_lines, status_line

    echo("")
    for label, drawn, chosen in result_lines(view):
        echo(f"   {'✓' if chosen else ' '} {label}")
        echo(styled(f"       {drawn}", fg="green" if chosen else "cyan"))
    echo(styled(f"   {status_line(view)}", dim=True))


@main.command()
@click.argument("title")
@click.option("--question", "questions", multiple=True, required=True, help="A free-text question (repeat: 1 to 5).")
@closes_option
@with_group
def survey(group: Group, title: str, questions: tuple[str, ...], closes: str | None) -> None:
    """Moderator: ask the group up to five questions; answers are sealed to
    the moderators. Prints the survey id."""
    echo(actions.survey(group, title, questions, closes_in=optional_duration(closes)))


@main.command()
@click.argument("survey_ref", metavar="SURVEY")
@click.option("--answer", "answers", multiple=True, required=True, help="An answer, in the questions' order (repeat).")
@with_group
def answer(group: Group, survey_ref: str, answers: tuple[str, ...]) -> None:
    """Answer a survey; only the moderators can read it. Answering again replaces your answers."""
    actions.answer(group, survey_ref, answers)
    echo("Answered: sealed to the moderators; run `tablespace sync` to send it.", err=True)


@main.command("answers")
@click.argument("survey_ref", metavar="SURVEY")
@json_option
@with_group
def answers_(group: Group, survey_ref: str, as_json: bool) -> None:
    """Moderator: the answers to a survey, by question."""
    results = actions.survey_answers(group, survey_ref)
    if results.unreadable:
        echo(f"tablespace: {results.unreadable} answer(s) could not be opened here (sync, then try again)", err=True)
    if as_json:
        return emit_json([a.to_json() for a in results.answers])
    echo(styled(results.survey.title, bold=True), f"  ({len(results.answers)} answered)")
    for n, question in enumerate(results.survey.questions):
        echo("")
        echo(styled(f"{n + 1}. {question}", bold=True))
        for a in results.answers:
            if a.answers[n]:
                echo(styled(f"   {a.member}: ", dim=True), a.answers[n])


@main.group(invoke_without_command=True)
@json_option
@click.option("--tag", help="Only resources with this tag.")
@click.option("--search", "text", metavar="TEXT", help="Only resources matching these words.")
@click.pass_context
def library(ctx: click.Context, as_json: bool, tag: str | None, text: str | None) -> None:
    """The resource library (`library add` to add one)."""
    if ctx.invoked_subcommand is not None:
        return
    from tablespace.core import resource_queries

    with opened_group(ctx) as group:
        rows = resource_queries.resources(group.conn, tag=tag.lower().lstrip("#") if tag else None, text=text)
    if as_json:
        return emit_json([r.to_json() for r in rows])
    for r in rows:
        echo(f"{r.id[:8]}  ", styled(r.title, bold=True), f"  <{r.url}>")
        extra = " ".join(f"#{t}" for t in r.tags)
        if r.summary:
            echo(f"          {r.summary}")
        echo(styled(f"          added by {r.added_by} {extra}", dim=True))


@library.command("add")
@click.argument("title")
@click.option("--url", required=True, help="The link.")
@click.option("--summary", default="", help="What it is and why it is worth a look.")
@click.option("--tag", "tags", multiple=True, help="A tag (repeatable).")
@with_group
def library_add(group: Group, title: str, url: str, summary: str, tags: tuple[str, ...]) -> None:
    """Add a resource. Prints its id."""
    echo(actions.library_add(group, title, url, summary, list(tags)))


@library.command("edit")
@click.argument("resource_ref", metavar="RESOURCE")
@click.option("--title", help="A new title.")
@click.option("--url", help="A new link.")
@click.option("--summary", help="A new summary.")
@click.option("--tag", "tags", multiple=True, help="A tag (repeatable); replaces the resource's tags.")
@with_group
def library_edit(
    group: Group, resource_ref: str, title: str | None, url: str | None, summary: str | None, tags: tuple[str, ...]
) -> None:
    """Whoever added it, a curator or a moderator: change a resource."""
    actions.library_edit(group, resource_ref, title=title, url=url, summary=summary, tags=list(tags) if tags else None)


@library.command("remove")
@click.argument("resource_ref", metavar="RESOURCE")
@with_group
def library_remove(group: Group, resource_ref: str) -> None:
    """Whoever added it, a curator or a moderator: remove a resource and its text."""
    actions.library_remove(group, resource_ref)


@main.command()
@click.argument("thread_ref", metavar="THREAD")
@click.option("--undo", is_flag=True, help="Unpin it instead.")
@with_group
def pin(group: Group, thread_ref: str, undo: bool) -> None:
    """Curator or moderator: pin a thread to the top of the list."""
    actions.pin(group, thread_ref, pinned=not undo)


@main.command()
@click.argument("thread_ref", metavar="THREAD")
@click.option("--add", "add", multiple=True, metavar="TAG", help="A tag to add (repeatable).")
@click.option("--remove", "remove", multiple=True, metavar="TAG", help="A tag to take off (repeatable).")
@with_group
def tag(group: Group, thread_ref: str, add: tuple[str, ...], remove: tuple[str, ...]) -> None:
    """The thread's author, a curator or a moderator: retag a thread."""
    if not add and not remove:
        raise click.UsageError("nothing to change: give --add TAG or --remove TAG")
    actions.tag(group, thread_ref, add=add, remove=remove)


@main.group()
def ritual() -> None:
    """Recurring prompts: add, edit, pause, resume, skip, remove."""


zone_option = click.option(
    "--tz", metavar="ZONE", help="IANA time zone, e.g. Europe/Berlin. [default: the group's, `settings --tz`]"
)


@ritual.command("add")
@click.argument("name")
@click.option("--prompt", required=True, help="The question the group is asked each time.")
@click.option("--rrule", required=True, help="RFC 5545 rule, e.g. FREQ=WEEKLY;BYDAY=FR")
@click.option(
    "--start", metavar="DATE", help="First day (YYYY-MM-DD, at 09:00 in its zone) or date and time. [default: today]"
)
@zone_option
@click.option(
    "--circle", metavar="CIRCLE", help="In one of your circles (its name or id): any of its members adds and keeps it."
)
@with_group
def ritual_add(
    group: Group, name: str, prompt: str, rrule: str, start: str | None, tz: str | None, circle: str | None
) -> None:
    """Moderator: add a recurring prompt. Prints its id.

    It keeps its local time of day across daylight-saving changes. In a
    circle, its occurrences open there, sealed like the circle's threads."""
    echo(actions.ritual_add(group, name, prompt, rrule, start, tz, circle=circle))


@ritual.command("edit")
@click.argument("ritual_ref", metavar="RITUAL")
@click.option("--name", help="A new name.")
@click.option("--prompt", help="A new question.")
@click.option("--rrule", help="A new RFC 5545 rule.")
@click.option("--start", metavar="DATE", help="A new first day (YYYY-MM-DD, at 09:00 in its zone) or date and time.")
@click.option("--tz", metavar="ZONE", help="A new IANA time zone; the ritual keeps its time of day on the new clock.")
@with_group
def ritual_edit(
    group: Group,
    ritual_ref: str,
    name: str | None,
    prompt: str | None,
    rrule: str | None,
    start: str | None,
    tz: str | None,
) -> None:
    """Moderator: change a ritual."""
    actions.ritual_edit(group, ritual_ref, name=name, prompt=prompt, rrule=rrule, start=start, tz=tz)
    echo("changed", err=True)


@ritual.command("pause")
@click.argument("ritual_ref", metavar="RITUAL")
@click.option("--until", metavar="DATE", help="Resume on its own on this day (YYYY-MM-DD, in the ritual's zone).")
@with_group
def ritual_pause(group: Group, ritual_ref: str, until: str | None) -> None:
    """Moderator: no occurrence opens until resumed (or --until). Earlier threads stay."""
    actions.ritual_pause(group, ritual_ref, until=until)
    echo(f"paused until {until}" if until else "paused until `tablespace ritual resume`", err=True)


@ritual.command("resume")
@click.argument("ritual_ref", metavar="RITUAL")
@with_group
def ritual_resume(group: Group, ritual_ref: str) -> None:
    """Moderator: occurrences open again."""
    actions.ritual_resume(group, ritual_ref)
    echo("resumed", err=True)


@ritual.command("remove")
@click.argument("ritual_ref", metavar="RITUAL")
@with_group
def ritual_remove(group: Group, ritual_ref: str) -> None:
    """Moderator: remove a ritual; no occurrence opens any more. Earlier threads stay."""
    actions.ritual_remove(group, ritual_ref)
    echo("removed; the threads it opened stay", err=True)


@ritual.command("skip")
@click.argument("ritual_ref", metavar="RITUAL")
@click.option(
    "--at",
    metavar="DATE",
    help="The occurrence on this day (YYYY-MM-DD, in the ritual's zone) or at this instant. [default: the next]",
)
@click.option("--undo", is_flag=True, help="Take a skip back (the next skipped one, or the one --at names).")
@with_group
def ritual_skip(group: Group, ritual_ref: str, at: str | None, undo: bool) -> None:
    """Moderator: skip one occurrence (it opens no thread); the others go on."""
    moment = actions.ritual_skip(group, ritual_ref, at, undo=undo)
    echo(f"{'no longer skipped' if undo else 'skipped'}: {local_time(moment)}", err=True)


def local_time(moment: datetime) -> str:
    """An instant on the reader's clock, with its zone's abbreviation."""
    return moment.astimezone().strftime("%a %d %b %Y %H:%M %Z")


@main.command()
@json_option
@with_group
def rituals(group: Group, as_json: bool) -> None:
    """Rituals and their next occurrence (in your local time)."""
    from tablespace.core import calendar_queries

    rows = calendar_queries.rituals(group.conn, now())
    if as_json:
        return emit_json([r.to_json() for r in rows])
    rooms = {c.id: c.name for c in circle_queries.circles(group.conn, group.me)}
    for r in rows:
        if r.paused and r.paused_until is None:
            when = "paused"
        elif r.next is None:
            when = "ended"
        else:
            when = local_time(r.next)
        paused = f", paused until {local_time(r.paused_until)}" if r.paused_until else ""
        room = f", in {rooms.get(r.circle, r.circle[:8])}" if r.circle else ""
        echo(f"{r.id[:8]}  ", styled(r.name, bold=True), f"  next: {when}{paused}  ({r.rrule}, {r.tz}{room})")
        echo(f"          {r.prompt}")


@main.group()
def event() -> None:
    """One-off events (an AMA, a meetup): add one; `events` lists them, `rsvp` answers."""


@event.command("add")
@click.argument("title")
@click.option("--at", required=True, metavar="DATETIME", help="When: YYYY-MM-DD HH:MM on the clock of --tz.")
@zone_option
@click.option("--duration", metavar="DUR", help="How long: 45m, 2h, 1h30m. [default: 1h]")
@click.option("--where", default="", metavar="TEXT", help="A place, or a link to a call.")
@click.option("--body", default="", help="What it is about (the thread's opening post).")
@with_group
def event_add(group: Group, title: str, at: str, tz: str | None, duration: str | None, where: str, body: str) -> None:
    """Add an event; it is a thread. Prints its id."""
    echo(actions.event_add(group, title, at, tz=tz, duration=duration, where=where, body=body))


@main.command()
@json_option
@click.option("--all", "show_all", is_flag=True, help="Past events too.")
@click.option("--ics", is_flag=True, help="The calendar (events and the rituals' next occurrences) as iCalendar.")
@click.option("-o", "output", type=click.Path(dir_okay=False, path_type=Path), help="With --ics: write here.")
@with_group
def events(group: Group, as_json: bool, show_all: bool, ics: bool, output: Path | None) -> None:
    """Upcoming events (in your local time) and who is going."""
    if output is not None and not ics:
        raise click.UsageError("-o goes with --ics")
    if ics and as_json:
        raise click.UsageError("give --ics or --json, not both")
    if ics:
        if output is None:
            click.echo(actions.calendar(group, past=show_all).decode(), nl=False)
        else:
            actions.write_calendar(group, output, past=show_all)
            echo(f"Wrote {output}.", err=True)
        return
    from tablespace.core import calendar_queries

    rows = calendar_queries.events(group.conn, now(), past=show_all, me=group.me)
    if as_json:
        return emit_json([e.to_json() for e in rows])
    for e in rows:
        mine = f"  you: {e.mine}" if e.mine else ""
        echo(f"{e.id[:8]}  ", styled(e.title, bold=True), f"  {local_time(e.at)}, {e.minutes} min{mine}")
        if e.where:
            echo("          ", e.where)
        echo(f"          going {len(e.going)}, maybe {len(e.maybe)}, not going {len(e.declined)}")
        if e.going:
            echo("          going: ", ", ".join(e.going))


@main.command()
@click.argument("event_ref", metavar="EVENT")
@click.argument("answer", type=click.Choice(["going", "maybe", "no"]))
@with_group
def rsvp(group: Group, event_ref: str, answer: str) -> None:
    """Answer an event: going, maybe or no. A later answer replaces yours."""
    actions.rsvp(group, event_ref, answer)
    echo(f"answered: {answer}", err=True)


@main.command()
@click.option("--from", "since", metavar="DATE", help="The first quiet day (YYYY-MM-DD, in the group's zone).")
@click.option("--until", metavar="DATE", help="The day things start again (YYYY-MM-DD, in the group's zone).")
@click.option("--reason", default="", help="Why, shown to everyone (e.g. holidays).")
@click.option("--end", "end", is_flag=True, help="End the quiet spell now (and call off any set for later).")
@with_group
def quiet(group: Group, since: str | None, until: str | None, reason: str, end: bool) -> None:
    """Moderator: a quiet spell for the whole group: no ritual opens inside it."""
    if end:
        if since or until or reason:
            raise click.UsageError("--end takes no other option")
        actions.quiet_end(group)
        echo("the quiet spell is over; rituals open again", err=True)
        return
    if not since or not until:
        raise click.UsageError("give --from DATE and --until DATE, or --end")
    actions.quiet(group, since, until, reason)
    echo(f"quiet from {since} until {until}" + (f" ({reason.strip()})" if reason.strip() else ""), err=True)


# --- health ----------------------------------------------------------------------------


# Why a report is not sent with the next sync: see SyncEngine.run.
REPORT_WAITS = (
    "it goes to the moderators on its own, with a `tablespace sync` that has nothing else "
    "of yours to send, so no one can tell who sent it"
)


@main.command()
@click.argument("post_ref", metavar="POST")
@click.option("--reason", required=True, help="What is wrong (only moderators can read it, or who sent it).")
@with_group
def report(group: Group, post_ref: str, reason: str) -> None:
    """Report a post to the moderators. Only moderators can ever read the report or who made it."""
    filed = actions.report(group, post_ref, reason)
    if filed.delivered:
        echo("Sent to the moderators: only they can read it, or see who sent it.", err=True)
    else:
        echo(f"The report waits in your outbox: {REPORT_WAITS}", err=True)
    echo(filed.id)


@main.command()
@json_option
@click.option(
    "--all", "show_all", is_flag=True, help="Resolved reports too (--json always lists both, with their status)."
)
@with_group
def reports(group: Group, as_json: bool, show_all: bool) -> None:
    """Moderator: the report queue, oldest open first (then resolved ones)."""
    queue = actions.report_queue(group)
    names = member_queries.member_names(group.conn)
    if as_json:
        return emit_json([r.to_json(names) for r in queue])
    shown = [r for r in queue if show_all or r.status == "open"]
    if not shown:
        echo("no open reports" + ("" if show_all else " (--all shows resolved ones)"), err=True)
    for r in shown:
        who = names.get(r.reporter, r.reporter[:8])
        line = f"{r.id[:8]}  {r.status:<8} {ago(r.created_at):<14} post {r.post[:8]} by {names.get(r.post_author, '?')}"
        echo(f"{line}, reported by {who}: {r.reason}")
        if r.decision:
            echo(f"          decided by {names.get(r.decided_by or '', '?')}: {r.decision}")


@main.command()
@click.argument("report_ref", metavar="REPORT")
@click.option("--decision", required=True, help="What was decided and why (kept in the moderation record).")
@click.option("--hide-post", is_flag=True, help="Also hide the reported post for everyone.")
@click.option(
    "--tell-reporter",
    metavar="TEXT",
    help="A word for the reporter alone (sealed to them); without it they learn only that it was handled.",
)
@with_group
def resolve(group: Group, report_ref: str, decision: str, hide_post: bool, tell_reporter: str | None) -> None:
    """Moderator: resolve a report with a decision (and optionally hide the post)."""
    actions.resolve(group, report_ref, decision, hide_post=hide_post, tell_reporter=tell_reporter)
    echo(
        "Resolved"
        + (", and the post is hidden for everyone" if hide_post else "")
        + (", with a word to the reporter" if tell_reporter is not None else "")
        + ". The other moderators see it after you sync.",
        err=True,
    )


@main.command()
@click.argument("report_ref", metavar="REPORT")
@click.argument("text")
@with_group
def note(group: Group, report_ref: str, text: str) -> None:
    """Moderator: add a note to a report (what you asked, what you heard), for the other moderators."""
    actions.note(group, report_ref, text)
    echo("Note added; the other moderators see it after you sync.", err=True)


@main.command()
@json_option
@click.option("--limit", type=click.IntRange(min=1), default=200, show_default=True, help="The newest this many.")
@with_group
def modlog(group: Group, as_json: bool, limit: int) -> None:
    """Moderator: the moderation log, oldest first: what was done, by whom, and why."""
    entries = actions.modlog(group, limit=limit)
    names = member_queries.member_names(group.conn)
    if as_json:
        return emit_json([e.to_json(names) for e in entries])
    if not entries:
        echo("nothing in the moderation log yet", err=True)
    for e in entries:
        why = f" — {e.why}" if e.why else ""
        echo(f"{e.at:%Y-%m-%d %H:%M}  {names.get(e.by, e.by[:8]):<14} {e.action} {e.what}{why}")


@main.command()
@click.argument("thread_ref", metavar="THREAD", required=False)
@click.option("--undo", is_flag=True, help="Bring an archived thread back.")
@click.option("--stale", metavar="DURATION", help="Archive every thread quiet for this long (e.g. 90d) instead.")
@click.option("--reason", default="", help="Why (kept in the moderators' sealed record).")
@with_group
def archive(group: Group, thread_ref: str | None, undo: bool, stale: str | None, reason: str) -> None:
    """Moderator: archive a thread (read-only, out of the list, still searchable), or all stale ones."""
    if bool(thread_ref) == bool(stale):
        raise click.UsageError("give a THREAD or --stale DURATION")
    if stale:
        if undo:
            raise click.UsageError("--undo takes a THREAD")
        quiet = parse_duration(stale)
        if quiet < timedelta(days=1):
            raise click.BadParameter("archive threads quiet for at least a day (e.g. 90d)", param_hint="--stale")
        archived = actions.archive_stale(group, quiet)
        for a in archived:
            echo(f"archived {a.thread[:8]}  {a.title}", err=True)
        echo(f"archived {len(archived)} thread{'s' if len(archived) != 1 else ''}", err=True)
        return
    actions.archive(group, thread_ref or "", undo=undo, why=reason)
    echo("brought back" if undo else "archived: read-only, out of the list, still found by search", err=True)


def read_settings_file(path: Path, what: str) -> str:
    """A code of conduct or house rules: at most RULES_MAX characters, so at
    most four times that in UTF-8 bytes (the fold counts the characters)."""
    return read_body(None, str(path), required=True, limit=4 * limits.RULES_MAX, what=what)


@main.command()
@json_option
@click.option("--purpose", help="One line on what the group is for.")
@click.option(
    "--conduct-file",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="The code of conduct, from a markdown file.",
)
@click.option(
    "--rules-file",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="The house rules, from a markdown file.",
)
@click.option(
    "--post-cap",
    type=click.IntRange(0, 1000),
    metavar="N",
    help="At most N threads and replies per member per 7 days (0: no cap; moderators are exempt).",
)
@click.option("--tz", metavar="ZONE", help="The group's IANA time zone (e.g. Europe/Berlin), which new rituals take.")
@click.option(
    "--member-cap",
    type=click.IntRange(1, 10_000),
    metavar="N",
    help="The group's size cap: `admit` past N current members is refused. [default: 150]",
)
@click.option(
    "--welcome-file",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="The onboarding walk's welcome, from a markdown file.",
)
@click.option(
    "--intro-template-file",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="What a newcomer's intro starts with, from a file.",
)
@click.option("--first-win", metavar="RESOURCE", help="The library resource a newcomer opens first ('' for none).")
@with_group
def settings(
    group: Group,
    as_json: bool,
    purpose: str | None,
    conduct_file: Path | None,
    rules_file: Path | None,
    post_cap: int | None,
    tz: str | None,
    member_cap: int | None,
    welcome_file: Path | None,
    intro_template_file: Path | None,
    first_win: str | None,
) -> None:
    """The group's settings: purpose, code of conduct, house rules, weekly post cap, time zone,
    size cap and the onboarding walk. Moderators change them."""
    conduct = read_settings_file(conduct_file, "a code of conduct") if conduct_file else None
    rules = read_settings_file(rules_file, "house rules") if rules_file else None
    welcome = read_settings_file(welcome_file, "a welcome") if welcome_file else None
    template = read_settings_file(intro_template_file, "an intro template") if intro_template_file else None
    changes = {
        "purpose": purpose,
        "post_cap": post_cap,
        "conduct": conduct,
        "rules": rules,
        "tz": tz,
        "member_cap": member_cap,
        "welcome": welcome,
        "intro_template": template,
        "first_win": first_win,
    }
    if any(v is not None for v in changes.values()):
        actions.change_settings(group, **changes)
    shown = group_queries.group_settings(group.conn)
    if as_json:
        return emit_json(shown.to_json())
    echo(styled(shown.name, bold=True), f" — {shown.purpose}" if shown.purpose else "")
    echo(f"weekly post cap: {shown.post_cap or 'none'}")
    echo(f"member cap: {shown.member_cap}")
    echo(f"time zone: {shown.tz}")
    echo(f"first win: {shown.first_win[:8] if shown.first_win else 'none'}")
    for title, text in (
        ("Code of conduct", shown.conduct),
        ("House rules", shown.rules),
        ("Welcome", shown.welcome),
        ("Intro template", shown.intro_template),
    ):
        echo("\n", styled(title, bold=True))
        echo(text.rstrip() or "(none yet)")


@main.command()
@json_option
@with_group
def welcome(group: Group, as_json: bool) -> None:
    """The five onboarding messages, as a new member sees them."""
    from tablespace.core.onboarding import welcome_steps

    steps = welcome_steps(group.conn, now())
    if as_json:
        return emit_json([s.to_json() for s in steps])
    for number, step in enumerate(steps, 1):
        echo(styled(f"{number}. {step.title}", bold=True))
        echo(step.body.rstrip(), "\n")


@main.command()
@json_option
@click.option(
    "--circle", metavar="CIRCLE", help="The figures of one of your circles (its name or id), over its members."
)
@with_group
def metrics(group: Group, as_json: bool, circle: str | None) -> None:
    """Group health for the last 7 days (definitions: README, "Health")."""
    from tablespace.core.metrics import duration, week_metrics

    moment = now()
    room = None if circle is None else actions.circle_id(group, circle)
    week = week_metrics(group.conn, moment, now=moment, circle=room)
    if as_json:
        return emit_json(week.to_json())
    span = f"{week.start.strftime('%a %d %b %H:%M')} – {week.end.strftime('%a %d %b %H:%M')} UTC"
    coverage = "—" if week.reply_coverage is None else f"{week.reply_coverage:.2f}"
    rows = [
        ("members", str(week.members), "active or timed out"),
        ("weekly active", f"{week.weekly_active_pct:.1f}%", f"{week.active} of {week.members}"),
        ("contributor ratio", f"{week.contributor_ratio:.2f}", f"{week.contributors} of {week.members}"),
        (
            "median first reply",
            duration(week.median_first_reply_s),
            f"{week.threads_answered} thread{'s' if week.threads_answered != 1 else ''} answered",
        ),
        ("reply coverage", coverage, f"{week.threads_answered} of {week.threads_started} new threads"),
        ("wins", str(week.wins), "posts in #win threads"),
    ]
    whose = (
        "Group"
        if room is None
        else {c.id: c.name for c in circle_queries.circles(group.conn, group.me)}.get(room, "Circle")
    )
    echo(styled(f"{whose} health, last 7 days ({span})", bold=True))
    for label, value, note in rows:
        echo(f"  {label:<20} {value:>9}   ", styled(note, dim=True))


# --- sync ------------------------------------------------------------------------------


KIND_WORDS = {
    "thread.start": "thread",
    "post.reply": "reply",
    "post.edit": "edit",
    "post.react": "reaction",
    "library.add": "library entry",
    "member.add": "admission",
}


@main.command()
@json_option
@click.option(
    "--watch",
    is_flag=True,
    help="Keep syncing as files arrive, as you write from elsewhere, and at least every 30 s, until interrupted.",
)
@click.option(
    "--notify",
    is_flag=True,
    help="Raise a desktop notification (else a terminal one) for each new inbox entry; see `tablespace notify`.",
)
@with_group
def sync(group: Group, as_json: bool, watch: bool, notify: bool) -> None:
    """Write your pending changes to the shared folder, then read and merge everything new."""
    notifier = actions.choose_notifier(terminal_stream()) if notify else None
    if notifier is not None:
        actions.start_notifying(group)

    def one_round(report: SyncReport) -> None:
        if notifier is not None:
            actions.notify_new(group, notifier)
        for kind, refusal in report.refused_mine:
            what = KIND_WORDS.get(kind, "change")
            echo(f"tablespace: the group refused your earlier {what}: {refusal.for_author()}", err=True)
        status = group.my_status
        if status in GONE_WORDS:
            echo(f"tablespace: {GONE_WORDS[status]}; nothing new can reach you", err=True)
        for q in report.quarantined:
            if q.new:
                echo(f"tablespace: quarantined {q.file}: {q.reason}", err=True)
        if earlier := [q.file for q in report.quarantined if not q.new]:  # named, on one line (the contract)
            echo(
                f"tablespace: {len(earlier)} file(s) quarantined earlier, unchanged, the rest syncs: "
                + ", ".join(earlier),
                err=True,
            )
        for path, what in sorted(report.links.items()):
            echo(
                f"tablespace: {path} in the shared folder is {what} where a directory belongs: never followed, "
                "nothing is read or written through it; what goes there waits until it is a real directory",
                err=True,
            )
        from tablespace.actions import ANSWER_WORDS, CODE_USED

        if report.join_answer and report.join_answer != CODE_USED:
            echo(f"tablespace: {ANSWER_WORDS[report.join_answer]}", err=True)
        if report.reports_waiting:
            echo(f"tablespace: {report.reports_waiting} report(s) wait in your outbox: {REPORT_WAITS}", err=True)
        if report.pairings_refused:
            echo(
                f"tablespace: refused {report.pairings_refused} more device(s) asking to pair with a code "
                "another device had used (a code lets in one device; make a new one with `tablespace device add`)",
                err=True,
            )
        if as_json:
            emit_json(report.to_json())
        else:
            line = f"exported {report.exported}, imported {report.imported}, pending {report.pending}"
            if report.quarantined:
                line += f", quarantined {len(report.quarantined)}"
            if report.reports_sent:
                line += f", reports sent {report.reports_sent}"
            if report.renewed_key:
                line += ", renewed the group's key (someone had gone)"
            if report.asked_for_keys:
                line += ", asked the group again for a key that did not reach you"
            echo(line)
        if report.join_answer == CODE_USED:  # this home cannot get in with that code: a refused request
            raise TablespaceError(ANSWER_WORDS[CODE_USED])

    try:
        report = actions.sync_group(group)
    except TablespaceError as exc:
        if as_json:  # still one document on stdout; the line on stderr and the exit code as always
            emit_json(actions.sync_failure(group, exc).to_json())
        raise
    one_round(report)
    if watch:
        watch_rounds(group, one_round, as_json=as_json)


def watch_rounds(group: Group, one_round: Callable[[SyncReport], None], *, as_json: bool = False) -> None:
    """`sync --watch` after its first round, until ctrl+c. A round that
    fails (the folder was unmounted meanwhile) says why once, and the watch
    goes on."""
    try:
        for event in actions.watch(group):
            if isinstance(event, actions.Unwatched):
                echo(
                    f"tablespace: cannot watch {group.transport.folder} for new files; syncing every "
                    f"{event.every:.0f} s instead",
                    err=True,
                )
            elif isinstance(event, actions.RoundFailed):
                if not event.again:
                    echo(f"tablespace: {event.error}", err=True)
                    if as_json:
                        emit_json(actions.sync_failure(group, event.error).to_json())
            elif isinstance(event, actions.Back):
                folder = group.transport.folder
                echo(f"tablespace: {'the shared folder ' + str(folder) if folder else 'the remote'} is back", err=True)
            else:
                one_round(event.report)
    except KeyboardInterrupt:
        pass  # ctrl+c: stop quietly


def terminal_stream() -> Any:
    """The terminal a notification can be written to (stderr, else stdout), or None."""
    for stream in (sys.stderr, sys.stdout):
        if stream.isatty():
            return stream
    return None


@main.command()
@click.option("--all", "level", flag_value="all", default=None, help="Notify every new inbox entry.")
@click.option("--mentions", "level", flag_value="mentions", help="Notify mentions of you only.")
@click.option("--off", "level", flag_value="off", help="Never notify.")
@click.option("--quiet", metavar="HH:MM-HH:MM", help="Quiet hours, in local time (e.g. 22:00-07:00).")
@click.option("--no-quiet", is_flag=True, help="No quiet hours.")
@json_option
@click.pass_context
def notify(ctx: click.Context, level: str | None, quiet: str | None, no_quiet: bool, as_json: bool) -> None:
    """Your notification settings (all groups of this home; never synced).
    With no option, prints them."""
    if quiet is not None and no_quiet:
        raise click.UsageError("give --quiet or --no-quiet, not both")
    home = ctx.obj["home"]
    if level is None and quiet is None and not no_quiet:
        settings = actions.notify_settings(home)
    else:
        home.ensure()
        settings = actions.set_notify_settings(home, level=level, quiet=quiet, no_quiet=no_quiet)  # type: ignore[arg-type]
    if as_json:
        return emit_json(settings.to_json())
    echo(f"notify: {settings.level}")
    echo(f"quiet hours: {settings.to_json()['quiet'] or 'none'}")


@main.command()
@click.option(
    "--since", metavar="DURATION", help="What happened in this long (7d, 24h) instead of since your last digest."
)
@click.option("--format", "fmt", type=click.Choice(["markdown", "json"]), default="markdown", show_default=True)
@click.option("-o", "output", type=click.Path(dir_okay=False, path_type=Path), help="Write here instead of stdout.")
@with_group
def digest(group: Group, since: str | None, fmt: DigestFormat, output: Path | None) -> None:
    """What happened since your last digest (else the last 7 days): your inbox,
    new threads, wins, rituals, the library, newcomers. Made to be mailed."""
    span = optional_duration(since)
    result = actions.digest(group, span)
    if output is None:
        click.echo(actions.digest_text(result, fmt))
    else:
        actions.write_digest(result, fmt, output)
        echo(f"Wrote {output}.", err=True)


@main.command()
@click.option("--week", "day", metavar="DATE", help="Any day of the week (Monday to Sunday, UTC). [default: this week]")
@click.option("--post", "to_post", is_flag=True, help="Note-taker or moderator: post it as a thread tagged recap.")
@json_option
@with_group
def recap(group: Group, day: str | None, to_post: bool, as_json: bool) -> None:
    """The week's recap in at most 10 bullets, built from the ops: the same on every member's copy."""
    when = parse_day(day) if day is not None else None
    if to_post:
        thread, result = actions.post_recap(group, when)
    else:
        thread, result = None, actions.weekly_recap(group, when)
    if as_json:
        return emit_json(result.to_json() | {"thread": thread})
    for bullet in result.bullets:
        echo(f"- {bullet}")
    if thread is not None:
        echo(f"Posted as {thread}.", err=True)


def parse_day(text: str) -> date:
    """A DATE option (2026-11-23); a malformed one is a usage error."""
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise click.BadParameter(f"{text!r} is not a date like 2026-11-23") from None


# --- everything else ------------------------------------------------------------------


@main.command()
@click.option("--format", "fmt", type=click.Choice(["json", "markdown"]), required=True)
@click.option("-o", "output", type=click.Path(dir_okay=False, path_type=Path), help="Write here instead of stdout.")
@with_group
def export(group: Group, fmt: ExportFormat, output: Path | None) -> None:
    """The whole readable group, for backup or leaving."""
    if output is None:
        echo(actions.export_text(group, fmt))
    else:
        actions.export_to(group, fmt, output)
        echo(f"Wrote {output}.", err=True)


@main.command()
@click.option(
    "--dir",
    "directory",
    type=click.Path(file_okay=False, path_type=Path),
    help="Where to put the sample group's folder and homes. [default: a new temp dir]",
)
@click.option("--no-open", is_flag=True, help="Only build it, and print how to open it.")
def demo(directory: Path | None, no_open: bool) -> None:
    """Build a sample group and open it as its moderator."""
    from tablespace.demo import build_demo

    home = build_demo(directory)
    base = home.path.parent
    if not no_open:  # the app takes the screen: say first where the demo is (it stays after the app closes)
        echo(f"The sample group is in {base}; open it again with: tablespace --home {home.path}", err=True)
    if no_open:
        echo(f"Built a sample group in {base}: Ana (the moderator) and five members, each with")
        echo(f"their own home ({base}/ben, …), syncing through {base / 'shared'}.")
        echo("Open it as Ana with:")
        echo(f"tablespace --home {home.path}")
        return
    from tablespace.demo import Simulator
    from tablespace.tui.app import run

    member = Simulator(base).start()  # keeps posting as other members, so live sync shows
    try:
        run(home, None)
    finally:
        member.stop()


@main.group()
def passphrase() -> None:
    """Lock this group's keys in your home with a passphrase, change it, or remove it."""


@passphrase.command("set")
@with_group
def passphrase_set(group: Group) -> None:
    """Lock the keys (new passphrase asked twice, or $TABLESPACE_PASSPHRASE)."""
    actions.lock_keys(group, lambda: ask_new_passphrase(keyfile.PASSPHRASE_ENV))
    echo("Keys locked: tablespace asks for the passphrase when it needs to sign or sync.", err=True)


@passphrase.command("change")
@with_group
def passphrase_change(group: Group) -> None:
    """New passphrase for the keys (current one asked, or $TABLESPACE_PASSPHRASE;
    new one asked twice, or $TABLESPACE_NEW_PASSPHRASE)."""
    actions.change_passphrase(group, lambda: ask_new_passphrase("TABLESPACE_NEW_PASSPHRASE"))
    echo("Passphrase changed.", err=True)


@passphrase.command("remove")
@with_group
def passphrase_remove(group: Group) -> None:
    """Keep the keys in the clear again (current passphrase asked, or $TABLESPACE_PASSPHRASE)."""
    actions.unlock_keys_for_good(group)
    echo("Passphrase removed: the keys are in the clear (mode 0600) again.", err=True)


@main.command()
@with_group
def rebuild(group: Group) -> None:
    """Recompute every view from the op log (safe; the log is the truth)."""
    rebuilt = actions.rebuild(group)
    echo(f"re-folded {rebuilt.ops} ops; views {'repaired' if rebuilt.repaired else 'unchanged'}")


@main.command()
@click.pass_context
def doctor(ctx: click.Context) -> None:
    """Check the home, keys, folder and database; say what is wrong and how to fix it."""
    problems = 0
    for ok, line in actions.doctor(ctx.obj["home"], ctx.obj["group"]):
        echo(f"{'ok  ' if ok else 'FAIL'}  {line}")
        problems += not ok
    if problems:
        raise TablespaceError(f"{problems} problem{'s' if problems > 1 else ''} found (see above)")


if __name__ == "__main__":
    main()
