"""Shared helpers for the CSV loaders: strict headers, pandas reads, vectorised row checks.

Every loader reads a table in one pass with pandas' C parser, checks whole columns with
numpy (no Python loop per row), and only when a check fails works out the 1-based line
number of the first bad row, so a 25M-row file loads fast and a bad one is reported as
``DataError(path, "rating 'x' is not a number", line=1042, field="rating")``.

Line numbers count every physical line of the file, header included. pandas skips blank
lines and lets a quoted field span lines; :func:`line_of_row` maps a row index back to
the line where that row starts, taking both into account.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from recbandit.data.logged import DataError

_CHUNK = 1 << 24  # 16 MiB
_PARSER_FIELDS = re.compile(r"Expected (\d+) fields in line (\d+), saw (\d+)")
_PARSER_EOF = re.compile(r"EOF inside string starting at row (\d+)")


# --------------------------------------------------------------------------- encoding


def first_decode_error(path: Path, encoding: str = "utf-8") -> tuple[int, int, str] | None:
    """(line, column, bad bytes as hex) of the first byte sequence not valid in ``encoding``, or None.

    Reads the file in chunks, so it works on files larger than memory.
    """
    decoder = codecs.getincrementaldecoder(encoding)(errors="strict")
    line, col = 1, 1
    with open(path, "rb") as fh:
        while True:
            chunk = fh.read(_CHUNK)
            final = not chunk
            try:
                text = decoder.decode(chunk, final=final)
            except UnicodeDecodeError as exc:
                # exc.object is the bytes the decoder held over from the last chunk plus this chunk.
                good_text = bytes(exc.object[: exc.start]).decode(encoding, errors="replace")
                nl = good_text.count("\n")
                if nl:
                    line += nl
                    col = len(good_text) - good_text.rfind("\n")
                else:
                    col += len(good_text)
                return line, col, exc.object[exc.start : exc.end].hex(" ")
            nl = text.count("\n")
            if nl:
                line += nl
                col = len(text) - text.rfind("\n")
            else:
                col += len(text)
            if final:
                return None


def decode_text(path: Path, encoding: str = "utf-8", what: str = "UTF-8") -> str:
    """The whole file decoded strictly; a bad byte raises ``DataError`` naming its line and column."""
    data = Path(path).read_bytes()
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError as exc:
        before = data[: exc.start]
        line = before.count(b"\n") + 1
        col = exc.start - (before.rfind(b"\n") + 1) + 1
        bad = data[exc.start : exc.end].hex(" ")
        raise DataError(
            path, f"not valid {what} (byte 0x{bad} at column {col}); the file must be {what}-encoded", line=line
        ) from None
    return text[1:] if text.startswith("\ufeff") else text


def raise_decode_error(path: Path, encoding: str = "utf-8", what: str = "UTF-8") -> None:
    """Raise ``DataError`` for the first byte of ``path`` that ``encoding`` cannot decode (if any)."""
    found = first_decode_error(path, encoding)
    if found is not None:
        line, col, bad = found
        raise DataError(
            path, f"not valid {what} (byte 0x{bad} at column {col}); the file must be {what}-encoded", line=line
        )


# --------------------------------------------------------------------------- headers


def read_header(path: Path, *, sep: str = ",", encoding: str = "utf-8") -> list[str]:
    """The fields of the first line of ``path`` (quotes removed, a UTF-8 BOM dropped).

    Raises ``DataError`` when the file is empty or its first line is blank.
    """
    with open(path, "rb") as fh:
        first = fh.readline(1 << 20)
    if not first:
        raise DataError(path, "the file is empty (no header line)", line=1)
    try:
        text = first.decode(encoding)
    except UnicodeDecodeError:
        raise_decode_error(path, encoding, encoding.upper())
        raise  # pragma: no cover - raise_decode_error always raises here
    text = text.lstrip("\ufeff").rstrip("\r\n")
    if not text.strip():
        raise DataError(path, "the first line is blank; expected a header line", line=1)
    return [f.strip() for f in next(csv.reader([text], delimiter=sep))]


def check_header(
    path: Path,
    header: Sequence[str],
    required: Sequence[str],
    optional: Sequence[str] = (),
    *,
    extra: bool = True,
    sep: str = ",",
) -> None:
    """Check that ``header`` has every ``required`` column once; ``extra=False`` forbids unknown columns.

    Errors name line 1 and the column: a missing column, a column named twice, an empty
    column name, or (``extra=False``) a column that is neither required nor optional. A
    header read as one field that another separator would split (``userId;movieId;...``)
    is reported as a file separated by that character, not ``sep``.
    """
    expected = ",".join(required) + ("" if not optional else " (optional: " + ",".join(optional) + ")")
    if len(header) == 1 and required and header[0] not in required:
        other = other_separator(header[0], sep)
        if other is not None:
            raise DataError(
                path,
                f"the header has one field {header[0]!r}: is the file separated by {separator_name(other)}? "
                f"It must be {separator_name(sep)}-separated, with the columns {expected}",
                line=1,
                field=required[0],
            )
    seen: dict[str, int] = {}
    for i, name in enumerate(header):
        if not name:
            raise DataError(path, f"column {i + 1} of the header has no name; expected {expected}", line=1)
        if name in seen:
            raise DataError(
                path, f"column {name!r} appears twice in the header ({','.join(header)})", line=1, field=name
            )
        seen[name] = i
    for name in required:
        if name not in seen:
            lowered = {h.lower(): h for h in header}
            hint = f" (found {lowered[name.lower()]!r}; names are case-sensitive)" if name.lower() in lowered else ""
            raise DataError(
                path,
                f"missing column {name!r}{hint}; the header is {','.join(header)!r}, expected {expected}",
                line=1,
                field=name,
            )
    if not extra:
        allowed = set(required) | set(optional)
        for name in header:
            if name not in allowed:
                raise DataError(path, f"unknown column {name!r}; expected {expected}", line=1, field=name)


_SEPARATORS = (",", ";", "\t", "|")


def separator_name(sep: str) -> str:
    """How a message names a separator: "tab", else the character quoted ("';'")."""
    return "tab" if sep == "\t" else repr(sep)


def other_separator(text: str, sep: str, fields: int | None = None) -> str | None:
    """A separator other than ``sep`` that splits ``text`` (one line) into fields, or None.

    With ``fields``, only a separator that gives exactly that many fields counts (a data
    line of a ``;``-separated file read as ``,``-separated); without, any split counts
    (a header line). Semicolon, tab, pipe and comma are tried in that order.
    """
    for other in _SEPARATORS:
        if other == sep or other not in text:
            continue
        n = len(next(csv.reader([text], delimiter=other), []))
        if (fields is None and n > 1) or n == fields:
            return other
    return None


def unterminated_quote(
    path: Path, names: Sequence[str], line: int, *, end: int | None = None, sep: str = ",", encoding: str = "utf-8"
) -> DataError:
    """The error for a quoted field opened on ``line`` and never closed where it should be.

    ``end`` is the line where the runaway field stopped (None: the end of the file). The
    field is the one the opening quote belongs to, found by splitting ``line`` alone (the
    open field is its last).
    """
    text = raw_line(path, line, encoding, limit=None) or ""
    fields = next(csv.reader([text], delimiter=sep), [])
    field = names[len(fields) - 1] if 0 < len(fields) <= len(names) else None
    where = "to the end of the file" if end is None else f"on to line {end}"
    return DataError(
        path,
        f"unterminated quote starting at line {line}"
        + (f" in field {field}" if field else "")
        + f": the quoted field runs {where}; close it with '\"' (write '\"\"' for a quote inside quotes)",
        line=line,
        field=field,
    )


def check_quoted_record(
    path: Path, lines: Sequence[str], start: int, end: int, names: Sequence[str], *, sep: str = ","
) -> None:
    """Raise the unterminated-quote error unless lines ``start..end`` (1-based) form one closed record.

    A record over several lines is legal when a quoted field holds a line break; read
    with a lenient parser, a quote that is never closed swallows the lines after it
    instead. Read strictly, such lines do not form exactly one record: the quote stays
    open to the end of the file, or closes where a closing quote cannot be.

    Args:
        path: the file, for the message.
        lines: the file's text split at line feeds (``lines[0]`` is line 1).
        start: the line where the record starts.
        end: the line where the lenient parser ended it.
        names: the header's column names (to name the field the quote opened).
        sep: the separator.
    """
    chunk = "\n".join(lines[start - 1 : end])
    try:
        rows = list(csv.reader(open_text(chunk), delimiter=sep, strict=True))
    except csv.Error as exc:
        raise unterminated_quote(path, names, start, end=None if "end of data" in str(exc) else end) from None
    if len(rows) != 1:
        raise unterminated_quote(path, names, start, end=end)


# --------------------------------------------------------------------------- reading


def read_frame(
    path: Path,
    names: Sequence[str],
    *,
    sep: str = ",",
    header_lines: int = 1,
    text_columns: Sequence[str] = (),
    usecols: Sequence[str] | None = None,
    encoding: str = "utf-8",
) -> pd.DataFrame:
    """Read ``path`` with pandas' C parser into columns ``names`` (the file's own header order).

    Columns in ``text_columns`` are read as strings exactly as written (``"NA"`` stays
    ``"NA"``; an empty field is ``""``). The others are parsed as numbers where every value
    is one; an empty field there is NaN, and a column with any non-number stays strings,
    which :class:`RowChecks` then reports. Blank lines are skipped (see :func:`line_of_row`).
    A line with too many fields, an unterminated quote or a byte that ``encoding`` cannot
    decode raises ``DataError`` with its line.
    """
    text = set(text_columns)
    wanted = list(names) if usecols is None else list(usecols)
    numeric = [c for c in names if c not in text]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", pd.errors.DtypeWarning)
            # All columns are read (no ``usecols``): with it, pandas silently ignores a
            # line's extra fields; without it, such a line is an error.
            frame = pd.read_csv(
                path,
                sep=sep,
                header=None,
                names=list(names),
                skiprows=header_lines,
                dtype={c: str for c in names if c in text},
                keep_default_na=False,
                na_values={c: [""] for c in numeric},
                skip_blank_lines=True,
                encoding=encoding,
                engine="c",
                index_col=False,
            )
        return frame if usecols is None else frame[wanted]
    except pd.errors.EmptyDataError:
        return pd.DataFrame({c: pd.Series([], dtype=str if c in text else float) for c in wanted})
    except pd.errors.ParserError as exc:
        msg = str(exc)
        m = _PARSER_FIELDS.search(msg)
        if m:
            n, line, saw = (int(g) for g in m.groups())
            raise DataError(
                path, f"has {saw} fields, expected {n} ({sep.join(names)})", line=_physical_line(path, line, encoding)
            ) from None
        m = _PARSER_EOF.search(msg)
        if m:
            row = int(m.group(1)) - header_lines
            line = line_of_row(path, row, header_lines=header_lines, sep=sep, encoding=encoding)
            raise unterminated_quote(path, names, line, sep=sep, encoding=encoding) from None
        raise DataError(path, f"cannot be parsed as {sep!r}-separated values: {msg.strip()}") from None
    except UnicodeDecodeError:
        raise_decode_error(path, encoding, encoding.upper())
        raise


def _physical_line(path: Path, parser_line: int, encoding: str) -> int:
    """Map pandas' "line N" (which counts records: quoted newlines do not count) to a physical line."""
    if not _has_quotes_or_blank_lines(path):
        return parser_line
    return line_of_row(path, parser_line - 1, header_lines=0, encoding=encoding)


