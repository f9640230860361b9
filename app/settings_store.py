"""App preferences (theme, last opened workflow) in ``app-settings.json`` in the data dir.

Preferences only: no secret ever goes here. A missing or broken file gives the defaults
(the broken one is kept aside as ``app-settings.json.broken`` rather than overwritten).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from engine.atomic import atomic_write_text

DEFAULTS: dict[str, Any] = {"theme": "light", "last_workflow": None, "recent_folders": [], "minimap": True,
                           "ai_connection": None, "ai_model": None}   # defaults for new AI sessions
THEMES = ("light", "dark", "system")


class AppSettings:
    def __init__(self, root: Path) -> None:
        self.path = Path(root) / "app-settings.json"
        self.values = dict(DEFAULTS)
        self._load()

    def _load(self) -> None:
        if not self.path.exists():
            return
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            if not isinstance(data, dict):
                raise ValueError("not an object")
        except (ValueError, OSError):
            self.path.replace(self.path.with_name(self.path.name + ".broken"))
            return
        self.values.update({k: v for k, v in data.items() if k in DEFAULTS})
        if self.values["theme"] not in THEMES:
            self.values["theme"] = DEFAULTS["theme"]

    def get(self, key: str) -> Any:
        return self.values[key]

    def set(self, key: str, value: Any) -> None:
        if key not in DEFAULTS:
            raise KeyError(f"unknown app setting '{key}'")
        self.values[key] = value
        self.path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(self.path, json.dumps(self.values, indent=2, sort_keys=True) + "\n")
