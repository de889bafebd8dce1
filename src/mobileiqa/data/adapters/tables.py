"""Reading labels files as the datasets publish them: CSV, Excel (.xlsx) and MATLAB (.mat).

Every row keeps its position as a person sees it in the file (``line 7`` of a CSV, ``row 7`` of a sheet,
``entry 7`` of a MATLAB array), so that errors can name it. CSV files are decoded as UTF-8 (with or without a
byte-order mark), UTF-16 with a byte-order mark, or else Latin-1; the delimiter is found by trying the usual
ones against the columns the caller needs. Cells are returned as read; :func:`to_number` turns one into a
float or says why it cannot.
"""

from __future__ import annotations

import codecs
import csv
import io
import math
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.io import loadmat

from mobileiqa.data.manifest import ManifestError

WHERE = "_where"  # column holding each row's position in its file ("line 7", "row 7", "entry 7")
DELIMITERS = (",", ";", "\t", "|")


@dataclass(frozen=True)
class Table:
    """Rows of one labels file; ``frame`` holds the cells and a :data:`WHERE` column."""

    label: str  # how messages name the file
    frame: pd.DataFrame
    details: dict = field(default_factory=dict)  # encoding, delimiter, ...


def describe(path: Path, root: Path) -> str:
    """Name a file for messages: relative to the dataset root when inside it."""
    try:
        return Path(path).resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return str(path)


def decode(data: bytes) -> tuple[str, str]:
    """``(text, encoding)``: UTF-8 with or without BOM, UTF-16 with BOM, else Latin-1 (never fails)."""
    if data.startswith(codecs.BOM_UTF8):
        return data[len(codecs.BOM_UTF8):].decode("utf-8", errors="strict"), "utf-8-sig"
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return data.decode("utf-16"), "utf-16"
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        return data.decode("latin-1"), "latin-1"


def _header(text: str, delimiter: str) -> list[str]:
    first = next(csv.reader(io.StringIO(text), delimiter=delimiter), [])
    return [c.strip() for c in first]


def _pick_delimiter(text: str, required: list[str]) -> str:
    """The delimiter whose header holds every required column (comma first); else the sniffer's guess."""
    for delim in DELIMITERS:
        if set(required) <= set(_header(text, delim)):
            return delim
    try:
        return csv.Sniffer().sniff(text[:8192], delimiters="".join(DELIMITERS)).delimiter
    except csv.Error:
        return ","


def require_columns(columns, required, label: str, what: str = "") -> None:
    missing = [c for c in required if c not in columns]
    if missing:
        found = [c for c in columns if c != WHERE]
        raise ManifestError(f"{label}: missing required column(s) {missing}{what}; the file has {found}. "
                            "Check the header spelling and the delimiter, or point the adapter at the right file")


