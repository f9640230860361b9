"""The Connections screen: list, add, edit, test and remove connections.

Everything goes through the engine (``connections.*`` calls via the bridge). The list
shows each connection's name, id, type and its *non-secret* settings, and which secret
fields are set — the engine never sends a secret value, so none can be shown. Adding
and editing use :class:`~app.widgets.connection_form.ConnectionFormWidget`; a secret
typed there travels inward once (``secrets={field: value}``), leaves the form before the
call is made, and is never logged. A test runs in an engine worker while the row shows
a progress indicator, then the server's description or the error message.
"""

from __future__ import annotations

from typing import Any

from kivy.app import App
from kivy.properties import BooleanProperty, DictProperty, ListProperty, ObjectProperty, OptionProperty, StringProperty
from kivy.uix.widget import Widget
from kivymd.uix.boxlayout import MDBoxLayout
from kivymd.uix.button import MDButton, MDButtonText
from kivymd.uix.dialog import MDDialogButtonContainer, MDDialogHeadlineText, MDDialogSupportingText
from kivymd.uix.screen import MDScreen

from app.kvload import load_kv
from app.widgets.connection_form import ConnectionFormWidget, FormRequest, type_icon  # noqa: F401  (kv uses the form)
from app.widgets.dialog import AppDialog

TEST_TIMEOUT_S = 90.0       # the engine gives a worker operation 60 s; leave room for the reply


def summary_of(conn: dict[str, Any], spec: dict[str, Any] | None) -> str:
    """Non-secret settings in the type's field order: "Port 5432 · Database shop"."""
    secret = set(conn.get("secret_fields", [])) | {f["name"] for f in (spec or {}).get("fields", []) if f["secret"]}
    settings = conn.get("settings", {})
    if spec is not None:
        pairs = [(f["label"], settings.get(f["name"])) for f in spec["fields"] if f["name"] not in secret]
    else:
        pairs = [(name, value) for name, value in sorted(settings.items()) if name not in secret]
    return " · ".join(f"{label} {value}" for label, value in pairs if value not in (None, "")) or "no settings"


def secrets_of(conn: dict[str, Any]) -> str:
    """Which secret fields are set: "host set · password not set" (never a value)."""
    fields = conn.get("secret_fields", [])
    if not fields:
        return "no secret fields"
    is_set = set(conn.get("secrets_set", []))
    return " · ".join(f"{name} {'set' if name in is_set else 'not set'}" for name in fields)


class ConnectionRowWidget(MDBoxLayout):
    """One connection in the list, with Test / Edit / Remove and the last test's outcome."""

    conn_id = StringProperty("")
    title = StringProperty("")
    subtitle = StringProperty("")
    summary = StringProperty("")
    secrets_text = StringProperty("")
    icon = StringProperty("database-outline")
    test_status = OptionProperty("", options=("", "running", "ok", "failed"))
    test_text = StringProperty("")
    editing = BooleanProperty(False)
    screen = ObjectProperty(None, allownone=True)


