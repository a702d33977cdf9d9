"""Which runs of instances the canvas shows folded: view state, kept per project and network.

Folding changes nothing in the model: not its equality, not its code, not the
undo stack (undoing an edit never unfolds what the person folded, and folding
never marks the project modified). So the choices live here, beside the
Document (one `FoldChoices` per Document, made on first use), and not in the
project file: the file has no view section outside equality (positions and
groups are part of the model).

They are remembered between sessions in the studio's QSettings (the one the
recent files and window layout use, set by the main window), under
"folds/<project id>", one JSON entry per project: for each network, the
blocks folded and the blocks expanded by hand. A project id stays with a
project through renames, moves and Save As (graph.model.Project.id). Without
settings (tests, a canvas on its own) the choices last as long as the Document.

A network seen for the first time without saved choices starts from
graph.folding.default_choices: folded when it is big.
"""

from __future__ import annotations

import json

from graph.folding import Run, choose, default_choices
from graph.model import Network

KEY = "folds/"


class FoldChoices:
    """Block id -> folded (True) or expanded (False), per network of the Document's project."""

    def __init__(self, doc, settings=None):
        self.doc = doc
        self.settings = settings  # QSettings, or None: nothing outlives the Document
        self._choices: dict[tuple[str, str], dict[str, bool]] = {}

    def _project_key(self) -> str:
        project = self.doc.project
        return project.id or str(getattr(self.doc, "path", None) or "untitled")

    def of(self, net: Network, runs: list[Run]) -> dict[str, bool]:
        """The choices for one network; the first call per network loads them (or makes the defaults)."""
        key = (self._project_key(), net.name)
        choices = self._choices.get(key)
        if choices is None:
            saved = self._load(key)
            choices = saved if saved is not None else default_choices(net, runs)
            self._choices[key] = choices
        return choices

    def set(self, net: Network, run: Run, folded: bool) -> None:
        """A person folded or expanded one run: remember it (and save it, when there are settings)."""
        choose(self.of(net, [run]), run, folded)
        self._save(net)

    # --- QSettings ---
    def _read(self, project: str) -> dict:
        if self.settings is None:
            return {}
        try:
            data = json.loads(str(self.settings.value(KEY + project, "{}")))
        except (TypeError, ValueError):  # written by hand or by another version: start afresh
            return {}
        return data if isinstance(data, dict) else {}

    def _load(self, key: tuple[str, str]) -> dict[str, bool] | None:
        entry = self._read(key[0]).get(key[1])
        if not isinstance(entry, dict):
            return None
        choices = {bid: False for bid in entry.get("expanded", ()) if isinstance(bid, str)}
        choices.update({bid: True for bid in entry.get("folded", ()) if isinstance(bid, str)})
        return choices

    def _save(self, net: Network) -> None:
        if self.settings is None:
            return
        project = self._project_key()
        data = self._read(project)
        choices = self._choices.get((project, net.name), {})
        present = {bid: c for bid, c in choices.items() if bid in net.blocks}  # deleted blocks are dropped
        data[net.name] = {"folded": sorted(b for b, c in present.items() if c),
                          "expanded": sorted(b for b, c in present.items() if not c)}
        self.settings.setValue(KEY + project, json.dumps(data))
        self.settings.sync()


def fold_choices(doc) -> FoldChoices:
    """The Document's fold choices, made on first use (a Document knows nothing of canvases)."""
    store = getattr(doc, "_fold_choices", None)
    if store is None:
        store = FoldChoices(doc)
        doc._fold_choices = store
    return store
