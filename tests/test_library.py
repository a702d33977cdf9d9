"""The user block library ("My blocks", graph/library.py): files, versions, damaged files, the studio."""

import json

import pytest

from graph.library import SUFFIX, Library, updates
from graph.model import Block, Definition, Edge, ExposedParam, LibraryRef, Network, Project
from graph.project_io import dumps_project, loads_project
from studio.document import Document
from tests.definition_support import resnet_project


@pytest.fixture
def open_window(qtbot, tmp_path, monkeypatch):
    """make(document, library): a main window on a block library, closed without a prompt afterwards."""
    from PySide6.QtCore import QSettings

    from studio.main_window import MainWindow
    from tests.studio_support import close_window, refuse_dialogs

    refuse_dialogs(monkeypatch)
    windows = []

    def make(document, library):
        settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
        windows.append(MainWindow(document, settings=settings, autosave=False, block_library=library))
        return windows[-1]
    yield make
    for window in windows:
        close_window(window)


def stage_project() -> Project:
    """`Stage` holds two BasicBlock instances (a nested definition); the network uses one Stage."""
    project = resnet_project()
    body = Network("Stage")
    body.add_block(Block("x", "PortInput", "x"))
    body.add_block(Block("b1", "BasicBlock", "block1", {"channels": 8}))
    body.add_block(Block("b2", "BasicBlock", "block2", {"channels": 8}))
    body.add_block(Block("out", "PortOutput", "out"))
    for a, b in (("x", "b1"), ("b1", "b2"), ("b2", "out")):
        body.connect(Edge(a, b, "x"))
    exposed = [ExposedParam("channels", 8, ("b1.channels", "b2.channels"))]
    project.definitions.add(Definition("Stage", body, exposed, description="Two basic blocks"))
    project.link()
    return project


def test_save_list_load_round_trip_keeps_nested_definitions(tmp_path, registry):
    library = Library(registry, tmp_path)
    project = stage_project()
    entry = library.save(project.definitions, "Stage")
    assert entry.path == tmp_path / f"Stage{SUFFIX}" and entry.path.is_file()
    assert (entry.name, entry.version, entry.description) == ("Stage", 1, "Two basic blocks")
    listed, skipped = library.scan()
    assert skipped == [] and [(e.name, e.version, e.path) for e in listed] == [("Stage", 1, entry.path)]
    loaded = listed[0]
    # the nested BasicBlock travels with it, DownBlock (unused by Stage) does not
    assert loaded.definitions.names() == ["BasicBlock", "Stage"]
    assert loaded.definition.body.blocks["b1"].type == "BasicBlock"
    assert loaded.definition.origin == LibraryRef("Stage", 1)
    assert loaded.definitions.get("BasicBlock").body.block("conv1").params["kernel_size"] == 3
    # a library file is a project file: it opens as a project with one Stage instance
    text = entry.path.read_text(encoding="utf-8")
    opened = loads_project(text, registry)
    assert [b.type for b in opened.networks[0].blocks.values()] == ["Stage"]
    assert json.loads(text)["definitions"][1]["library"] == {"name": "Stage", "version": 1}


def test_the_version_goes_up_only_when_the_content_changed(tmp_path, registry):
    library = Library(registry, tmp_path)
    project = stage_project()
    assert library.save(project.definitions, "Stage").version == 1
    first = (tmp_path / f"Stage{SUFFIX}").read_text(encoding="utf-8")
    assert library.save(project.definitions, "Stage").version == 1  # nothing changed: same file
    assert (tmp_path / f"Stage{SUFFIX}").read_text(encoding="utf-8") == first
    # a change inside the nested definition is a change of Stage
    project.definitions.get("BasicBlock").body.set_params("conv1", {**project.definitions.get(
        "BasicBlock").body.block("conv1").params, "bias": True})
    assert library.save(project.definitions, "Stage").version == 2
    project.definitions.get("Stage").description = "Two residual blocks"
    entry = library.save(project.definitions, "Stage")
    assert (entry.version, entry.description) == (3, "Two residual blocks")
    assert [e.version for e in Library(registry, tmp_path).entries()] == [3]  # read afresh from disk


