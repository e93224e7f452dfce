"""The gates are the same everywhere: `make check`, pre-commit and CI run the same commands.

A gate added to one place and not the others is how a CI that "only lints" happens (STYLE.md): the
Makefile is the reference, pre-commit must run each of its commands, and .ci/run must run `make check`
before `make test`.
"""

from __future__ import annotations

import re
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]


def make_recipes() -> dict[str, list[str]]:
    """Target → its recipe lines, with $(BIN) spelled as pre-commit spells it (.venv/bin)."""
    recipes: dict[str, list[str]] = {}
    target = None
    for line in (REPO / "Makefile").read_text(encoding="utf-8").splitlines():
        header = re.match(r"^([A-Za-z][\w-]*):(?!=)(.*)$", line)
        if header:
            target = header.group(1)
            recipes[target] = [header.group(2).strip()]  # prerequisites first
        elif line.startswith("\t") and target:
            recipes[target].append(line.strip().replace("$(BIN)/", ".venv/bin/"))
        elif not line.strip() or line.startswith("#"):
            continue
        else:
            target = None
    return recipes


def check_commands() -> list[str]:
    recipes = make_recipes()
    gates = recipes["check"][0].split()
    assert gates, "make check has no gates"
    return [command for gate in gates for command in recipes[gate][1:]]


def test_make_check_runs_every_gate() -> None:
    commands = check_commands()
    for tool in ("ruff check", "ruff format --check", "lint-imports", "sqlfluff lint", "pyright"):
        assert any(f".venv/bin/{tool}" in command for command in commands), f"make check lacks {tool}"
    ruff = [command for command in commands if "/ruff " in command]
    assert all(command.endswith("fidc_assets tests bench") for command in ruff), ruff


def test_pre_commit_runs_the_same_commands_as_make_check() -> None:
    config = yaml.safe_load((REPO / ".pre-commit-config.yaml").read_text(encoding="utf-8"))
    hooks = [hook for repo in config["repos"] for hook in repo["hooks"]]
    assert all(repo["repo"] == "local" for repo in config["repos"]), "a hook repository needs the network"
    assert sorted(hook["entry"] for hook in hooks) == sorted(check_commands())
    assert all(hook["pass_filenames"] is False for hook in hooks), "a hook must check the tree, as make does"


def test_ci_runs_make_check_before_make_test() -> None:
    lines = [line.strip() for line in (REPO / ".ci" / "run").read_text(encoding="utf-8").splitlines()]
    assert "make check" in lines and "make test" in lines
    assert lines.index("make check") < lines.index("make test")