def _has_quotes_or_blank_lines(path: Path) -> bool:
    """Whether the file has a '"' or a blank line, the two things that decouple rows from lines."""
    tail = b"\n"  # a blank first line counts as blank
    with open(path, "rb") as fh:
        while chunk := fh.read(_CHUNK):
            buf = tail + chunk
            if b'"' in chunk or b"\n\n" in buf or b"\n\r\n" in buf:
                return True
            tail = buf[-2:]
    return False


def line_of_row(path: Path, row: int, *, header_lines: int = 1, sep: str = ",", encoding: str = "utf-8") -> int:
    """1-based line where data row ``row`` (0-based, blank lines not counted) starts.

    Files with no quote characters and no blank lines are the common case: the answer is
    ``header_lines + row + 1`` at once. Otherwise the file is walked with the ``csv``
    module (this runs only while reporting an error).
    """
    if not _has_quotes_or_blank_lines(path):
        return header_lines + row + 1
    with open(path, encoding=encoding, errors="replace", newline="") as fh:
        reader = csv.reader(fh, delimiter=sep)
        line_before = 0
        index = -header_lines
        for record in reader:
            start = line_before + 1
            line_before = reader.line_num
            if index < 0:
                index += 1
                continue
            if not record or (len(record) == 1 and not record[0].strip()):
                continue
            if index == row:
                return start
            index += 1
    return line_before + 1