def test_damaged_library_files_are_named_and_skipped(tmp_path, registry):
    library = Library(registry, tmp_path)
    library.save(stage_project().definitions, "Stage")
    cut = '{"format": "deepwire-project", "version": 2, "na'
    (tmp_path / f"Cut{SUFFIX}").write_text(cut, encoding="utf-8")
    good = json.loads((tmp_path / f"Stage{SUFFIX}").read_text(encoding="utf-8"))
    good["definitions"][0]["blocks"][1]["type"] = "Conv9d"
    good["name"] = "Other"
    (tmp_path / f"Hostile{SUFFIX}").write_text(json.dumps(good), encoding="utf-8")
    (tmp_path / f"Plain{SUFFIX}").write_text(dumps_project(Project("Plain")), encoding="utf-8")
    entries, skipped = library.scan()
    assert [e.name for e in entries] == ["Stage"]
    reasons = {s.path.name: s.reason for s in skipped}
    assert set(reasons) == {f"Cut{SUFFIX}", f"Hostile{SUFFIX}", f"Plain{SUFFIX}"}
    assert reasons[f"Cut{SUFFIX}"].startswith(str(tmp_path / f"Cut{SUFFIX}") + ": ")
    assert "cut off" in reasons[f"Cut{SUFFIX}"]
    assert "definitions[0] 'BasicBlock' > blocks[1]" in reasons[f"Hostile{SUFFIX}"]
    assert "Conv9d" in reasons[f"Hostile{SUFFIX}"]
    assert "not a DeepWire block file" in reasons[f"Plain{SUFFIX}"]
    assert all("Traceback" not in r for r in reasons.values())


def test_a_shared_file_is_imported_and_old_projects_load(tmp_path, registry):
    mine = Library(registry, tmp_path / "mine")
    shared = mine.save(stage_project().definitions, "Stage")
    theirs = Library(registry, tmp_path / "theirs")
    entry = theirs.import_file(shared.path)
    assert (entry.name, entry.version, entry.path.parent) == ("Stage", 1, tmp_path / "theirs")
    assert theirs.import_file(shared.path).version == 1  # the same content again: nothing new
    # a definition entry without "library" (every file before the library) loads with no origin
    project = stage_project()
    assert all(d.origin is None for d in loads_project(dumps_project(project), registry).definitions)
    data = json.loads(dumps_project(project))
    data["definitions"][0]["library"] = {"name": "BasicBlock", "version": 0}
    from graph.project_io import ProjectFileError

    with pytest.raises(ProjectFileError, match=r"definitions\[0\] 'BasicBlock' > library > version"):
        loads_project(json.dumps(data), registry)


def test_the_palette_lists_this_project_and_my_blocks_and_search_finds_them(open_window, tmp_path, registry):
    from studio.palette import LIBRARY_SECTION, PROJECT_SECTION

    library = Library(registry, tmp_path)
    library.save(stage_project().definitions, "Stage")
    (tmp_path / f"Broken{SUFFIX}").write_text("{", encoding="utf-8")
    win = open_window(Document(registry, resnet_project()), library)
    palette = win.palette
    assert palette.section_types(PROJECT_SECTION) == ["BasicBlock", "DownBlock"]
    assert palette.section_types(LIBRARY_SECTION) == ["library:Stage"]
    top = [palette.tree.topLevelItem(i).text(0) for i in range(3)]
    assert top[:2] == [PROJECT_SECTION, LIBRARY_SECTION]
    broken = palette._sections[LIBRARY_SECTION].child(1)
    assert broken.text(0) == f"⚠ Broken{SUFFIX}" and str(tmp_path) in broken.toolTip(0)
    palette.set_filter("stage")
    assert palette.visible_types() == ["library:Stage"]
    palette.set_filter("downblock")
    assert palette.visible_types() == ["DownBlock"]
    palette.set_filter("")
    assert "Conv2d" in palette.visible_types()


