"""The README documents every setting: each template parameter and each environment variable
of every function's settings model (a setting added without documentation fails here)."""

from __future__ import annotations

import importlib
import inspect

import pytest

from facewatch.settings import EnvSettings
from facewatch_tools.template import ROOT, main_template

README = (ROOT / "README.md").read_text()
CONFIGURE = README.split("## Configure\n", 1)[1].split("\n## ", 1)[0]
SETTINGS_MODULES = (
    "facewatch.settings",
    "facewatch.alerts.settings",
    "facewatch.sampler.settings",
)


def env_variables() -> set[str]:
    names: set[str] = set()
    for module_name in SETTINGS_MODULES:
        module = importlib.import_module(module_name)
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if issubclass(cls, EnvSettings) and cls is not EnvSettings:
                names |= {f.alias for f in cls.model_fields.values() if f.alias}
    return names


@pytest.mark.parametrize("parameter", sorted(main_template()["Parameters"]))
def test_every_template_parameter_is_in_the_configure_table(parameter: str) -> None:
    default = str(main_template()["Parameters"][parameter].get("Default", ""))
    rows = [line for line in CONFIGURE.splitlines() if line.startswith(f"| {parameter} |")]
    assert rows, f"{parameter} missing from README 'Configure'"
    assert default in rows[0] or (default == "" and "(empty)" in rows[0])


@pytest.mark.parametrize("variable", sorted(env_variables()))
def test_every_environment_variable_is_documented(variable: str) -> None:
    assert variable in CONFIGURE, f"{variable} missing from README 'Configure'"
