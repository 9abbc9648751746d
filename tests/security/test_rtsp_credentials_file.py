"""Finding 10: the RTSP credentials file must be the proxy user's own and mode 0600 or stricter."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from facewatch_tools.proxy.rtsp_credentials import CredentialsError, load_credentials

BODY = "default: {username: viewer, password: pw-not-for-logs}\n"  # pragma: allowlist secret
NOBODY = 65534


def _write(path: Path, mode: int) -> Path:
    path.write_text(BODY)
    path.chmod(mode)
    return path


@pytest.mark.parametrize("mode", [0o640, 0o610, 0o660, 0o601])
def test_group_or_other_access_of_any_kind_is_refused(tmp_path: Path, mode: int) -> None:
    with pytest.raises(CredentialsError, match="chmod 600"):
        load_credentials(_write(tmp_path / "c.yaml", mode))


@pytest.mark.parametrize("mode", [0o600, 0o400])
def test_owner_only_files_are_accepted(tmp_path: Path, mode: int) -> None:
    assert load_credentials(_write(tmp_path / "c.yaml", mode)).default is not None


@pytest.mark.skipif(os.geteuid() != 0, reason="chown to another user needs root")
def test_a_file_owned_by_another_user_is_refused(tmp_path: Path) -> None:
    path = _write(tmp_path / "c.yaml", 0o600)
    os.chown(path, NOBODY, NOBODY)
    with pytest.raises(CredentialsError, match="must belong to the proxy's user") as error:
        load_credentials(path)
    assert "pw-not-for-logs" not in str(error.value)


def test_a_systemd_credential_is_trusted_as_systemd_placed_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # systemd gives the unit's user access by an ACL on a root-owned file (group bits = mask).
    path = _write(tmp_path / "rtsp-credentials", 0o440)
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(tmp_path))
    assert load_credentials(path).default is not None
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(tmp_path / "elsewhere"))
    with pytest.raises(CredentialsError):
        load_credentials(path)
