"""Is GStreamer there, with every element the pipelines need? Say what to install if not."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable

from facewatch_tools.proxy.pipeline import GST_LAUNCH, gst_python

GST_INSPECT = "gst-inspect-1.0"

INSTALL_HINTS = {
    "tools": "apt-get install gstreamer1.0-tools",
    "rtspsrc": "apt-get install gstreamer1.0-plugins-good",
    "rtph264depay": "apt-get install gstreamer1.0-plugins-good",
    "rtph265depay": "apt-get install gstreamer1.0-plugins-good",
    "h264parse": "apt-get install gstreamer1.0-plugins-bad",
    "h265parse": "apt-get install gstreamer1.0-plugins-bad",
    "identity": "apt-get install libgstreamer1.0-0 (core elements)",
    "matroskamux": "apt-get install gstreamer1.0-plugins-good",
    "filesink": "apt-get install libgstreamer1.0-0",
    "fakesink": "apt-get install libgstreamer1.0-0",
    "kvssink": (
        "kvssink comes from the Amazon KVS producer SDK (not in Debian or PyPI): build it with "
        "-DBUILD_GSTREAMER_PLUGIN=ON and set GST_PLUGIN_PATH to the build directory; "
        "see docs/proxy.md, 'Install kvssink'"
    ),
}


def element_exists(name: str, run: Callable[..., subprocess.CompletedProcess[bytes]]) -> bool:
    result = run(
        [GST_INSPECT, "--exists", name], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        check=False, timeout=30,
    )  # fmt: skip
    return result.returncode == 0


def missing_elements(
    names: list[str],
    run: Callable[..., subprocess.CompletedProcess[bytes]] = subprocess.run,
    which: Callable[[str], str | None] = shutil.which,
) -> list[str]:
    """Problems, one sentence each with the fix; empty when everything is installed."""
    if which(GST_LAUNCH) is None or which(GST_INSPECT) is None:
        return [f"{GST_LAUNCH}/{GST_INSPECT} not found: {INSTALL_HINTS['tools']}"]
    return [
        f"GStreamer element {name!r} not found: {INSTALL_HINTS.get(name, 'install its plugin')}"
        for name in dict.fromkeys(names)
        if not element_exists(name, run)
    ]


def missing_pygobject(
    run: Callable[..., subprocess.CompletedProcess[bytes]] = subprocess.run,
) -> list[str]:
    """Cameras with a login run GStreamer in-process (gst_child.py): it needs PyGObject."""
    python = gst_python()
    probe = "import gi; gi.require_version('Gst', '1.0'); from gi.repository import Gst"
    try:
        result = run([python, "-c", probe], capture_output=True, check=False, timeout=30)
    except OSError:
        return [f"{python} not found: apt-get install python3 python3-gi gir1.2-gstreamer-1.0"]
    if result.returncode == 0:
        return []
    return [
        f"PyGObject with GStreamer not found for {python} (cameras with a login need it): "
        "apt-get install python3-gi gir1.2-gstreamer-1.0"
    ]
