"""Big CSV files as a column store in the cache: parsed once in chunks, then read as memory maps.

A CSV above `stream_bytes()` is never read whole. The first run turns it into

    <cache>/csv-columns-<key>/inputs.npy    float32 (N, features)
                             targets.npy   int64 (N,) class ids, float32 (N, 1) values, or absent
                             entry.json    row count, class names, missing values per column,
                                           skipped rows, the file's size and mtime (the seal)

and every run maps the .npy files read-only (`NpyRows`, a store the trainer
reads batch by batch). The entry is rebuilt when the file's size or mtime
changes. NpyRows gives the pages it mapped back after every read
(madvise MADV_DONTNEED: they stay in the page cache, out of the process's
resident set), so neither the statistics' sample of rows nor an epoch's
batches make the resident memory grow with the file: measured, a plain
np.memmap added the whole 56 MB feature matrix of 1M rows to the training
process and to its DataLoader worker.

Two passes, both in bounded memory:
1. a scan of the raw bytes in blocks (numpy, vectorised): rows, blank lines,
   rows whose value count differs from the header's (ragged), lines that are
   not UTF-8. Files with quotes or lone carriage returns are scanned with
   Python's csv module instead, which understands quoting.
2. pandas' C parser in chunks of rows (measured fastest: 1M rows x 15 columns
   in 0.8 s, against 2.3 s for pyarrow's streaming reader and ~20 s for the
   pure-Python reader), skipping the lines pass 1 marked.

Policies (see csv_file.py for the small-file reader, which they match):
- Ragged rows: skipped with a warning naming them when at most 1 row in
  `RAGGED_SHARE` is ragged (a stray line in a big export); more than that
  and the file is refused, naming the first such row.
- Encodings: a line that is not valid UTF-8 is read as Windows-1252
  (Latin-1's superset, what spreadsheets on Windows write), with a warning
  naming the lines: numbers read the same, and a label such as 'café' keeps
  its meaning.
- Missing values (empty cells, NaN, inf) stop the load: DeepWire does not
  invent values. The message counts them per column and names the first
  row and column, the way the small-file reader does.
- A file that changes while it is read (its size or mtime before and after
  differ, or the row count does) is refused with a message to try again.
"""

from __future__ import annotations

import codecs
import csv
import io
import math
import mmap
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from runtime.data.base import DataError
from runtime.data.cache import cache_entry, fingerprint
from runtime.data.store import SampleStore

STREAM_BYTES_ENV = "DEEPWIRE_CSV_STREAM_BYTES"
DEFAULT_STREAM_BYTES = 8 * 2**20  # files up to this size are read into memory, exactly as before
BLOCK_BYTES = 8 * 2**20  # raw bytes scanned at a time in pass 1
CHUNK_ROWS = 100_000  # rows pandas parses at a time in pass 2
RAGGED_SHARE = 100  # at most 1 row in this many may be ragged and still be skipped
FALLBACK_ENCODING = "cp1252"
_ERRORS = "deepwire-cp1252"
SHOWN_ROWS = 5  # rows named in a message


def stream_bytes() -> int:
    try:
        return int(os.environ.get(STREAM_BYTES_ENV, DEFAULT_STREAM_BYTES))
    except ValueError:
        return DEFAULT_STREAM_BYTES


def _cp1252(error: UnicodeDecodeError) -> tuple[str, int]:
    """Codec error handler: bytes that are not UTF-8 are read as Windows-1252."""
    return error.object[error.start:error.end].decode(FALLBACK_ENCODING, errors="replace"), error.end


codecs.register_error(_ERRORS, _cp1252)


@dataclass(frozen=True)
class Layout:
    """How the csv source reads the file: resolved column positions and the task."""

    file: str  # the name used in messages
    names: list[str]
    has_header: bool
    delimiter: str
    label: int | None
    features: list[int]
    task: str  # "classification", "regression" or "none"

    def column(self, index: int) -> str:
        return f"column '{self.names[index]}'" if self.has_header else f"column {index}"


