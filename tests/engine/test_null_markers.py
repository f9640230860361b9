"""engine.io.readers._sink.markers_to_none: exact matches become None, nothing else moves."""

from __future__ import annotations

import pytest

from engine.io.readers._sink import markers_to_none


@pytest.mark.parametrize("every", [1, 2, 9, 10_000])
def test_only_exact_markers_become_none(every: int) -> None:
    values: list[object] = [("NA" if i % every == 0 else f"v{i}") for i in range(5000)]
    values += ["na", " NA", "NA ", "NAN", None, 7, "", "N/A"]
    expected = [None if v == "NA" else v for v in values]
    markers_to_none(values, ["NA"])
    assert values == expected


def test_several_markers_and_none_already_there() -> None:
    values: list[object] = ["", "NA", "x", None, "NULL", "", "1"] * 100
    markers_to_none(values, frozenset({"", "NULL", "absent"}))
    assert values == [None, "NA", "x", None, None, None, "1"] * 100


def test_no_markers_leaves_the_list_alone() -> None:
    values: list[object] = ["NA", ""]
    markers_to_none(values, ())
    assert values == ["NA", ""]
