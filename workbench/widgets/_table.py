"""A sortable table widget (anywidget): click a header to sort, click a row to pick it.

Sorting happens in Python over every row, and only the first ``page_size`` rows are sent to
the browser, so a selection of thousands of points stays light; the exports always use every
row. State is JSON traits validated here; the browser side is one small ES module.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import anywidget
import traitlets

__all__ = ["SortableTable"]

_ESM = r"""
function fmt(v, kind) {
  if (v === null || v === undefined || (typeof v === "number" && !isFinite(v))) return "–";
  if (typeof v === "number") {
    if (kind === "int") return Math.round(v).toLocaleString("en-US");
    if (Math.abs(v) >= 1e5 || (Math.abs(v) < 1e-3 && v !== 0)) return v.toExponential(3);
    return String(Number(v.toPrecision(5)));
  }
  return String(v);
}
function render({ model, el }) {
  const root = document.createElement("div");
  root.className = "wb-table";
  el.appendChild(root);
  function draw() {
    const cols = model.get("columns"), rows = model.get("rows");
    const sortBy = model.get("sort_by"), asc = model.get("ascending");
    const picked = model.get("selected_row");
    root.innerHTML = "";
    const cap = document.createElement("div");
    cap.className = "wb-table-caption";
    cap.textContent = model.get("caption");
    root.appendChild(cap);
    const wrap = document.createElement("div");
    wrap.className = "wb-table-wrap";
    const table = document.createElement("table");
    const thead = table.createTHead().insertRow();
    cols.forEach((c) => {
      const th = document.createElement("th");
      th.textContent = c.label + (c.name === sortBy ? (asc ? " ▲" : " ▼") : "");
      th.title = "sort by " + c.label;
      th.dataset.col = c.name;
      th.addEventListener("click", () => {
        if (model.get("sort_by") === c.name) model.set("ascending", !model.get("ascending"));
        else { model.set("sort_by", c.name); model.set("ascending", true); }
        model.save_changes();
      });
      thead.appendChild(th);
    });
    const body = table.createTBody();
    rows.forEach((r, i) => {
      const tr = body.insertRow();
      if (i === picked) tr.className = "picked";
      r.forEach((v, j) => {
        const td = tr.insertCell();
        td.textContent = fmt(v, cols[j].kind);
        if (typeof v === "number") td.className = "num";
      });
      tr.addEventListener("click", () => { model.set("selected_row", i); model.save_changes(); });
    });
    wrap.appendChild(table);
    root.appendChild(wrap);
  }
  const events = ["change:rows", "change:columns", "change:sort_by", "change:ascending",
    "change:caption", "change:selected_row"];
  events.forEach((e) => model.on(e, draw));
  draw();
  return () => events.forEach((e) => model.off(e, draw));
}
export default { render };
"""

_CSS = """
.wb-table { font-size: 12px; font-family: var(--jp-ui-font-family, sans-serif); }
.wb-table-caption { color: var(--jp-ui-font-color2, #555); margin: 2px 0 4px; }
.wb-table-wrap { max-height: 320px; overflow: auto;
  border: 1px solid var(--jp-border-color2, #ddd); }
.wb-table table { border-collapse: collapse; width: 100%; }
.wb-table th { position: sticky; top: 0; background: var(--jp-layout-color2, #f4f4f4);
  cursor: pointer; text-align: left; padding: 3px 6px; white-space: nowrap; user-select: none; }
.wb-table td { padding: 2px 6px; border-top: 1px solid var(--jp-border-color3, #eee);
  white-space: nowrap; }
.wb-table td.num { text-align: right; font-variant-numeric: tabular-nums; }
.wb-table tbody tr { cursor: pointer; }
.wb-table tbody tr:hover { background: var(--jp-layout-color3, #eef4ff); }
.wb-table tbody tr.picked { background: #dbe9ff; }
"""


def _sort_key(value: Any, ascending: bool) -> tuple[int, Any]:
    """Missing values last in either direction; numbers before text."""
    missing = value is None or (isinstance(value, float) and math.isnan(value))
    if missing:
        return (2, 0)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return (0, value if ascending else -value)
    return (1, str(value))


class SortableTable(anywidget.AnyWidget):
    """Rows of records with named columns; ``sort_by``/``ascending`` sort every row in Python."""

    _esm = _ESM
    _css = _CSS

    columns = traitlets.List(traitlets.Dict()).tag(
        sync=True
    )  # [{name, label, kind: int|float|text}]
    rows = traitlets.List(traitlets.List()).tag(
        sync=True
    )  # the page shown: first page_size sorted rows
    sort_by = traitlets.Unicode("").tag(sync=True)
    ascending = traitlets.Bool(True).tag(sync=True)
    caption = traitlets.Unicode("").tag(sync=True)
    selected_row = traitlets.Int(-1).tag(sync=True)  # position in ``rows``; -1 = none
    page_size = traitlets.Int(200).tag(sync=False)

    def __init__(
        self,
        columns: Sequence[tuple[str, str, str]] = (),
        *,
        page_size: int = 200,
        empty: str = "",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.page_size = page_size
        self._records: list[dict[str, Any]] = []
        self._empty = empty
        self._head = ""
        self.columns = [{"name": n, "label": label, "kind": kind} for n, label, kind in columns]
        self._refresh()

    @traitlets.validate("sort_by")
    def _check_sort(self, proposal: Any) -> str:
        value = proposal["value"]
        names = [c["name"] for c in self.columns]
        if value and names and value not in names:
            raise traitlets.TraitError(f"sort_by must be one of {', '.join(names)}, got {value!r}")
        return value

    @traitlets.observe("sort_by", "ascending")
    def _on_sort(self, _change: Any) -> None:
        self._refresh()

    @property
    def records(self) -> list[dict[str, Any]]:
        """Every row, in the current sort order."""
        return list(self._records)

    def set_records(self, records: Sequence[dict[str, Any]], caption: str = "") -> None:
        """Show ``records`` (dicts keyed by column name) under ``caption``."""
        self._records = list(records)
        self._head = caption
        self._refresh()

    def picked(self) -> dict[str, Any] | None:
        """The record of the row clicked last, if any."""
        i = self.selected_row
        return self._records[i] if 0 <= i < min(len(self._records), self.page_size) else None

    def _refresh(self) -> None:
        if self.sort_by:
            asc = self.ascending
            self._records.sort(key=lambda r: _sort_key(r.get(self.sort_by), asc))
        names = [c["name"] for c in self.columns]
        page = self._records[: self.page_size]
        self.selected_row = -1
        self.rows = [[_jsonable(r.get(n)) for n in names] for r in page]
        n = len(self._records)
        if not n:
            self.caption = self._empty
            return
        shown = (
            f"showing {len(page):,} of {n:,} rows (exports include all)"
            if n > len(page)
            else f"{n:,} rows"
        )
        self.caption = f"{self._head} · {shown}" if self._head else shown


def _jsonable(v: Any) -> Any:
    if isinstance(v, float) and not math.isfinite(v):
        return None
    if hasattr(v, "item"):
        return _jsonable(v.item())
    return v