class NpyRows(SampleStore):
    """The rows of a .npy file, read through a read-only memory map whose pages are given back after
    every read; `sample_shape` reshapes each row (the network's input shape, same number of values).

    Picklable for DataLoader workers: the map is opened again in each process.
    """

    def __init__(self, path: Path, sample_shape: tuple[int, ...] | None = None):
        header = np.load(path, mmap_mode="r")  # only the header is read
        self.path, self.offset = Path(path), int(header.offset)
        self.file_shape, self.file_dtype = tuple(header.shape), header.dtype
        del header
        self.shape = (self.file_shape[0], *(sample_shape or self.file_shape[1:]))
        self.dtype = self.file_dtype
        self._map = self._array = None

    def reshaped(self, sample_shape: tuple[int, ...]) -> NpyRows:
        return NpyRows(self.path, tuple(sample_shape))

    def _rows(self) -> np.ndarray:
        if self._array is None:
            with open(self.path, "rb") as stream:
                self._map = mmap.mmap(stream.fileno(), 0, access=mmap.ACCESS_READ)
            count = int(np.prod(self.file_shape))
            rows = np.frombuffer(self._map, self.file_dtype, count, self.offset)
            self._array = rows.reshape(self.file_shape)
        return self._array

    def read(self, index: np.ndarray) -> np.ndarray:
        order = np.argsort(index, kind="stable")  # forwards through the file, then the asked order
        out = np.empty((len(index), *self.file_shape[1:]), dtype=self.file_dtype)
        out[order] = self._rows()[index[order]]
        if hasattr(mmap, "MADV_DONTNEED"):  # not on Windows, which trims working sets itself
            self._map.madvise(mmap.MADV_DONTNEED)
        return out.reshape((len(index), *self.shape[1:]))

    def __getstate__(self):
        return {**self.__dict__, "_map": None, "_array": None}


@dataclass
class Columns:
    """An opened column store: the rows as stores over the cache's files, and what the build learnt."""

    inputs: NpyRows
    targets: np.ndarray | None
    class_names: list[str] | None
    info: dict
    warnings: list[str] = field(default_factory=list)


def open_text(path: Path) -> io.TextIOWrapper:
    """The file as text: UTF-8 (a byte-order mark dropped), other bytes read as Windows-1252."""
    return io.TextIOWrapper(open(path, "rb"), encoding="utf-8-sig", errors=_ERRORS, newline="")


def read_header(path: Path, delimiter: str, has_header: bool) -> list[str]:
    """The column names (or "0", "1", ... without a header) from the first row that holds a value."""
    try:
        with open_text(path) as stream:
            for fields in csv.reader(stream, delimiter=delimiter):
                if any(f.strip() for f in fields):
                    return [f.strip() for f in fields] if has_header else [str(i) for i in range(len(fields))]
    except csv.Error as exc:
        raise DataError(f"{path.name}, row 1: {exc}; fix the quoting in that row") from None
    except OSError as exc:
        raise DataError(f"{path.name}: could not be read ({exc.strerror or exc})") from None
    raise DataError(f"{path.name} holds no values; a CSV file needs one row per sample")


def _report(progress: Callable | None, what: str, done: int, total: int | None) -> None:
    if progress is not None:
        progress(what, done, total)  # may raise to cancel: the half-built entry is never sealed


# --- pass 1: find the rows --------------------------------------------------------------------------

@dataclass
class Scan:
    lines: int = 0  # lines in the file
    header_line: int | None = None  # 1-based line of the header row
    rows: int = 0  # data rows that will be read
    skip: list[int] = field(default_factory=list)  # 0-based lines pass 2 skips (header, blank, ragged)
    ragged: list[tuple[int, int]] = field(default_factory=list)  # (1-based line, value count)
    recoded: list[int] = field(default_factory=list)  # 1-based lines that were not UTF-8
    quoted: bool = False


