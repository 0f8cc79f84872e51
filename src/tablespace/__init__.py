"""tablespace: a kitchen table for a small group, in the terminal, with no server."""

__version__ = "0.1.0"
