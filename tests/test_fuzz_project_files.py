"""Fuzz the project loader systematically: every field of a real project, broken every way.

Complements the random corruptions in test_project_io.py with exhaustive
walks. Each case must, within a time limit (no hang), either raise
ProjectFileError (naming the file, a location and what is wrong) or give a
valid Project that saves and loads back to itself. Never another exception.

  wrong types  every field (every key of every object, every list item, at
               any depth) of a bundled project replaced by each of WRONG_VALUES:
               None, booleans, huge and tiny numbers, NaN/inf, empty and huge
               text, control and Unicode characters, lists, objects, deep nesting
  deletions    every field removed in turn
  literals     number and string literals JSON itself allows but Python
               struggles with (1e999, 10,000-digit integers, lone surrogates)
  nesting      10,000 and 100,000 levels of lists/objects, at the top and inside
  names        every control character, line and paragraph separators, BOM,
               right-to-left marks, 4-byte emoji and 100,000-character names
  truncation   a saved project cut at every byte offset (UTF-8 split included)

Default run: one example (iris_mlp). Slow: every bundled example.
Counts are printed with `pytest -s`.
"""

from __future__ import annotations

import contextlib
import json
import signal
from collections import Counter

import pytest

from graph.blocks import default_registry
from graph.examples import example_path, list_examples
from graph.model import Project
from graph.project_io import ProjectFileError, dumps_project, loads_project

REGISTRY = default_registry()
SECONDS_PER_CASE = 5  # a load of a small file takes milliseconds; anything near this is a hang

_DEEP_LIST: list = []
_node = _DEEP_LIST
for _ in range(10_000):
    _node.append([])
    _node = _node[0]

WRONG_VALUES = (
    None, True, False, 0, -1, 2**80, -(2**63) - 1, 1e308, -1e308, 5e-324, float("nan"), float("inf"),
    float("-inf"), "", "x" * 100_000, "\x00\x01\x1b[31m\r\n", "\u2028\u2029\ufeff\u202e", "💥" * 50,
    "b1", [], [None], {}, {"": None}, {"id": "b1"}, [[[[[[]]]]]], _DEEP_LIST,
)


@contextlib.contextmanager
def time_limit(seconds: float):
    """Fail (instead of hanging the test run) when the body takes longer than `seconds`."""
    def expired(signum, frame):
        raise TimeoutError(f"loading took over {seconds} s")

    old = signal.signal(signal.SIGALRM, expired)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def load_or_clear_error(text: str | bytes, counts: Counter) -> None:
    """The one property: ProjectFileError or a project that round-trips; nothing else, no hang."""
    with time_limit(SECONDS_PER_CASE):
        try:
            project = loads_project(text, REGISTRY, "fuzz.dw.json")
        except ProjectFileError as err:
            assert err.location and err.message, "the error names where and what"
            assert str(err).startswith(f"fuzz.dw.json: {err.location}: ")
            counts["error"] += 1
            return
        assert isinstance(project, Project)
        saved = dumps_project(project)
        assert loads_project(saved, REGISTRY) == project
        counts["loaded"] += 1


def _paths(value, path=()):
    """Every (path, value) in a JSON value, containers and leaves, depth first."""
    found = [(path, value)]
    if isinstance(value, dict):
        for key, child in value.items():
            found.extend(_paths(child, (*path, key)))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            found.extend(_paths(child, (*path, index)))
    return found


def _replaced(data, path, value):
    data = json.loads(json.dumps(data))
    parent = data
    for key in path[:-1]:
        parent = parent[key]
    parent[path[-1]] = value
    return data


def _deleted(data, path):
    data = json.loads(json.dumps(data))
    parent = data
    for key in path[:-1]:
        parent = parent[key]
    del parent[path[-1]]
    return data


def _encode(data) -> str:
    """JSON text of `data`, with the 10,000-deep list spliced in where a placeholder stands."""
    marker = "\u0000DEEP\u0000"

    def swap(value):
        if value is _DEEP_LIST:
            return marker
        if isinstance(value, dict):
            return {k: swap(v) for k, v in value.items()}
        if isinstance(value, list):
            return [swap(v) for v in value]
        return value

    text = json.dumps(swap(data), allow_nan=True, ensure_ascii=False)
    return text.replace(json.dumps(marker, ensure_ascii=False), "[" * 10_000 + "]" * 10_000)


def _example(name: str) -> dict:
    return json.loads(example_path(name).read_text(encoding="utf-8"))


def fuzz_every_field(name: str) -> Counter:
    counts: Counter = Counter()
    base = _example(name)
    paths = [p for p, _ in _paths(base) if p]
    for path in paths:
        for wrong in WRONG_VALUES:
            load_or_clear_error(_encode(_replaced(base, path, wrong)), counts)
        load_or_clear_error(_encode(_deleted(base, path)), counts)
    counts["fields"] = len(paths)
    return counts


