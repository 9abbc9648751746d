"""RTSP credentials: read from a root-only file on the proxy host, never from the inventory.

The file (YAML) names a default login and/or one login per camera id::

    default: {username: viewer, password: "..."}
    cameras:
      seoul-hq-lobby-01: {username: admin, password: "..."}

Where it is looked for, first match wins: ``--credentials PATH``; systemd's
``$CREDENTIALS_DIRECTORY/rtsp-credentials`` (``LoadCredential=`` in the unit, so the service user
never needs to read /etc); ``/etc/facewatch/rtsp-credentials.yaml``. A file that other users can
read is refused: the passwords would not be secret. So is a file another user owns (that user
could change the logins, or read them back): the file must belong to the proxy's user and have
mode 0600 or stricter.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Mapping
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError

DEFAULT_PATH = Path("/etc/facewatch/rtsp-credentials.yaml")
SYSTEMD_CREDENTIAL_NAME = "rtsp-credentials"


class RtspLogin(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    username: str = Field(min_length=1, max_length=256)
    password: SecretStr


class RtspCredentials(BaseModel):
    """Logins by camera id; ``default`` serves cameras without their own."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    default: RtspLogin | None = None
    cameras: dict[str, RtspLogin] = Field(default_factory=dict)

    def for_camera(self, camera_id: str) -> RtspLogin | None:
        return self.cameras.get(camera_id, self.default)

    def secrets(self) -> list[str]:
        """Every password (for log redaction)."""
        logins = [*self.cameras.values(), *([self.default] if self.default else [])]
        return [login.password.get_secret_value() for login in logins]


class CredentialsError(ValueError):
    """A credentials file that is missing, unsafe or malformed (the message holds no secret)."""


def locate(explicit: Path | None, environ: dict[str, str] | None = None) -> Path | None:
    """The credentials file to use, or None when the host has none (all cameras anonymous)."""
    env = os.environ if environ is None else environ
    if explicit is not None:
        return explicit
    directory = env.get("CREDENTIALS_DIRECTORY")
    if directory and (Path(directory) / SYSTEMD_CREDENTIAL_NAME).is_file():
        return Path(directory) / SYSTEMD_CREDENTIAL_NAME
    return DEFAULT_PATH if DEFAULT_PATH.is_file() else None


def _systemd_credential(path: Path, environ: Mapping[str, str] | None = None) -> bool:
    """A file systemd placed for this unit: only the unit's user (and root) can read it, which
    systemd grants by an ACL on a root-owned file, so owner and mode bits do not apply."""
    env = os.environ if environ is None else environ
    directory = env.get("CREDENTIALS_DIRECTORY")
    if not directory:
        return False
    return path.resolve().parent == Path(directory).resolve()


def _check_private(path: Path, info: os.stat_result) -> None:
    if info.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise CredentialsError(
            f"{path}: RTSP credentials must be readable by their owner only "
            f"(mode {stat.filemode(info.st_mode)}); run: chmod 600 {path}"
        )
    if info.st_uid != os.geteuid():
        raise CredentialsError(
            f"{path}: RTSP credentials must belong to the proxy's user (uid {os.geteuid()}), "
            f"not uid {info.st_uid}; run: chown $(id -un) {path} as root"
        )


def load_credentials(path: Path | None) -> RtspCredentials:
    import yaml  # noqa: PLC0415 - tools-only dependency

    if path is None:
        return RtspCredentials()
    try:
        info = path.stat()
    except OSError as exc:
        raise CredentialsError(f"{path}: cannot read RTSP credentials: {exc.strerror}") from exc
    if not _systemd_credential(path):
        _check_private(path, info)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        # The YAML error can quote file content (a password): report only where it is.
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise CredentialsError(f"{path}: not valid YAML{where}") from None
    try:
        return RtspCredentials.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()
        )
        raise CredentialsError(f"{path}: {problems}") from None
