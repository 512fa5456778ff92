"""The sortable table widget: Python-side sort over every row, paging, picking, validation."""

from __future__ import annotations

import math

import pytest
import traitlets

from workbench.widgets import SortableTable

COLS = (("trial", "trial", "int"), ("acc", "accuracy", "float"), ("name", "name", "text"))


def _table(**kw) -> SortableTable:
    t = SortableTable(COLS, empty="nothing yet", **kw)
    t.set_records(
        [
            {"trial": 3, "acc": 0.9, "name": "b"},
            {"trial": 1, "acc": None, "name": "c"},
            {"trial": 2, "acc": 0.95, "name": "a"},
            {"trial": 4, "acc": float("nan"), "name": "d"},
        ],
        caption="selection",
    )
    return t


def test_sorts_numbers_with_missing_values_last_both_ways():
    t = _table()
    t.sort_by = "acc"
    assert [r["trial"] for r in t.records] == [3, 2, 1, 4]
    t.ascending = False
    assert [r["trial"] for r in t.records][:2] == [2, 3]
    assert all(r["acc"] is None or math.isnan(r["acc"]) for r in t.records[2:])
    # what the browser gets is JSON: NaN becomes null
    assert [row[1] for row in t.rows] == [0.95, 0.9, None, None]


def test_sorts_text_and_pages():
    t = _table(page_size=2)
    t.sort_by = "name"
    assert [r["name"] for r in t.records] == ["a", "b", "c", "d"]
    assert len(t.rows) == 2 and t.caption == "selection · showing 2 of 4 rows (exports include all)"
    t.set_records([])
    assert t.caption == "nothing yet" and t.rows == []


def test_picking_a_row_and_bad_sort_column():
    t = _table()
    t.sort_by = "trial"
    t.selected_row = 1
    assert t.picked()["trial"] == 2
    t.ascending = False  # re-sorting clears the pick: the row under it changed
    assert t.selected_row == -1 and t.picked() is None
    with pytest.raises(traitlets.TraitError, match="sort_by must be one of trial, acc, name"):
        t.sort_by = "speed"
