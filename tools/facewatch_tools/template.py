"""Reading the project's own CloudFormation/SAM templates (short-form intrinsics included)."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
MAIN_TEMPLATE = ROOT / "template.yaml"


class _CfnLoader(yaml.SafeLoader):
    """SafeLoader that turns !Ref, !GetAtt, !Sub ... into their long JSON forms."""


def _intrinsic(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    name = suffix if suffix in ("Ref", "Condition") else f"Fn::{suffix}"
    value: Any
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
        if suffix == "GetAtt":
            value = str(value).split(".", 1)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
    return {name: value}


_CfnLoader.add_multi_constructor("!", _intrinsic)


def load_template(path: Path = MAIN_TEMPLATE) -> dict[str, Any]:
    return parse_template(path.read_text(encoding="utf-8"))


def parse_template(text: str) -> dict[str, Any]:
    """A template's YAML (or JSON) text, short-form intrinsics in their long form."""
    data: dict[str, Any] = yaml.load(text, Loader=_CfnLoader)  # noqa: S506 - SafeLoader subclass
    return data


@cache
def main_template() -> dict[str, Any]:
    return load_template(MAIN_TEMPLATE)


def resource(name: str, template: dict[str, Any] | None = None) -> dict[str, Any]:
    found: dict[str, Any] = (template or main_template())["Resources"][name]
    return found


def parameter_defaults(template: dict[str, Any] | None = None) -> dict[str, str]:
    params = (template or main_template()).get("Parameters", {})
    return {k: str(v["Default"]) for k, v in params.items() if "Default" in v}
