"""Fixtures the sync tests share."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """An empty shared folder, as a member makes or mounts it before `init`."""
    path = tmp_path / "shared"
    path.mkdir()
    return path
