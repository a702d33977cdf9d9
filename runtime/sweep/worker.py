"""`python -m runtime.sweep.worker SPEC.json`: train one sweep trial in a process of its own.

The sweep starts one of these per trial when trials run in parallel. The
spec holds the trial's project text, its run folder and its time budget; the
events go to stdout as JSON lines (like `deepwire train --events jsonl`), a
line "stop" on stdin or SIGTERM stops the run cleanly. Exit codes follow
`deepwire train`: 0 trained or stopped, 1 training failed, 2 bad project or data.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    from runtime.lifeline import die_with_parent

    die_with_parent()  # a sweep killed outright takes its trials with it
    spec = json.loads(Path(argv[0]).read_text(encoding="utf-8"))

    import torch

    from graph.blocks import default_registry
    from graph.project_io import loads_project
    from runtime.data import DataError
    from runtime.train import JsonLinesWriter, SetupError, StopFlag, Trainer, TrainingError, TrainOptions
    from runtime.train.data import load_project_data
    from runtime.train.stop import watch_stdin

    if spec.get("threads"):
        torch.set_num_threads(int(spec["threads"]))
    registry = default_registry()
    project = loads_project(spec["project"], registry, spec.get("project_path") or "<trial>")
    writer = JsonLinesWriter(sys.stdout)
    stop = StopFlag()
    watch_stdin(stop)
    base_dir = Path(spec["base_dir"]) if spec.get("base_dir") else None
    try:
        dataset = load_project_data(project, registry, base_dir=base_dir)
    except (DataError, SetupError) as err:
        from runtime.train import events as ev

        writer.on_event(ev.RunError(str(err), "data", "fix the project or its data"))
        return 2
    options = TrainOptions(run_dir=Path(spec["run_dir"]), max_seconds=spec.get("max_seconds"),
                           project_path=Path(spec["project_path"]) if spec.get("project_path") else None,
                           stop=stop)
    try:
        Trainer(project, registry, dataset, options, [writer]).run()
    except SetupError:
        return 2
    except TrainingError:
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