def _scan_blocks(path: Path, layout: Layout, progress: Callable | None) -> Scan | None:
    """Pass 1 over raw bytes with numpy; None when the file needs the csv module (quotes, lone CRs)."""
    scan, width = Scan(), len(layout.names)
    sep, total = ord(layout.delimiter), os.path.getsize(path)
    blank_bytes = np.zeros(256, dtype=bool)
    blank_bytes[[sep, ord(" "), ord("\t"), ord("\r"), ord("\n")]] = True
    done, tail, first = 0, b"", True
    with open(path, "rb") as stream:
        while True:
            block = stream.read(BLOCK_BYTES)
            data = tail + block
            if not block:
                if not data:
                    break
                data += b"\n"  # the last line has no newline
                tail = b""
            else:
                cut = data.rfind(b"\n") + 1
                data, tail = data[:cut], data[cut:]
                if not data:
                    continue
            if first and data.startswith(codecs.BOM_UTF8):
                data = data[3:]
            first = False
            if b'"' in data or data.count(b"\r") != data.count(b"\r\n"):
                return None
            _scan_lines(data, scan, sep, blank_bytes, width, layout.has_header)
            done += len(block)
            _report(progress, f"checking {layout.file}", done, total)
            if not block:
                break
    return scan


def _scan_lines(data: bytes, scan: Scan, sep: int, blank_bytes: np.ndarray, width: int,
                has_header: bool) -> None:
    raw = np.frombuffer(data, dtype=np.uint8)
    ends = np.flatnonzero(raw == 10)  # every line ends with a newline here
    starts = np.concatenate(([0], ends[:-1] + 1))
    # per line (its bytes up to and including the newline): separators, and bytes other than
    # separators and white space (none: a blank line, which the small reader skips too)
    # (searchsorted and maximum.reduceat: measured 5x faster than summing per line)
    bounds = np.searchsorted(np.flatnonzero(raw == sep), np.append(starts, len(raw)))
    fields = np.diff(bounds) + 1
    blank = np.maximum.reduceat((~blank_bytes[raw]).view(np.uint8), starts) == 0
    first_line = scan.lines  # 0-based index of this block's first line
    lines = np.arange(first_line, first_line + len(ends))
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        for i, (a, b) in enumerate(zip(starts, ends)):
            try:
                data[a:b].decode("utf-8")
            except UnicodeDecodeError:
                scan.recoded.append(first_line + i + 1)
    scan.lines += len(ends)
    skip = blank.copy()
    if has_header and scan.header_line is None:
        filled = np.flatnonzero(~blank)
        if len(filled):
            skip[filled[0]] = True
            scan.header_line = int(lines[filled[0]]) + 1
    ragged = ~skip & (fields != width)
    for line, count in zip(lines[ragged], fields[ragged]):
        scan.ragged.append((int(line) + 1, int(count)))
    skip |= ragged
    scan.skip.extend(int(i) for i in lines[skip])
    scan.rows += int((~skip).sum())


def _rows_with_csv(path: Path, layout: Layout):
    """(1-based line, fields) of every row with a value, through the csv module (handles quoting)."""
    with open_text(path) as stream:
        reader = csv.reader(stream, delimiter=layout.delimiter)
        try:
            for fields in reader:
                if any(f.strip() for f in fields):
                    yield reader.line_num, fields
        except csv.Error as exc:
            raise DataError(f"{layout.file}, row {reader.line_num}: {exc}; "
                            f"fix the quoting in that row") from None


# --- the whole build ----------------------------------------------------------------------------------

def _options(layout: Layout) -> dict:
    return {"delimiter": layout.delimiter, "header": layout.has_header, "label": layout.label,
            "features": layout.features, "task": layout.task}


def open_columns(path: Path, layout: Layout, progress: Callable | None = None) -> Columns:
    """The column store of `path` read with `layout`: from the cache, or built now (and cached)."""
    entry = cache_entry(path, "csv-columns", _options(layout))
    before = fingerprint([path])
    if not entry.valid(before):
        _build(path, layout, entry, before, progress)
    info = entry.info()
    _refuse_problems(path, layout, info)
    inputs = NpyRows(entry.folder / "inputs.npy")
    # targets are read whole (8 bytes a row): the split stratifies by class and checks the ids
    targets = np.load(entry.folder / "targets.npy") if layout.task != "none" else None
    return Columns(inputs, targets, info.get("class_names"), info, _warnings(layout, info))


def _changed(layout: Layout) -> DataError:
    return DataError(f"{layout.file} changed while DeepWire was reading it (its size, modification time "
                     f"or row count differ from the start); wait until it is completely written, then "
                     f"try again")