def raw_line(path: Path, line: int, encoding: str = "utf-8", limit: int | None = 200) -> str | None:
    """The text of physical line ``line`` (1-based) without its line ending, or None past the end.

    A line longer than ``limit`` characters is cut there and ends in "..." (an excerpt
    for a message); ``limit=None`` gives the whole line.
    """
    with open(path, "rb") as fh:  # binary: splits on b"\n" only, as line numbers here count
        for i, data in enumerate(fh, start=1):
            if i == line:
                text = data.decode(encoding, errors="replace").rstrip("\r\n")
                return text if limit is None or len(text) <= limit else text[:limit] + "..."
    return None


# --------------------------------------------------------------------------- checks


def first_true(mask: Any) -> int | None:
    """Index of the first True in a boolean array or Series, or None."""
    arr = np.asarray(mask, dtype=bool)
    if arr.size == 0:
        return None
    i = int(arr.argmax())
    return i if arr[i] else None


class RowChecks:
    """Collect vectorised checks over the rows of one file and raise the earliest problem.

    Each :meth:`flag` call gives a boolean mask of bad rows; only its first True is kept.
    :meth:`raise_first` raises ``DataError`` for the smallest row among all flags, with
    the 1-based line number of that row and, when the line has fewer fields than the
    header or repeats the header, says so (a truncated file, two files concatenated).
    """

    def __init__(
        self,
        path: Path,
        header: Sequence[str],
        *,
        header_lines: int = 1,
        sep: str = ",",
        encoding: str = "utf-8",
    ) -> None:
        self.path, self.header, self.header_lines = Path(path), list(header), header_lines
        self.sep, self.encoding = sep, encoding
        self._first: tuple[int, int, str, str] | None = None  # (row, order, field, message)
        self._order = 0

    def flag(self, bad: Any, field: str, message: Callable[[int], str]) -> None:
        """Record the first True row of ``bad``; ``message(row)`` describes it."""
        row = first_true(bad)
        self._order += 1
        if row is not None and (self._first is None or row < self._first[0]):
            self._first = (row, self._order, field, message(row))

    @property
    def failed(self) -> bool:
        """Whether any flag found a bad row."""
        return self._first is not None

    def raise_first(self) -> None:
        """Raise ``DataError`` for the earliest flagged row, if any."""
        if self._first is None:
            return
        row, _, field, message = self._first
        line = line_of_row(self.path, row, header_lines=self.header_lines, sep=self.sep, encoding=self.encoding)
        # Fields are counted on the whole line; the message shows an excerpt of it.
        text = raw_line(self.path, line, self.encoding, limit=None)
        if text is not None:
            excerpt = text if len(text) <= 200 else text[:200] + "..."
            fields = [f.strip() for f in next(csv.reader([text], delimiter=self.sep), [])] if text else []
            n, want = len(fields), len(self.header)
            other = other_separator(text, self.sep, want) if n < want else None
            if self.header_lines and fields == self.header:
                message = f"the header line is repeated here (were two files concatenated?); {message}"
            elif other is not None:
                message += (
                    f" (the line has {n} of {want} fields: {excerpt!r}; is the file separated by "
                    f"{separator_name(other)}? It must be {separator_name(self.sep)}-separated)"
                )
            elif n < want and '"' not in text:
                message += f" (the line has {n} of {want} fields: {excerpt!r}; truncated file?)"
        raise DataError(self.path, message, line=line, field=field)


