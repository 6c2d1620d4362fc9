"""The house's rules, checked on the source: which package may import which.

- Nothing in the kernel (``storywire/``) imports a stage, the read side or the tooling,
  except the application layer (``storywire/app/``), which assembles the command line.
- No stage imports another stage: they meet only through the kernel's messages on Kafka.
  The read side (``search``) reads what ``index`` writes, so it may use index's client,
  names and settings.
- Benchmarks and the tooling import no test module.
- Every settings section is built by ``storywire.config.load``, so the environment and the
  ``STORYWIRE_CONFIG`` file are read the same way everywhere.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic_settings import BaseSettings

from storywire.app.sections import SECTIONS

ROOT = Path(__file__).resolve().parents[2]
STAGES = {"ingest", "enrich", "index", "search", "alert"}
TOP = STAGES | {"storywire", "devtools", "tests", "bench"}


def _modules(folder: str) -> Iterator[Path]:
    yield from sorted((ROOT / folder).rglob("*.py"))


def _imports(path: Path) -> Iterator[tuple[int, str]]:
    """(line, top-level package) of every import of one of the project's packages."""
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        else:
            continue
        for name in names:
            top = name.split(".")[0]
            if top in TOP:
                yield node.lineno, top


def _where(path: Path, line: int) -> str:
    return f"{path.relative_to(ROOT)}:{line}"


def test_the_kernel_imports_no_stage_and_no_tooling() -> None:
    bad = [
        f"{_where(p, line)} imports {top}"
        for p in _modules("storywire")
        if "app" not in p.relative_to(ROOT / "storywire").parts
        for line, top in _imports(p)
        if top in STAGES | {"devtools", "tests", "bench"}
    ]
    assert bad == []


@pytest.mark.parametrize("stage", sorted(STAGES))
def test_a_stage_imports_only_the_kernel_and_itself(stage: str) -> None:
    allowed = {stage, "storywire"} | ({"index"} if stage == "search" else set())
    bad = [
        f"{_where(p, line)} imports {top}"
        for p in _modules(stage)
        for line, top in _imports(p)
        if top not in allowed or (top == "storywire" and _is_app(p, line))
    ]
    assert bad == []


def _is_app(path: Path, line: int) -> bool:
    text = path.read_text().splitlines()[line - 1]
    return "storywire.app" in text


@pytest.mark.parametrize("folder", ["bench", "devtools"])
def test_benchmarks_and_tooling_import_no_test_module(folder: str) -> None:
    bad = [f"{_where(p, line)}" for p in _modules(folder) for line, top in _imports(p) if top == "tests"]
    assert bad == []


def test_every_section_is_built_by_the_one_loader() -> None:
    """A call ``XSettings(...)`` of a section anywhere but in ``storywire.config`` would read the
    environment without the config file (the bug this layout fixed). The tooling may build
    sections for stacks of its own (the fault suite's private stack)."""
    names = {cls.__name__ for cls in SECTIONS.values()} | {"BaseSettings"}
    assert all(issubclass(cls, BaseSettings) for cls in SECTIONS.values())
    bad = []
    for folder in sorted(STAGES | {"storywire"}):
        for p in _modules(folder):
            for node in ast.walk(ast.parse(p.read_text(), str(p))):
                if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in names:
                    bad.append(f"{_where(p, node.lineno)} calls {node.func.id}()")
    assert bad == []
