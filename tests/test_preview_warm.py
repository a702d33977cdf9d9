"""The Preview panel's idle state and its warm child (issue 13, point 10).

With nothing selected the panel says what to do (it used to sit at
"Computing..."); one child (runtime/preview_server.py) is started once and
answers every later preview, and it ends with the panel.
"""

from __future__ import annotations

import io
import json

import numpy as np
import pytest

from runtime.preview_server import serve
from studio.insight.preview import IDLE_TEXT, MULTIPLE_TEXT, PreviewPanel
from tests.studio_support import block_id, example_document, process_alive

CHILD_TIMEOUT_MS = 60_000


@pytest.fixture(scope="module")
def panel(qapp, registry):
    """One panel for this module's tests: its child's start (torch's import) is paid once."""
    panel = PreviewPanel(example_document(registry, "digits_cnn"))
    yield panel
    panel.shutdown()
    panel.deleteLater()




def test_no_selection_shows_the_idle_state_not_computing(panel, qtbot):
    assert panel.title.text() == IDLE_TEXT and "Computing" not in panel.status.text()
    assert panel.servers_started == 0  # nothing is started before it is needed
    conv1 = block_id(panel.document, "conv1")
    panel.show_selection("model", [conv1])
    qtbot.waitUntil(lambda: "Computing" in panel.status.text(), timeout=5000)
    panel.show_selection("model", [])  # deselected while the child still starts
    qtbot.waitUntil(lambda: panel.title.text() == IDLE_TEXT, timeout=5000)
    assert "Computing" not in panel.status.text() and panel.data is None and not panel.image_items
    qtbot.waitUntil(lambda: panel.server_ready, timeout=CHILD_TIMEOUT_MS)
    qtbot.wait(50)
    assert panel.previews_done == 0 and panel.title.text() == IDLE_TEXT  # the dropped request never ran
    panel.show_selection("model", [conv1])
    qtbot.waitUntil(lambda: panel.data is not None, timeout=CHILD_TIMEOUT_MS)
    panel.show_selection("model", [])
    qtbot.waitUntil(lambda: panel.title.text() == IDLE_TEXT, timeout=5000)
    assert panel.data is None and not panel.image_items and "Computing" not in panel.status.text()
    panel.show_selection("model", [conv1, block_id(panel.document, "relu1")])
    qtbot.waitUntil(lambda: panel.title.text() == MULTIPLE_TEXT, timeout=5000)
    assert panel.data is None
    panel.show_selection("model", [conv1])  # cached: drawn at once, without asking the child again
    qtbot.waitUntil(lambda: panel.data is not None, timeout=5000)
    assert str(panel.data["block"]) == conv1 and panel.previews_done == 1 and len(panel.image_items) == 16


def test_a_second_preview_reuses_the_child_and_the_child_ends_with_the_panel(panel, qtbot):
    panel.show_selection("model", [block_id(panel.document, "norm1")])
    qtbot.waitUntil(lambda: panel.data is not None, timeout=CHILD_TIMEOUT_MS)
    pid, started, done = panel.server.processId(), panel.servers_started, panel.previews_done
    relu1 = block_id(panel.document, "relu1")
    panel.show_selection("model", [relu1])
    qtbot.waitUntil(lambda: panel.data is not None and str(panel.data["block"]) == relu1,
                    timeout=CHILD_TIMEOUT_MS)
    assert panel.servers_started == started == 1 and panel.previews_done == done + 1
    assert panel.server.processId() == pid
    assert panel.data["output"].shape == (4, 32, 8, 8) and (panel.data["output"] >= 0).all()  # a ReLU
    panel.shutdown()
    assert panel.server is None and not process_alive(pid)


def test_the_preview_server_answers_each_request_in_order(tmp_path):
    out = tmp_path / "conv1.npz"
    requests = [["digits_cnn", "--block", "conv1", "--out", str(out)],
                ["digits_cnn", "--block", "nowhere", "--out", str(out)]]
    stdin = io.StringIO("".join(json.dumps(r) + "\n" for r in requests) + "not json\n")
    stdout = io.StringIO()
    assert serve(stdin, stdout) == 0
    replies = [json.loads(line) for line in stdout.getvalue().splitlines()]
    assert replies[0] == {"ready": True}
    assert replies[1]["code"] == 0 and "conv1: image 32×8×8" in replies[1]["stdout"]
    with np.load(out, allow_pickle=False) as npz:
        assert npz["output"].shape == (4, 32, 8, 8)
    assert replies[2]["code"] == 1 and "has no block 'nowhere'" in replies[2]["stderr"]
    assert replies[3]["code"] == 2 and "bad preview request" in replies[3]["stderr"]
