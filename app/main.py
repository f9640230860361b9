"""The DagFlux app: window, navigation rail, screens, engine link and theme.

``dagflux-app`` / ``python -m app`` run :func:`main`. The app attaches to the engine of
the data directory (``DAGFLUX_HOME`` or the platform default), starting one when none runs;
a banner says when the engine cannot be reached while the bridge keeps reconnecting.
"""

from __future__ import annotations

import argparse
import importlib
import os
import shutil
import subprocess
import sys
from typing import Any

from app import kivyconfig


def system_prefers_dark() -> bool:
    """The desktop's colour-scheme preference (GNOME and most GTK desktops); light if unknown."""
    if os.environ.get("DAGFLUX_SYSTEM_THEME") in ("light", "dark"):
        return os.environ["DAGFLUX_SYSTEM_THEME"] == "dark"
    if shutil.which("gsettings") is None:
        return False
    try:
        out = subprocess.run(["gsettings", "get", "org.gnome.desktop.interface", "color-scheme"],
                             capture_output=True, text=True, timeout=2).stdout
    except (OSError, subprocess.SubprocessError):
        return False
    return "dark" in out


def build_app_class() -> type:
    """Import Kivy only when the app is really built (``--help`` stays instant)."""
    from kivy.clock import Clock
    from kivy.properties import BooleanProperty, ObjectProperty, StringProperty
    from kivymd.app import MDApp

    from app.bridge import EngineBridge
    from app.collector import FrameCollector
    from app.kvload import load_kv
    from app.screens import SCREENS
    from app.settings_store import AppSettings
    from app.widgets.release import no_widget_dies
    from app.widgets.snackbar import show_notification
    from engine.paths import default_paths, ensure_data_dir
    from engine.plugins import load_registry

    class DagFluxApp(MDApp):
        """``open_screen(name)`` shows a screen (built on first use); ``open_workflow(id)`` the
        editor on a saved workflow; ``notify(text)`` a snackbar."""

        bridge = ObjectProperty(None, allownone=True)
        current_screen = StringProperty("workflows")
        engine_ok = BooleanProperty(False)

        def __init__(self, paths=None, start_engine: bool = True, **kwargs: Any) -> None:
            super().__init__(**kwargs)
            self.title = "DagFlux"
            self.paths = ensure_data_dir(paths or default_paths())
            self.settings_store = AppSettings(self.paths.root)
            self.registry = load_registry([self.paths.plugins])
            self.bridge = EngineBridge(self.paths, start_engine=start_engine)
            self._screens: dict[str, Any] = {}
            self.collector = FrameCollector()

        # --- building ------------------------------------------------------------------
        def build(self):
            from app.widgets.app_screens import paint_window
            from app.widgets.cached_band import CachedBand  # noqa: F401  (used by main.kv)

            self.apply_theme(self.settings_store.get("theme"))
            paint_window(self.theme_cls)
            load_kv(__file__)
            from kivy.factory import Factory

            root = Factory.AppRoot()
            for entry in SCREENS:
                if entry.in_rail:
                    item = Factory.RailItem()  # kv-declared properties exist only after creation
                    item.screen_name, item.icon, item.text = entry.name, entry.icon, entry.title
                    root.ids.rail.add_widget(item)
            root.ids.rail.add_widget(Factory.Widget())
            self.bridge.bind(state=self._bridge_state)
            self.bridge.start()
            self.root = root
            Clock.schedule_once(lambda _dt: self.open_screen("workflows"), 0)
            return root

        def on_start(self) -> None:
            # From now on the cycle collector runs between frames only: a collection in the
            # middle of a kv rule kills a dropped widget half-way (app.collector).
            self.collector.start()

        def on_stop(self) -> None:
            self.collector.stop()
            for screen in self._screens.values():
                closing = getattr(screen, "on_app_stop", None)
                if closing is not None:
                    closing()
            if self.bridge is not None:
                self.bridge.stop()

        def apply_theme(self, theme: str) -> None:
            dark = theme == "dark" or (theme == "system" and system_prefers_dark())
            with no_widget_dies():          # the change reaches every widget's colour rules
                self.theme_cls.theme_style = "Dark" if dark else "Light"
                self.theme_cls.primary_palette = "Teal"

        def _bridge_state(self, bridge: EngineBridge, state: str) -> None:
            self.engine_ok = state == "connected"

        def attach_bridge(self, bridge: EngineBridge) -> None:
            """Use ``bridge`` from now on (a new data directory); the old one is let go."""
            if self.bridge is not None:
                self.bridge.unbind(state=self._bridge_state)
            self.bridge = bridge
            self.engine_ok = False
            bridge.bind(state=self._bridge_state)
            bridge.start()

        def forget_screens(self, keep: tuple[str, ...] = ()) -> list[str]:
            """Close and drop built screens (they hold the old engine link); rebuilt on next use.
            Returns the names dropped."""
            dropped = [n for n in self._screens if n not in keep]
            for name in dropped:
                screen = self._screens.pop(name)
                closing = getattr(screen, "on_app_stop", None)
                if closing is not None:
                    closing()
                self.root.ids.screens.remove_widget(screen)
            return dropped

        # --- navigation ----------------------------------------------------------------
        def screen(self, name: str):
            """The screen called ``name``, built and added on first use."""
            if name not in self._screens:
                entry = next(e for e in SCREENS if e.name == name)
                module = importlib.import_module(f"app.screens.{name}")
                widget = getattr(module, entry.class_name)(name=name)
                self._screens[name] = widget
                self.root.ids.screens.add_widget(widget)
            return self._screens[name]

        def open_screen(self, name: str):
            widget = self.screen(name)
            self.root.ids.screens.current = name
            self.current_screen = name
            return widget

        def open_workflow(self, workflow_id: str, node_id: str | None = None, run_id: str | None = None):
            editor = self.open_screen("editor")
            editor.open_workflow(workflow_id, node_id=node_id, run_id=run_id)
            self.settings_store.set("last_workflow", workflow_id)
            return editor

        def open_when_connected(self, workflow_id: str | None, import_path: str | None = None) -> None:
            """Once the engine answers: import ``import_path`` unless its workflow id is saved
            already, then open that workflow (or ``workflow_id``) in the editor."""
            from engine.model import fileformat

            target = workflow_id
            if import_path:
                target = fileformat.load(import_path).id

            def go(saved: list) -> None:
                if import_path and target not in {w["id"] for w in saved}:
                    self.bridge.call("workflows.import", on_result=lambda _s: self.open_workflow(target),
                                     on_error=self.notify, path=str(import_path))
                else:
                    self.open_workflow(target)

            def when_ready(*_args: Any) -> None:
                if self.bridge.state != "connected":
                    return
                self.bridge.unbind(state=when_ready)
                self.bridge.call("workflows.list", on_result=go, on_error=self.notify)

            self.bridge.bind(state=when_ready)
            Clock.schedule_once(when_ready, 0)

        def notify(self, text: str, seconds: float = 4.0) -> None:
            rail = self.root.ids.rail if self.root is not None else None
            show_notification(text, seconds, left=rail.right if rail is not None else 0)

    return DagFluxApp


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="dagflux-app", description="Open the DagFlux desktop app.")
    parser.add_argument("--open", metavar="WORKFLOW_ID", help="open this saved workflow in the editor")
    parser.add_argument("--import", dest="import_path", metavar="FILE",
                        help="import a workflow file (once: skipped when its id is already saved) and open it")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv if argv is not None else sys.argv[1:])
    os.environ.setdefault("KIVY_NO_ARGS", "1")
    kivyconfig.configure()
    app_class = build_app_class()
    app = app_class()
    if args.open or args.import_path:
        app.open_when_connected(args.open, args.import_path)
    app.run()
    return 0
