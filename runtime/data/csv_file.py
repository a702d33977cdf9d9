"""The `csv` source: a table of numbers from a CSV file, one sample per row.

Columns are named by their header text or by their index counting from 0
(-1 is the last column). The label column holds class names or ids
(classification: text labels get ids in sorted order, whole numbers in numeric
order, and their text becomes class_names) or numbers (regression: targets
(N, 1)). Errors name the file, the row as an editor shows it (line number,
header included) and the column.

Files up to `column_store.stream_bytes()` (8 MB) are read into memory here,
exactly as always. Bigger files are parsed once, in chunks, into a column
store in the cache (column_store.py) and read through memory maps batch by
batch, so the trainer streams from disk and a 1M-row table never sits in
memory.
"""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass

import numpy as np

from graph.params import Bool, Choice, Text
from runtime.data import column_store
from runtime.data.base import DataError
from runtime.data.files import existing_path, read_text
from runtime.data.source import Context, Natural, RawData, Source

DELIMITERS = {",": ",", ";": ";", "tab": "\t", "|": "|", "space": " "}

PARAMS = (
    Text("path", "", "The CSV file to read, e.g. 'data/houses.csv'."),
    Text("label", "", "The label column: its name or index from 0 (-1 = last). Empty: the last column; "
                      "'none': no labels (autoencoder, GAN)."),
    Text("features", "", "Feature columns, names or indices separated by commas. Empty: all other columns."),
    Choice("task", "auto", ("auto", "classification", "regression"),
           "What the label is: classes or numbers. auto follows the training recipe."),
    Choice("delimiter", ",", tuple(DELIMITERS), "The character between values."),
    Bool("header", True, "The first row holds the column names."),
)


@dataclass
class _Table:
    file: str  # the file name used in messages
    names: list[str]
    has_header: bool
    rows: list[tuple[int, list[str]]]  # (line number as an editor shows it, fields)

    def column(self, index: int) -> str:
        return f"column '{self.names[index]}'" if self.has_header else f"column {index}"

    def resolve(self, text: str, option: str) -> int:
        text = text.strip()
        if text in self.names:
            return self.names.index(text)
        try:
            index = int(text)
        except ValueError:
            index = None
        if index is not None and -len(self.names) <= index < len(self.names):
            return index % len(self.names)
        shown = ", ".join(self.names) if self.has_header else f"indices 0 to {len(self.names) - 1}"
        raise DataError(f"{self.file}: option '{option}' names column '{text}', which does not exist; "
                        f"the columns are: {shown}")


def _split_rows(text: str, delimiter: str, file: str) -> list[tuple[int, list[str]]]:
    """(line number, fields) of every row that holds a value; blank lines are skipped."""
    plain = text.replace("\r\n", "\n")
    if '"' not in plain and "\r" not in plain:  # no quoting: a plain split is what csv would do, faster
        return [(number, line.split(delimiter)) for number, line in enumerate(plain.split("\n"), 1)
                if line.replace(delimiter, "").strip()]
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    rows = []
    try:
        for fields in reader:
            if any(field.strip() for field in fields):
                rows.append((reader.line_num, fields))
    except csv.Error as exc:
        raise DataError(f"{file}, row {reader.line_num}: {exc}; fix the quoting in that row") from None
    return rows


# The last table read, keyed by file identity and the options that shape it: probing and then
# loading the same file parses it once.
_last_table: dict[tuple, _Table] = {}


