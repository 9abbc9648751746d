"""The fault matrix: every test records fault -> outcome; the table prints at the end of the run."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

ROWS: list[tuple[str, str, str]] = []


@pytest.fixture
def record_outcome() -> Iterator[Callable[[str, str, str], None]]:
    def record(dependency: str, fault: str, outcome: str) -> None:
        ROWS.append((dependency, fault, outcome))

    yield record


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not ROWS:
        return
    terminalreporter.section("fault matrix")
    width = max(len(f"{d}: {f}") for d, f, _ in ROWS)
    for dependency, fault, outcome in ROWS:
        terminalreporter.write_line(f"{f'{dependency}: {fault}':<{width}}  ->  {outcome}")
