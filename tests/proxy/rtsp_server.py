#!/usr/bin/python3
"""A local RTSP camera server for the proxy tests (run with the *system* python3: python3-gi).

Serves generated test video on 127.0.0.1 at these mounts:
  /cam1, /cam2   H.264, open
  /secure        H.264, needs basic auth (user ``viewer``, password from ``--password``)
  /hevc          H.265, open (only if x265enc is installed)
Prints ``READY <port>`` on stdout once it listens; runs until SIGTERM/SIGINT.
Small frames and a fast preset keep the encoders cheap on a 2-core machine.
"""

from __future__ import annotations

import argparse
import signal
import sys

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtspServer  # noqa: E402

VIDEO = "videotestsrc is-live=true pattern=ball ! video/x-raw,width=160,height=120,framerate=15/1 "
H264 = VIDEO + (
    "! x264enc tune=zerolatency speed-preset=ultrafast key-int-max=15 bitrate=200 "
    "! rtph264pay name=pay0 pt=96 config-interval=1"
)
H265 = VIDEO + (
    "! x265enc tune=zerolatency speed-preset=ultrafast key-int-max=15 bitrate=200 "
    "! rtph265pay name=pay0 pt=96 config-interval=1"
)


def factory(launch: str) -> GstRtspServer.RTSPMediaFactory:
    media = GstRtspServer.RTSPMediaFactory()
    media.set_launch(f"( {launch} )")
    media.set_shared(True)  # one encoder per mount, whatever the number of clients
    return media


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=0, help="0 = any free port")
    parser.add_argument("--password", default="s3cret")
    args = parser.parse_args()

    Gst.init(None)
    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service(str(args.port))

    auth = GstRtspServer.RTSPAuth()
    token = GstRtspServer.RTSPToken()
    token.set_string(GstRtspServer.RTSP_TOKEN_MEDIA_FACTORY_ROLE, "viewer")
    auth.add_basic(GstRtspServer.RTSPAuth.make_basic("viewer", args.password), token)
    # Anonymous clients get the "anonymous" role: allowed on open mounts, refused on /secure.
    anonymous = GstRtspServer.RTSPToken()
    anonymous.set_string(GstRtspServer.RTSP_TOKEN_MEDIA_FACTORY_ROLE, "anonymous")
    auth.set_default_token(anonymous)
    server.set_auth(auth)

    def allow(media: GstRtspServer.RTSPMediaFactory, *roles: str) -> None:
        permissions = GstRtspServer.RTSPPermissions()
        for role in ("anonymous", "viewer"):
            # Access without construct makes the server answer 401 (as a camera would), not 404.
            permissions.add_permission_for_role(role, "media.factory.access", True)
            permissions.add_permission_for_role(role, "media.factory.construct", role in roles)
        media.set_permissions(permissions)

    mounts = server.get_mount_points()
    for path in ("/cam1", "/cam2"):
        media = factory(H264)
        allow(media, "anonymous", "viewer")
        mounts.add_factory(path, media)
    secure = factory(H264)
    allow(secure, "viewer")
    mounts.add_factory("/secure", secure)
    if Gst.ElementFactory.find("x265enc") is not None:
        hevc = factory(H265)
        allow(hevc, "anonymous", "viewer")
        mounts.add_factory("/hevc", hevc)

    if server.attach(None) == 0:
        print(f"cannot listen on 127.0.0.1:{args.port}", file=sys.stderr)
        return 1
    loop = GLib.MainLoop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, sig, loop.quit)
    print(f"READY {server.get_bound_port()}", flush=True)
    loop.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
