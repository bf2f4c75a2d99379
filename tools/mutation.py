"""`make mutation`: mutmut over the modules whose tests are held to a bar, then the bar.

mutmut (configured in pyproject.toml's [tool.mutmut]) writes each mutant's outcome to
mutants/**/*.py.meta. This reads them, drops the mutants listed in tools/equivalent_mutants.toml
(each changes no behaviour, with its reason), and fails when a group's score is below its bar.
`--sample N` runs a deterministic sample of N mutants (ordered by a hash of their names), for
CI; without it every mutant runs.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
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
]
# mutmut refuses a run that selects no mutant, so the sample's first run, which generates every
# mutant and collects the tests' coverage, also runs this small module's; they join the sample.
FIRST = "hushan.domain.notices.*"


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


def sample(names: list[str], size: int) -> list[str]:
    return sorted(names, key=lambda name: hashlib.sha256(name.encode()).hexdigest())[:size]


def report(chosen: list[str]) -> bool:
    found, skip = outcomes(), equivalents()
    passed = True
    for prefix, bar in BARS:
        counts = Counter(
            "equivalent" if name in skip else status(found[name])
            for name in chosen
            if name.startswith(prefix)
        )
        judged = sum(n for kind, n in counts.items() if kind != "equivalent")
        score = counts["killed"] / judged if judged else 1.0
        ok = score >= bar
        passed &= ok
        print(
            f"{'ok  ' if ok else 'FAIL'} {prefix[:-1]:26} {score:7.1%} (bar {bar:.0%}) "
            + ", ".join(f"{kind} {n}" for kind, n in sorted(counts.items()))
        )
    return passed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sample", type=int, help="run only this many mutants, chosen by hash")
    args = parser.parse_args()
    if args.sample is None:
        mutmut()
        chosen = list(outcomes())
    else:
        mutmut(FIRST)
        first = [name for name, code in outcomes().items() if code is not None]
        chosen = sorted(set(first) | set(sample(list(outcomes()), args.sample)))
        mutmut(*chosen)
    stale = set(equivalents()) - set(outcomes())
    if stale:
        print(f"tools/equivalent_mutants.toml names mutants that no longer exist: {sorted(stale)}")
        return 1
    return 0 if report(chosen) else 1


if __name__ == "__main__":
    sys.exit(main())