def read_csv_table(path: str | os.PathLike, label: str, required: list[str], *,
                   encoding: str | None = None, delimiter: str | None = None) -> Table:
    """Read a delimited text file; rows keep their 1-based line numbers (blank lines are skipped)."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ManifestError(f"{label}: labels file not found") from None
    if encoding:
        try:
            text = data.decode(encoding)
        except (UnicodeDecodeError, LookupError) as exc:
            raise ManifestError(f"{label}: cannot decode as {encoding} ({exc}); pass the file's encoding") from None
        text = text.removeprefix("\ufeff")
    else:
        text, encoding = decode(data)
    delimiter = delimiter or _pick_delimiter(text, required)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        header = [c.strip() for c in next(reader)]
    except StopIteration:
        raise ManifestError(f"{label}: empty file, expected a header with {required}") from None
    require_columns(header, required, label, f" (read with delimiter {delimiter!r}, encoding {encoding})")
    dupes = sorted({c for c in header if header.count(c) > 1 and c})
    if dupes:
        raise ManifestError(f"{label}, line 1: column(s) {dupes} appear more than once; rename them")
    rows, wheres = [], []
    start = 1
    try:
        for fields in reader:
            line = start + 1  # first physical line of this record
            start = reader.line_num
            if not any(f.strip() for f in fields):
                continue
            if len(fields) != len(header):
                raise ManifestError(f"{label}, line {line}: {len(fields)} field(s) but the header has "
                                    f"{len(header)} (delimiter {delimiter!r}); fix the quoting or the delimiter")
            rows.append([f.strip() for f in fields])
            wheres.append(f"line {line}")
    except csv.Error as exc:
        raise ManifestError(f"{label}, line {reader.line_num}: malformed CSV ({exc})") from None
    frame = pd.DataFrame(rows, columns=header, dtype=object) if rows else pd.DataFrame(columns=header, dtype=object)
    frame[WHERE] = wheres
    return Table(label, frame, {"encoding": encoding, "delimiter": delimiter})


def read_excel_table(path: str | os.PathLike, label: str, required: list[str], sheet: int | str = 0) -> Table:
    """Read one sheet (header = first non-empty row); rows keep their Excel row numbers; blank rows skipped."""
    import openpyxl

    path = Path(path)
    if not path.is_file():
        raise ManifestError(f"{label}: labels file not found")
    try:
        book = openpyxl.load_workbook(path, read_only=False, data_only=True)
    except Exception as exc:  # openpyxl raises zipfile, KeyError, InvalidFileException... on bad files
        raise ManifestError(f"{label}: not a readable .xlsx workbook ({exc.__class__.__name__}: {exc})") from None
    try:
        sheet_obj = book.worksheets[sheet] if isinstance(sheet, int) else book[sheet]
    except (IndexError, KeyError):
        raise ManifestError(f"{label}: no sheet {sheet!r}; sheets: {book.sheetnames}") from None
    header: list[str] | None = None
    rows, wheres = [], []
    for number, values in enumerate(sheet_obj.iter_rows(values_only=True), start=1):
        if all(v is None or (isinstance(v, str) and not v.strip()) for v in values):
            continue
        if header is None:
            header = ["" if v is None else str(v).strip() for v in values]
            while header and not header[-1]:
                header.pop()
            require_columns(header, required, label, f" (header in row {number})")
            continue
        cells = list(values[:len(header)]) + [None] * max(0, len(header) - len(values))
        rows.append([c.strip() if isinstance(c, str) else c for c in cells])
        wheres.append(f"row {number}")
    book.close()
    if header is None:
        raise ManifestError(f"{label}: empty sheet, expected a header with {required}")
    frame = pd.DataFrame(rows, columns=header, dtype=object) if rows else pd.DataFrame(columns=header, dtype=object)
    frame[WHERE] = wheres
    return Table(label, frame, {"sheet": sheet_obj.title})


def read_mat_variable(path: str | os.PathLike, variable: str, label: str) -> np.ndarray:
    """One variable of a MATLAB file (v4-v7.2, as ``scipy.io.loadmat`` reads them)."""
    path = Path(path)
    if not path.is_file():
        raise ManifestError(f"{label}: labels file not found")
    try:
        data = loadmat(path)
    except Exception as exc:  # scipy raises ValueError, TypeError, MatReadError... on bad files
        raise ManifestError(f"{label}: not a readable MATLAB file ({exc.__class__.__name__}: {exc})") from None
    if variable not in data:
        found = sorted(k for k in data if not k.startswith("__"))
        raise ManifestError(f"{label}: no variable {variable!r}; the file has {found}")
    return data[variable]


def _mat_string(cell, label: str, index: int) -> str:
    while isinstance(cell, np.ndarray):
        if cell.dtype.kind in "US":
            return "".join(str(s) for s in cell.ravel()).strip()
        if cell.size != 1:
            raise ManifestError(f"{label}, entry {index}: expected one name, found an array of {cell.size}")
        cell = cell.ravel()[0]
    return str(cell).strip()


def mat_strings(array: np.ndarray, label: str) -> list[str]:
    """Names from a MATLAB cell array of strings (or a padded char matrix)."""
    if array.dtype.kind in "US":
        return [str(s).strip() for s in array.ravel()]  # loadmat turns a char matrix into one string per row
    return [_mat_string(c, label, i) for i, c in enumerate(array.ravel(), start=1)]


def mat_numbers(array: np.ndarray, label: str) -> list:
    """Numbers of a MATLAB vector (any of 1xN, Nx1); non-numeric arrays are an error."""
    if array.dtype.kind not in "biuf":
        raise ManifestError(f"{label}: expected a numeric vector, found {array.dtype} {array.shape}")
    if array.ndim > 2 or (array.ndim == 2 and min(array.shape) > 1):
        raise ManifestError(f"{label}: expected a 1xN or Nx1 vector, found shape {array.shape}")
    return [float(v) for v in array.ravel()]


def is_empty(cell) -> bool:
    return cell is None or (isinstance(cell, float) and math.isnan(cell)) or (isinstance(cell, str) and
                                                                             cell.strip().lower() in ("", "nan"))


def to_number(cell, where: str, what: str, *, allow_empty: bool = False) -> float:
    """``cell`` as a finite float; empty cells give NaN when ``allow_empty`` else an error naming ``where``."""
    if is_empty(cell):
        if allow_empty:
            return math.nan
        raise ManifestError(f"{where}: {what} is empty; fill it in or remove the row")
    if isinstance(cell, bool):
        raise ManifestError(f"{where}: {what} {cell!r} is not a number")
    try:
        value = float(cell)
    except (TypeError, ValueError):
        hint = " (decimal comma? use a point)" if isinstance(cell, str) and "," in cell else ""
        raise ManifestError(f"{where}: {what} {cell!r} is not a number{hint}; fix or remove the row") from None
    if not math.isfinite(value):
        raise ManifestError(f"{where}: {what} {cell!r} is not a finite number; fix or remove the row")
    return value
