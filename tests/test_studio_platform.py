"""Before Qt starts: missing X11 libraries and a missing display are named with the fix, exit 2, no abort.

The dynamic linker's answer (`ldd` of libqxcb.so) is replaced by a prepared
one, so the tests run the same on a machine that has every library.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import studio.app
from studio import launcher, platform_check
from studio.platform_check import C_LIBRARY, PACKAGES, not_found, plugin_path, startup_problem, uses_xcb

ROOT = Path(__file__).resolve().parent.parent
on_linux = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Qt's xcb plugin is Linux only")


def ldd_lines(missing: list[str]) -> str:
    """ldd output as it reads for libqxcb.so, with `missing` not found."""
    found = ["libxcb-cursor.so.0", "libxcb.so.1", "libX11.so.6", "libxkbcommon-x11.so.0"]
    lines = ["\tlinux-vdso.so.1 (0x00007ffd)",
             "\tlibQt6XcbQpa.so.6 => /site-packages/PySide6/Qt/lib/libQt6XcbQpa.so.6 (0x00007fe1)"]
    lines += [f"\t{name} => /lib/x86_64-linux-gnu/{name} (0x00007fe2)" for name in found]
    lines += [f"\t{name} => not found" for name in missing] * 2  # ldd repeats them per library needing them
    return "\n".join(lines) + "\n"


@pytest.fixture
def no_qt(monkeypatch):
    """The studio must not get as far as creating the QApplication."""
    def refuse(*args, **kwargs):
        raise AssertionError("the QApplication was created despite the problem")
    monkeypatch.setattr(studio.app, "create_app", refuse)


def x11_env(monkeypatch, **extra):
    for name in ("QT_QPA_PLATFORM", "WAYLAND_DISPLAY", "XDG_SESSION_TYPE", "QT_QPA_PLATFORM_PLUGIN_PATH",
                 "DISPLAY"):
        monkeypatch.delenv(name, raising=False)
    for name, value in extra.items():
        monkeypatch.setenv(name, value)


@on_linux
def test_missing_xcb_libraries_are_named_with_the_install_lines_and_exit_2(monkeypatch, capsys, no_qt):
    x11_env(monkeypatch, DISPLAY=":0")
    asked = []
    missing = ["libxcb-icccm.so.4", "libxcb-keysyms.so.1"]
    monkeypatch.setattr(platform_check, "run_ldd", lambda path: asked.append(path) or ldd_lines(missing))
    assert launcher.main(["digits_cnn"]) == 2
    err = capsys.readouterr().err
    assert [p.name for p in asked] == ["libqxcb.so"]  # one ldd, of PySide6's own plugin
    assert "needs system libraries that are not installed: libxcb-icccm.so.4, libxcb-keysyms.so.1\n" in err
    assert "  Debian/Ubuntu:  sudo apt-get install libxcb-icccm4 libxcb-keysyms1\n" in err
    assert "  Fedora/RHEL:    sudo dnf install xcb-util-wm xcb-util-keysyms\n" in err
    assert "  Arch:           sudo pacman -S xcb-util-wm xcb-util-keysyms\n" in err
    assert "Traceback" not in err


def test_an_unmapped_or_bundled_library_still_gets_a_way_forward():
    missing = ["libxcb-icccm.so.4", "libfancy.so.3", "libQt6Gui.so.6"]
    message = platform_check.missing_libraries_message(missing)
    assert "sudo apt-get install libxcb-icccm4\n" in message
    assert "`apt-file search libfancy.so.3`" in message and "pacman -F libfancy.so.3" in message
    assert "libQt6Gui.so.6 belong to PySide6 itself: reinstall it" in message


@on_linux
def test_no_display_is_said_with_offscreen_and_xvfb_instead_of_an_abort(monkeypatch, capsys, no_qt):
    x11_env(monkeypatch)
    monkeypatch.setattr(platform_check, "run_ldd", lambda path: ldd_lines([]))
    assert launcher.main([]) == 2
    err = capsys.readouterr().err
    assert "needs a display, and none is set (neither DISPLAY nor WAYLAND_DISPLAY)" in err
    assert "xvfb-run deepwire" in err and "QT_QPA_PLATFORM=offscreen" in err


@pytest.mark.parametrize("env, xcb", [
    ({}, True),
    ({"QT_QPA_PLATFORM": "xcb"}, True),
    ({"QT_QPA_PLATFORM": "xcb:no-grab;wayland"}, True),
    ({"QT_QPA_PLATFORM": "offscreen"}, False),
    ({"QT_QPA_PLATFORM": "wayland;xcb"}, False),
    ({"XDG_SESSION_TYPE": "wayland", "WAYLAND_DISPLAY": "wayland-0"}, False),  # Qt picks Wayland itself
    ({"XDG_SESSION_TYPE": "x11", "DISPLAY": ":0", "WAYLAND_DISPLAY": "wayland-0"}, True),
])
def test_the_check_runs_only_when_qt_will_use_xcb(monkeypatch, env, xcb):
    monkeypatch.setattr(sys, "platform", "linux")
    assert uses_xcb(env) is xcb
    if not xcb:  # nothing is run at all (startup stays as fast as before)
        assert startup_problem(env, ldd=lambda path: pytest.fail("ldd ran")) is None


def test_ldd_output_is_read_for_not_found_only():
    assert not_found(ldd_lines(["libxcb-icccm.so.4", "libxcb-keysyms.so.1"])) == [
        "libxcb-icccm.so.4", "libxcb-keysyms.so.1"]
    assert not_found(ldd_lines([])) == [] and not_found("") == []


@on_linux
def test_the_mapping_covers_every_library_libqxcb_needs_on_this_machine():
    plugin = plugin_path({})
    assert plugin is not None and plugin.name == "libqxcb.so"
    assert shutil.which("ldd"), "ldd is part of glibc on every Linux DeepWire supports"
    output = subprocess.run(["ldd", str(plugin)], capture_output=True, text=True, timeout=30).stdout
    needed = {line.split()[0] for line in output.splitlines() if "=>" in line}
    assert {"libQt6XcbQpa.so.6", "libxcb.so.1"} <= needed  # the plugin and Qt's xcb library were read
    bundled = {name for name in needed if "/PySide6/" in output.split(name, 1)[1].splitlines()[0]}
    system = {name for name in needed - bundled if not name.startswith(C_LIBRARY)}
    assert sorted(system - set(PACKAGES)) == []


@on_linux
def test_the_readme_apt_line_installs_every_display_library_libqxcb_needs():
    readme = (ROOT / "README.md").read_text()
    line = next(line for line in readme.splitlines() if line.startswith("sudo apt-get install "))
    listed = set(line.split()[3:])
    output = subprocess.run(["ldd", str(plugin_path({}))], capture_output=True, text=True, timeout=30).stdout
    needed = [line.split()[0] for line in output.splitlines() if "=>" in line]
    # the X11/GL/font stack; apt brings in what those depend on (libxau6, libglvnd0, ...) by itself
    display = re.compile(r"^lib(xcb|X11|xkbcommon|GL\.|EGL|fontconfig|freetype|glib|dbus)")
    wanted = {PACKAGES[name][0] for name in needed if display.search(name)}
    assert {"libxcb-icccm4", "libxcb-keysyms1", "libxcb-cursor0"} <= wanted
    assert sorted(wanted - listed) == []
