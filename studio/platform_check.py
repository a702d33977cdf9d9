"""Before the studio opens a window on Linux: are the system libraries Qt's X11 plugin needs installed?

When one is missing, Qt aborts the process (exit 134) with "could not load the
Qt platform plugin xcb" and names libxcb-cursor0 whatever the real gap is.
`startup_problem()` asks the dynamic linker instead (one `ldd` of PySide6's
libqxcb.so, which lists the libraries of libQt6XcbQpa and the rest too) and
turns each "not found" into the package to install on Debian/Ubuntu, Fedora
and Arch. It also says what to do when there is no display at all.

The check runs only when Qt will use xcb: QT_QPA_PLATFORM unset or "xcb...",
and not a Wayland session Qt would pick by itself. Offscreen, Wayland, macOS
and Windows skip it. Imports nothing from Qt.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Mapping
from pathlib import Path

# soname -> (Debian/Ubuntu, Fedora/RHEL dnf, Arch pacman) package; every library libqxcb.so loads
PACKAGES: dict[str, tuple[str, str, str]] = {
    "libxcb.so.1": ("libxcb1", "libxcb", "libxcb"),
    "libxcb-cursor.so.0": ("libxcb-cursor0", "xcb-util-cursor", "xcb-util-cursor"),
    "libxcb-icccm.so.4": ("libxcb-icccm4", "xcb-util-wm", "xcb-util-wm"),
    "libxcb-image.so.0": ("libxcb-image0", "xcb-util-image", "xcb-util-image"),
    "libxcb-keysyms.so.1": ("libxcb-keysyms1", "xcb-util-keysyms", "xcb-util-keysyms"),
    "libxcb-render-util.so.0": ("libxcb-render-util0", "xcb-util-renderutil", "xcb-util-renderutil"),
    "libxcb-util.so.1": ("libxcb-util1", "xcb-util", "xcb-util"),
    "libxcb-randr.so.0": ("libxcb-randr0", "libxcb", "libxcb"),
    "libxcb-render.so.0": ("libxcb-render0", "libxcb", "libxcb"),
    "libxcb-shape.so.0": ("libxcb-shape0", "libxcb", "libxcb"),
    "libxcb-shm.so.0": ("libxcb-shm0", "libxcb", "libxcb"),
    "libxcb-sync.so.1": ("libxcb-sync1", "libxcb", "libxcb"),
    "libxcb-xfixes.so.0": ("libxcb-xfixes0", "libxcb", "libxcb"),
    "libxcb-xkb.so.1": ("libxcb-xkb1", "libxcb", "libxcb"),
    "libxcb-xinerama.so.0": ("libxcb-xinerama0", "libxcb", "libxcb"),
    "libxcb-xinput.so.0": ("libxcb-xinput0", "libxcb", "libxcb"),
    "libxcb-glx.so.0": ("libxcb-glx0", "libxcb", "libxcb"),
    "libX11-xcb.so.1": ("libx11-xcb1", "libX11-xcb", "libx11"),
    "libX11.so.6": ("libx11-6", "libX11", "libx11"),
    "libXau.so.6": ("libxau6", "libXau", "libxau"),
    "libXdmcp.so.6": ("libxdmcp6", "libXdmcp", "libxdmcp"),
    "libxkbcommon.so.0": ("libxkbcommon0", "libxkbcommon", "libxkbcommon"),
    "libxkbcommon-x11.so.0": ("libxkbcommon-x11-0", "libxkbcommon-x11", "libxkbcommon-x11"),
    "libGL.so.1": ("libgl1", "libglvnd-glx", "libglvnd"),
    "libGLX.so.0": ("libglx0", "libglvnd-glx", "libglvnd"),
    "libEGL.so.1": ("libegl1", "libglvnd-egl", "libglvnd"),
    "libOpenGL.so.0": ("libopengl0", "libglvnd-opengl", "libglvnd"),
    "libGLdispatch.so.0": ("libglvnd0", "libglvnd", "libglvnd"),
    "libfontconfig.so.1": ("libfontconfig1", "fontconfig", "fontconfig"),
    "libfreetype.so.6": ("libfreetype6", "freetype", "freetype2"),
    "libexpat.so.1": ("libexpat1", "expat", "expat"),
    "libpng16.so.16": ("libpng16-16", "libpng", "libpng"),
    "libbrotlidec.so.1": ("libbrotli1", "libbrotli", "brotli"),
    "libbrotlicommon.so.1": ("libbrotli1", "libbrotli", "brotli"),
    "libglib-2.0.so.0": ("libglib2.0-0", "glib2", "glib2"),
    "libgthread-2.0.so.0": ("libglib2.0-0", "glib2", "glib2"),
    "libpcre2-8.so.0": ("libpcre2-8-0", "pcre2", "pcre2"),
    "libdbus-1.so.3": ("libdbus-1-3", "dbus-libs", "dbus"),
    "libsystemd.so.0": ("libsystemd0", "systemd-libs", "systemd-libs"),
    "libcap.so.2": ("libcap2", "libcap", "libcap"),
    "libgcrypt.so.20": ("libgcrypt20", "libgcrypt", "libgcrypt"),
    "libgpg-error.so.0": ("libgpg-error0", "libgpg-error", "libgpg-error"),
    "liblz4.so.1": ("liblz4-1", "lz4-libs", "lz4"),
    "liblzma.so.5": ("liblzma5", "xz-libs", "xz"),
    "libzstd.so.1": ("libzstd1", "libzstd", "zstd"),
    "libz.so.1": ("zlib1g", "zlib", "zlib"),
    "libbsd.so.0": ("libbsd0", "libbsd", "libbsd"),
    "libmd.so.0": ("libmd0", "libmd", "libmd"),
    "libstdc++.so.6": ("libstdc++6", "libstdc++", "gcc-libs"),
    "libgcc_s.so.1": ("libgcc-s1", "libgcc", "gcc-libs"),
}
# the C library itself: a system without these runs no Python either
C_LIBRARY = ("libc.so.", "libm.so.", "libdl.so.", "libpthread.so.", "librt.so.", "ld-linux", "linux-vdso")

PLUGIN = "libqxcb.so"
LddRunner = Callable[[Path], str]


def uses_xcb(env: Mapping[str, str]) -> bool:
    """Whether Qt will try the X11 (xcb) platform plugin first, as QGuiApplication chooses it."""
    if not sys.platform.startswith("linux"):
        return False
    wanted = env.get("QT_QPA_PLATFORM", "").strip()
    if wanted:
        return wanted.split(";")[0].split(":")[0] == "xcb"
    # no choice made: Qt takes Wayland in a Wayland session, else xcb
    return not (env.get("XDG_SESSION_TYPE") == "wayland" and env.get("WAYLAND_DISPLAY"))


def plugin_path(env: Mapping[str, str]) -> Path | None:
    """PySide6's libqxcb.so (or the one in QT_QPA_PLATFORM_PLUGIN_PATH), found without importing Qt."""
    folders = [Path(env["QT_QPA_PLATFORM_PLUGIN_PATH"])] if env.get("QT_QPA_PLATFORM_PLUGIN_PATH") else []
    spec = importlib.util.find_spec("PySide6")
    for location in (spec.submodule_search_locations or []) if spec else []:
        folders.append(Path(location) / "Qt" / "plugins" / "platforms")
    return next((folder / PLUGIN for folder in folders if (folder / PLUGIN).is_file()), None)


