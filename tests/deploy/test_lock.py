"""The layer ships exactly its locked dependency set: requirements.txt is `make lock`'s output
from requirements.in (every package pinned with hashes, the whole closure), and no SNS topic
prefixes its SMS."""

from __future__ import annotations

import re
import subprocess
from importlib import metadata

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from facewatch_tools.template import ROOT, load_template

LAYER = ROOT / "layers" / "facewatch"
# The Lambda platform the lock is for (Makefile LOCK_FLAGS).
LAMBDA_MARKERS = {
    "python_version": "3.13",
    "python_full_version": "3.13.0",
    "sys_platform": "linux",
    "platform_system": "Linux",
    "platform_machine": "aarch64",
    "os_name": "posix",
    "implementation_name": "cpython",
    "platform_python_implementation": "CPython",
}


def locked() -> dict[str, tuple[str, list[str]]]:
    """name -> (version, hashes) from requirements.txt."""
    text = (LAYER / "requirements.txt").read_text()
    entries: dict[str, tuple[str, list[str]]] = {}
    for block in re.split(r"\n(?=[a-zA-Z0-9])", text):
        head = block.split()[0] if block.strip() and not block.startswith("#") else ""
        if not head:
            continue
        name, _, version = head.partition("==")
        entries[canonicalize_name(name)] = (version, re.findall(r"--hash=(sha256:\w+)", block))
    return entries


def sources() -> list[Requirement]:
    lines = (LAYER / "requirements.in").read_text().splitlines()
    return [Requirement(line) for line in lines if line.strip() and not line.startswith("#")]


def test_every_locked_package_is_pinned_with_hashes() -> None:
    lock = locked()
    assert len(lock) >= 15  # the transitive set, not just the top-level pins
    for name, (version, hashes) in lock.items():
        assert version, f"{name} is not pinned"
        assert hashes, f"{name} has no hash"


def test_the_lock_honours_every_pin_of_its_source() -> None:
    lock = locked()
    for requirement in sources():
        name = canonicalize_name(requirement.name)
        assert name in lock, f"{name} missing from the lock: make lock"
        assert lock[name][0] in requirement.specifier, f"{name}: make lock"


def test_the_lock_is_closed_under_dependencies() -> None:
    """Every dependency (for Lambda's python3.13 on arm64) of every locked package is locked;
    read from the installed distributions' metadata."""
    lock = locked()
    checked = 0
    for name in lock:
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            continue
        extras = next(
            (set(r.extras) for r in sources() if canonicalize_name(r.name) == name), set()
        )
        for text in dist.requires or []:
            requirement = Requirement(text)
            markers = [{**LAMBDA_MARKERS, "extra": e} for e in ({""} | extras)]
            if requirement.marker and not any(requirement.marker.evaluate(m) for m in markers):
                continue
            assert canonicalize_name(requirement.name) in lock, f"{name} needs {requirement}"
        checked += 1
    assert checked >= 10


def test_the_lock_is_made_by_make_lock_from_the_source() -> None:
    header = (LAYER / "requirements.txt").read_text().splitlines()[:2]
    assert header[1].strip() == "#    make lock"
    dry = subprocess.run(
        ["make", "-n", "-o", ".venv/.installed", "lock"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "pip compile" in dry and "--generate-hashes" in dry
    assert "layers/facewatch/requirements.in -o layers/facewatch/requirements.txt" in dry
    assert "--python-version 3.13" in dry and "aarch64" in dry


def test_no_topic_prefixes_its_sms() -> None:
    """SNS puts a topic's DisplayName in front of every SMS ("FACEWATCH> ...")."""
    resources = load_template(ROOT / "template.yaml")["Resources"]
    topics = {n: r for n, r in resources.items() if r["Type"] == "AWS::SNS::Topic"}
    assert {"AlertsTopic", "EscalationTopic", "OpsAlarmTopic"} <= set(topics)
    for name, topic in topics.items():
        assert "DisplayName" not in topic["Properties"], name
