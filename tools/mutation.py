"""`make mutation`: mutmut over the modules whose tests are held to a bar, then the bar.

mutmut (configured in pyproject.toml's [tool.mutmut]) writes each mutant's outcome to
mutants/**/*.py.meta. This reads them, drops the mutants listed in tools/equivalent_mutants.toml
(each changes no behaviour, with its reason), and fails when a group's score is below its bar.
A mutant counts as caught when a test fails on it (killed) or when it makes the tests hang
until mutmut stops them (timeout), as in mutmut's own score.

Each run starts from scratch. Without options every mutant of every group runs (about 45
minutes on 2 cores). `--sample N`
runs N mutants of each group, the same N while the code is unchanged: a group's mutants
ordered by a hash of their names, so a change to one function moves only its own mutants in
or out. `make test` runs that sample after the test suite.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import tomllib
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MUTMUT = str(Path(sys.executable).parent / "mutmut")
# (module-name prefix, bar): the score over non-equivalent mutants each group must reach.
BARS = [
    ("hushan.domain.", 0.95),
    ("hushan.purge.", 0.95),
    ("hushan.tlog.certificate.", 0.90),
    ("hushan.tlog.log.", 0.90),
    # The rest of the transparency log: entries, the Merkle trees, notes, witnesses. A name
    # takes the first group it matches, so certificate.py and log.py stay in their own.
    ("hushan.tlog.", 0.90),
    # The serving layer's write path: the SQLite store's turn-taking and group commit (both
    # hushan.store.sqlite and hushan.store.sqlite_writer), and the engine pool that runs each
    # write off the event loop and shapes a keyed write's reply.
    ("hushan.store.sqlite", 0.90),
    ("hushan.api.offload.", 0.90),
]
CAUGHT = ("killed", "timeout")


def outcomes() -> dict[str, int | None]:
    found: dict[str, int | None] = {}
    for meta in (ROOT / "mutants").rglob("*.py.meta"):
        found.update(json.loads(meta.read_text())["exit_code_by_key"])
    return found


def status(exit_code: int | None) -> str:
    from mutmut.stats import status_by_exit_code  # mutmut's own reading of its exit codes

    return str(status_by_exit_code[exit_code])


def equivalents() -> dict[str, str]:
    listed = tomllib.loads((ROOT / "tools" / "equivalent_mutants.toml").read_text())
    return {entry["name"]: entry["reason"] for entry in listed.get("mutant", [])}


def mutmut(*names: str) -> None:
    env = {**os.environ, "HUSHAN_TEST_SQLITE_ONLY": "1"}
    subprocess.run([MUTMUT, "run", *names], cwd=ROOT, env=env, check=True)


def generate() -> None:
    """Write every mutant (as `mutmut run` does first) without running a test, so the sample
    can be chosen by name before any test runs. mutmut has no command for this alone; these
    are the steps its `run` starts with (mutmut is pinned in requirements.lock)."""
    from mutmut.__main__ import create_mutants, store_lines_covered_by_tests
    from mutmut.utils.file_utils import copy_also_copy_files, copy_src_dir, setup_source_paths

    os.chdir(ROOT)
    (ROOT / "mutants").mkdir(exist_ok=True)
    with contextlib.redirect_stdout(io.StringIO()):
        copy_src_dir()
        copy_also_copy_files()
        setup_source_paths()
        store_lines_covered_by_tests()
        create_mutants(os.cpu_count() or 2)


def group_of(name: str) -> str | None:
    return next((prefix for prefix, _ in BARS if name.startswith(prefix)), None)


def sample(names: list[str], size: int) -> list[str]:
    """`size` mutants of each group, chosen by a hash of their names."""
    chosen: list[str] = []
    for prefix, _ in BARS:
        group = [name for name in names if group_of(name) == prefix]
        chosen += sorted(group, key=lambda name: hashlib.sha256(name.encode()).hexdigest())[:size]
    return sorted(chosen)


def report(chosen: list[str]) -> bool:
    found, skip = outcomes(), equivalents()
    passed = True
    for prefix, bar in BARS:
        counts = Counter(
            "equivalent" if name in skip else status(found[name])
            for name in chosen
            if group_of(name) == prefix
        )
        judged = sum(n for kind, n in counts.items() if kind != "equivalent")
        score = sum(counts[kind] for kind in CAUGHT) / judged if judged else 1.0
        ok = score >= bar
        passed &= ok
        print(
            f"{'ok  ' if ok else 'FAIL'} {prefix.rstrip('.'):26} {score:7.1%} (bar {bar:.0%}) "
            + ", ".join(f"{kind} {n}" for kind, n in sorted(counts.items()))
        )
    for name in sorted(
        name for name in chosen if name not in skip and status(found[name]) not in CAUGHT
    ):
        print(f"     not caught: {name} ({status(found[name])}): see `mutmut show {name}`")
    return passed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sample", type=int, help="run only this many mutants of each group")
    args = parser.parse_args()
    # From scratch: mutmut keeps a test's coverage from when it was first seen, so a test that
    # changed since could be missing from the tests a mutant runs.
    shutil.rmtree(ROOT / "mutants", ignore_errors=True)
    if args.sample is None:
        mutmut(*(prefix + "*" for prefix, _ in BARS))  # named: each one runs, none is cached
        chosen = [name for name in outcomes() if group_of(name)]
    else:
        generate()
        chosen = sample(list(outcomes()), args.sample)
        mutmut(*chosen)
    stale = set(equivalents()) - set(outcomes())
    if stale:
        print(f"tools/equivalent_mutants.toml names mutants that no longer exist: {sorted(stale)}")
        return 1
    return 0 if report(chosen) else 1


if __name__ == "__main__":
    sys.exit(main())
