"""Big CSV files through the column store (runtime/data/column_store.py), and big texts through token files.

The size limit is set to 0 bytes here, so small files written in a test take
the path a multi-GB file takes; every case compares it with the in-memory
reader (same numbers, same class names) or checks its message. The cache is
the session's temporary DEEPWIRE_HOME (conftest.py).
"""

from __future__ import annotations

import os
import pickle

import numpy as np
import pytest

from graph.model import DataSpec
from graph.training_config import TrainingConfig
from runtime.data import column_store, load_dataset, token_file
from runtime.data.base import DataError
from runtime.data.registry import source_info
from runtime.data.source import Context
from runtime.data.store import in_memory


@pytest.fixture
def stream(monkeypatch):
    """Every CSV and text file is 'big' (column store / token file)."""
    monkeypatch.setenv(column_store.STREAM_BYTES_ENV, "0")


def _read(path, recipe="classification", **options):
    source = source_info("csv")
    checked = source.check_options({"path": str(path), **options})
    context = Context(recipe=recipe)
    natural = source.natural(checked, context)
    context.shape = natural.shape
    return natural, source.read(checked, context)


def _all(rows) -> np.ndarray:
    """Every row of a store, in order."""
    return rows[np.arange(len(rows))]


def _both(path, monkeypatch, recipe="classification", **options):
    monkeypatch.setenv(column_store.STREAM_BYTES_ENV, str(2**40))
    small = _read(path, recipe, **options)
    monkeypatch.setenv(column_store.STREAM_BYTES_ENV, "0")
    big = _read(path, recipe, **options)
    return small, big


TABLES = {
    "plain": ("a,b,label\n1.5,2,x\n3,4,y\n\n5,6,x\n,,\n7.25, 8 ,10\n", {}),
    "numeric labels": ("a,b,label\n1,2,10\n3,4,9\n5,6,2\n", {}),
    "crlf and ;": ("a;b;label\r\n1;2;x\r\n3;4;y\r\n", {"delimiter": ";"}),
    "quoted": ('a,b,label\n1,2,"x,1"\n3,4,"y"\n', {}),
    "byte-order mark": ("\ufeffa,b,label\n1,2,x\n3,4,y\n", {}),
    "no header": ("1,2,x\n3,4,y\n", {"header": False}),
    "features and label by name": ("k,a,b,c\nx,1,2,3\ny,4,5,6\n", {"label": "k", "features": "c,a"}),
}


@pytest.mark.parametrize("case", sorted(TABLES))
def test_column_store_gives_the_small_readers_numbers(tmp_path, monkeypatch, case):
    text, options = TABLES[case]
    path = tmp_path / "t.csv"
    path.write_text(text, encoding="utf-8")
    (n1, small), (n2, big) = _both(path, monkeypatch, **options)
    assert n1 == n2
    assert in_memory(small.inputs) and not in_memory(big.inputs) and in_memory(big.targets)
    everything = np.arange(len(small.inputs))
    np.testing.assert_array_equal(small.inputs, big.inputs[everything])
    np.testing.assert_array_equal(small.targets, big.targets[everything])
    assert small.targets.dtype == big.targets.dtype and small.inputs.dtype == big.inputs.dtype == np.float32
    assert small.class_names == big.class_names
    assert big.extra["warnings"] == [] and big.extra["feature_names"] == small.extra["feature_names"]


def test_rows_are_read_in_any_order_reshaped_and_picklable(tmp_path, stream):
    path = tmp_path / "t.csv"
    path.write_text("a,b,c,d,label\n" + "".join(f"{i},{i + 1},{i + 2},{i + 3},x\n" for i in range(50)))
    _, raw = _read(path)
    rows = raw.inputs[np.array([7, 2, 40, 2])]
    np.testing.assert_array_equal(rows[:, 0], [7, 2, 40, 2])
    copy = pickle.loads(pickle.dumps(raw.inputs.reshaped((2, 2))))  # what a DataLoader worker gets
    assert copy.shape == (50, 2, 2) and copy[3].tolist() == [[3, 4], [5, 6]]
    assert raw.targets[np.array([1])].dtype == np.int64