def run_ldd(library: Path) -> str:
    """`ldd` of one library ("" when ldd is missing or fails: then nothing can be said)."""
    ldd = shutil.which("ldd")
    if ldd is None:
        return ""
    try:
        done = subprocess.run([ldd, str(library)], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return ""
    return done.stdout


def not_found(ldd_output: str) -> list[str]:
    """The sonames ldd could not resolve, in its order, each once."""
    missing: list[str] = []
    for line in ldd_output.splitlines():
        name, _, where = line.strip().partition("=>")
        name = name.strip()
        if where.strip() == "not found" and name not in missing:
            missing.append(name)
    return missing


def missing_libraries_message(missing: list[str]) -> str:
    """What is missing and the install line for each distribution."""
    known = [PACKAGES[name] for name in missing if name in PACKAGES]
    unknown = [name for name in missing if name not in PACKAGES]
    qt_own = [name for name in unknown if name.startswith(("libQt6", "libicu", "libpyside6", "libshiboken6"))]
    lines = ["deepwire: the studio cannot open a window: Qt's X11 platform plugin (xcb) needs system "
             f"libraries that are not installed: {', '.join(missing)}"]
    if known:
        for label, command, index in (("Debian/Ubuntu", "sudo apt-get install", 0),
                                      ("Fedora/RHEL", "sudo dnf install", 1), ("Arch", "sudo pacman -S", 2)):
            names = list(dict.fromkeys(packages[index] for packages in known))
            lines.append(f"  {label + ':':15s} {command} {' '.join(names)}")
    if qt_own:
        lines.append(f"  {', '.join(qt_own)} belong to PySide6 itself: reinstall it "
                     "(pip install --force-reinstall PySide6-Essentials)")
    others = [name for name in unknown if name not in qt_own]
    if others:
        lines.append(f"  for {', '.join(others)}: find the package with `apt-file search {others[0]}`, "
                     f"`dnf provides '*/{others[0]}'` or `pacman -F {others[0]}`")
    lines.append("Then start deepwire again. (Qt's own message blames libxcb-cursor0 whatever is missing.)")
    lines.append("The commands without a window (deepwire check, train, export) work already.")
    return "\n".join(lines)


NO_DISPLAY = ("deepwire: the studio needs a display, and none is set (neither DISPLAY nor WAYLAND_DISPLAY).\n"
              "  On a desktop, start deepwire from a terminal of that desktop.\n"
              "  Without one: xvfb-run deepwire  (a virtual X display; Debian/Ubuntu: sudo apt-get install "
              "xvfb),\n"
              "  or QT_QPA_PLATFORM=offscreen deepwire screenshot PROJECT OUT.png  for a picture.\n"
              "  The commands without a window (deepwire check, train, export) need no display.")


def startup_problem(env: Mapping[str, str] | None = None, ldd: LddRunner | None = None) -> str | None:
    """Why the studio's window cannot open here, in words with the fix; None when nothing is known wrong."""
    env = os.environ if env is None else env
    ldd = ldd or run_ldd
    if not uses_xcb(env):
        return None
    plugin = plugin_path(env)
    if plugin is not None:
        missing = not_found(ldd(plugin))
        if missing:
            return missing_libraries_message(missing)
    if not env.get("DISPLAY") and not env.get("WAYLAND_DISPLAY"):
        return NO_DISPLAY
    return None
