"""The Plugins screen against a real engine and a signed catalog on loopback (the repo's S3
catalog plugin, published with the publisher tool).

Through the widgets: open Plugins from the navigation rail, see the catalog's S3 plugin
(description, publisher, verified, what it adds), install it with a progress bar, see the
engine load it (its connection type appears), update to a new version, roll back, remove;
then a catalog whose index is signed by an unknown key is refused with the reason and
nothing is installed.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from app.main import build_app_class
from tests.app.kivyrun import non_blank, running, screenshot, settle, tap_widget, wait_until
from tests.integration.objectstores import S3Catalog, plugin_copy


@pytest.fixture
def catalog(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    with S3Catalog(tmp_path) as cat:
        cat.publish(plugin_copy(tmp_path, "s3", "1.0.0"))
        cat.activate(monkeypatch)   # before the app starts its engine: the engine inherits it
        yield cat


@pytest.fixture
def app(catalog, monkeypatch: pytest.MonkeyPatch, dagflux_home: Path):
    monkeypatch.setenv("DAGFLUX_WEBHOOK_PORT", "0")
    application = build_app_class()()
    with running(application):
        wait_until(lambda: application.engine_ok, 30, "the engine link")
        try:
            yield application
        finally:
            try:
                application.bridge.start_engine = False
                application.bridge.call_blocking("shutdown", timeout=10)
            except Exception:  # noqa: BLE001 - already gone
                pass



def _laid_out(screen) -> bool:
    """The rows drawn as they will stay: KivyMD's colour and size animations done, every
    button's label right of its icon and inside it (a row built a moment ago still has them
    on top of each other, without its card colour)."""
    from kivy.animation import Animation
    from kivymd.uix.button import MDButtonIcon, MDButtonText

    settle()
    in_rows = {w.uid for row in screen.rows.values() for w in row.walk(restrict=True)}
    if any(uid in in_rows for a in Animation._instances for uid in a._widgets):   # KivyMD fades them in
        return False
    for row in screen.rows.values():
        for button in row.buttons.values():
            icon = next((c for c in button.children if isinstance(c, MDButtonIcon)), None)
            text = next((c for c in button.children if isinstance(c, MDButtonText)), None)
            if icon is None or text is None or text.x < icon.right or text.right > button.width:   # button-relative
                return False
    return True

def _rail_item(app, name: str):
    return next(w for w in app.root.ids.rail.children if getattr(w, "screen_name", None) == name)


def _connection_types(app) -> set[str]:
    return {t["type"] for t in app.bridge.call_blocking("connections.types")}


def _act(screen, name: str, action: str) -> None:
    wait_until(lambda: name in screen.rows and not screen.loading, 60, f"the row of {name}")
    button = screen.rows[name].buttons[action]
    wait_until(lambda: not button.disabled, 30, f"{action} enabled for {name}")
    settle()
    tap_widget(button, held=0)


def test_install_update_rollback_remove_through_the_screen(app, catalog, tmp_path):
    connections = app.open_screen("connections")       # built first: it keeps the connection types
    wait_until(lambda: connections.types, 30, "the connection types")
    assert "s3" not in {t["type"] for t in connections.types}
    tap_widget(_rail_item(app, "plugins").children[-1], held=0)     # the rail item's icon button
    wait_until(lambda: app.current_screen == "plugins", 15, "the Plugins screen")
    screen = app.screen("plugins")
    wait_until(lambda: "s3" in screen.rows and not screen.loading, 60, "the catalog listed")
    row = screen.rows["s3"]
    assert row.title == "s3 1.0.0" and row.verified
    assert row.subtitle == "DagFlux test publisher · not installed · signature verified"
    assert row.description.startswith("S3-compatible object storage")
    assert row.adds == "Connection types: s3"
    assert screen.rows["core"].subtitle.endswith("built in") and screen.rows["core"].adds.startswith("Node types:")
    assert "s3" not in _connection_types(app)

    seen: list[float] = []
    screen.bind(progress=lambda _w, value: seen.append(value))
    _act(screen, "s3", "install")
    wait_until(lambda: not screen.busy and screen.status_text.startswith("Installed"), 120, "the install")
    assert screen.status_text == "Installed s3 1.0.0; the engine reloaded its plugins."
    assert any(0 < v < 100 for v in seen) and seen[-1] == 100      # the bar moved with the download
    assert "s3" in _connection_types(app)                          # loaded without a restart
    assert screen.error_text == ""
    app.open_screen("connections")                                 # its type list follows
    wait_until(lambda: "s3" in {t["type"] for t in connections.types}, 30, "s3 among the connection types")
    app.open_screen("plugins")
    wait_until(lambda: "s3" in screen.rows and screen.rows["s3"].subtitle.startswith("DagFlux test publisher · "
                                                                                      "installed 1.0.0"), 30,
               "the row showing the install")
    screen.ids.search.text = "object storage"
    wait_until(lambda: list(screen.rows) == ["s3"], 15, "the search to keep only s3")
    wait_until(lambda: _laid_out(screen), 30, "the rows laid out")
    path = screenshot("plugins_screen_installed")
    assert non_blank(path)

    catalog.publish(plugin_copy(tmp_path, "s3", "1.1.0"))
    screen.refresh()
    wait_until(lambda: screen.rows.get("s3") is not None and screen.rows["s3"].can_update, 60, "update offered")
    _act(screen, "s3", "update")
    wait_until(lambda: not screen.busy and screen.status_text.startswith("Updated"), 120, "the update")
    assert screen.status_text == "Updated s3 1.1.0; the engine reloaded its plugins."
    wait_until(lambda: screen.rows.get("s3") is not None and screen.rows["s3"].can_rollback, 60, "rollback offered")
    _act(screen, "s3", "rollback")
    wait_until(lambda: not screen.busy and screen.status_text.startswith("Rolled back"), 60, "the rollback")
    assert screen.status_text == "Rolled back s3 to 1.0.0; the engine reloaded its plugins."
    assert {p["name"]: p["version"] for p in app.bridge.call_blocking("plugins.list")}["s3"] == "1.0.0"
    wait_until(lambda: screen.rows.get("s3") is not None and screen.rows["s3"].can_remove
               and not screen.loading, 60, "remove offered")
    _act(screen, "s3", "remove")
    wait_until(lambda: not screen.busy and screen.status_text.startswith("Removed"), 60, "the removal")
    assert "s3" not in _connection_types(app)


def test_a_catalog_signed_by_an_unknown_key_is_refused_and_nothing_installs(app, catalog, tmp_path):
    from engine.catalog.publish import sign_catalog
    from engine.catalog.trust import new_private_key_pem

    pem, _ = new_private_key_pem()
    stranger = tmp_path / "stranger.pem"
    stranger.write_bytes(pem)
    catalog.publish(plugin_copy(tmp_path, "s3", "1.0.1"))
    shutil.copy(catalog.dir / "index.json", tmp_path / "good-index.json")
    index = catalog.dir / "index.json"
    import json

    doc = json.loads(index.read_text())
    doc["signatures"] = []
    index.write_text(json.dumps(doc))
    sign_catalog(catalog.dir, stranger)

    screen = app.open_screen("plugins")
    wait_until(lambda: screen.error_text != "" and not screen.loading, 60, "the refusal")
    assert screen.error_text.startswith("The catalog could not be used: the catalog's signature did not verify")
    assert screen.error_text.endswith("nothing was installed")
    assert "s3" not in screen.rows and "core" in screen.rows        # built-ins are still listed
    wait_until(lambda: _laid_out(screen), 30, "the rows laid out")
    assert non_blank(screenshot("plugins_screen_refused"))
    assert not (Path(app.paths.plugins) / "s3").exists()


def test_a_tampered_archive_is_refused_with_the_reason_and_the_screen_stays_usable(app, catalog):
    archive = next((catalog.dir / "archives").glob("s3-1.0.0.zip"))
    data = bytearray(archive.read_bytes())
    data[len(data) // 2] ^= 0xFF                 # same length, one byte flipped
    archive.write_bytes(bytes(data))
    screen = app.open_screen("plugins")
    _act(screen, "s3", "install")
    wait_until(lambda: not screen.busy and screen.error_text, 120, "the refusal")
    assert screen.error_text.startswith("Could not install s3: plugin 's3' 1.0.0: SHA-256 ")
    assert screen.error_text.endswith("(tampered) — nothing was installed")
    assert screen.status_text == "" and screen.progress == 0
    wait_until(lambda: "s3" in screen.rows and not screen.loading, 60, "the list again")
    assert screen.rows["s3"].subtitle.endswith("not installed · signature verified")
    assert not screen.rows["s3"].buttons["install"].disabled          # one may try again
    assert "s3" not in _connection_types(app)
    wait_until(lambda: _laid_out(screen), 30, "the rows laid out")
    assert non_blank(screenshot("plugins_screen_tampered"))
