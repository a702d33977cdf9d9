"""Hostile run folders: `damage(kind, run, marker)` breaks a copy of a real run folder in place.

Junk metrics.jsonl (binary, cut lines, lists for objects, NaN, deep nesting,
a 5 MB line, strings for numbers), summary.json of the wrong shape, a
missing or foreign project snapshot, model.py replaced by code that would
create the marker file if anything ran it, huge or broken sample images,
junk evaluation.json.
"""

from __future__ import annotations

import json
import random
import shutil
from pathlib import Path

from tests.redteam import projects
from tests.redteam.datafiles import _png


def _metrics(run: Path, text: str | bytes) -> None:
    path = run / "metrics.jsonl"
    path.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8", "surrogatepass"))


def _summary(run: Path, value) -> None:
    (run / "summary.json").write_text(value if isinstance(value, str) else json.dumps(value))


_GOOD_LINE = '{"type":"validation","epoch":1,"step":8,"loss":0.9,"accuracy":0.6,"best":true}\n'

KINDS = {
    "metrics binary": lambda r, m: _metrics(r, random.Random(7).randbytes(3000)),
    "metrics cut line": lambda r, m: _metrics(r, _GOOD_LINE + _GOOD_LINE[:30]),
    "metrics lists": lambda r, m: _metrics(r, '[1, 2]\n[]\n"text"\n3\nnull\n' + _GOOD_LINE),
    "metrics NaN": lambda r, m: _metrics(r, _GOOD_LINE.replace("0.9", "NaN").replace("0.6", "Infinity") * 3),
    "metrics strings for numbers": lambda r, m: _metrics(
        r, '{"type":"validation","epoch":"one","step":"x","loss":"low","accuracy":[1]}\n' * 3
    ),
    "metrics wrong types": lambda r, m: _metrics(
        r, '{"type":5,"epoch":{"a":1},"loss":{"x":2}}\n{"type":"epoch","epoch":null,"loss":true}\n'
    ),
    "metrics deep nesting": lambda r, m: _metrics(r, "[" * 100_000 + "]" * 100_000 + "\n" + _GOOD_LINE),
    "metrics 5 MB line": lambda r, m: _metrics(r, '{"type":"step","loss":' + "1" * 5_000_000 + "}\n"),
    "metrics negative epochs": lambda r, m: _metrics(r, _GOOD_LINE.replace('"epoch":1', '"epoch":-99999999')),
    "metrics huge epoch": lambda r, m: _metrics(r, _GOOD_LINE.replace('"epoch":1', '"epoch":1e308')),
    "metrics undecodable": lambda r, m: _metrics(r, b"\xff\xfe" + _GOOD_LINE.encode() + b"\xc3\x28\n"),
    "metrics is a folder": lambda r, m: ((r / "metrics.jsonl").unlink(), (r / "metrics.jsonl").mkdir()),
    "summary list": lambda r, m: _summary(r, [1, 2, 3]),
    "summary string": lambda r, m: _summary(r, "just text"),
    "summary number": lambda r, m: _summary(r, 42),
    "summary null": lambda r, m: _summary(r, None),
    "summary wrong types": lambda r, m: _summary(
        r,
        {
            "final": "good",
            "best_metric": [1],
            "epochs": "two",
            "recipe": 7,
            "train": 5,
            "memory": "lots",
            "best_epoch": {"x": 1},
            "reason": None,
        },
    ),
    "summary NaN": lambda r, m: _summary(
        r, '{"final": {"loss": NaN}, "best_metric": Infinity, "epochs": NaN}'
    ),
    "summary invalid JSON": lambda r, m: _summary(r, '{"final": '),
    "summary undecodable": lambda r, m: (r / "summary.json").write_bytes(b"\xff\xfe\x00{"),
    "summary is a folder": lambda r, m: ((r / "summary.json").unlink(), (r / "summary.json").mkdir()),
    "summary missing": lambda r, m: (r / "summary.json").unlink(),
    "snapshot missing": lambda r, m: (r / "project.dw.json").unlink(),
    "snapshot junk": lambda r, m: (r / "project.dw.json").write_bytes(b"\x00junk{"),
    "snapshot of another project": lambda r, m: projects.write(
        r, projects.tiny(projects.example("digits_cnn"))
    ),
    "snapshot a folder": lambda r, m: ((r / "project.dw.json").unlink(), (r / "project.dw.json").mkdir()),
    "model.py runs code": lambda r, m: (r / "model.py").write_text(
        f"open({str(m)!r}, 'w').write('pwned')\nraise SystemExit(3)\n"
    ),
    "checkpoints missing": lambda r, m: ((r / "best.pt").unlink(), (r / "last.pt").unlink()),
    "samples huge png": lambda r, m: _samples(r, {"epoch_001.png": _png(60_000, 60_000)}),
    "samples junk png": lambda r, m: _samples(
        r, {"epoch_001.png": b"not a png", "epoch_002.txt": b"\xff\xfe"}
    ),
    "evaluation junk": lambda r, m: (r / "evaluation.json").write_text(
        '{"confusion": "x", "predictions": 5}'
    ),
    "evaluation binary": lambda r, m: (r / "evaluation.json").write_bytes(random.Random(8).randbytes(500)),
    "run is a file": lambda r, m: (shutil.rmtree(r), r.write_bytes(b"not a folder")),
    "everything empty": lambda r, m: [p.write_bytes(b"") for p in r.iterdir() if p.is_file()],
}


def _samples(run: Path, files: dict[str, bytes]) -> None:
    (run / "samples").mkdir(exist_ok=True)
    for name, data in files.items():
        (run / "samples" / name).write_bytes(data)


def damage(kind: str, run: Path, marker: Path) -> None:
    KINDS[kind](run, marker)