def _text(values: pd.Series | np.ndarray, row: int) -> str:
    v = values.iloc[row] if isinstance(values, pd.Series) else values[row]
    if isinstance(v, (float, np.floating)):
        f = float(v)
        return str(int(f)) if f.is_integer() and abs(f) < 1e15 else f"{f:.10g}"
    return str(v)


def numeric_column(
    df: pd.DataFrame,
    column: str,
    checks: RowChecks,
    *,
    integer: bool = False,
    lo: float | None = None,
    hi: float | None = None,
    lo_open: bool = False,
    hi_open: bool = False,
    allow_missing: bool = False,
    what: str | None = None,
) -> np.ndarray:
    """The column as float64 (int64 when ``integer``), with every problem flagged on ``checks``.

    Flags: empty or missing value, a value that is not a number, not finite, not an
    integer (``integer=True``) or outside ``[lo, hi]`` (open ends with ``lo_open`` /
    ``hi_open``); ``what`` describes the allowed range in the message.
    Missing values come back as NaN when ``allow_missing`` (float64 only).
    """
    s = df[column]
    if pd.api.types.is_bool_dtype(s.dtype):  # pandas read True/False: words, not numbers
        s = s.astype(str)
    if pd.api.types.is_numeric_dtype(s.dtype):
        values = s.to_numpy(dtype=np.float64, copy=False) if not integer else s.to_numpy()
        raw: pd.Series | np.ndarray = values
        if values.dtype.kind in "iu":
            missing = None
        else:
            missing = np.isnan(values)
    else:
        # Some value is not a number (or the column came as text): convert what converts
        # (to_numeric skips surrounding blanks), then look closer only at the rows that failed.
        raw = s
        values = pd.to_numeric(s, errors="coerce").to_numpy(dtype=np.float64)
        failed = np.flatnonzero(np.isnan(values))
        missing = np.zeros(len(s), dtype=bool)
        if failed.size:
            sub = s.iloc[failed]
            missing[failed] = (sub.isna() | (sub.astype(str).str.strip() == "")).to_numpy(dtype=bool)
        not_number = np.isnan(values) & ~missing
        checks.flag(not_number, column, lambda r: f"{column} {_text(raw, r)!r} is not a number")
    if missing is not None and not allow_missing:
        checks.flag(missing, column, lambda r: f"{column} is missing")
    if values.dtype.kind == "f":
        with np.errstate(invalid="ignore"):
            checks.flag(np.isinf(values), column, lambda r: f"{column} {_text(raw, r)!r} is not a finite number")
            finite = np.isfinite(values)
            if integer:
                checks.flag(
                    finite & (values != np.floor(values)),
                    column,
                    lambda r: f"{column} {_text(raw, r)!r} is not an integer",
                )
            bad = np.zeros(values.shape, dtype=bool)
            if lo is not None:
                bad |= finite & ((values <= lo) if lo_open else (values < lo))
            if hi is not None:
                bad |= finite & ((values >= hi) if hi_open else (values > hi))
    else:
        bad = np.zeros(values.shape, dtype=bool)
        if lo is not None:
            bad |= (values <= lo) if lo_open else (values < lo)
        if hi is not None:
            bad |= (values >= hi) if hi_open else (values > hi)
    if lo is not None or hi is not None:
        rng = what or _range_text(lo, hi, lo_open, hi_open)
        checks.flag(bad, column, lambda r: f"{column} {_text(raw, r)!r} is out of range: must be {rng}")
    if integer and values.dtype.kind == "f":
        if checks.failed or (missing is not None and missing.any()):
            return values  # caller raises before using it
        return values.astype(np.int64)
    return values


