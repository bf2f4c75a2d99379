"""The README's walkthrough runs as written: its shell and Python blocks, in order, as one
script against the server it starts (a fresh database on a free port), and each `# {…}` reply
it shows is what the server answered (`…` stands for anything)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
from dataclasses import dataclass
from pathlib import Path

from tests.server import free_port

ROOT = Path(__file__).resolve().parent.parent
BLOCK = re.compile(r"```(sh|python)\n(.*?)```", re.DOTALL)
# A comment after a command: at least two spaces before the `#`, so a `#` inside it is not one.
TRAILING = re.compile(r"\s{2,}# (.*)$")


@dataclass
class Step:
    command: str  # a shell command, or a whole Python block
    shown: str = ""  # what the README says it prints
    python: bool = False

    @property
    def checked(self) -> bool:
        """A JSON reply is checked, and what a Python block prints; prose comments are not."""
        return self.python or self.shown.startswith("{")

    def script(self, out: Path) -> str:
        if self.python:
            return f".venv/bin/python - > \"{out}\" <<'PYTHON'\n{self.command}PYTHON"
        return f'{self.command} > "{out}"' if self.checked else self.command


def walkthrough() -> list[Step]:
    text = (ROOT / "README.md").read_text()
    parts = [
        text[text.index("## A walkthrough with curl") : text.index("## The semantics")],
        text[text.index("## Proof of deletion") : text.index("## Scaling")],
    ]
    steps: list[Step] = []
    for block in (m for part in parts for m in BLOCK.finditer(part)):
        if block.group(1) == "python":
            printing = [
                m.group(1)
                for line in block.group(2).splitlines()
                if "print(" in line and (m := TRAILING.search(line))
            ]
            steps.append(Step(block.group(2), "\n".join(printing), python=True))
            continue
        continued: list[str] = []  # a command continued over lines with `\\`
        for line in block.group(2).splitlines():
            if line.startswith("#"):  # a reply shown under its command, or prose
                if line.startswith("# {"):
                    steps[-1].shown = line[2:]
                continue
            continued.append(line)
            if line.endswith("\\"):
                continue
            command, continued = "\n".join(continued), []
            shown = TRAILING.search(command)
            steps.append(Step(command[: shown.start()], shown.group(1)) if shown else Step(command))
    return steps


def matches(pattern: str, output: str) -> bool:
    regex = ".*?".join(re.escape(piece) for piece in pattern.split("…"))
    return re.fullmatch(regex, output.strip(), re.DOTALL) is not None


def test_the_walkthrough_runs_as_written(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (tmp_path / ".venv").symlink_to(ROOT / ".venv")  # the README calls `.venv/bin/...`
    steps = walkthrough()
    script = "\n".join(
        ["set -euo pipefail"] + [step.script(out / f"{n}.out") for n, step in enumerate(steps)]
    )
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith("HUSHAN_") and name not in {"H", "PORT"}
    }
    env.update(PORT=str(free_port()), TMPDIR=str(tmp_path), LANG="C.UTF-8")
    with open(tmp_path / "log", "wb") as log:
        run = subprocess.Popen(
            ["bash", "-c", script],
            cwd=tmp_path,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # the server it starts goes with it, whatever happens
        )
        try:
            run.wait(timeout=120)
        finally:
            os.killpg(run.pid, signal.SIGKILL)
    assert run.returncode == 0, (tmp_path / "log").read_text()
    for n, step in enumerate(steps):
        if step.checked:
            output = (out / f"{n}.out").read_text()
            assert matches(step.shown, output), (step.command, output)
    assert sum(step.checked for step in steps) >= 15  # the replies the walkthrough shows


def test_an_ellipsis_stands_for_anything_and_nothing_else_does() -> None:
    assert matches('{"id":…,"body":"hi"}', '{"id":7,"body":"hi"}\n')
    assert not matches('{"id":…,"body":"hi"}', '{"id":7,"body":"hello"}')
    assert matches("{…}", "{}")
