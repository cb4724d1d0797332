"""``inception-lab-report PATH...``: runs and sweeps -> a table in the terminal, report.md, report.csv and plots.

    inception-lab-report outputs/multirun/2026-11-21/10-00-00          # one sweep -> <sweep>/report/
    inception-lab-report outputs/multirun/a outputs/multirun/b --out cmp
    inception-lab-report outputs/runs --format md,csv                  # no plots

Reads results.json files only. Unreadable or malformed ones are listed and skipped (exit status 1 after writing
everything else); a bad option or no readable run at all (a sweep directory that does not exist, say) is one
``error:`` line and exit status 2.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from inception_lab.report import FORMATS


def parse_formats(text: str) -> list[str]:
    items = [item.strip().lower() for item in text.replace("+", ",").split(",") if item.strip()]
    if items == ["all"]:
        return list(FORMATS)
    if items == ["none"]:
        return []
    aliases = {"markdown": "md", "plots": "png", "plot": "png"}
    items = [aliases.get(item, item) for item in items]
    bad = [item for item in items if item not in FORMATS]
    if bad:
        raise argparse.ArgumentTypeError(
            f"unknown format {', '.join(bad)}; choose from {', '.join(FORMATS)} (comma-separated), all or none")
    return items


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # argparse prints the usage and `prog: error: ...`: one line instead
        from inception_lab.console import fail

        fail(f"{message} (inception-lab-report --help lists the options)")


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"--width={text}: must be an integer >= 1 (columns)")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="inception-lab-report",
        description="Tabulate inception-lab runs (results.json) with the papers' published numbers beside them, "
                    "and plot their curves.",
        epilog="Paths may be results.json files, run directories, --multirun sweep directories or folders above them.",
    )
    parser.add_argument("paths", nargs="+", metavar="PATH", help="run / sweep directories or results.json files")
    parser.add_argument("--out", type=Path, default=None,
                        help="folder for report.md, report.csv and the PNGs (default: <PATH>/report for one "
                             "directory, ./report otherwise)")
    parser.add_argument("--format", dest="formats", type=parse_formats, default=list(FORMATS),
                        help="files to write: md, csv, png, comma-separated; all (default) or none (terminal only)")
    parser.add_argument("--width", type=positive_int, default=None,
                        help="terminal table width (default: the terminal's, 200 when not a terminal)")
    return parser


def main(argv: list[str] | None = None) -> int:
    from rich.console import Console
    from rich.markup import escape

    from inception_lab.console import print_error
    from inception_lab.report import default_out_dir, load, render_terminal, write_report

    args = build_parser().parse_args(argv)
    report = load(args.paths)
    console = Console(width=args.width or (None if sys.stdout.isatty() else 200))
    if not report.runs:
        for problem in report.problems:
            console.print(escape(f"  skipped {problem.path}: {problem.reason}"), highlight=False, soft_wrap=True)
        print_error("no readable results.json under " + ", ".join(args.paths))
        return 2
    render_terminal(report, console)
    out = args.out or default_out_dir(args.paths)
    if args.formats:
        try:
            written = write_report(report, out, args.formats)
        except OSError as err:
            print_error(f"cannot write the report to {out}: {err}")
            return 2
        console.print(escape("wrote " + ", ".join(str(p) for p in written)), highlight=False, soft_wrap=True)
    if report.problems:
        print_error(f"{len(report.problems)} path(s) skipped (listed above)", label="warning")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