def _range_text(lo: float | None, hi: float | None, lo_open: bool, hi_open: bool) -> str:
    parts = []
    if lo is not None:
        parts.append(f"{'>' if lo_open else '>='} {lo:g}")
    if hi is not None:
        parts.append(f"{'<' if hi_open else '<='} {hi:g}")
    return " and ".join(parts)


def text_column(df: pd.DataFrame, column: str, checks: RowChecks, *, allow_empty: bool = True) -> np.ndarray:
    """The column as an object array of stripped strings; empty values flagged unless ``allow_empty``."""
    s = df[column].fillna("").astype(str).str.strip()
    if not allow_empty:
        checks.flag((s == "").to_numpy(), column, lambda r: f"{column} is empty")
    return s.to_numpy(dtype=object)


def index_of(ids: np.ndarray, known: np.ndarray, checks: RowChecks, column: str, known_in: str) -> np.ndarray:
    """Positions of ``ids`` in the sorted array ``known``; ids not there are flagged on ``checks``.

    Args:
        ids: int64[N] (or strings) ids read from the file.
        known: the sorted unique ids they must come from.
        checks: where an unknown id is reported.
        column: the column name (for the message).
        known_in: where the known ids come from ("movies.csv", "u.item", ...).

    Returns:
        int64[N] index into ``known``.
    """
    pos = np.searchsorted(known, ids)
    pos_clipped = np.minimum(pos, max(len(known) - 1, 0))
    ok = (pos < len(known)) & (known[pos_clipped] == ids) if len(known) else np.zeros(len(ids), dtype=bool)
    checks.flag(~ok, column, lambda r: f"{column} {ids[r]!s} is not in {known_in}")
    return pos_clipped.astype(np.int64, copy=False)