def _build(path: Path, layout: Layout, entry, before, progress: Callable | None) -> None:
    scan = _scan_blocks(path, layout, progress)
    if scan is None:
        scan = Scan(quoted=True)
    folder = entry.prepare()
    if scan.quoted:
        written, info = _convert_quoted(path, layout, folder, progress)
    else:
        _check_ragged(layout, scan)
        if scan.rows == 0:
            raise DataError(f"{layout.file} has a header row but no data rows; add one row per sample")
        written, info = _convert(path, layout, scan, folder, progress)
    if fingerprint([path]) != before or (not scan.quoted and written != scan.rows):
        raise _changed(layout)
    info.setdefault("ragged", [list(r) for r in scan.ragged])
    info.update(rows=written, columns=layout.names, recoded=scan.recoded[:SHOWN_ROWS],
                recoded_count=len(scan.recoded))
    entry.seal(before, **info)


def _check_ragged(layout: Layout, scan: Scan) -> None:
    if not scan.ragged:
        return
    reference = "the header has" if layout.has_header else "the first row has"
    if len(scan.ragged) * RAGGED_SHARE > scan.rows + len(scan.ragged):
        line, count = scan.ragged[0]
        more = len(scan.ragged) - 1
        extra = f" ({more} more rows are ragged too)" if more else ""
        raise DataError(f"{layout.file}, row {line}: {count} values where {reference} {len(layout.names)} "
                        f"columns; fix or delete that row{extra}")


def _target_file(folder: Path, layout: Layout, rows: int):
    from numpy.lib.format import open_memmap

    if layout.task == "classification":
        return open_memmap(folder / "targets.npy", mode="w+", dtype=np.int64, shape=(rows,))
    if layout.task == "regression":
        return open_memmap(folder / "targets.npy", mode="w+", dtype=np.float32, shape=(rows, 1))
    return None


class _Targets:
    """Class labels seen so far (text -> provisional id) and the missing counts of every column."""

    def __init__(self, layout: Layout):
        self.layout = layout
        self.ids: dict[str, int] = {}
        self.missing: dict[int, int] = {}

    def count_missing(self, column: int, count: int) -> None:
        if count:
            self.missing[column] = self.missing.get(column, 0) + int(count)

    def class_ids(self, texts) -> np.ndarray:
        """Provisional ids of a chunk of label texts (stripped); '' counts as missing."""
        import pandas as pd

        codes, uniques = pd.factorize(texts, use_na_sentinel=False)
        lookup = np.empty(len(uniques), dtype=np.int64)
        for i, text in enumerate(uniques):
            text = str(text).strip()
            if not text:
                self.count_missing(self.layout.label, int((codes == i).sum()))
            lookup[i] = self.ids.setdefault(text, len(self.ids))
        return lookup[codes]

    def finish(self, targets: np.ndarray) -> list[str]:
        """Class names in the small reader's order; rewrites the provisional ids in place."""
        texts = [t for t in self.ids if t]
        names = sort_labels(texts)
        final = np.full(max(len(self.ids), 1), -1, dtype=np.int64)
        for i, name in enumerate(names):
            final[self.ids[name]] = i
        for start in range(0, len(targets), CHUNK_ROWS * 10):
            targets[start:start + CHUNK_ROWS * 10] = final[targets[start:start + CHUNK_ROWS * 10]]
        return names

    def info(self) -> dict:
        return {"missing": {self.layout.names[c]: n for c, n in sorted(self.missing.items())}}


def sort_labels(texts) -> list[str]:
    """Whole numbers in numeric order ('10' after '9'), any other labels as text."""
    distinct = set(texts)
    try:
        numbers = {text: float(text) for text in distinct}
        numeric = all(math.isfinite(v) and v.is_integer() for v in numbers.values())
    except ValueError:
        numeric = False
    return sorted(distinct, key=numbers.__getitem__) if numeric else sorted(distinct)


