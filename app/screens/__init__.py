"""The app's screens. Each is a ``<name>.py`` + ``<name>.kv`` pair defining ``<Name>Screen``.

``SCREENS`` is the navigation: (name, title, icon, shown in the rail). Screens are built
the first time they are shown, so opening the app costs only the first screen.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ScreenEntry:
    name: str
    title: str
    icon: str
    in_rail: bool = True

    @property
    def class_name(self) -> str:
        return "".join(part.title() for part in self.name.split("_")) + "Screen"


SCREENS = [
    ScreenEntry("workflows", "Workflows", "sitemap-outline"),
    ScreenEntry("editor", "Editor", "vector-polyline", in_rail=False),
    ScreenEntry("connections", "Connections", "database-outline"),
    ScreenEntry("history", "History", "history"),
    ScreenEntry("plugins", "Plugins", "puzzle-outline"),
    ScreenEntry("assistant", "Assistant", "robot-outline"),
    ScreenEntry("settings", "Settings", "cog-outline"),
]
