"""The tree shows the architecture: every folder sits in the layer order, the top stays small."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOMAIN = ROOT / "layers" / "facewatch" / "facewatch"
TOOLS = ROOT / "tools" / "facewatch_tools"


def _contract_modules(name_prefix: str) -> set[str]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    contract = next(c for c in config["contracts"] if c["name"].startswith(name_prefix))
    return {m.strip() for layer in contract["layers"] for m in layer.split("|")}


def _children(package: Path, root_name: str) -> set[str]:
    return {
        f"{root_name}.{p.stem if p.is_file() else p.name}"
        for p in package.iterdir()
        if (p.is_dir() and (p / "__init__.py").exists())
        or (p.suffix == ".py" and p.stem not in {"__init__", "__main__"})
    }


def test_every_domain_folder_and_module_has_a_layer() -> None:
    assert _children(DOMAIN, "facewatch") == _contract_modules("Domain layers")


def test_every_tools_folder_and_module_has_a_layer() -> None:
    assert _children(TOOLS, "facewatch_tools") == _contract_modules("Tool layers")


def test_the_domain_top_level_holds_at_most_eight_modules() -> None:
    modules = [p for p in DOMAIN.glob("*.py") if p.stem != "__init__"]
    assert len(modules) <= 8, sorted(p.name for p in modules)


def test_no_module_repeats_its_folder_name_as_a_prefix() -> None:
    for path in [*DOMAIN.rglob("*.py"), *TOOLS.rglob("*.py")]:
        folder = path.parent.name
        assert not re.match(rf"{folder}_", path.stem), path


def test_import_contracts_hold() -> None:
    lint_imports = Path(sys.executable).with_name("lint-imports")
    result = subprocess.run(
        [str(lint_imports), "--no-cache"], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout[-2000:]
    assert "0 broken" in result.stdout


def test_paths_the_tools_ship_with_exist() -> None:
    from facewatch_tools.fleet.stacks import DEFAULT_TEMPLATE  # noqa: PLC0415
    from facewatch_tools.template import ROOT as TEMPLATE_ROOT  # noqa: PLC0415

    assert TEMPLATE_ROOT == ROOT
    assert DEFAULT_TEMPLATE.is_file()