class ConnectionsScreen(MDScreen):
    connections = ListProperty([])
    types = ListProperty([])
    tests = DictProperty({})            # id -> (status, text) of the latest test
    empty_text = StringProperty("")
    keychain_text = StringProperty("")
    form_open = BooleanProperty(False)
    editing_id = StringProperty("")
    loading = BooleanProperty(False)

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.rows: dict[str, ConnectionRowWidget] = {}
        self._test_tokens: dict[str, int] = {}
        self.ai_models: dict[str, list[str]] = {}   # an AI connection's models, after a good test
        self._dialog: AppDialog | None = None
        self.app.bridge.bind(state=self._engine_state)

    @property
    def app(self):
        return App.get_running_app()

    @property
    def form(self) -> ConnectionFormWidget:
        return self.ids.form

    def on_kv_post(self, base_widget: Any) -> None:
        self.form.bind(on_submit=self._submitted, on_cancel=lambda *_a: self.close_form())

    # --- loading -------------------------------------------------------------------------
    def on_enter(self, *args: Any) -> None:
        self.refresh()

    def _engine_state(self, _bridge: Any, state: str) -> None:
        if state == "connected":
            self.refresh()
        else:
            self.empty_text = "Waiting for the engine…" if not self.connections else self.empty_text

    def refresh(self) -> None:
        """Ask the engine for the connector types (once), the connections and the keychain state."""
        bridge = self.app.bridge
        if not bridge.connected:
            self.empty_text = "Waiting for the engine…"
            return
        self.loading = True
        if not self.types:
            bridge.call("connections.types", on_result=self._got_types, on_error=self._load_failed)
        bridge.call("connections.list", on_result=self._listed, on_error=self._load_failed)
        bridge.call("secrets.status", on_result=self._keychain, on_error=self._load_failed)

    def _got_types(self, types: list[dict[str, Any]]) -> None:
        self.types = types
        self._render()

    def _listed(self, conns: list[dict[str, Any]]) -> None:
        self.loading = False
        self.connections = sorted(conns, key=lambda c: (c.get("name") or c["id"]).lower())
        self._render()

    def _keychain(self, status: dict[str, Any]) -> None:
        ok = status.get("state") == "ok"
        self.keychain_text = "" if ok else f"Secrets cannot be stored right now: {status.get('message', '')}"

    def _load_failed(self, message: str) -> None:
        self.loading = False
        self.empty_text = f"Could not load connections: {message}"

    def spec(self, type_name: str) -> dict[str, Any] | None:
        return next((t for t in self.types if t["type"] == type_name), None)

    def connection(self, conn_id: str) -> dict[str, Any] | None:
        return next((c for c in self.connections if c["id"] == conn_id), None)

    # --- the list ------------------------------------------------------------------------
    def _render(self) -> None:
        box = self.ids.rows
        box.clear_widgets()
        self.rows = {}
        for conn in self.connections:
            row = self._row(conn)
            self.rows[conn["id"]] = row
            box.add_widget(row)
        self.empty_text = "" if self.connections else (
            "No connections yet. Add one to read from or write to a database, a SQLite file or an API.")

    def _row(self, conn: dict[str, Any]) -> ConnectionRowWidget:
        spec = self.spec(conn["type"])
        label = spec["label"] if spec else f"{conn['type']} (type not installed)"
        status, text = self.tests.get(conn["id"], ("", ""))
        return ConnectionRowWidget(conn_id=conn["id"], title=conn.get("name") or conn["id"],
                                   subtitle=f"{conn['id']} · {label}", summary=summary_of(conn, spec),
                                   secrets_text=secrets_of(conn), icon=type_icon(conn["type"]),
                                   test_status=status, test_text=text, editing=conn["id"] == self.editing_id,
                                   screen=self)

    def _set_test(self, conn_id: str, status: str, text: str) -> None:
        self.tests[conn_id] = (status, text)
        row = self.rows.get(conn_id)
        if row is not None:
            row.test_status, row.test_text = status, text

    # --- testing -------------------------------------------------------------------------
    def test_connection(self, conn_id: str) -> None:
        """Run ``connections.test`` in an engine worker; the row shows progress, then the outcome."""
        token = self._test_tokens.get(conn_id, 0) + 1
        self._test_tokens[conn_id] = token
        self._set_test(conn_id, "running", "Testing the connection…")

        def done(ok: bool, text: str) -> None:
            if self._test_tokens.get(conn_id) == token:  # a newer test or an edit supersedes this one
                self._set_test(conn_id, "ok" if ok else "failed", text)

        def passed(result: dict[str, Any]) -> None:
            done(True, f"Connected — {result.get('detail', 'OK')}")
            conn = self.connection(conn_id)
            spec = self.spec(conn["type"]) if conn else None
            if spec is not None and spec.get("dialect") == "ai":   # its models, for the Model picker
                self.app.bridge.call("connections.objects", id=conn_id, timeout=TEST_TIMEOUT_S,
                                     on_result=lambda models: self.ai_models.__setitem__(conn_id, list(models)),
                                     on_error=lambda _m: None)

        self.app.bridge.call("connections.test", timeout=TEST_TIMEOUT_S, id=conn_id, on_result=passed,
                             on_error=lambda message: done(False, f"Test failed — {message}"))

    # --- adding and editing --------------------------------------------------------------
    def start_add(self) -> None:
        if not self.types:
            self.app.notify("The connector types are not loaded yet (is the engine running?)")
            return
        self.editing_id = ""
        self._mark_editing()
        self.form.choose_type(list(self.types))
        self.form_open = True

    def start_edit(self, conn_id: str) -> None:
        conn = self.connection(conn_id)
        spec = self.spec(conn["type"]) if conn else None
        if conn is None or spec is None:
            self.app.notify(f"'{conn_id}' cannot be edited: its connector type is not installed")
            return
        self.editing_id = conn_id
        self._mark_editing()
        self.form.edit(spec, conn, self.ai_models.get(conn_id))
        self.form_open = True

    def close_form(self) -> None:
        self.form.clear()
        self.form_open = False
        self.editing_id = ""
        self._mark_editing()

    def _mark_editing(self) -> None:
        for conn_id, row in self.rows.items():
            row.editing = conn_id == self.editing_id

    def _submitted(self, form: ConnectionFormWidget, request: FormRequest) -> None:
        """Send the request inward; the form has already emptied its secret inputs."""
        had_secrets = bool(request.secrets)
        params: dict[str, Any] = {"id": request.id, "name": request.name, "settings": request.settings,
                                  "secrets": dict(request.secrets)}
        request.secrets.clear()          # from here on only the outgoing call holds them
        if request.mode == "add":
            params["type"] = request.type
        method = "connections.add" if request.mode == "add" else "connections.edit"
        self.app.bridge.call(method, on_result=lambda entry: self._saved(request.mode, entry),
                             on_error=lambda message: form.show_error(message, secrets_cleared=had_secrets),
                             **params)
        params.clear()

    def _saved(self, mode: str, entry: dict[str, Any]) -> None:
        self._test_tokens[entry["id"]] = self._test_tokens.get(entry["id"], 0) + 1
        self.tests.pop(entry["id"], None)          # an old test result says nothing about new settings
        self.close_form()
        verb = "Added" if mode == "add" else "Saved"
        self.app.notify(f"{verb} connection {entry['name']} ({entry['id']})")
        self.refresh()

    # --- removing ------------------------------------------------------------------------
    def confirm_remove(self, conn_id: str) -> AppDialog:
        conn = self.connection(conn_id) or {"id": conn_id, "name": conn_id}
        cancel = MDButton(MDButtonText(text="Cancel"), style="text", theme_height="Custom", size_hint_y=None,
                         height="48dp")
        remove = MDButton(MDButtonText(text="Remove"), style="filled", theme_height="Custom", size_hint_y=None,
                         height="48dp")
        dialog = AppDialog(
            MDDialogHeadlineText(text=f"Remove {conn.get('name') or conn_id}?"),
            MDDialogSupportingText(text=f"The connection '{conn_id}' and its secrets in the keychain are deleted. "
                                        "Workflows that use it will fail until it is added again."),
            MDDialogButtonContainer(Widget(), cancel, remove, spacing="8dp"))
        cancel.bind(on_release=lambda *_a: self._close_dialog())
        remove.bind(on_release=lambda *_a: self._remove(conn_id))
        dialog.cancel_button, dialog.remove_button = cancel, remove
        dialog.bind(on_dismiss=lambda *_a: setattr(self, "_dialog", None))
        self._dialog = dialog
        dialog.open()
        return dialog

    def _close_dialog(self) -> None:
        if self._dialog is not None:
            self._dialog.dismiss()

    def _remove(self, conn_id: str) -> None:
        self._close_dialog()
        if self.editing_id == conn_id:
            self.close_form()
        self.app.bridge.call("connections.remove", id=conn_id, on_result=lambda _ok: self._removed(conn_id),
                             on_error=lambda message: self.app.notify(f"Could not remove {conn_id}: {message}"))

    def _removed(self, conn_id: str) -> None:
        self.tests.pop(conn_id, None)
        self._test_tokens[conn_id] = self._test_tokens.get(conn_id, 0) + 1
        self.app.notify(f"Removed connection {conn_id} and its secrets")
        self.refresh()

    def on_app_stop(self) -> None:
        self._close_dialog()
        self.form.clear()  # drop anything typed into a secret input


load_kv(__file__)
