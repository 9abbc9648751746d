from __future__ import annotations

import os
import stat
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace

import pytest

from facewatch_tools.proxy import rtsp_credentials
from facewatch_tools.proxy.kvs_credentials import (
    KvsCredentialError,
    KvsCredentialFile,
    child_environment,
)
from facewatch_tools.proxy.rtsp_credentials import CredentialsError, load_credentials, locate


def _write(path: Path, text: str, mode: int = 0o600) -> Path:
    path.write_text(text)
    path.chmod(mode)
    return path


def test_per_camera_login_with_a_default(tmp_path: Path) -> None:
    path = _write(tmp_path / "c.yaml", "default: {username: viewer, password: d3f}\n"
                  "cameras:\n  cam-a: {username: admin, password: 'a b!'}\n")  # fmt: skip
    creds = load_credentials(path)
    login_a, login_b = creds.for_camera("cam-a"), creds.for_camera("cam-b")
    assert login_a is not None and login_a.username == "admin"
    assert login_a.password.get_secret_value() == "a b!"
    assert login_b is not None and login_b.username == "viewer"
    assert "a b!" not in repr(creds) and "d3f" not in str(creds)
    assert sorted(creds.secrets()) == ["a b!", "d3f"]


def test_no_file_means_anonymous_cameras() -> None:
    assert load_credentials(None).for_camera("x") is None


@pytest.mark.parametrize("mode", [0o644, 0o604, 0o620])
def test_a_file_other_users_can_read_or_write_is_refused(tmp_path: Path, mode: int) -> None:
    path = _write(tmp_path / "c.yaml", "cameras: {}\n", mode)
    with pytest.raises(CredentialsError, match="chmod 600"):
        load_credentials(path)


def test_errors_never_quote_the_file(tmp_path: Path) -> None:
    bad_yaml = _write(tmp_path / "a.yaml", "cameras:\n  cam: {username: u, password: 's3cr3t\n")
    with pytest.raises(CredentialsError, match="not valid YAML at line") as err:
        load_credentials(bad_yaml)
    assert "s3cr3t" not in str(err.value)
    bad_shape = _write(tmp_path / "b.yaml", "cameras:\n  cam: {user: u, password: s3cr3t}\n")
    with pytest.raises(CredentialsError, match=r"cameras\.cam\.username") as err:
        load_credentials(bad_shape)
    assert "s3cr3t" not in str(err.value)
    with pytest.raises(CredentialsError, match="cannot read"):
        load_credentials(tmp_path / "missing.yaml")


def test_locate_prefers_the_flag_then_systemd_credentials_then_etc(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    explicit = tmp_path / "explicit.yaml"
    assert locate(explicit, {}) == explicit
    (tmp_path / "rtsp-credentials").write_text("{}")
    assert locate(None, {"CREDENTIALS_DIRECTORY": str(tmp_path)}) == tmp_path / "rtsp-credentials"
    etc = _write(tmp_path / "etc.yaml", "{}")
    monkeypatch.setattr(rtsp_credentials, "DEFAULT_PATH", etc)
    assert locate(None, {"CREDENTIALS_DIRECTORY": str(tmp_path / "none")}) == etc
    monkeypatch.setattr(rtsp_credentials, "DEFAULT_PATH", tmp_path / "absent.yaml")
    assert locate(None, {}) is None


NOW = datetime(2026, 11, 25, 12, 0, 0, tzinfo=UTC)


def test_kvs_credential_file_holds_temporary_credentials_with_expiration(tmp_path: Path) -> None:
    frozen = SimpleNamespace(access_key="ASIAX", secret_key="sec/ret", token="tok+en")
    source = SimpleNamespace(get_frozen_credentials=lambda: frozen)
    kvs = KvsCredentialFile(tmp_path / "run" / "kvs-credential", lambda: source, now=lambda: NOW)
    kvs.write()
    assert kvs.path.read_text() == "CREDENTIALS ASIAX 2026-11-25T12:10:00Z sec/ret tok+en\n"
    assert stat.S_IMODE(kvs.path.stat().st_mode) == 0o600
    assert stat.S_IMODE(kvs.path.parent.stat().st_mode) == 0o700
    frozen.access_key = "ASIAY"
    kvs.write()  # replaced atomically, no leftovers
    assert kvs.path.read_text().startswith("CREDENTIALS ASIAY ")
    assert os.listdir(kvs.path.parent) == ["kvs-credential"]
    kvs.remove()
    assert not kvs.path.exists()


def test_kvs_credential_file_for_long_term_keys_and_for_no_credentials(tmp_path: Path) -> None:
    frozen = SimpleNamespace(access_key="AKIAX", secret_key="s", token=None)
    kvs = KvsCredentialFile(
        tmp_path / "k", lambda: SimpleNamespace(get_frozen_credentials=lambda: frozen)
    )
    kvs.write()
    assert kvs.path.read_text() == "CREDENTIALS AKIAX s\n"
    with pytest.raises(KvsCredentialError, match="no AWS credentials"):
        KvsCredentialFile(tmp_path / "k2", lambda: None).write()


def test_children_lose_static_keys_only_when_the_file_is_used() -> None:
    env = {"PATH": "/usr/bin", "AWS_ACCESS_KEY_ID": "a", "AWS_SECRET_ACCESS_KEY": "b",
           "AWS_SESSION_TOKEN": "c", "AWS_REGION": "eu-west-1"}  # fmt: skip
    assert child_environment(env, credential_file=True) == {
        "PATH": "/usr/bin", "AWS_REGION": "eu-west-1"
    }  # fmt: skip
    assert child_environment(env, credential_file=False) == env