def test_regression_and_unlabelled_tables(tmp_path, monkeypatch):
    path = tmp_path / "r.csv"
    path.write_text("a,b,price\n1,2,10.5\n3,4,-2\n5,6,7\n", encoding="utf-8")
    (_, small), (_, big) = _both(path, monkeypatch, recipe="regression")
    assert big.targets.shape == (3, 1) and big.targets.dtype == np.float32
    np.testing.assert_array_equal(small.targets, _all(big.targets))
    (_, small), (_, big) = _both(path, monkeypatch, label="none")
    assert big.targets is None and big.inputs.shape == (3, 3)
    np.testing.assert_array_equal(small.inputs, _all(big.inputs))


def test_store_is_reused_and_rebuilt_when_the_file_changes(tmp_path, stream, monkeypatch):
    path = tmp_path / "t.csv"
    path.write_text("a,b,label\n1,2,x\n3,4,y\n", encoding="utf-8")
    _, first = _read(path)
    builds = []
    real = column_store._build
    monkeypatch.setattr(column_store, "_build", lambda *a: (builds.append(a), real(*a)))
    _, again = _read(path)
    assert builds == [] and np.array_equal(_all(first.inputs), _all(again.inputs))
    path.write_text("a,b,label\n9,8,z\n3,4,y\n7,7,z\n", encoding="utf-8")
    os.utime(path, ns=(1, 1))  # a different mtime even on a coarse clock
    _, changed = _read(path)
    assert len(builds) == 1
    np.testing.assert_array_equal(_all(changed.inputs), [[9, 8], [3, 4], [7, 7]])
    assert changed.class_names == ["y", "z"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t.csv"]  # nothing written beside the data


def _rows(count: int, bad: dict[int, str] | None = None) -> str:
    lines = [f"{i % 7}.5,{i % 3},{'ab'[i % 2]}" for i in range(count)]
    for index, line in (bad or {}).items():
        lines[index] = line
    return "a,b,label\n" + "\n".join(lines) + "\n"


def test_few_ragged_rows_are_skipped_and_named(tmp_path, stream):
    path = tmp_path / "r.csv"
    path.write_text(_rows(300, {10: "1,2", 250: "1,2,a,4"}), encoding="utf-8")
    _, raw = _read(path)
    assert len(raw.inputs) == 298
    (warning,) = raw.extra["warnings"]
    assert warning.startswith("r.csv: skipped 2 ragged row(s) (rows 12, 252)") and "3 columns" in warning
    quoted = tmp_path / "q.csv"  # the csv-module path (quotes) skips the same way
    quoted.write_text(_rows(300, {0: '"1",2,a', 10: "1,2"}), encoding="utf-8")
    _, raw = _read(quoted)
    assert len(raw.inputs) == 299 and "rows 12)" in raw.extra["warnings"][0]


def test_many_ragged_rows_stop_the_load_naming_the_first(tmp_path, stream):
    path = tmp_path / "r.csv"
    path.write_text(_rows(50, {4: "1,2", 9: "3"}), encoding="utf-8")
    with pytest.raises(DataError) as err:
        _read(path)
    assert str(err.value).startswith("r.csv, row 6: 2 values where the header has 3 columns; fix or delete")
    assert "1 more rows are ragged too" in str(err.value)


def test_mixed_encodings_read_with_a_fallback_and_a_warning(tmp_path, stream):
    path = tmp_path / "m.csv"
    path.write_bytes("a,label\n1,café\n2,x\n".encode() + b"3,caf\xe9\n")
    _, raw = _read(path)
    assert raw.class_names == ["café", "x"]
    np.testing.assert_array_equal(_all(raw.targets), [0, 1, 0])
    (warning,) = raw.extra["warnings"]
    assert "m.csv: 1 line(s) are not UTF-8 (lines 4)" in warning and "Windows-1252" in warning


def test_missing_values_are_counted_per_column_and_the_first_named(tmp_path, stream):
    path = tmp_path / "m.csv"
    path.write_text(_rows(40, {3: "1,,a", 7: ",,b", 20: "2,,a"}), encoding="utf-8")
    with pytest.raises(DataError) as err:
        _read(path)
    message = str(err.value)
    assert message.startswith("m.csv, row 5, column 'b': the value is empty")
    assert "4 missing or non-finite values in all: 'a': 1, 'b': 3" in message
    info = column_store.cache_entry(path, "csv-columns", column_store._options(column_store.Layout(
        "m.csv", ["a", "b", "label"], True, ",", 2, [0, 1], "classification"))).info()
    assert info["missing"] == {"a": 1, "b": 3}  # kept for the data-health report


@pytest.mark.parametrize("table, words", [
    ("a,label\n1,x\nheavy,y\n", "m.csv, row 3, column 'a': 'heavy' is not a number"),
    ("a,label\n1,x\nnan,y\n", "m.csv, row 3, column 'a': 'nan' is not a finite number"),
    ("a,label\n1,x\n2, \n", "m.csv, row 3, column 'label': the label is empty"),
    ("a,label\n", "m.csv has a header row but no data rows"),
    ('a,label\n"1",x\n"oops,y\n', "m.csv, row 3: 1 values where the header has 2 columns"),
], ids=["not a number", "nan", "empty label", "header only", "unterminated quote"])
def test_bad_cells_named_like_the_small_reader(tmp_path, stream, table, words):
    path = tmp_path / "m.csv"
    path.write_text(table, encoding="utf-8")
    with pytest.raises(DataError, match=words.replace(".", r"\.").replace("(", r"\(")):
        _read(path)


def test_zero_byte_file(tmp_path, stream):
    path = tmp_path / "z.csv"
    path.write_bytes(b"")
    with pytest.raises(DataError, match="z.csv is empty"):
        _read(path)


def test_a_file_changing_while_read_is_refused_and_never_sealed(tmp_path, stream):
    path = tmp_path / "g.csv"
    path.write_text(_rows(100), encoding="utf-8")
    calls = []

    def grow(what, done, total):
        calls.append((what, done, total))
        if len(calls) == 1:
            with open(path, "a", encoding="utf-8") as out:
                out.write("1,2,a\n")

    source = source_info("csv")
    options = source.check_options({"path": str(path)})
    with pytest.raises(DataError, match="g.csv changed while DeepWire was reading it.*try again"):
        source.natural(options, Context(recipe="classification", progress=grow))
    assert calls[0][0] == "checking g.csv" and calls[0][2] == len(_rows(100))
    _, raw = _read(path)  # the next run builds a whole entry
    assert len(raw.inputs) == 101


def test_progress_reports_and_cancels(tmp_path, stream):
    path = tmp_path / "p.csv"
    path.write_text(_rows(100), encoding="utf-8")
    seen = []

    def cancel(what, done, total):
        seen.append((what, done, total))
        if what.startswith("converting"):
            raise DataError("cancelled by the user")

    source = source_info("csv")
    options = source.check_options({"path": str(path)})
    with pytest.raises(DataError, match="cancelled by the user"):
        source.natural(options, Context(recipe="classification", progress=cancel))
    assert seen[-1] == ("converting p.csv", 100, 100)
    seen.clear()
    _, raw = _read(path)  # not sealed: built again, in full
    assert len(raw.inputs) == 100


def test_load_dataset_splits_a_streamed_table(tmp_path, stream):
    path = tmp_path / "t.csv"
    path.write_text(_rows(200), encoding="utf-8")
    config = TrainingConfig({"val_fraction": 0.2, "test_fraction": 0.1})
    data = load_dataset(DataSpec("csv", {"path": str(path)}), config, 0, input_shape=(2,),
                        input_kind="vector")
    assert not in_memory(data.train.inputs) and len(data.train) + len(data.val) + len(data.test) == 200
    assert data.num_classes == 2 and data.class_names == ["a", "b"]
    rows = np.asarray(data.train.inputs[np.arange(4)])
    assert rows.shape == (4, 2) and rows.dtype == np.float32


# --- text files as token files ------------------------------------------------------------------------

TEXT = ("héllo wörld\r\nsecond “line” \u4e16\r\n\tthird\rline " * 30).encode()


@pytest.mark.parametrize("vocab, max_chars", [("ascii", 0), ("all", 0), ("all", 333)])
def test_token_file_windows_equal_the_in_memory_windows(tmp_path, monkeypatch, vocab, max_chars):
    path = tmp_path / "t.txt"
    path.write_bytes(TEXT)
    monkeypatch.setattr(token_file, "BLOCK_BYTES", 7)  # characters and "\r\n" cut by block edges
    source = source_info("text_file")
    results = []
    for limit in (str(2**40), "0"):
        monkeypatch.setenv(column_store.STREAM_BYTES_ENV, limit)
        options = source.check_options({"path": str(path), "vocab": vocab, "max_chars": max_chars,
                                        "stride": 3})
        context = Context(recipe="language_model", val_fraction=0.1, test_fraction=0.1)
        natural = source.natural(options, context)
        context.shape = (16,)
        results.append((natural, source.read(options, context)))
    (n1, small), (n2, big) = results
    assert n1 == n2 and small.vocab == big.vocab and small.num_classes == big.num_classes
    for part_small, part_big in zip(small.splits, big.splits):
        for rows_small, rows_big in zip(part_small, part_big):
            assert not in_memory(rows_big) and rows_big.shape == rows_small.shape
            np.testing.assert_array_equal(rows_big[np.arange(len(rows_big))], rows_small)
    targets = pickle.loads(pickle.dumps(big.splits[0][1]))  # DataLoader workers get a copy
    np.testing.assert_array_equal(targets[np.array([5, 1, 3])], small.splits[0][1][[5, 1, 3]])
    assert targets[np.array([0])].dtype == np.int64


def test_token_file_dtype_follows_the_vocabulary(tmp_path, stream):
    source = source_info("text_file")
    wide = "".join(map(chr, range(300, 700))) * 2  # 400 characters: more than uint8 ids can hold
    for name, text, dtype in (("a.txt", "abc" * 50, np.uint8), ("w.txt", wide, np.uint16)):
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        options = source.check_options({"path": str(path), "vocab": "all"})
        file, file_dtype, count, vocab = token_file.open_tokens(path, options, [], {})
        assert file_dtype == dtype and count == len(text) and len(vocab) == len(set(text))
        assert file.stat().st_size == count * np.dtype(dtype).itemsize
        assert not str(file).startswith(str(tmp_path))  # in the cache, not beside the text


def test_token_file_refuses_bytes_that_are_not_utf8(tmp_path, stream):
    path = tmp_path / "story.txt"
    path.write_bytes(b"once upon\na time \xff\xfe here" * 3)
    source = source_info("text_file")
    options = source.check_options({"path": str(path)})
    with pytest.raises(DataError, match=r"story\.txt: byte 17 \(line 2\) is not valid UTF-8.*0xff"):
        source.natural(options, Context(recipe="language_model"))


def test_pydoc_text_stays_in_memory(stream):
    source = source_info("pydoc_text")
    options = source.check_options({"max_chars": 5000})
    raw = source.read(options, Context(recipe="language_model", shape=(32,)))
    assert in_memory(raw.splits[0][0]) and raw.splits[0][0].dtype == np.int64