def _read_table(options: dict, context: Context) -> _Table:
    path = existing_path(context, options["path"], "csv", "path")
    stat = path.stat()
    key = (str(path.resolve()), stat.st_mtime_ns, stat.st_size, options["delimiter"], options["header"])
    if key in _last_table:
        return _last_table[key]
    text = read_text(path)
    if not text.strip():
        raise DataError(f"{path.name} is empty; a CSV file needs a header row and one row per sample")
    rows = _split_rows(text, DELIMITERS[options["delimiter"]], path.name)
    if not rows:
        raise DataError(f"{path.name} holds no values; a CSV file needs one row per sample")
    if options["header"]:
        names = [field.strip() for field in rows[0][1]]
        rows = rows[1:]
        if not rows:
            raise DataError(f"{path.name} has a header row but no data rows; add one row per sample")
        reference = "the header has"
    else:
        names = [str(i) for i in range(len(rows[0][1]))]
        reference = "the first row has"
    for line, fields in rows:
        if len(fields) != len(names):
            raise DataError(f"{path.name}, row {line}: {len(fields)} values where {reference} "
                            f"{len(names)} columns; fix or delete that row")
    table = _Table(path.name, names, options["header"], rows)
    _last_table.clear()
    _last_table[key] = table
    return table


def _columns(table: _Table, options: dict) -> tuple[int | None, list[int]]:
    label_text = options["label"].strip()
    if label_text.lower() == "none":
        label = None
    else:
        label = table.resolve(label_text, "label") if label_text else len(table.names) - 1
    if options["features"].strip():
        features = [table.resolve(part, "features") for part in options["features"].split(",")]
        if label is not None and label in features:
            raise DataError(f"{table.file}: {table.column(label)} is both the label and a feature; "
                            f"remove it from option 'features'")
    else:
        features = [i for i in range(len(table.names)) if i != label]
    if not features:
        raise DataError(f"{table.file}: no feature columns are left besides the label; "
                        f"the file needs at least one column of inputs")
    return label, features


def _number(table: _Table, line: int, column: int, text: str) -> float:
    text = text.strip()
    place = f"{table.file}, row {line}, {table.column(column)}"
    if not text:
        raise DataError(f"{place}: the value is empty; fill it in or delete the row")
    try:
        value = float(text)
    except ValueError:
        raise DataError(f"{place}: '{text}' is not a number; this column must hold numbers only "
                        f"(or make it the label column)") from None
    if not math.isfinite(value):
        raise DataError(f"{place}: '{text}' is not a finite number; replace the missing value")
    return value


def _features(table: _Table, features: list[int]) -> np.ndarray:
    cells = [[fields[i] for i in features] for _, fields in table.rows]
    try:
        values = np.array(cells, dtype=np.float64)
        if np.isfinite(values).all():
            return values.astype(np.float32)
    except ValueError:
        pass
    for line, fields in table.rows:  # slow path: find the first bad cell to name it
        for i in features:
            _number(table, line, i, fields[i])
    raise AssertionError("unreachable: a bad cell was not found")  # pragma: no cover


def _class_ids(table: _Table, label: int) -> tuple[np.ndarray, list[str]]:
    texts = []
    for line, fields in table.rows:
        text = fields[label].strip()
        if not text:
            raise DataError(f"{table.file}, row {line}, {table.column(label)}: the label is empty; "
                            f"fill it in or delete the row")
        texts.append(text)
    names = column_store.sort_labels(texts)  # the column store orders big files' classes alike
    ids = {name: i for i, name in enumerate(names)}
    return np.array([ids[text] for text in texts], dtype=np.int64), names


def _task(options: dict, context: Context) -> str:
    if options["task"] != "auto":
        return options["task"]
    return "regression" if context.recipe == "regression" else "classification"


def _load(options: dict, context: Context) -> RawData:
    table = _read_table(options, context)
    label, features = _columns(table, options)
    inputs = _features(table, features)
    feature_names = [table.names[i] for i in features]
    extra = {"feature_names": feature_names}
    if label is None:
        return RawData(inputs, None, "none", origin=table.file, extra=extra,
                       description=f"{len(inputs)} rows of {table.file}, {len(features)} columns.")
    extra["label_name"] = table.names[label]
    description = (f"{len(inputs)} rows of {table.file}: {len(features)} features, "
                   f"label {table.column(label)}.")
    if _task(options, context) == "regression":
        targets = np.array([[_number(table, line, label, fields[label])] for line, fields in table.rows],
                           dtype=np.float32)
        return RawData(inputs, targets, "value", origin=table.file, description=description, extra=extra)
    ids, names = _class_ids(table, label)
    return RawData(inputs, ids, "class", origin=table.file, num_classes=len(names), class_names=names,
                   description=description, extra=extra)