def _convert(path: Path, layout: Layout, scan: Scan, folder: Path, progress: Callable | None):
    """Pass 2: pandas reads the rows pass 1 kept, CHUNK_ROWS at a time, into the .npy files."""
    import pandas as pd
    from numpy.lib.format import open_memmap

    label = layout.label if layout.task != "none" else None
    used = sorted(set(layout.features) | ({label} if label is not None else set()))
    dtypes = {c: np.float64 for c in layout.features}
    na = {c: [""] for c in layout.features}
    if label is not None:
        dtypes[label] = object if layout.task == "classification" else np.float64
        if layout.task == "regression":
            na[label] = [""]
    inputs = open_memmap(folder / "inputs.npy", mode="w+", dtype=np.float32,
                         shape=(scan.rows, len(layout.features)))
    targets = _target_file(folder, layout, scan.rows)
    labels = _Targets(layout)
    written = 0
    try:
        reader = pd.read_csv(path, sep=layout.delimiter, header=None, usecols=used, dtype=dtypes,
                             skiprows=set(scan.skip), chunksize=CHUNK_ROWS, keep_default_na=False,
                             na_values=na, skip_blank_lines=True, encoding="utf-8", encoding_errors=_ERRORS,
                             engine="c")
        with reader:
            for chunk in reader:
                n = len(chunk)
                if written + n > scan.rows:
                    raise _changed(layout)
                block = chunk[layout.features].to_numpy(dtype=np.float64)
                finite = np.isfinite(block)
                if not finite.all():
                    for j, column in enumerate(layout.features):
                        labels.count_missing(column, int((~finite[:, j]).sum()))
                inputs[written:written + n] = block.astype(np.float32)
                if layout.task == "classification":
                    targets[written:written + n] = labels.class_ids(chunk[label].to_numpy())
                elif layout.task == "regression":
                    values = chunk[label].to_numpy(dtype=np.float64)
                    labels.count_missing(label, int((~np.isfinite(values)).sum()))
                    targets[written:written + n, 0] = values.astype(np.float32)
                written += n
                _report(progress, f"converting {layout.file}", written, scan.rows)
    except (ValueError, pd.errors.ParserError) as exc:
        # a cell that is not a number (or a row pandas reads otherwise): name it as the small reader would
        locate_problem(path, layout)
        raise DataError(f"{layout.file}: could not be read as a table of numbers ({exc}); "
                        f"check the file in a text editor") from None
    class_names = labels.finish(targets) if layout.task == "classification" else None
    inputs.flush()
    if targets is not None:
        targets.flush()
    del inputs, targets
    return written, {"class_names": class_names, **labels.info()}


def _convert_quoted(path: Path, layout: Layout, folder: Path, progress: Callable | None):
    """Files with quoting: the csv module reads the rows (slower, exact), written out CHUNK_ROWS at a time."""
    from numpy.lib.format import open_memmap

    count, ragged = 0, []
    reference = "the header has" if layout.has_header else "the first row has"
    skipped_header = not layout.has_header
    for line, fields in _rows_with_csv(path, layout):  # count first: the .npy files need their shapes
        if not skipped_header:
            skipped_header = True
            continue
        count += 1
        if len(fields) != len(layout.names):
            ragged.append((line, len(fields)))
    kept = count - len(ragged)
    if ragged and len(ragged) * RAGGED_SHARE > count:
        line, values = ragged[0]
        raise DataError(f"{layout.file}, row {line}: {values} values where {reference} {len(layout.names)} "
                        f"columns; fix or delete that row")
    if kept == 0:
        raise DataError(f"{layout.file} has a header row but no data rows; add one row per sample")
    inputs = open_memmap(folder / "inputs.npy", mode="w+", dtype=np.float32,
                         shape=(kept, len(layout.features)))
    targets = _target_file(folder, layout, kept)
    labels = _Targets(layout)
    skip_lines = {line for line, _ in ragged}
    written, pending = 0, []

    def flush():
        nonlocal written, pending
        if not pending:
            return
        cells = np.array([[_float(fields[i]) for i in layout.features] for _, fields in pending])
        finite = np.isfinite(cells)
        for j, column in enumerate(layout.features):
            labels.count_missing(column, int((~finite[:, j]).sum()))
        n = len(pending)
        inputs[written:written + n] = cells.astype(np.float32)
        if layout.task == "classification":
            targets[written:written + n] = labels.class_ids(
                np.array([fields[layout.label] for _, fields in pending], dtype=object))
        elif layout.task == "regression":
            values = np.array([_float(fields[layout.label]) for _, fields in pending])
            labels.count_missing(layout.label, int((~np.isfinite(values)).sum()))
            targets[written:written + n, 0] = values.astype(np.float32)
        written += n
        pending = []
        _report(progress, f"converting {layout.file}", written, kept)

    skipped_header = not layout.has_header
    for line, fields in _rows_with_csv(path, layout):
        if not skipped_header:
            skipped_header = True
            continue
        if line in skip_lines:
            continue
        if written + len(pending) >= kept:
            raise _changed(layout)
        pending.append((line, fields))
        if len(pending) >= CHUNK_ROWS // 10:
            try:
                flush()
            except ValueError:
                locate_problem(path, layout)
                raise
    try:
        flush()
    except ValueError:
        locate_problem(path, layout)
        raise
    if written != kept:
        raise _changed(layout)
    class_names = labels.finish(targets) if layout.task == "classification" else None
    inputs.flush()
    return written, {"class_names": class_names, "ragged": [list(r) for r in ragged], **labels.info()}


