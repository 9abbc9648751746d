"""What a listing command prints: one set of rows as a table (the default), CSV or JSON.

A listing command prints rows of one shape, one per thing it lists (an incident, a camera, an
employee, a subscriber, a consent record); it takes ``--output table|json|csv``. Commands that
act (apply, enroll, replay), print one document (``audit show``) or write files (``audit
report``) are not listings; one that prints a document takes ``--output text|json``
(``add_document_output``). tests/cli/test_listing_output.py walks the command tree and fails on
a command that is not classified, or a listing without ``--output table|json|csv``.

The three formats carry the same rows and the same columns under the same keys: camelCase, as
the event contract (schemas/). JSON is an array of objects with typed values (numbers, null,
lists); CSV has a header row and text cells (empty for null, lists joined by "; "); the table
shows a column subset a terminal fits, with headings in capitals (INCIDENT_ID) and ``-`` for
null. With json or csv, stdout holds the document alone; what else the command says goes to
stderr (``data_stdout``).
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import json
import re
import sys
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TextIO

from pydantic.alias_generators import to_camel

FORMATS = ("table", "json", "csv")
TABLE = "table"
_GAP = "  "


@dataclass(frozen=True)
class Column:
    key: str  # camelCase: the JSON key and the CSV header
    width: int | None = None  # table width; None: as wide as the widest value (reads all rows)
    table: bool = True  # shown in the table (JSON and CSV carry every column)
    decimals: int | None = None  # a float's digits after the point, in every format

    @property
    def heading(self) -> str:
        return re.sub(r"(?<!^)(?=[A-Z])", "_", self.key).upper()


def camel_keys(row: Mapping[str, Any]) -> dict[str, Any]:
    """A model's snake_case dump under the listing's camelCase keys."""
    return {to_camel(key): value for key, value in row.items()}


def add_output_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--output",
        "-o",
        choices=FORMATS,
        default=TABLE,
        help="table (default), json (an array, camelCase keys) or csv (with a header row)",
    )
    # --format was audit's name for it before --output was everyone's.
    parser.add_argument(
        "--format",
        dest="output",
        choices=FORMATS,
        default=argparse.SUPPRESS,
        help=argparse.SUPPRESS,
    )


DOCUMENT_FORMATS = ("text", "json")


def add_document_output(parser: argparse.ArgumentParser, *, alias: str = "--json") -> None:
    """``--output text|json`` of a command that prints one document (``audit show``, replay, an
    erasure certificate); ``alias`` is the older spelling it keeps (--json, or --format)."""
    parser.add_argument(
        "--output", "-o", choices=DOCUMENT_FORMATS, default="text", help="text (default) or json"
    )
    if alias == "--json":
        parser.add_argument(
            "--json", dest="output", action="store_const", const="json", help="--output json"
        )
    else:
        parser.add_argument(
            alias, dest="output", choices=DOCUMENT_FORMATS, default=argparse.SUPPRESS,
            help=argparse.SUPPRESS,
        )  # fmt: skip


# A spreadsheet runs a cell that starts with one of these as a formula (=HYPERLINK(...)); a
# leading apostrophe makes it text again (OWASP "CSV injection"). Only text is at risk: numbers
# are written by us.
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: str) -> str:
    return f"'{value}" if value.startswith(_FORMULA_STARTS) else value


def _value(value: Any, column: Column) -> Any:
    if isinstance(value, float) and column.decimals is not None:
        return round(value, column.decimals)
    return value


def text(value: Any, column: Column, null: str = "") -> str:
    """A value as a CSV or table cell."""
    if value is None:
        return null
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and column.decimals is not None:
        return f"{value:.{column.decimals}f}"
    if isinstance(value, list | tuple):
        return "; ".join(str(v) for v in value)
    return str(value)


def write_rows(
    rows: Iterable[Mapping[str, Any]], columns: Sequence[Column], fmt: str, out: TextIO
) -> int:
    """Write the rows (each a mapping from column key to a JSON value) in the format; stream
    them where the format allows (JSON, CSV, a table of fixed widths). Returns how many."""
    if fmt == "json":
        return _write_json(rows, columns, out)
    if fmt == "csv":
        return _write_csv(rows, columns, out)
    if fmt != TABLE:
        raise ValueError(f"unknown output format {fmt!r} (one of {', '.join(FORMATS)})")
    return _write_table(rows, [c for c in columns if c.table], out)


def _write_json(rows: Iterable[Mapping[str, Any]], columns: Sequence[Column], out: TextIO) -> int:
    count = 0
    for count, row in enumerate(rows, 1):
        document = {c.key: _value(row.get(c.key), c) for c in columns}
        out.write(("[\n  " if count == 1 else ",\n  ") + json.dumps(document))
    out.write("\n]\n" if count else "[]\n")
    return count


def _write_csv(rows: Iterable[Mapping[str, Any]], columns: Sequence[Column], out: TextIO) -> int:
    writer = csv.writer(out, lineterminator="\n")
    count = 0
    for count, row in enumerate(rows, 1):
        if count == 1:  # after the first row is read: an error before it leaves stdout empty
            writer.writerow([c.key for c in columns])
        values = [(c, row.get(c.key)) for c in columns]
        writer.writerow(
            [text(v, c) if isinstance(v, int | float) else csv_cell(text(v, c)) for c, v in values]
        )
    if not count:
        writer.writerow([c.key for c in columns])
    return count


def _write_table(rows: Iterable[Mapping[str, Any]], columns: Sequence[Column], out: TextIO) -> int:
    def line(cells: Sequence[str], widths: Sequence[int]) -> str:
        padded = (
            cell.rjust(width) if column.decimals is not None else cell.ljust(width)  # amounts
            for cell, width, column in zip(cells, widths, columns, strict=True)
        )
        return _GAP.join(padded).rstrip() + "\n"

    cells = (tuple(text(row.get(c.key), c) or "-" for c in columns) for row in rows)
    headings = [c.heading for c in columns]
    if all(c.width is not None for c in columns):  # fixed widths: a year of incidents streams
        widths = [max(c.width or 0, len(h)) for c, h in zip(columns, headings, strict=True)]
        count = 0
        for count, row in enumerate(cells, 1):
            if count == 1:  # as with CSV: nothing on stdout before the first row is read
                out.write(line(headings, widths))
            out.write(line(row, widths))
        if not count:
            out.write(line(headings, widths))
        return count
    table = list(cells)
    widths = [
        max([len(h), c.width or 0, *(len(r[i]) for r in table)])
        for i, (c, h) in enumerate(zip(columns, headings, strict=True))
    ]
    out.write(line(headings, widths))
    out.writelines(line(row, widths) for row in table)
    return len(table)


@contextlib.contextmanager
def data_stdout(fmt: str) -> Iterator[TextIO]:
    """The stream the rows go to. With json or csv, everything else the command prints inside
    the block goes to stderr, so stdout parses as the document alone."""
    out = sys.stdout
    if fmt == TABLE:
        yield out
        return
    with contextlib.redirect_stdout(sys.stderr):
        yield out