def _natural(options: dict, context: Context) -> Natural:
    # The class count needs the label column, so probing reads the table; the features are
    # converted to numbers only by a full load. A big file builds (or opens) its column store.
    big = _big(options, context)
    if big is not None:
        return _natural_big(big, options, context)
    table = _read_table(options, context)
    label, features = _columns(table, options)
    what = f"the rows of {table.file}"
    if label is None:
        return Natural((len(features),), "vector", "none", None, what)
    if _task(options, context) == "regression":
        return Natural((len(features),), "vector", "value", None, what)
    _, names = _class_ids(table, label)
    return Natural((len(features),), "vector", "class", len(names), what)


# --- big files: the column store ----------------------------------------------------------------------

def _big(options: dict, context: Context):
    """The file's path when it is big enough to stream (a column store), else None."""
    path = existing_path(context, options["path"], "csv", "path")
    return path if path.stat().st_size > column_store.stream_bytes() else None


def _layout(path, options: dict, context: Context) -> column_store.Layout:
    delimiter = DELIMITERS[options["delimiter"]]
    names = column_store.read_header(path, delimiter, options["header"])
    table = _Table(path.name, names, options["header"], [])
    label, features = _columns(table, options)
    task = "none" if label is None else _task(options, context)
    return column_store.Layout(path.name, names, options["header"], delimiter, label, features, task)


def _columns_of(path, options: dict, context: Context) -> tuple[column_store.Layout, column_store.Columns]:
    layout = _layout(path, options, context)
    return layout, column_store.open_columns(path, layout, getattr(context, "progress", None))


def _natural_big(path, options: dict, context: Context) -> Natural:
    layout, columns = _columns_of(path, options, context)
    what = f"the rows of {layout.file}"
    shape = (len(layout.features),)
    if layout.task == "classification":
        return Natural(shape, "vector", "class", len(columns.class_names), what)
    return Natural(shape, "vector", "value" if layout.task == "regression" else "none", None, what)


def _load_big(path, options: dict, context: Context) -> RawData:
    layout, columns = _columns_of(path, options, context)
    rows = len(columns.inputs)
    extra = {"feature_names": [layout.names[i] for i in layout.features], "warnings": columns.warnings,
             "missing_values": columns.info.get("missing", {}), "column_store": True}
    where = f"{rows} rows of {layout.file}"
    if layout.task == "none":
        return RawData(columns.inputs, None, "none", origin=layout.file, extra=extra,
                       description=f"{where}, {len(layout.features)} columns.")
    extra["label_name"] = layout.names[layout.label]
    description = f"{where}: {len(layout.features)} features, label {layout.column(layout.label)}."
    if layout.task == "regression":
        return RawData(columns.inputs, columns.targets, "value", origin=layout.file, description=description,
                       extra=extra)
    names = columns.class_names
    return RawData(columns.inputs, columns.targets, "class", origin=layout.file, num_classes=len(names),
                   class_names=names, description=description, extra=extra)


def _read(options: dict, context: Context) -> RawData:
    big = _big(options, context)
    if big is not None:
        raw = _load_big(big, options, context)
        if tuple(context.shape) != raw.inputs.shape[1:]:  # each row reshaped as it is read
            raw.inputs = raw.inputs.reshaped(context.shape)
        return raw
    raw = _load(options, context)
    raw.inputs = raw.inputs.reshape((len(raw.inputs), *context.shape))
    return raw


SOURCES = (
    Source("csv", "CSV table", "A table of numbers from a CSV file: feature columns and a label column.",
           PARAMS, _natural, _read, required=("path",)),
)
