"""Cells for hostile run folders and for mutations of the bundled examples.

Run folders: a copy of a real run (iris; the language-model run for
`sample`) at inputs/runs/run, beside inputs/project.dw.json, damaged one way
(runfolders.KINDS), then evaluated, sampled, resumed, or shown in the
studio's Runs panel. Mutations: the bundled examples changed field by field
and byte by byte (mutations.py), through any project surface.
"""

from __future__ import annotations

from tests.redteam import mutations, projects, runfolders, surfaces
from tests.redteam.cases import SUCCEED, Case, _copy_run, _with
from tests.redteam.seeds import Seeds

RUN_SURFACES = tuple(surfaces.RUN_SURFACES)


def run_cases(seeds: Seeds, kinds: list[str], surface_names=RUN_SURFACES) -> dict[str, list[Case]]:
    cells = {}
    for name in surface_names:

        def prepare(ws, kind, name=name):
            run = _copy_run(seeds.lm_run if name == "sample" else seeds.iris_run, ws)
            if kind != "good":
                runfolders.damage(kind, run, ws.marker)
            inv = surfaces.RUN_SURFACES[name](ws, run)
            return _with(inv, codes=SUCCEED) if kind == "good" else inv

        cells[name] = [
            Case(name, "run folder", kind, lambda ws, k=kind, p=prepare: p(ws, k))
            for kind in ["good", *kinds]
        ]
    return cells


def field_cases(count: int, seed: int, surface_names: tuple[str, ...]) -> dict[str, list[Case]]:
    """`count` field mutations spread over every example, through each surface."""
    everything = [(name, *m) for name in projects.example_names() for m in mutations.field_mutations(name)]
    chosen = mutations.sample(everything, count, seed)
    return {
        surface: [
            _mutation_case(surface, "field", label, lambda n=name, p=path, i=index: mutations.mutate(n, p, i))
            for name, label, path, index in chosen
        ]
        for surface in surface_names
    }


def byte_cases(count: int, seed: int, surface_names: tuple[str, ...]) -> dict[str, list[Case]]:
    """`count` byte mutations spread over every example (each with its own seeded offsets)."""
    names = projects.example_names()
    per = max(1, count // len(names))
    chosen = [m for i, name in enumerate(names) for m in mutations.byte_mutations(name, per, seed + i)]
    return {
        name: [_mutation_case(name, "bytes", label, lambda d=data: d) for label, data in chosen]
        for name in surface_names
    }


def _mutation_case(surface: str, klass: str, label: str, content) -> Case:
    """A case writing `content()` (text or bytes) as the project."""

    def prepare(ws):
        path = projects.write(ws.inputs, content())
        inv = surfaces.PROJECT_SURFACES[surface](ws, path)
        if surface in ("train", "sweep"):  # a mutation may ask for 10^7 epochs: the time cap stops it
            inv.argv += ["--max-seconds", "5"] if surface == "train" else ["--max-seconds", "10"]
        return inv

    return Case(surface, f"mutate {klass}", label, prepare)