def test_every_field_of_a_project_with_every_wrong_value(capsys):
    counts = fuzz_every_field("iris_mlp")
    tried = counts["error"] + counts["loaded"]
    with capsys.disabled():
        print(f"\nproject fields: {counts['fields']} fields x {len(WRONG_VALUES) + 1} changes = {tried} "
              f"files, {counts['error']} clear errors, {counts['loaded']} loaded, 0 crashes")
    assert counts["fields"] > 80 and tried == counts["fields"] * (len(WRONG_VALUES) + 1)
    assert counts["error"] > counts["loaded"] > 0  # both outcomes happen: names take any text, ids do not


@pytest.mark.slow
@pytest.mark.parametrize("name", [e.name for e in list_examples()])
def test_every_field_of_every_example_with_every_wrong_value(name, capsys):
    counts = fuzz_every_field(name)
    with capsys.disabled():
        print(f"\n{name}: {counts['error'] + counts['loaded']} files, 0 crashes")
    assert counts["error"] > 0


HARD_LITERALS = ("1e999", "-1e999", "1" + "0" * 10_000, "-" + "9" * 5_000, "1e-400", "-0", "0.1e1",
                 "NaN", "Infinity", "-Infinity", '"\\ud800"', '"\\udfff\\ud800"', '"\\u0000"', "true",
                 '"' + "\\\\" * 5000 + '"', "[" + ",".join(["1"] * 2_000) + "]")


@pytest.mark.parametrize("literal", HARD_LITERALS, ids=lambda t: t[:12])
def test_literals_json_allows_in_every_top_level_field(literal):
    counts: Counter = Counter()
    base = _example("iris_mlp")
    marker = "__LITERAL__"
    for path, _ in _paths(base):
        if path and len(path) <= 5:
            text = json.dumps(_replaced(base, path, marker)).replace(f'"{marker}"', literal)
            load_or_clear_error(text, counts)
    assert counts["error"] + counts["loaded"] > 30


@pytest.mark.parametrize("depth", [1_000, 10_000, 100_000])
@pytest.mark.parametrize("where", ["top", "name", "params", "options", "position"])
@pytest.mark.parametrize("bracket", ["[]", "{}"])
def test_deep_nesting_anywhere_is_a_clear_error(depth, where, bracket):
    opening, closing = bracket
    if opening == "[":
        deep = "[" * depth + "]" * depth
    else:
        deep = '{"a":' * depth + "1" + "}" * depth
    if where == "top":
        text = deep
    else:
        base = _example("iris_mlp")
        block = base["networks"][0]["blocks"][1]
        target = {"name": (block, "name"), "params": (block["params"], "features"),
                  "options": (base["data"]["options"], "x"), "position": (block, "position")}[where]
        target[0][target[1]] = "__DEEP__"
        text = json.dumps(base).replace('"__DEEP__"', deep)
    with pytest.raises(ProjectFileError, match="nested"):
        with time_limit(SECONDS_PER_CASE):
            loads_project(text, REGISTRY, "fuzz.dw.json")


NAMES = ([chr(c) for c in range(32)] + ["\x7f", "\x85", "\u2028", "\u2029", "\ufeff", "\u202e", "\u200b",
         "\U0001f4a5", "e\u0301", "\ufffd", "\\", '"', "'''", '"""', "{x}", "%s", "x" * 100_000])


@pytest.mark.parametrize("field", ["project", "description", "network", "block", "group", "data_path"])
def test_any_character_in_any_name_loads_as_that_exact_text_or_a_clear_error(field):
    counts: Counter = Counter()
    for text in NAMES:
        base = _example("iris_mlp")
        value = f"a{text}b"
        if field == "project":
            base["name"] = value
        elif field == "description":
            base["description"] = value
        elif field == "network":
            base["networks"][0]["name"] = value
        elif field == "block":
            base["networks"][0]["blocks"][0]["name"] = value
        elif field == "group":
            base["networks"][0]["groups"] = [{"id": "g1", "name": value, "blocks": ["b1"]}]
        else:
            base["data"] = {"source": "csv", "options": {"path": value}}
        load_or_clear_error(json.dumps(base, ensure_ascii=False), counts)
        load_or_clear_error(json.dumps(base, ensure_ascii=True), counts)
    # names are data: every one of these loads (nothing in them is special to the file format)
    assert counts["loaded"] == 2 * len(NAMES), counts


def test_a_saved_project_cut_at_every_byte_is_a_clear_error(capsys):
    project = loads_project(example_path("iris_mlp").read_bytes(), REGISTRY)
    project.name = "Iris — 鳶尾 💐"  # multi-byte characters, so some cuts split one
    data = dumps_project(project).encode("utf-8")
    counts: Counter = Counter()
    for end in range(len(data)):
        load_or_clear_error(data[:end], counts)
    load_or_clear_error(data, counts)
    with capsys.disabled():
        print(f"\ntruncation: {len(data) + 1} cuts, {counts['error']} errors, {counts['loaded']} loaded")
    assert counts["loaded"] >= 1 and counts["error"] >= len(data) - 2  # only the whole file (+ trailing ws)
