"""The canvas colours for the light and dark theme.

Node type colours and icons come from :mod:`app.node_style` (shared with the palette of
node types); surfaces, text, selection and error colours come from the running app's
``theme_cls`` when there is one, else from a fixed light or dark set, so the canvas also
draws without an app (tests, the benchmark). Run-state colours are fixed: they must mean
the same thing in both themes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from app.node_style import style_of

RGBA = tuple[float, float, float, float]

STATUS_LIGHT: dict[str, RGBA] = {
    "queued": (0.55, 0.60, 0.68, 1.0),
    "running": (0.13, 0.52, 0.95, 1.0),
    "succeeded": (0.18, 0.62, 0.30, 1.0),
    "reused": (0.20, 0.55, 0.55, 1.0),         # a teal: done, but not by this run
    "failed": (0.85, 0.18, 0.16, 1.0),
    "skipped": (0.62, 0.62, 0.62, 1.0),
    "cancelled": (0.62, 0.45, 0.30, 1.0),
    "not_run": (0.78, 0.78, 0.78, 1.0),
    "interrupted": (0.80, 0.50, 0.05, 1.0),
}
STATUS_DARK: dict[str, RGBA] = dict(STATUS_LIGHT, not_run=(0.42, 0.42, 0.44, 1.0), skipped=(0.50, 0.50, 0.52, 1.0))
WARNING: RGBA = (0.96, 0.56, 0.05, 1.0)


def _rgba(value: Any, alpha: float | None = None) -> RGBA:
    r, g, b, *rest = list(value) + [1.0]
    return (float(r), float(g), float(b), float(alpha if alpha is not None else rest[0]))


def mix(a: RGBA, b: RGBA, t: float) -> RGBA:
    return tuple(x + (y - x) * t for x, y in zip(a, b))  # type: ignore[return-value]


def with_alpha(colour: RGBA, alpha: float) -> RGBA:
    return (colour[0], colour[1], colour[2], alpha)


@dataclass(frozen=True)
class Palette:
    dark: bool
    background: RGBA
    grid: RGBA
    node_body: RGBA
    node_outline: RGBA
    text: RGBA
    text_muted: RGBA
    header_text: RGBA
    edge: RGBA
    edge_active: RGBA
    selection: RGBA
    error: RGBA
    warning: RGBA
    pill: RGBA
    port: RGBA
    valid_target: RGBA
    invalid_target: RGBA
    status: dict[str, RGBA] = field(default_factory=dict)

    def type_colour(self, type_name: str) -> RGBA:
        colour = _rgba(style_of(type_name).colour)
        return mix(colour, (0.0, 0.0, 0.0, 1.0), 0.12) if self.dark else colour

    def type_shade(self, type_name: str) -> RGBA:
        """The darker band along a node's top when it is drawn zoomed out."""
        return mix(self.type_colour(type_name), (0.0, 0.0, 0.0, 1.0), 0.3)

    def status_colour(self, status: str) -> RGBA:
        return self.status.get(status, self.status["not_run"])


def fixed_palette(dark: bool) -> Palette:
    if dark:
        return Palette(True, (0.07, 0.08, 0.09, 1), (1, 1, 1, 0.06), (0.16, 0.17, 0.19, 1), (0.30, 0.32, 0.35, 1),
                       (0.90, 0.91, 0.92, 1), (0.65, 0.67, 0.70, 1), (1, 1, 1, 1), (0.52, 0.55, 0.60, 1),
                       (0.35, 0.80, 0.75, 1), (0.35, 0.80, 0.75, 1), STATUS_DARK["failed"], WARNING,
                       (0.22, 0.23, 0.26, 1), (0.75, 0.77, 0.80, 1), (0.35, 0.80, 0.45, 1), STATUS_DARK["failed"],
                       STATUS_DARK)
    return Palette(False, (0.97, 0.97, 0.98, 1), (0, 0, 0, 0.07), (1, 1, 1, 1), (0.78, 0.79, 0.82, 1),
                   (0.11, 0.12, 0.13, 1), (0.38, 0.40, 0.43, 1), (1, 1, 1, 1), (0.55, 0.58, 0.62, 1),
                   (0.0, 0.52, 0.48, 1), (0.0, 0.52, 0.48, 1), STATUS_LIGHT["failed"], WARNING,
                   (0.92, 0.93, 0.95, 1), (0.35, 0.37, 0.40, 1), (0.10, 0.62, 0.28, 1), STATUS_LIGHT["failed"],
                   STATUS_LIGHT)


def theme_palette(theme_cls: Any) -> Palette:
    """The palette for a KivyMD ``theme_cls`` (its Material 3 colour roles)."""
    dark = theme_cls.theme_style == "Dark"
    base = fixed_palette(dark)
    primary = _rgba(theme_cls.primaryColor)
    return Palette(
        dark, _rgba(theme_cls.surfaceColor), with_alpha(_rgba(theme_cls.onSurfaceColor), 0.07),
        _rgba(theme_cls.surfaceContainerHighestColor if dark else theme_cls.surfaceContainerLowestColor),
        _rgba(theme_cls.outlineVariantColor), _rgba(theme_cls.onSurfaceColor),
        _rgba(theme_cls.onSurfaceVariantColor), base.header_text, _rgba(theme_cls.outlineColor), primary,
        primary, _rgba(theme_cls.errorColor), WARNING, _rgba(theme_cls.surfaceContainerHighColor),
        _rgba(theme_cls.onSurfaceVariantColor), base.valid_target, _rgba(theme_cls.errorColor), base.status)


def current_palette() -> Palette:
    """The running app's theme, or the fixed light palette without an app."""
    from kivy.app import App

    app = App.get_running_app()
    theme_cls = getattr(app, "theme_cls", None)
    if theme_cls is None:
        return fixed_palette(False)
    return theme_palette(theme_cls)
