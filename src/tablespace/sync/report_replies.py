"""A word from the moderators to the member who filed a report, which the
moderators may choose to send with their decision (`resolve
--tell-reporter`): sealed to the exchange key of the device the report was
signed on, it rides the resolution op as an opaque field, and only that
home opens it, into its local my_reports (core/inbox.py shows it)."""

from __future__ import annotations

import base64

from tablespace.core import limits, log_queries
from tablespace.core.errors import TablespaceError
from tablespace.core.group import Group
from tablespace.core.stanza import KeyWrapError, open_sealed, seal_to
from tablespace.sync.keys import ExchangeKey

REPLY_MAGIC = b"TSR1"  # bound to the group and the report
REPLY_INFO = b"tablespace report reply v1"


def _reply_context(group_id: str, report_id: str) -> bytes:
    return REPLY_MAGIC + bytes.fromhex(group_id) + report_id.encode()


def seal_reply(group: Group, report_id: str, reporter_device: str, text: str) -> str:
    """The moderators' word for the reporter alone: sealed to the exchange
    key of the device the report was signed on, which is the home that
    remembers filing it (my_reports)."""
    device = log_queries.device_of(group.conn, reporter_device)
    if device is None or device[1] is None:
        raise TablespaceError("the reporter's device has no key to seal a word to; resolve without telling them")
    box = seal_to(text.encode(), bytes.fromhex(device[1]), info=REPLY_INFO, aad=_reply_context(group.id, report_id))
    return base64.b64encode(box).decode()


def open_report_replies(group: Group, exchange: ExchangeKey) -> int:
    """Open the moderators' words to me on reports I filed from this home,
    into my_reports (local, never synced); returns how many were opened.
    A box that does not open is left as it is: it was not for this home."""
    opened = 0
    for report_id, blob in log_queries.report_replies_waiting(group.conn):
        try:
            text = open_sealed(
                base64.b64decode(blob),
                exchange.private_key,
                info=REPLY_INFO,
                aad=_reply_context(group.id, report_id),
            ).decode()
        except (KeyWrapError, ValueError):
            continue
        if len(text) <= limits.SUMMARY_MAX:
            group.remember_report_reply(report_id, text)
            opened += 1
    return opened