def _float(text: str) -> float:
    text = text.strip()
    return float(text) if text else math.nan


# --- problems, named the way the small-file reader names them ---------------------------------------

def _cell(layout: Layout, line: int, column: int, text: str) -> None:
    text = text.strip()
    place = f"{layout.file}, row {line}, {layout.column(column)}"
    if not text:
        what = "the label is empty" if column == layout.label and layout.task == "classification" \
            else "the value is empty"
        raise DataError(f"{place}: {what}; fill it in or delete the row")
    if column == layout.label and layout.task == "classification":
        return
    try:
        value = float(text)
    except ValueError:
        raise DataError(f"{place}: '{text}' is not a number; this column must hold numbers only "
                        f"(or make it the label column)") from None
    if not math.isfinite(value):
        raise DataError(f"{place}: '{text}' is not a finite number; replace the missing value")


def locate_problem(path: Path, layout: Layout, counts: str = "") -> None:
    """Raise the DataError for the first bad cell of the file (streamed, stops there); None if none."""
    columns = list(layout.features) + ([layout.label] if layout.task != "none" else [])
    header = layout.has_header
    for line, fields in _rows_with_csv(path, layout):
        if header:
            header = False
            continue
        if len(fields) != len(layout.names):  # a ragged row that is skipped
            continue
        for column in columns:
            try:
                _cell(layout, line, column, fields[column])
            except DataError as exc:
                raise DataError(f"{exc}{counts}") from None


def _refuse_problems(path: Path, layout: Layout, info: dict) -> None:
    missing = info.get("missing") or {}
    if not missing:
        return
    total = sum(missing.values())
    per_column = ", ".join(f"'{name}': {count:,}" for name, count in missing.items())
    counts = (f" ({total:,} missing or non-finite values in all: {per_column}; DeepWire does not fill "
              f"in values, so fill them in or delete those rows)")
    locate_problem(path, layout, counts)
    raise DataError(f"{layout.file}: {total:,} missing or non-finite values ({per_column}); fill them in "
                    f"or delete those rows")


def _lines_text(lines: list[int], count: int) -> str:
    shown = ", ".join(str(line) for line in lines[:SHOWN_ROWS])
    return shown + (f" and {count - SHOWN_ROWS:,} more" if count > SHOWN_ROWS else "")


def _warnings(layout: Layout, info: dict) -> list[str]:
    out = []
    ragged = info.get("ragged") or []
    if ragged:
        reference = "the header's" if layout.has_header else "the first row's"
        out.append(f"{layout.file}: skipped {len(ragged):,} ragged row(s) (rows "
                   f"{_lines_text([r[0] for r in ragged], len(ragged))}) whose value count differs from "
                   f"{reference} {len(layout.names)} columns; fix or delete them to use them")
    recoded = info.get("recoded_count", 0)
    if recoded:
        out.append(f"{layout.file}: {recoded:,} line(s) are not UTF-8 (lines "
                   f"{_lines_text(info.get('recoded', []), recoded)}) and were read as Windows-1252 "
                   f"(Latin-1) text; save the file as UTF-8 to be sure of their labels")
    return out
