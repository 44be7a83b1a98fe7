"""``python -m bench [--quick] [NAME …] [--json FILE]``: veilig's benchmarks.

Each benchmark measures veilig and its baselines in the same run and prints ratios;
none asserts a time. ``--quick`` uses tiny sizes (a smoke test, seconds); the default
uses the sizes of docs/PERFORMANCE.md (1 GiB and 4 GiB files, 100,000 conversations,
1,000 notifications) and takes about 20 minutes. ``desk``, ``stored`` and ``workers``
measure SQLite and, where its server binaries are installed, PostgreSQL beside it
(``bench.engines`` starts a throwaway server).

Needs the test extras (``pip install -e '.[test]'``: aiosmtpd). Optional: ``age`` for
the age baseline and GNU ``time`` for the peak memory of age and cp (``apt-get install
age time``) and PostgreSQL (``apt-get install postgresql``); where one is missing, the run
says so once and leaves those figures out.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import tempfile
import time
from pathlib import Path

from bench.common import ROOT, Report, machine, missing_tools, save_json, table

BENCHMARKS = (
    "attachments",
    "stored",
    "startup",
    "desk",
    "fanout",
    "workers",
    "verification",
    "rotation",
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n")[0])
    parser.add_argument(
        "names", nargs="*", metavar="NAME", help=f"run only these ({', '.join(BENCHMARKS)})"
    )
    parser.add_argument("--quick", action="store_true", help="tiny sizes: a smoke test")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    parser.add_argument(
        "--work", type=Path, help="folder for the files (default: a temporary folder)"
    )
    args = parser.parse_args(argv)
    names = args.names or list(BENCHMARKS)
    unknown = [n for n in names if n not in BENCHMARKS]
    if unknown:
        parser.error(f"unknown benchmark {', '.join(unknown)}; choose from {', '.join(BENCHMARKS)}")
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    if args.work is not None:  # a folder named for the files: made if it is not there yet
        args.work.mkdir(parents=True, exist_ok=True)
    info = machine()
    print("machine: " + "; ".join(f"{k} {v}" for k, v in info.items()), flush=True)
    report = Report()
    if "attachments" in names:  # the only benchmark with baselines outside Python
        for tool in missing_tools():
            report.skip(tool)
    for name in names:
        print(f"\n== {name}{' (quick)' if args.quick else ''}", flush=True)
        started = time.perf_counter()
        with tempfile.TemporaryDirectory(prefix=f"veilig-bench-{name}-", dir=args.work) as work:
            importlib.import_module(f"bench.{name}").run(report, args.quick, Path(work))
        print(f"   ({time.perf_counter() - started:.0f} s)", flush=True)
    print("\n" + table(report.figures))
    for note in report.notes:
        print(f"- {note}")
    print(f"\nload after the run: {machine()['load']}")
    if args.json:
        save_json(args.json, report, info)
    return 0


if __name__ == "__main__":
    sys.exit(main())
