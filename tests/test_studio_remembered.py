"""The studio's window manners: remembered theme, geometry and docks; dialogs where the user is;
a minimap that covers no card; plots that forget the last project; legends beside the curves.

Issue 13, point 13. Settings go to a file under tmp_path (make_window), never the user's.
"""

from __future__ import annotations

import json
from pathlib import Path

from PySide6.QtCore import QSettings, Qt
from PySide6.QtWidgets import QFileDialog, QMainWindow

from graph.examples import example_path
from studio.app import ThemeManager
from studio.main_window import MainWindow
from tests.studio_support import example_document, grid_view, refuse_dialogs


def _settings(tmp_path: Path) -> QSettings:
    return QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)


def test_theme_geometry_and_docks_are_remembered_for_the_next_window(qtbot, tmp_path, registry,
                                                                     monkeypatch, qapp):
    refuse_dialogs(monkeypatch)
    monkeypatch.delenv("DEEPWIRE_THEME", raising=False)
    theme = ThemeManager(qapp, "light")
    first = MainWindow(example_document(registry), settings=_settings(tmp_path), autosave=False, theme=theme)
    first.show()
    qtbot.waitExposed(first)
    # (Qt's offscreen screen is 800x600 and restoreGeometry keeps a window on its screen: the window's
    # top and height fit it, its width of at least 900 does not)
    first.setGeometry(40, 30, first.width(), 540)
    where = first.geometry()
    first.docks["Code"].raise_()
    first.docks["Inspector"].hide()
    first.set_theme_mode("dark")
    first.close()  # unchanged project: no prompt
    try:
        again = ThemeManager(qapp, None)
        second = MainWindow(example_document(registry), settings=_settings(tmp_path), autosave=False,
                            theme=again)
        second.show()
        qtbot.waitExposed(second)
        assert again.mode == "dark" and again.dark
        assert (second.geometry().top(), second.height()) == (where.top(), 540)
        assert not second.docks["Inspector"].isVisible()
        assert second.docks["Code"].isVisible() and not second.docks["Code"].visibleRegion().isEmpty()
        second.close()
    finally:
        again.set_mode("light")  # the palette is the application's: leave it as the other tests expect


def test_a_fresh_settings_file_gives_the_default_layout(window):
    assert (window.width(), window.height()) == (1360, 860)
    assert window.docks["Inspector"].isVisible()


def test_save_as_starts_in_the_projects_folder(window, tmp_path, monkeypatch):
    folder = tmp_path / "work"
    folder.mkdir()
    saved = folder / "mine.dw.json"
    starts = []

    def save_dialog(_parent, _title, start, _filter):
        starts.append(start)
        return str(saved), ""

    monkeypatch.setattr(QFileDialog, "getSaveFileName", save_dialog)
    assert window.files.save_as()  # an untitled example, nothing opened yet: the home folder
    assert Path(starts[-1]).parent == Path.home()
    assert window.files.save_as()  # saved once: its own folder and name
    assert Path(starts[-1]) == saved
    window.document.undo_stack.setClean()
    assert window.files.open_path(example_path("sine_lstm"), as_copy=True)  # untitled again
    assert window.files.save_as()
    assert Path(starts[-1]).parent == folder  # the folder the user last saved in, not $HOME


def _fake_evaluation(folder: Path) -> Path:
    folder.mkdir(parents=True)
    (folder / "evaluation.json").write_text(json.dumps(
        {"kind": "regression", "split": "val", "size": 3, "metrics": {"loss": 0.1},
         "predicted": [0.1, 0.5, 0.9], "true": [0.0, 0.5, 1.0]}), encoding="utf-8")
    return folder


