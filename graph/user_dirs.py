"""DeepWire's per-user data folder: one rule for runs, data caches and the block library ("My blocks").

$DEEPWIRE_HOME when set (tests point it at a temporary folder), else the
platform's per-user data folder: $XDG_DATA_HOME/deepwire (default
~/.local/share/deepwire) on Linux, ~/Library/Application Support/DeepWire on
macOS, %LOCALAPPDATA%\\DeepWire on Windows. Pure Python (graph/ and runtime/
both read it; graph must not import runtime).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path


def user_data_dir() -> Path:
    """DeepWire's per-user data folder ($DEEPWIRE_HOME overrides the platform's default)."""
    override = os.environ.get("DEEPWIRE_HOME")
    if override:
        return Path(override).expanduser()
    if sys.platform == "win32":
        return Path(os.environ.get("LOCALAPPDATA") or Path.home() / "AppData" / "Local") / "DeepWire"
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Application Support" / "DeepWire"
    xdg = os.environ.get("XDG_DATA_HOME")
    return (Path(xdg) if xdg and Path(xdg).is_absolute() else Path.home() / ".local" / "share") / "deepwire"