def dense_index(ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(sorted unique ids, int64 index of each id) for non-negative integer ids, in O(N) when compact.

    Equivalent to ``np.unique(ids, return_inverse=True)`` but uses a presence table when
    the largest id is at most a few times the number of rows (MovieLens user ids), which
    avoids a sort of the whole column.
    """
    if len(ids) == 0:
        return ids[:0], np.zeros(0, dtype=np.int64)
    hi = int(ids.max())
    if ids.dtype.kind in "iu" and int(ids.min()) >= 0 and hi <= 4 * len(ids) + 1024:
        present = np.zeros(hi + 1, dtype=bool)
        present[ids] = True
        uniq = np.flatnonzero(present)
        lookup = np.cumsum(present, dtype=np.int64) - 1
        return uniq.astype(ids.dtype), lookup[ids]
    uniq, inverse = np.unique(ids, return_inverse=True)
    return uniq, inverse.astype(np.int64).reshape(-1)


def line_ending(path: Path) -> str:
    """The line ending of the first line of ``path``: "CRLF", "LF", or "none" (one line, no ending)."""
    with open(path, "rb") as fh:
        first = fh.readline(1 << 20)
    return "CRLF" if first.endswith(b"\r\n") else "LF" if first.endswith(b"\n") else "none"


def open_text(text: str) -> io.StringIO:
    """``text`` as a file for ``csv.reader`` (universal newlines off, as the csv module wants)."""
    return io.StringIO(text, newline="")
