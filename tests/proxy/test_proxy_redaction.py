from __future__ import annotations

import io
import logging

import pytest

from facewatch_tools.proxy.redaction import RedactingFilter, redact


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("rtsp://admin:hunter2@10.0.0.5:554/s1", "rtsp://***@10.0.0.5:554/s1"),
        ("rtsps://admin@cam/s1", "rtsps://***@cam/s1"),
        (
            "failed: rtsp://u:p%40ss@h/x and rtsp://v:w@i/y",
            "failed: rtsp://***@h/x and rtsp://***@i/y",
        ),
        ("rtsp://10.0.0.5/s1 (no login)", "rtsp://10.0.0.5/s1 (no login)"),
        ("rtspsrc user-id=admin user-pw=hunter2 ! x", "rtspsrc user-id=*** user-pw=*** ! x"),
        ('kvssink secret-key="a b" access-key=AKIA', "kvssink secret-key=*** access-key=***"),
        ("mail me at ops@example.com", "mail me at ops@example.com"),
    ],
)
def test_redact_masks_userinfo_and_secret_properties(text: str, expected: str) -> None:
    assert redact(text) == expected


def test_known_secrets_are_masked_whole_even_with_spaces() -> None:
    text = "user-pw=pa ss!w0rd and later the server echoed pa ss!w0rd"
    out = redact(text, ["pa ss!w0rd", ""])
    assert "pa ss" not in out and "w0rd" not in out
    assert out == "user-pw=*** and later the server echoed ***"


def test_the_logging_filter_redacts_messages_arguments_and_tracebacks() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    redacting = RedactingFilter(["t0psecret"])
    handler.addFilter(redacting)
    log = logging.getLogger("test.redaction")
    log.addHandler(handler)
    log.propagate = False
    try:
        log.warning("camera %s: failed", "rtsp://admin:t0psecret@cam/1")
        redacting.add_secrets(["later-added"])
        try:
            raise RuntimeError("could not open rtsp://admin:later-added@cam/2")
        except RuntimeError:
            log.exception("boom with %s", "later-added")
    finally:
        log.removeHandler(handler)
    out = stream.getvalue()
    assert "t0psecret" not in out and "later-added" not in out and "admin:" not in out
    assert "camera rtsp://***@cam/1: failed" in out
    assert "RuntimeError: could not open rtsp://***@cam/2" in out
