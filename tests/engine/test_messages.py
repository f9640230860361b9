"""The message catalog: every message round-trips, and every malformed frame is refused by name.

A frame is one msgpack map ``{"v": 1, "type": <class name>, "id": <int>, <fields>…}``.
Decoding refuses an unknown version, an unknown type, a missing required field and
anything that is not a msgpack map, each with a :class:`ProtocolError` that says which;
unknown extra fields are ignored so a newer peer can add optional ones.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import msgpack
import pytest

from engine import messages
from engine.errors import ProtocolError
from engine.messages import Message

CATALOG = messages.catalog()

# A non-default sample for every annotation used in the catalog. A new message with a new
# annotation fails `test_catalog_uses_only_plain_annotations` until a sample is added here.
SAMPLES: dict[str, Any] = {
    "str": "sample-text ✓",
    "int": 4242,
    "float": 12.5,
    "bool": True,
    "list": [1, "two", 3.5, None, {"four": [True, b"\x00\xff"]}],
    "dict": {"sql": "SELECT 1", "nested": {"list": [1, 2], "bytes": b"\x01"}, "none": None},
    "str | None": "optional-text",
    "int | None": 7,
    "float | None": 0.25,
    "list | None": [{"path": "/tmp/in.csv", "event": "add"}],
    "Any": {"anything": ["plain", 1, None]},
}


def fields_of(cls: type[Message]) -> list[dataclasses.Field]:
    return list(dataclasses.fields(cls))


def is_required(f: dataclasses.Field) -> bool:
    return f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING


def sample(cls: type[Message], *, required_only: bool = False) -> Message:
    """An instance with a sample value in every (or every required) field; id is non-zero."""
    kwargs = {f.name: SAMPLES[str(f.type)] for f in fields_of(cls)
              if f.name != "id" and (is_required(f) or not required_only)}
    return cls(id=31337, **kwargs)


def frame(**payload: Any) -> bytes:
    return msgpack.packb(payload, use_bin_type=True)


def required_fields() -> list[tuple[str, str]]:
    return [(name, f.name) for name, cls in CATALOG.items() for f in fields_of(cls) if is_required(f)]


# --- the catalog ---------------------------------------------------------------------------
def test_catalog_registers_every_message_under_its_class_name() -> None:
    assert {"WorkerReady", "RunNode", "NodeResult", "Shutdown", "Ping", "Pong", "RunStarted",
            "NodeStarted", "NodeFinished", "RunFinished"} <= set(CATALOG)
    for name, cls in CATALOG.items():
        assert cls.TYPE == name
        assert issubclass(cls, Message)


def test_catalog_uses_only_plain_annotations() -> None:
    unknown = {f"{name}.{f.name}: {f.type}" for name, cls in CATALOG.items()
               for f in fields_of(cls) if f.name != "id" and str(f.type) not in SAMPLES}
    assert not unknown, "add a plain-data sample for these fields (or they are not plain data)"


def test_catalog_is_a_copy() -> None:
    view = messages.catalog()
    view.pop("Ping")
    assert "Ping" in messages.catalog()


# --- round trips ---------------------------------------------------------------------------
@pytest.mark.parametrize("name", sorted(CATALOG))
def test_every_message_round_trips_with_every_field_set(name: str) -> None:
    msg = sample(CATALOG[name])
    decoded = messages.decode(messages.encode(msg))
    assert type(decoded) is CATALOG[name]
    assert decoded == msg


@pytest.mark.parametrize("name", sorted(CATALOG))
def test_every_message_round_trips_with_only_required_fields(name: str) -> None:
    msg = sample(CATALOG[name], required_only=True)
    decoded = messages.decode(messages.encode(msg))
    assert decoded == msg
    assert decoded.id == 31337


@pytest.mark.parametrize("name", sorted(CATALOG))
def test_frame_is_a_plain_msgpack_map_with_envelope_keys(name: str) -> None:
    msg = sample(CATALOG[name])
    payload = msgpack.unpackb(messages.encode(msg), raw=False)
    assert isinstance(payload, dict)
    assert list(payload)[:3] == ["v", "type", "id"]
    assert payload["v"] == messages.PROTOCOL_VERSION == 1
    assert payload["type"] == name
    assert payload["id"] == 31337
    assert set(payload) == {"v", "type"} | {f.name for f in fields_of(CATALOG[name])}


def test_a_hand_built_frame_decodes_to_its_message() -> None:
    raw = frame(v=1, type="NodeResult", id=9, node_id="clean", status="succeeded", table="wf__clean",
                records=12)
    assert messages.decode(raw) == messages.NodeResult(id=9, node_id="clean", status="succeeded",
                                                       table="wf__clean", records=12)


def test_unknown_extra_fields_are_ignored() -> None:
    raw = frame(v=1, type="Pong", id=3, pid=77, added_by_a_newer_peer={"x": 1})
    assert messages.decode(raw) == messages.Pong(id=3, pid=77)


# --- refused frames ------------------------------------------------------------------------
@pytest.mark.parametrize("version, shown", [(2, "2"), (0, "0"), ("1", "'1'")])
def test_an_unknown_protocol_version_is_refused(version: Any, shown: str) -> None:
    with pytest.raises(ProtocolError, match=rf"protocol version {shown} is not supported "
                                            r"\(this side speaks version 1\)"):
        messages.decode(frame(v=version, type="Ping", id=1))


def test_a_frame_without_a_version_is_refused() -> None:
    with pytest.raises(ProtocolError, match=r"protocol version None is not supported"):
        messages.decode(frame(type="Ping", id=1))


@pytest.mark.parametrize("type_name, shown", [("Frobnicate", "'Frobnicate'"), (None, "None"),
                                              (5, "5"), ("Message", "'Message'")])
def test_an_unknown_message_type_is_refused(type_name: Any, shown: str) -> None:
    with pytest.raises(ProtocolError, match=rf"unknown message type {shown}$"):
        messages.decode(frame(v=1, type=type_name, id=1))


@pytest.mark.parametrize("name, missing", required_fields())
def test_a_missing_required_field_is_refused_by_name(name: str, missing: str) -> None:
    payload = msgpack.unpackb(messages.encode(sample(CATALOG[name])), raw=False)
    del payload[missing]
    with pytest.raises(ProtocolError, match=rf"^{name} lacks required field '{missing}'$"):
        messages.decode(msgpack.packb(payload, use_bin_type=True))


def test_there_are_required_fields_to_check() -> None:
    assert ("RunNode", "node_id") in required_fields()
    assert ("RunFinished", "status") in required_fields()


@pytest.mark.parametrize("raw", [
    pytest.param(b"\xc1", id="reserved-byte"),
    pytest.param(b"", id="empty"),
    pytest.param(b"\x83\xa1v\x01", id="truncated-map"),
    pytest.param(frame(v=1, type="Ping", id=1) + b"\x00", id="trailing-bytes"),
    pytest.param(msgpack.packb({1: "int key"}), id="non-string-key"),
])
def test_bytes_that_are_not_a_msgpack_message_are_refused(raw: bytes) -> None:
    with pytest.raises(ProtocolError, match=r"^frame is not a msgpack message"):
        messages.decode(raw)


@pytest.mark.parametrize("value", [[1, 2], "Ping", 7, None])
def test_a_frame_that_is_not_a_map_is_refused(value: Any) -> None:
    with pytest.raises(ProtocolError, match=r"^frame is not a msgpack map$"):
        messages.decode(msgpack.packb(value))


# --- only plain data crosses ---------------------------------------------------------------
@pytest.mark.parametrize("value", [object(), {1, 2}, Message(), lambda: None],
                         ids=["object", "set", "message", "closure"])
def test_a_value_that_is_not_plain_data_is_refused_on_encode(value: Any) -> None:
    msg = messages.RunNode(run_id="r", workflow_id="wf", node_id="n", node_type="t",
                           config={"value": value})
    with pytest.raises(ProtocolError, match=r"^RunNode carries a value that is not plain data"):
        messages.encode(msg)


def test_a_map_with_non_string_keys_is_refused_on_encode() -> None:
    msg = messages.RunNode(run_id="r", workflow_id="wf", node_id="n", node_type="t",
                           config={1: "int-keyed"})
    with pytest.raises(ProtocolError, match=r"^RunNode carries a value that is not plain data"):
        messages.encode(msg)


def test_an_integer_too_large_for_msgpack_is_refused_on_encode() -> None:
    with pytest.raises(ProtocolError, match=r"^Pong carries a value that is not plain data"):
        messages.encode(messages.Pong(pid=2 ** 70))


# --- registering ---------------------------------------------------------------------------
def test_a_message_type_cannot_be_registered_twice() -> None:
    before = messages.catalog()

    @dataclass(frozen=True, kw_only=True)
    class Ping(Message):
        extra: int = 0

    with pytest.raises(ProtocolError, match=r"^message type Ping registered twice$"):
        messages.message(Ping)
    assert messages.catalog() == before


@pytest.mark.parametrize("reserved", ["v", "type"])
def test_a_message_cannot_use_a_reserved_key(reserved: str) -> None:
    cls = dataclasses.make_dataclass("ReservedKeyUsed", [(reserved, int, dataclasses.field(default=0))],
                                     bases=(Message,), frozen=True, kw_only=True)
    with pytest.raises(ProtocolError, match=rf"^ReservedKeyUsed\.{reserved} uses a reserved key$"):
        messages.message(cls)
    assert "ReservedKeyUsed" not in messages.catalog()


def test_the_method_catalog_lists_exactly_what_the_engine_answers() -> None:
    """METHODS is the documented API: every engine handler is in it, and nothing else."""
    from engine.methods import METHODS
    from engine.service.engine import Engine

    handled = {name[len("_call_"):].replace("_", ".", 1) for name in dir(Engine) if name.startswith("_call_")}
    assert handled | {"subscribe"} == set(METHODS)
