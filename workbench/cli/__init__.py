"""``workbench``: the headless command line.

Exit codes: 0 done; 1 the run failed (no trial succeeded, an output could not be written: a full
disk, a read-only folder; or an internal error); 2 bad input
(config, profile, arguments: one line naming file, field and expectation, no traceback);
130 interrupted by Ctrl-C (finished trials stay stored; rerun to resume).
"""

from __future__ import annotations

import argparse
import os
import sys
import traceback
from collections.abc import Sequence
from typing import NoReturn

from workbench._errors import WorkbenchError
from workbench._files import output_error
from workbench._thresholds import CHECK_TIME_S, DEFAULT_THRESHOLDS
from workbench._version import __version__

__all__ = ["main"]

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # one line, exit 2, like every other user error
        self.print_usage(sys.stderr)
        sys.stderr.write(f"{self.prog}: error: {message}\n")
        raise SystemExit(EXIT_USAGE)


def _parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog="workbench",
        description="Hardware-aware model design: search, deploy, measure, compare.",
    )
    p.add_argument("--version", action="version", version=f"workbench {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    r = sub.add_parser("run", help="run (or resume) the study a YAML config describes")
    r.add_argument("config", help="study config, e.g. search/quickstart.yaml")
    r.add_argument(
        "--trials", type=int, help="total trials the study should have (overrides study.trials)"
    )
    r.add_argument("--storage", help="Optuna storage URL (default: sqlite:///<out>/workbench.db)")
    r.add_argument("--out", help="output folder (default: runs)")
    r.add_argument(
        "--timeout",
        type=float,
        help="seconds after which no new trial starts (overrides study.timeout_s)",
    )
    r.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config value, e.g. --set train.epochs=2 (repeatable)",
    )
    r.add_argument("--quiet", action="store_true", help="no progress bar")
    r.add_argument("--no-memory", action="store_true", help="skip peak-memory measurement")
    r.add_argument(
        "--progress-json",
        metavar="PATH",
        help="append machine-readable progress to PATH as JSON lines (start, stage, trial, end)",
    )

    s = sub.add_parser("show", help="summarise a stored study: fronts per deployment, failures")
    s.add_argument("study", help="study name")
    s.add_argument("--storage", help="Optuna storage URL (default: sqlite:///<out>/workbench.db)")
    s.add_argument(
        "--out", default="runs", help="output folder holding workbench.db (default: runs)"
    )
    s.add_argument("--json", action="store_true", help="print the results as JSON")
    s.add_argument(
        "--report",
        action="store_true",
        help="(re)write <out>/<study>/report.html and results files",
    )

    ls = sub.add_parser("studies", help="list the studies in a storage")
    ls.add_argument("--storage", help="Optuna storage URL (default: sqlite:///<out>/workbench.db)")
    ls.add_argument("--out", default="runs")

    rp = sub.add_parser(
        "reproduce",
        help="rebuild stored trials from their spec, seed, config and data; compare with the store",
    )
    rp.add_argument("study", help="study name")
    rp.add_argument("trials", nargs="+", type=int, metavar="TRIAL", help="trial numbers")
    rp_where = rp.add_mutually_exclusive_group()
    rp_where.add_argument(
        "--storage", help="Optuna storage URL (default: sqlite:///<out>/workbench.db)"
    )
    rp_where.add_argument(
        "--out", default="runs", help="output folder holding workbench.db (default: runs)"
    )
    rp.add_argument("--json", action="store_true", help="print the comparison as JSON")
    rp.add_argument(
        "--latency-tolerance",
        type=float,
        default=0.10,
        metavar="F",
        help=(
            "relative latency change a ratio's whole interval must lie beyond to count as not "
            "reproduced (default 0.10; widen it on a shared, loaded runner)"
        ),
    )

    pr = sub.add_parser(
        "profiles",
        help="list hardware profiles, show one, calibrate or check the latency predictor",
    )
    pr_sub = pr.add_subparsers(dest="profiles_command", metavar="ACTION", parser_class=_Parser)
    pr_sub.add_parser("list", help="list every profile found (the default)")
    show = pr_sub.add_parser("show", help="print one profile with the source of each number")
    show.add_argument("name")
    cal = pr_sub.add_parser(
        "calibrate", help="fit the latency predictor of a measured profile on this host"
    )
    cal.add_argument("name", help="a measured profile, e.g. host-cpu")
    cal.add_argument(
        "--deploy",
        action="append",
        default=[],
        metavar="DEPLOYMENT",
        help=(
            "deployment to calibrate (repeatable; default: the profile's recipe and "
            "onnxruntime-fp32)"
        ),
    )
    # the library's DEFAULT_CALIBRATION_MODELS, spelled out: importing the predictor here would slow
    # every command's start (a test keeps the two equal)
    cal.add_argument(
        "--models",
        type=int,
        default=40,
        help=(
            "calibration architectures (default 40; 20 take half the time, and predict as well on "
            "a quiet machine)"
        ),
    )
    cal.add_argument("--seed", type=int, default=0, help="population seed (default 0)")
    cal.add_argument("--json", action="store_true", help="print the fit as JSON")
    acc = pr_sub.add_parser(
        "accuracy", help="measure the calibrated predictor on held-out architectures"
    )
    acc.add_argument("name", help="a calibrated measured profile, e.g. host-cpu")
    acc.add_argument(
        "--deploy",
        action="append",
        default=[],
        metavar="DEPLOYMENT",
        help="deployment to check (repeatable; default: as calibrated by default)",
    )
    acc.add_argument("--models", type=int, default=30, help="held-out architectures (default 30)")
    acc.add_argument("--seed", type=int, default=0, help="held-out population seed (default 0)")
    acc.add_argument("--json", action="store_true", help="print the figures as JSON")
    for timed in (cal, acc):
        timed.add_argument("--threads", type=int, help="intra-op threads (default: the profile's)")
        timed.add_argument(
            "--max-time", type=float, default=900.0, help="seconds of timing at most (default 900)"
        )

    bl = sub.add_parser("baseline", help="save a study's Pareto set as a baseline for `check`")
    bl_sub = bl.add_subparsers(dest="baseline_command", metavar="ACTION", parser_class=_Parser)
    bls = bl_sub.add_parser("save", help="write the Pareto set's artifacts and one manifest")
    bls.add_argument("study", help="study name")
    bls.add_argument("--to", required=True, metavar="DIR", help="baseline folder to write")
    bls.add_argument("--storage", help="Optuna storage URL (default: sqlite:///<out>/workbench.db)")
    bls.add_argument("--out", default="runs", help="output folder holding workbench.db")

    ck = sub.add_parser(
        "check",
        help="time a study's Pareto set against a baseline's here; exit 1 on a regression",
    )
    ck.add_argument("baseline", metavar="DIR", help="baseline folder (`workbench baseline save`)")
    ck.add_argument("--study", required=True, help="the candidate study's name")
    ck.add_argument("--storage", help="Optuna storage URL (default: sqlite:///<out>/workbench.db)")
    ck.add_argument("--out", default="runs", help="output folder holding workbench.db")
    ck.add_argument(
        "--fail",
        metavar="SPEC",
        help=(
            "regression thresholds, e.g. latency:+5%%,accuracy:-0.5pt; metrics not named keep "
            "the study config's check.fail, else the defaults "
            f"{DEFAULT_THRESHOLDS.to_text().replace('%', '%%')}; METRIC:off turns one off"
        ),
    )
    ck.add_argument("--junit", metavar="FILE", help="write JUnit XML (a case per point and metric)")
    ck.add_argument("--markdown", metavar="FILE", help="write a Markdown summary (appends)")
    ck.add_argument("--json", action="store_true", help="print the result as JSON")
    ck.add_argument(
        "--no-save",
        action="store_true",
        help="do not write the result to <the study's outputs>/check.json",
    )
    ck.add_argument(
        "--time",
        type=float,
        metavar="S",
        help=(
            "seconds of timing per artifact at most (default: the config's check.time_s, else "
            f"{CHECK_TIME_S:g})"
        ),
    )
    ck.add_argument("--memory", action="store_true", help="measure peak memory now, both sides")
    ck.add_argument("--quiet", action="store_true", help="no progress lines on stderr")

    b = sub.add_parser(
        "bench",
        help=(
            "deploy and measure your own model: an .onnx, .pt/.pt2 or .keras file, or "
            "module:function"
        ),
    )
    b.add_argument(
        "model",
        help=(
            "path.onnx | model.pt2 (torch.export) | model.pt (pickled nn.Module) | model.keras | "
            "file.py:fn | pkg.module:fn"
        ),
    )
    b.add_argument(
        "--input-shape",
        help="input shape without batch, e.g. 3,224,224 (read from the model when it says)",
    )
    b.add_argument(
        "--data",
        help=(
            "labelled data for accuracy and int8 calibration: digits | shapes | synthetic | "
            "path.npz"
        ),
    )
    b.add_argument(
        "--deploy",
        action="append",
        default=[],
        metavar="DEPLOYMENT",
        help=(
            "deployment, e.g. onnxruntime-int8-static (repeatable; default: all the model's "
            "framework allows)"
        ),
    )
    b.add_argument(
        "--profile", default="host-cpu", help="measured hardware profile (default host-cpu)"
    )
    b.add_argument("--threads", type=int, help="intra-op threads (default: the profile's)")
    b.add_argument(
        "--trust-pickle",
        action="store_true",
        help="load a .pt/.pth pickle (loading runs its code: only files you trust)",
    )
    b.add_argument(
        "--out",
        default="runs/bench",
        help="output folder for artifacts and the report (default runs/bench)",
    )
    b.add_argument("--name", help="name for the report (default: the model file's stem)")
    b.add_argument("--json", action="store_true", help="print the measurements as JSON")
    b.add_argument("--no-memory", action="store_true", help="skip peak-memory measurement")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return EXIT_USAGE
    debug = os.environ.get("WORKBENCH_DEBUG") == "1"
    try:
        from workbench.cli import _commands

        return int(getattr(_commands, f"cmd_{args.command}")(args))
    except KeyboardInterrupt:
        sys.stderr.write("interrupted\n")
        return EXIT_INTERRUPTED
    except WorkbenchError as err:
        if debug:
            traceback.print_exc()
        sys.stderr.write(f"workbench: error: {err}\n")
        return EXIT_USAGE if err.user_error else EXIT_FAILED
    except BrokenPipeError:
        return EXIT_OK
    except OSError as err:
        if err.filename is None:  # no file named: a failure of the program itself
            return _internal_error()
        # a file the command reads or writes (a full disk, a read-only folder): one line
        if debug:
            traceback.print_exc()
        sys.stderr.write(f"workbench: error: {output_error(err.filename, err, 'use')}\n")
        return EXIT_FAILED
    except Exception:  # noqa: BLE001 - an internal failure: say so with the traceback
        return _internal_error()


def _internal_error() -> int:
    traceback.print_exc()
    sys.stderr.write("workbench: internal error (the traceback above); please report it\n")
    return EXIT_FAILED


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
