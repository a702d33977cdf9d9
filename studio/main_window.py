"""The studio's main window: canvas tabs in the middle, panels docked around them.

Layout: palette on the left, inspector on the right, problems, code and
history below, the summary strip in the status bar. The window wires the
panels to each other (a canvas selection shows in the inspector and the
code; a clicked problem selects its block) and owns the menus, toolbar and
shortcuts. File work is in studio/window_files.py, the canvas tabs in
studio/network_tabs.py. Nothing here edits the model except through
Document methods.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QSettings, Qt
from PySide6.QtGui import QAction, QActionGroup, QCloseEvent, QKeySequence
from PySide6.QtWidgets import QApplication, QDockWidget, QFileDialog, QMainWindow, QMessageBox, QWidget

from graph.blocks import default_registry
from graph.definitions import DefinitionError
from graph.spec import Registry
from studio import window_state
from studio.canvas.fold_state import fold_choices
from studio.clipboard import ClipboardError
from studio.document import Document
from studio.experiments.hookup import install_experiments
from studio.files import Autosave, RecentFiles
from studio.import_dialog import ImportController
from studio.insight.hookup import install_insight
from studio.inspector import Inspector
from studio.network_tabs import NetworkTabs
from studio.palette import Palette
from studio.panels.code_view import CodeView
from studio.panels.history import history_view
from studio.panels.problems import ProblemsPanel
from studio.panels.summary import SummaryStrip
from studio.runs.runs_panel import RunsPanel
from studio.training.data_panel import DataPanel
from studio.training.panel import TrainingPanel
from studio.window_files import FileController

Key = QKeySequence.StandardKey
Area = Qt.DockWidgetArea


class MainWindow(QMainWindow):
    def __init__(self, document: Document | None = None, registry: Registry | None = None,
                 settings: QSettings | None = None, autosave_folder: Path | None = None,
                 autosave: bool = True, theme=None, block_library=None, parent: QWidget | None = None):
        super().__init__(parent)
        registry = registry or (document.catalog if document else default_registry())
        self.document = document or Document(registry)
        if block_library is not None:  # graph.library.Library; default: the user folder (library_dir)
            self.document.block_library = block_library
        self.theme = theme  # studio.app.ThemeManager, or None (tests, screenshots)
        self.recent = RecentFiles(settings, parent=self)
        fold_choices(self.document).settings = self.recent.settings  # folded runs are remembered per project
        self.autosave = Autosave(self.document, autosave_folder, parent=self) if autosave else None
        self.files = FileController(self, self.document, self.recent, self.autosave)
        self.importer = ImportController(self)

        self.tabs = NetworkTabs(self.document)
        self.setCentralWidget(self.tabs)
        self.palette = Palette(registry)
        self.inspector = Inspector(self.document)
        self.problems = ProblemsPanel(self.document)
        self.code_view = CodeView(self.document)
        self.history = history_view(self.document)
        self.summary = SummaryStrip(self.document)
        self.docks: dict[str, QDockWidget] = {}
        self.panels_menu = None  # View > Panels, once the menus exist
        palette_width = max(210, self.palette.preferred_width())  # no block title cut off
        self.add_dock("Blocks", self.palette, Area.LeftDockWidgetArea, palette_width)
        self.add_dock("Inspector", self.inspector, Area.RightDockWidgetArea, 300)
        self.add_dock("Problems", self.problems, Area.BottomDockWidgetArea, 200)
        self.add_dock("Code", self.code_view, Area.BottomDockWidgetArea, 200)
        self.add_dock("History", self.history, Area.BottomDockWidgetArea, 200)
        self.tabifyDockWidget(self.docks["Problems"], self.docks["Code"])
        self.tabifyDockWidget(self.docks["Code"], self.docks["History"])
        self.training = TrainingPanel(self.document)  # Train/Stop, settings, live curves
        self.add_dock("Training", self.training, Area.BottomDockWidgetArea, 260)
        self.tabifyDockWidget(self.docks["History"], self.docks["Training"])
        self.runs = RunsPanel(self.document)  # every run of the project: compare, evaluate, re-run
        self.add_dock("Runs", self.runs, Area.BottomDockWidgetArea, 260)
        self.tabifyDockWidget(self.docks["Training"], self.docks["Runs"])
        self.runs.rerunRequested.connect(lambda snapshot: self.files.open_path(snapshot, as_copy=True))
        self.training.worker.ended.connect(lambda *_: self.runs.follow_run(self.training.last_run_dir))
        self.data_panel = DataPanel(self.document)  # data source, preview, shapes against the input block
        self.add_dock("Data", self.data_panel, Area.RightDockWidgetArea, 300)
        self.tabifyDockWidget(self.docks["Inspector"], self.docks["Data"])
        self.data_panel.health.blockRequested.connect(self.reveal_block)  # the dry run's failing block
        self.docks["Inspector"].raise_()
        self.docks["Problems"].raise_()
        self.setCorner(Qt.Corner.BottomLeftCorner, Area.LeftDockWidgetArea)
        self.setCorner(Qt.Corner.BottomRightCorner, Area.RightDockWidgetArea)
        self.statusBar().addWidget(self.summary, 1)
        self.statusBar().setSizeGripEnabled(False)
        self.statusBar().addPermanentWidget(self.training.progress_widget)
        self.training.message.connect(lambda text, ms: self.statusBar().showMessage(text, ms))
        self.training.worker.runningChanged.connect(lambda on: on and self.show_panel("Training"))

        self.palette.addRequested.connect(self.add_block)
        self._definitions_key = None
        self.document.projectReplaced.connect(self._project_opened)
        self.document.undo_stack.indexChanged.connect(lambda _i: self.refresh_definitions())
        self.document.libraryChanged.connect(self._library_changed)
        self.tabs.selectionChanged.connect(self._selection_changed)
        self.tabs.message.connect(lambda text: self.statusBar().showMessage(text, 5000))
        self.problems.blockActivated.connect(self.reveal_block)
        self.problems.innerBlockActivated.connect(self.reveal_block)  # inside a definition: its tab
        # a definition's tab shown: the list holds its problems too (one with no instance has no other)
        self.tabs.currentChanged.connect(lambda _i: self.problems.show_definition(
            self.tabs.current_network() if self.tabs.is_definition_tab() else None))
        self.summary.problemsClicked.connect(lambda: self.show_panel("Problems"))
        self.document.titleChanged.connect(self._update_title)
        # "Training finished: ..." stays until replaced; it is about the project that was open before
        self.document.projectReplaced.connect(self.statusBar().clearMessage)
        if self.autosave is not None:
            self.autosave.failed.connect(lambda why: self.statusBar().showMessage(why, 10000))
        if theme is not None:
            theme.changed.connect(self.set_dark)
            self.set_dark(theme.dark)

        self._fitted = False
        self._build_actions()
        self.refresh_definitions()
        install_insight(self)  # gradient flow colours and the Preview panel (studio/insight)
        install_experiments(self)  # hyper-parameter sweeps: the Experiments panel, "vary" in the Inspector
        self._update_title()
        self.resize(1360, 860)
        window_state.restore(self, self.recent.settings, theme)  # last session's size, docks and theme

    # --- layout helpers ---
    def add_dock(self, title: str, widget: QWidget, area: Area, size: int) -> QDockWidget:
        """Dock a panel (other parts of the studio may add theirs); it gets a View > Panels entry."""
        dock = QDockWidget(title, self)
        dock.setObjectName(f"dock_{title.lower()}")
        dock.setWidget(widget)
        dock.setFeatures(QDockWidget.DockWidgetFeature.DockWidgetMovable
                         | QDockWidget.DockWidgetFeature.DockWidgetClosable
                         | QDockWidget.DockWidgetFeature.DockWidgetFloatable)
        self.addDockWidget(area, dock)
        vertical = area == Area.BottomDockWidgetArea
        self.resizeDocks([dock], [size], Qt.Orientation.Vertical if vertical else Qt.Orientation.Horizontal)
        self.docks[title] = dock
        if self.panels_menu is not None:
            self.panels_menu.addAction(dock.toggleViewAction())
        return dock

    def show_panel(self, title: str) -> None:
        dock = self.docks[title]
        dock.show()
        dock.raise_()

    def _update_title(self, *_args) -> None:
        self.setWindowTitle(self.document.title())

    def set_theme_mode(self, mode: str) -> None:
        """View > Theme: switch and remember it for the next session."""
        self.theme.set_mode(mode)
        window_state.save_theme(self.recent.settings, mode)

    def set_dark(self, dark: bool) -> None:
        self.tabs.set_dark(dark)
        self.palette.set_dark(dark)
        self.code_view.set_dark(dark)

    # --- actions ---
    def _action(self, menu, text: str, slot, shortcut=None, tip: str = "", canvas: bool = False) -> QAction:
        """A menu action; canvas=True scopes its shortcut to the canvas so text fields keep their keys."""
        action = QAction(text, self)
        if shortcut is not None:
            action.setShortcuts(shortcut if isinstance(shortcut, list) else [shortcut])
        if tip:
            action.setStatusTip(tip)
            action.setToolTip(tip)
        action.triggered.connect(lambda _checked=False: slot())
        if canvas:
            action.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
            self.tabs.addAction(action)
        menu.addAction(action)
        return action

    def _build_actions(self) -> None:
        bar = self.menuBar()
        files = bar.addMenu("&File")
        a = self.actions = {}
        a["new"] = self._action(files, "&New", self.files.new_project, Key.New, "Start an empty project")
        a["template"] = self._action(files, "New from &Template…", self.files.new_from_template,
                                     QKeySequence("Ctrl+Shift+N"), "Start from a bundled example")
        a["open"] = self._action(files, "&Open…", self.files.open_dialog, Key.Open, "Open a project file")
        self.recent_menu = files.addMenu("Open &Recent")
        self.recent_menu.aboutToShow.connect(lambda: self.files.fill_recent_menu(self.recent_menu))
        files.addSeparator()
        a["save"] = self._action(files, "&Save", self.files.save, Key.Save, "Save the project")
        a["save_as"] = self._action(files, "Save &As…", self.files.save_as, Key.SaveAs,
                                    "Save the project to a new file")
        a["import"] = self._action(files, "&Import…", self.importer.start, QKeySequence("Ctrl+I"),
                                   "Open a PyTorch module (.py) or an ONNX file as a new project")
        a["export"] = self._action(files, "&Export…", self.export_dialog, QKeySequence("Ctrl+E"),
                                   "Export the model as code, a training script, ONNX or torch.export")
        from studio.deploy_menu import deploy_targets_menu

        self.deploy_menu = deploy_targets_menu(self, self.document)
        files.addMenu(self.deploy_menu)
        files.addSeparator()
        a["quit"] = self._action(files, "&Quit", self.close, Key.Quit)
        a["quit"].setMenuRole(QAction.MenuRole.QuitRole)

        edit = bar.addMenu("&Edit")
        stack = self.document.undo_stack
        # the menu entries name the step ("Undo Connect conv1 to pool1") and hold the shortcuts
        a["undo"] = stack.createUndoAction(self, "&Undo")
        a["undo"].setShortcuts(Key.Undo)
        a["redo"] = stack.createRedoAction(self, "&Redo")
        # Ctrl+Shift+Z and Ctrl+Y everywhere (people bring either habit), plus the platform's own
        redo = [QKeySequence("Ctrl+Shift+Z"), QKeySequence("Ctrl+Y")]
        a["redo"].setShortcuts(redo + [k for k in QKeySequence.keyBindings(Key.Redo) if k not in redo])
        edit.addActions([a["undo"], a["redo"]])
        # the toolbar's buttons keep a fixed text, so the bar never reflows: the step is in the tooltip
        a["undo_tool"] = _HistoryButton(self, "Undo", stack.undo, stack.canUndoChanged,
                                         stack.undoTextChanged, stack.canUndo(), stack.undoText())
        a["redo_tool"] = _HistoryButton(self, "Redo", stack.redo, stack.canRedoChanged,
                                         stack.redoTextChanged, stack.canRedo(), stack.redoText())
        edit.addSeparator()
        canvas = {"canvas": True}
        a["cut"] = self._action(edit, "Cu&t", lambda: self._on_view("cutSelection"), Key.Cut, **canvas)
        a["copy"] = self._action(edit, "&Copy", lambda: self._on_view("copySelection"), Key.Copy, **canvas)
        a["paste"] = self._action(edit, "&Paste", self.paste, Key.Paste, **canvas)
        a["duplicate"] = self._action(edit, "D&uplicate", lambda: self._on_view("duplicateSelection"),
                                      QKeySequence("Ctrl+D"), **canvas)
        a["delete"] = self._action(edit, "&Delete", lambda: self._on_view("deleteSelection"),
                                   [QKeySequence(Key.Delete), QKeySequence(Qt.Key.Key_Backspace)], **canvas)
        a["select_all"] = self._action(edit, "Select &All", self.select_all, Key.SelectAll, **canvas)
        edit.addSeparator()
        # Tab and Space are the canvas's own keys; the menu entry only names them
        a["quick_add"] = self._action(edit, "Add &Block…\tTab / Space", self.quick_add,
                                      tip="Search for a block and add it to the canvas")
        a["group"] = self._action(edit, "&Group", lambda: self._on_view("groupSelection"),
                                  QKeySequence("Ctrl+G"), **canvas)
        a["layout"] = self._action(edit, "Auto &Layout", self.auto_layout, QKeySequence("Ctrl+L"),
                                   "Tidy the network (or the selected blocks) left to right", **canvas)

        view = bar.addMenu("&View")
        a["fit"] = self._action(view, "&Fit to Window", lambda: self._on_view("fitAll"), QKeySequence("F"),
                                "Show the network at a zoom where its cards can be read", canvas=True)
        a["overview"] = self._action(view, "Show &Whole Network", lambda: self._on_view("fitAll", False),
                                     QKeySequence("Shift+F"), "Zoom out until every block is in view",
                                     canvas=True)
        a["runs"] = self._action(view, "&Runs", lambda: self.show_panel("Runs"), QKeySequence("Ctrl+Shift+R"),
                                 "Compare, evaluate and re-run the project's runs")
        self.panels_menu = view.addMenu("&Panels")
        for dock in self.docks.values():
            self.panels_menu.addAction(dock.toggleViewAction())
        if self.theme is not None:
            view.addSeparator()
            themes = view.addMenu("&Theme")
            group = QActionGroup(self)
            for mode in ("system", "light", "dark"):
                action = themes.addAction(mode.capitalize())
                action.setCheckable(True)
                action.setChecked(mode == self.theme.mode)
                action.triggered.connect(lambda _c=False, m=mode: self.set_theme_mode(m))
                group.addAction(action)

        train = bar.addMenu("&Train")
        a["train"], a["stop"] = self.training.train_action, self.training.stop_action
        train.addActions([a["train"], a["stop"]])
        train.addSeparator()
        a["freeze"] = self._action(train, "&Freeze / Unfreeze Selected", self._toggle_frozen,
                                   QKeySequence("Ctrl+Shift+F"),
                                   "Keep the selected blocks' weights fixed while training",
                                   canvas=True)
        a["init_checkpoint"] = self._action(train, "&Initialise from Checkpoint…", self._init_from_checkpoint,
                                            tip="Start the selected blocks (or all) from a run's weights")

        self.definitions_menu = bar.addMenu("&Definitions")
        self.definitions_menu.aboutToShow.connect(self._fill_definitions_menu)
        self._fill_definitions_menu()

        help_menu = bar.addMenu("&Help")
        self._action(help_menu, "&About DeepWire", self.about)

        tools = self.addToolBar("Main")
        tools.setObjectName("toolbar_main")
        tools.setMovable(False)
        tools.addActions([a["new"], a["open"], a["save"]])
        tools.addSeparator()
        tools.addActions([a["undo_tool"], a["redo_tool"]])
        tools.addSeparator()
        tools.addActions([a["fit"], a["layout"]])
        tools.addSeparator()
        tools.addActions([a["train"], a["stop"]])

    # --- block definitions and the user library ("My blocks") ---
    def refresh_definitions(self, force: bool = False) -> None:
        """Refill the palette's "This project" and "My blocks" sections when what they show changed."""
        doc = self.document
        entries, skipped = doc.block_library.scan()
        newer = {u.name: u.newest for u in doc.library_updates()}
        key = (tuple((d.name, id(d), d.origin) for d in doc.project.definitions),
               tuple((e.name, e.version, e.description) for e in entries), tuple(skipped),
               tuple(sorted(newer.items())))
        if key == self._definitions_key and not force:
            return
        self._definitions_key = key
        registry = doc.registry
        specs = [registry.get(d.name) for d in doc.project.definitions if d.name in registry]
        self.palette.set_definitions(specs, entries, newer, skipped)

    def _project_opened(self) -> None:
        self.refresh_definitions()
        found = self.document.library_updates()
        if found:  # a notice, not a dialog: the project opens as it is
            names = ", ".join(f"{u.name} (version {u.newest}; this project has {u.current})" for u in found)
            self.statusBar().showMessage(f"My blocks has newer versions of {names}: Definitions > "
                                         "Update from My blocks", 20000)

    def _library_changed(self, message: str) -> None:
        self.refresh_definitions()
        if message:
            self.statusBar().showMessage(message, 10000)

    def _selected_definition(self) -> str | None:
        """The definition of the one selected instance, if any."""
        network, ids = self._selection()
        if len(ids) != 1 or network is None:
            return None
        block = self.document.network(network).blocks.get(ids[0])
        return block.type if block is not None and block.type in self.document.project.definitions else None

    def _fill_definitions_menu(self) -> None:
        from studio.definition_menu import add_editing_entries

        menu = self.definitions_menu
        menu.clear()
        add_editing_entries(self, menu)
        menu.addSeparator()
        name = self._selected_definition()
        save = menu.addAction(f"Save {name} to My blocks" if name else "Save to My blocks",
                              lambda: self.save_to_library(name))
        save.setEnabled(name is not None)
        save.setStatusTip("Keep the selected instance's definition in your block library, for any project")
        found = self.document.library_updates()
        if len(found) == 1:
            text = f"Update {found[0].name} to version {found[0].newest}"
        else:
            text = f"Update {len(found)} definitions from My blocks" if found else "Update from My blocks"
        update = menu.addAction(text, self.update_from_library)
        update.setEnabled(bool(found))
        menu.addSeparator()
        menu.addAction("Import Block File…", self.import_block_file).setStatusTip(
            "Add a shared .dwblock.json file to My blocks")
        menu.addAction("Share Block File…", self.share_block_file).setEnabled(name is not None)

    def save_to_library(self, name: str | None = None) -> None:
        from graph.library import LibraryError

        name = name or self._selected_definition()
        if name is None:
            self.statusBar().showMessage("Select an instance of a definition to save it to My blocks", 5000)
            return
        try:
            self.document.save_to_library(name)
        except (LibraryError, ValueError) as err:
            QMessageBox.warning(self, "Save to My blocks", str(err))

    def update_from_library(self) -> None:
        found = self.document.update_all_from_library()
        if found:
            self.statusBar().showMessage("Updated " + ", ".join(f"{u.name} to version {u.newest}"
                                                                for u in found), 8000)

    def import_block_file(self, path: str | None = None) -> None:
        from graph.project_io import ProjectFileError

        if path is None:
            path, _ = QFileDialog.getOpenFileName(self, "Import a block file", "",
                                                  "DeepWire blocks (*.dwblock.json);;All files (*)")
            if not path:
                return
        try:
            self.document.import_library_file(path)
        except (ProjectFileError, ValueError) as err:
            QMessageBox.warning(self, "Import a block file", str(err))

    def share_block_file(self, path: str | None = None) -> None:
        """Write the selected definition's block file elsewhere (saving it to My blocks first)."""
        from graph.atomic import write_text
        from graph.library import SUFFIX, LibraryError

        name = self._selected_definition()
        if name is None:
            return
        try:
            entry = self.document.save_to_library(name)
            if path is None:
                path, _ = QFileDialog.getSaveFileName(self, "Share a block file", f"{name}{SUFFIX}",
                                                      "DeepWire blocks (*.dwblock.json)")
                if not path:
                    return
            write_text(path, entry.path.read_text(encoding="utf-8"))
        except (LibraryError, OSError, ValueError) as err:
            QMessageBox.warning(self, "Share a block file", str(err))
            return
        self.statusBar().showMessage(f"Wrote {path}: open it with Definitions > Import Block File…", 8000)

    def export_dialog(self) -> None:
        from studio.runs.export_dialog import ExportDialog

        run = self.runs.current_run()
        dialog = ExportDialog(self.document, self.runs.folder, run.path if run else None, self)
        dialog.blockRequested.connect(self.reveal_block)  # an export that departs: its first block
        dialog.exec()

    # --- editing: the canvas's own selection commands, which end in Document calls ---
    def _selection(self) -> tuple[str, list[str]]:
        view = self.tabs.current_view()
        ids = view.scene().selected_block_ids() if view is not None else []
        return self.tabs.current_network(), ids

    def _toggle_frozen(self) -> None:
        from studio.canvas.transfer_actions import toggle_frozen

        toggle_frozen(self.document, *self._selection())

    def _init_from_checkpoint(self) -> None:
        from studio.canvas.transfer_actions import init_from_checkpoint

        network, ids = self._selection()
        if self.document.is_definition(network):  # its blocks are every instance's: start the network's
            self.statusBar().showMessage("Initialise from a checkpoint in the network's tab: the blocks "
                                         f"of {network} are those of all its instances", 8000)
            return
        init_from_checkpoint(self.document, network, ids, self)

    def _on_view(self, method: str, *args):
        view = self.tabs.current_view()
        return getattr(view, method)(*args) if view is not None else None

    def add_block(self, type_id: str) -> str:
        """Add a block at the centre of the current view and select it (the palette's add action)."""
        return self._on_view("dropBlock", type_id, self.tabs.center_point())

    def paste(self) -> None:
        try:
            self._on_view("paste")
        except (ClipboardError, DefinitionError) as err:  # not a block; an instance inside itself
            self.statusBar().showMessage(str(err), 5000)

    def select_all(self) -> None:
        view = self.tabs.current_view()
        for item in view.network_scene.blocks.values() if view is not None else ():
            if item.isVisible():
                item.setSelected(True)

    def auto_layout(self) -> None:
        self._on_view("arrange", bool(self.tabs.selected_ids()))

    def quick_add(self) -> None:
        self._on_view("openQuickAdd", self.tabs.center_point())

    # --- panels talking to each other ---
    def _selection_changed(self, network: str, ids: list[str]) -> None:
        self.inspector.show_selection(network, ids)
        self.code_view.show_block(network, ids[0] if len(ids) == 1 else None)

    def reveal_block(self, network: str, block_id: str) -> None:
        """Show the block's network (or definition, in its tab), select it and centre it (a clicked
        problem)."""
        self.tabs.select_block(network, block_id, center=True)

    # --- window ---
    def showEvent(self, event) -> None:
        super().showEvent(event)
        if not self._fitted:  # fitting needs the views' real sizes, known only once shown
            self._fitted = True
            self.tabs.fit_all()

    def end_session(self) -> None:
        """SIGTERM or SIGHUP (logout, shutdown, `kill`): keep unsaved changes for recovery and leave the
        event loop now. Not app.quit(), which closes the windows first and so would wait on the
        unsaved-changes dialog; exec() still emits aboutToQuit, which stops training children."""
        self.files.end_session()
        window_state.save(self, self.recent.settings)
        QApplication.exit(0)

    def closeEvent(self, event: QCloseEvent) -> None:
        if self.files.close():
            window_state.save(self, self.recent.settings)
            event.accept()
        else:
            event.ignore()

    def about(self) -> None:
        QMessageBox.about(self, "About DeepWire",
                          "<b>DeepWire</b><br>Design, train and export neural networks by wiring blocks.<br>"
                          "The code it exports is the model it trains: plain PyTorch.")



class _HistoryButton(QAction):
    """A toolbar action that always reads `verb` and says in its tooltip which step it takes.

    Slots are bound methods, so the undo stack (which outlives a window in tests and
    scripts) drops them with the action rather than calling into a deleted one.
    """

    def __init__(self, window: QMainWindow, verb: str, slot, can_changed, text_changed,
                 can: bool, text: str):
        super().__init__(verb, window)
        self.verb = verb
        self.triggered.connect(lambda _checked=False: slot())  # its own signal: dies with it
        can_changed.connect(self.setEnabled)
        text_changed.connect(self.show_step)
        self.setEnabled(can)
        self.show_step(text)

    def show_step(self, step: str) -> None:
        tip = f"{self.verb} {step}" if step else f"Nothing to {self.verb.lower()}"
        self.setToolTip(tip)
        self.setStatusTip(tip)
