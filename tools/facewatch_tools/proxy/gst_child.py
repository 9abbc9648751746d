"""``gst-launch-1.0 -e -v`` for a camera with a login, with the login kept off the command line.

gst-launch takes properties only from its argv, and every user of the host can read any
process's argv (``ps``, /proc/<pid>/cmdline). This child runs the same pipeline in-process
through PyGObject instead: the argv holds the pipeline without the login; the login comes on
stdin (a pipe from the proxy, read to its end and closed before anything starts) and is set on
rtspsrc's ``user-id``/``user-pw`` properties directly.

Its output is what ``gst-launch-1.0 -e -v`` prints for the lines the supervisor reads
(``gst_messages``): property notifications (the meter's frames, the caps), ``ERROR: from
element ...`` with ``Additional debug info:``, ``WARNING: ...`` and ``Got EOS from element``.
SIGINT sends EOS (``-e``) so the sink finalises. Exit code 0 after EOS, 1 after an error.

Run by path with a python3 that has PyGObject (``python3-gi``); standard library and gi only.
"""

from __future__ import annotations

import json
import os
import signal
import sys
from typing import Any

# Never printed: the notification handler skips these properties.
SECRET_PROPERTIES = ["user-pw", "proxy-pw", "user-id", "proxy-id"]


def read_login() -> tuple[str, str]:
    data = json.loads(sys.stdin.buffer.read() or b"{}")
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)  # nothing else may read the pipe (it is empty and closed anyway)
    os.close(devnull)
    return str(data.get("username", "")), str(data.get("password", ""))


def set_login(gst: Any, pipeline: Any, username: str, password: str) -> None:
    elements = pipeline.iterate_recurse()
    while True:
        result, element = elements.next()
        if result != gst.IteratorResult.OK:
            return
        if element.get_factory().get_name() == "rtspsrc":
            element.set_property("user-id", username)
            element.set_property("user-pw", password)


def print_notifications(gst: Any, pipeline: Any) -> None:
    """gst_object_default_deep_notify's line: ``<path>: <property> = <value>`` (as -v)."""

    def notify(_pipeline: Any, orig: Any, pspec: Any) -> None:
        if pspec.name in SECRET_PROPERTIES:
            return
        value = orig.get_property(pspec.name)
        text = value.to_string() if isinstance(value, gst.Caps) else value
        print(f"{orig.get_path_string()}: {pspec.name} = {text}", flush=True)

    pipeline.connect("deep-notify", notify)


def print_message(gst: Any, message: Any) -> bool:
    """Print a bus message as gst-launch does; True when the pipeline is done."""
    kind = message.type
    if kind == gst.MessageType.EOS:
        print('Got EOS from element "pipeline0".', flush=True)
        return True
    if kind not in (gst.MessageType.ERROR, gst.MessageType.WARNING):
        return False
    is_error = kind == gst.MessageType.ERROR
    error, debug = message.parse_error() if is_error else message.parse_warning()
    label = "ERROR" if is_error else "WARNING"
    print(f"{label}: from element {message.src.get_path_string()}: {error.message}", flush=True)
    if debug:
        print(f"Additional debug info:\n{debug}", flush=True)
    return bool(is_error)


def main(argv: list[str]) -> int:
    import gi  # noqa: PLC0415 - the system PyGObject, only in this child

    gi.require_version("Gst", "1.0")
    from gi.repository import GLib, Gst  # noqa: PLC0415

    username, password = read_login()
    Gst.init(None)
    try:
        pipeline = Gst.parse_launchv(argv)
    except GLib.Error as exc:
        print(f"WARNING: erroneous pipeline: {exc.message}", flush=True)
        return 1
    set_login(Gst, pipeline, username, password)
    del password
    print_notifications(Gst, pipeline)
    loop = GLib.MainLoop()
    failed: list[bool] = []

    def on_message(_bus: Any, message: Any) -> bool:
        if print_message(Gst, message):
            failed.append(message.type == Gst.MessageType.ERROR)
            loop.quit()
        return True

    pipeline.get_bus().add_watch(GLib.PRIORITY_DEFAULT, on_message)
    # -e: SIGINT sends EOS, so the sink writes its last cluster before the child ends.
    GLib.unix_signal_add(
        GLib.PRIORITY_HIGH, signal.SIGINT, lambda: pipeline.send_event(Gst.Event.new_eos()) or True
    )
    pipeline.set_state(Gst.State.PLAYING)  # a failure posts its ERROR on the bus
    loop.run()
    pipeline.set_state(Gst.State.NULL)
    return 1 if any(failed) else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
