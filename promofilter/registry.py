"""Versioned models: every `promofilter train` writes a new version; one of them is current.

Versions live in ``$PROMOFILTER_HOME/models/`` (default ``~/.local/share/promofilter/models/``),
one directory each (``v001-20261129-031500``), with its model card (metrics, inputs, parent). The
file ``CURRENT`` names the version the default model resolves to; without it the shipped model
is used. Switching back is writing another name there.
"""
from __future__ import annotations

import json
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path

from .textio import write_text

__all__ = ["HOME_ENV", "SHIPPED", "Version", "models_root", "versions", "current_path", "new_version_dir",
           "set_current"]

HOME_ENV = "PROMOFILTER_HOME"
SHIPPED = "shipped"
_NAME = re.compile(r"^v(\d{3,})-\d{8}-\d{6}$")


def models_root() -> Path:
    home = os.environ.get(HOME_ENV) or Path.home() / ".local" / "share" / "promofilter"
    return Path(home) / "models"


@dataclass(frozen=True)
class Version:
    name: str
    path: Path
    card: dict
    current: bool


def versions() -> list[Version]:
    """Every trained version, oldest first."""
    root = models_root()
    if not root.is_dir():
        return []
    current = _current_name()
    out = []
    for path in sorted(p for p in root.iterdir() if p.is_dir() and _NAME.match(p.name)):
        try:
            card = json.loads((path / "model.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue  # an interrupted or foreign directory is not a version
        out.append(Version(path.name, path, card, path.name == current))
    return out


def _current_name() -> str | None:
    try:
        return (models_root() / "CURRENT").read_text(encoding="utf-8").strip() or None
    except OSError:
        return None


def current_path() -> Path | None:
    """The current version's directory, or None (the shipped model is current)."""
    name = _current_name()
    if name and (models_root() / name / "model.json").is_file():
        return models_root() / name
    return None


def new_version_dir() -> Path:
    """A fresh, not yet existing directory for the next version."""
    root = models_root()
    root.mkdir(parents=True, exist_ok=True)
    numbers = [int(m.group(1)) for p in root.iterdir() if (m := _NAME.match(p.name))]
    return root / f"v{max(numbers, default=0) + 1:03d}-{time.strftime('%Y%m%d-%H%M%S', time.gmtime())}"


def set_current(name: str) -> None:
    """Make version ``name`` current (``shipped``: back to the shipped model)."""
    root = models_root()
    if name == SHIPPED:
        (root / "CURRENT").unlink(missing_ok=True)
        return
    if not (root / name / "model.json").is_file():
        known = ", ".join(v.name for v in versions()) or "none"
        raise KeyError(f"no model version {name!r} in {root} (versions: {known}; or {SHIPPED})")
    write_text(str(root / "CURRENT"), name + "\n")