def test_the_evaluation_window_opens_over_the_main_window_and_escape_closes_it(qtbot, tmp_path):
    from studio.runs.evaluation import EvaluationView

    main = QMainWindow()
    qtbot.addWidget(main)
    main.setGeometry(100, 50, 640, 500)  # within Qt's 800x600 offscreen screen
    main.show()
    qtbot.waitExposed(main)
    view = EvaluationView(_fake_evaluation(tmp_path / "run"), main)
    view.setWindowFlag(Qt.WindowType.Window, True)  # as the Runs panel opens it
    view.resize(400, 300)
    view.show()
    qtbot.waitExposed(view)
    centre, middle = view.frameGeometry().center(), main.frameGeometry().center()
    assert abs(centre.x() - middle.x()) <= 2 and abs(centre.y() - middle.y()) <= 2
    qtbot.keyClick(view, Qt.Key.Key_Escape)
    assert not view.isVisible()


def test_the_minimap_moves_to_a_corner_where_it_covers_no_card(qtbot, registry):
    view = grid_view(qtbot, registry, 60, 10)  # cards under the view's bottom-right corner, none on its left
    minimap = view.minimap
    assert minimap.isVisible()
    area = view.viewport().geometry()
    assert minimap.geometry().right() < area.center().x()
    under = view.mapToScene(minimap.geometry().translated(-area.topLeft())).boundingRect()
    assert [i for i in view.network_scene.items(under) if hasattr(i, "block_id")] == []


def test_opening_another_project_clears_the_training_plots_and_their_axes(window):
    plots = window.training.plots
    plots.add_event({"kind": "step", "step": 1, "loss": 2.0, "lr": 0.01, "samples_per_second": 100})
    plots.add_event({"kind": "validation", "step": 1, "metrics": {"loss": 1.5, "accuracy": 0.5}})
    plots.redraw()
    plots.metric_plot.getPlotItem().getViewBox().setRange(xRange=(0, 1000))  # the user zoomed in
    assert plots.metric_plot.getPlotItem().getAxis("left").labelText == "accuracy"
    window.document.undo_stack.setClean()
    assert window.files.open_path(example_path("sine_lstm"), as_copy=True)
    assert all(series.n == 0 for series in plots.series.values())
    assert plots.metric_plot.getPlotItem().getAxis("left").labelText == ""
    assert all(plot.getPlotItem().getViewBox().autoRangeEnabled() == [True, True]
               for plot in (plots.loss_plot, plots.metric_plot, plots.lr_plot, plots.speed_plot))


def test_the_runs_legend_sits_under_the_plot_not_over_its_curves(window):
    plot = window.runs.loss_plot.getPlotItem()
    legend, box = plot.legend, plot.getViewBox()
    assert legend is not None and legend.parentItem() is not box
    legend_rect = legend.mapRectToScene(legend.boundingRect())
    assert not legend_rect.intersects(box.mapRectToScene(box.boundingRect()))


def test_no_palette_title_is_cut_off(window):
    tree = window.palette.tree
    room = tree.viewport().width()
    metrics = tree.fontMetrics()
    cut = []
    for item in window.palette._items.values():
        tree.scrollToItem(item)
        if tree.visualItemRect(item).left() + metrics.horizontalAdvance(item.text(0)) + 4 > room:
            cut.append(item.text(0))
    assert cut == []


def test_start_page_titles_show_whole_and_long_descriptions_end_in_an_ellipsis(qtbot, registry):
    from PySide6.QtGui import QFont, QFontMetrics

    from studio.panels.start_page import THUMB, StartPage, wrapped_lines

    page = StartPage(registry)
    qtbot.addWidget(page)
    size = page.delegate.size
    width = size.width() - 16 - THUMB.width() - 12
    bold = QFont(page.cards.font())
    bold.setBold(True)
    metrics, bold_metrics = QFontMetrics(page.cards.font()), QFontMetrics(bold)
    flags = Qt.AlignmentFlag.AlignLeft | Qt.TextFlag.TextWordWrap
    for example in page.examples:
        title = bold_metrics.boundingRect(0, 0, width, 10_000, flags, example.title)
        assert title.width() <= width
        room = size.height() - 16 - title.height() - 4
        assert room >= 2 * metrics.lineSpacing(), example.name  # the title leaves room to describe it
        lines = wrapped_lines(metrics, example.description, width, room // metrics.lineSpacing())
        assert all(metrics.horizontalAdvance(line) <= width for line in lines)
        shown = " ".join(lines)
        assert shown == example.description or shown.endswith("…"), example.name