def test_dropping_a_library_block_adds_definitions_and_instance_in_one_step(open_window, tmp_path, registry):
    from studio.palette import PROJECT_SECTION

    library = Library(registry, tmp_path)
    library.save(stage_project().definitions, "Stage")
    doc = Document(registry, Project())
    win = open_window(doc, library)
    before = doc.project.copy()
    view = win.tabs.current_view()
    from PySide6.QtCore import QPointF

    block_id = view.dropBlock("library:Stage", QPointF(200, 100))
    net = doc.network()
    assert net.blocks[block_id].type == "Stage" and net.blocks[block_id].params == {"channels": 8}
    assert doc.project.definitions.names() == ["BasicBlock", "Stage"]
    assert doc.project.definitions.get("Stage").origin == LibraryRef("Stage", 1)
    assert doc.undo_stack.count() == 1 and doc.undo_stack.undoText() == "Add Stage from My blocks"
    assert "Stage" in doc.registry and block_id in view.network_scene.blocks
    assert win.palette.section_types(PROJECT_SECTION) == ["BasicBlock", "Stage"]
    doc.undo_stack.undo()
    assert doc.project == before and len(doc.project.definitions) == 0 and "Stage" not in doc.registry
    assert win.palette.section_types(PROJECT_SECTION) == []
    doc.undo_stack.redo()
    assert doc.project.definitions.names() == ["BasicBlock", "Stage"] and block_id in doc.network().blocks


def test_a_newer_library_version_is_offered_and_updates_every_instance(open_window, tmp_path, registry):
    library = Library(registry, tmp_path)
    project = resnet_project()
    saved = library.save(project.definitions, "BasicBlock")
    project.definitions.get("BasicBlock").origin = LibraryRef("BasicBlock", saved.version)
    # the library's BasicBlock gets a bias in conv1 (version 2), in another project
    newer = resnet_project().definitions
    body = newer.get("BasicBlock").body
    body.set_params("conv1", {**body.block("conv1").params, "bias": True})
    assert library.save(newer, "BasicBlock").version == 2
    doc = Document(registry, project)
    win = open_window(doc, library)
    assert [(u.name, u.current, u.newest) for u in doc.library_updates()] == [("BasicBlock", 1, 2)]
    win._fill_definitions_menu()
    texts = [a.text() for a in win.definitions_menu.actions()]
    assert "Update BasicBlock to version 2" in texts
    assert win.palette.item("BasicBlock").text(0) == "BasicBlock  ↑ v2"
    assert "My blocks has version 2" in win.palette.item("BasicBlock").toolTip(0)
    before = doc.project.copy()
    instances = [bid for bid, b in doc.network().blocks.items() if b.type == "BasicBlock"]
    assert instances == ["l1_0", "l1_1", "l2_1"]
    weights = {bid: _weights(doc, bid) for bid in instances}
    win.update_from_library()
    assert doc.undo_stack.count() == 1
    assert doc.project.definitions.get("BasicBlock").origin == LibraryRef("BasicBlock", 2)
    assert doc.project.definitions.get("BasicBlock").body.block("conv1").params["bias"] is True
    # every instance gained conv1's bias: one weight per output channel
    assert {bid: _weights(doc, bid) - weights[bid] for bid in instances} == {"l1_0": 8, "l1_1": 8, "l2_1": 16}
    assert doc.library_updates() == []
    errors = [d.message for d in doc.graph_analysis("model").diagnostics if d.is_error]
    assert errors == [], errors
    doc.undo_stack.undo()
    assert doc.project == before and {bid: _weights(doc, bid) for bid in instances} == weights
    assert updates(doc.project.definitions, library.entries())[0].newest == 2


def test_save_to_my_blocks_records_the_version_in_the_project(open_window, tmp_path, registry):
    library = Library(registry, tmp_path)
    doc = Document(registry, stage_project())
    doc.block_library = library
    messages = []
    doc.libraryChanged.connect(messages.append)
    entry = doc.save_to_library("Stage")
    assert entry.version == 1 and doc.project.definitions.get("Stage").origin == LibraryRef("Stage", 1)
    assert doc.undo_stack.count() == 1 and messages[-1].startswith("Saved Stage to My blocks (version 1)")
    assert doc.save_to_library("Stage").version == 1 and doc.undo_stack.count() == 1
    saved = loads_project(dumps_project(doc.project), registry)
    assert saved.definitions.get("Stage").origin == LibraryRef("Stage", 1)
    assert saved.definitions.get("BasicBlock").origin is None


def _weights(doc, bid):
    from graph.memory import block_weights

    return block_weights(doc.network("model"), doc.registry, doc.analysis("model").inference, bid)

