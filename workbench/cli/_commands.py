"""The CLI's commands; each takes parsed arguments and returns an exit code."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from workbench._errors import ConfigError
from workbench._files import writing
from workbench._json import dumps

if TYPE_CHECKING:
    import optuna
    from optuna.artifacts import FileSystemArtifactStore

    from workbench.hw import HardwareProfile
    from workbench.study import StudyConfig, StudyResults

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


def _out(text: str = "") -> None:
    sys.stdout.write(text + "\n")


def _storage(args: argparse.Namespace, out_dir: str) -> str:
    return args.storage or f"sqlite:///{Path(out_dir) / 'workbench.db'}"


def _set_thread_env(threads: int) -> None:
    """OpenMP reads its thread count once, at library load: set it before torch is imported."""
    if "torch" not in sys.modules:
        os.environ.setdefault("OMP_NUM_THREADS", str(threads))


def cmd_run(args: argparse.Namespace) -> int:
    from workbench._api import run_study
    from workbench.study import load_config, with_overrides

    if args.trials is not None and args.trials < 1:
        raise ConfigError(f"--trials: expected an integer >= 1, got {args.trials}")
    if args.timeout is not None and args.timeout <= 0:
        raise ConfigError(f"--timeout: expected a positive number of seconds, got {args.timeout}")
    cfg = load_config(args.config, overrides=args.overrides)
    cfg = with_overrides(
        cfg, trials=args.trials, storage=args.storage, out_dir=args.out, timeout_s=args.timeout
    )
    _set_thread_env(cfg.hardware[0].resolved_threads())
    events = _ProgressJSON.open(getattr(args, "progress_json", None), cfg)
    result = run_study(
        cfg,
        progress=not args.quiet,
        measure_memory=not args.no_memory,
        on_stage=events.stage if events else None,
        on_trial=events.trial if events else None,
    )
    res = result.results
    if events:
        events.end(res, interrupted=result.interrupted)
    _print_summary(res)
    if result.outputs:
        _out(f"\nreport:   {result.outputs['report']}")
        _out(f"results:  {result.outputs['json']}  {result.outputs['csv']}")
        if "pareto" in result.outputs:
            _out(f"models:   {result.outputs['pareto']}/ (Pareto-optimal artifacts, manifest.json)")
    _out(
        f"storage:  {cfg.storage_url()}  (study {cfg.name!r}; open with optuna.load_study or "
        "optuna-dashboard)"
    )
    if result.interrupted:
        sys.stderr.write(
            f"interrupted: {len(res.completed())} finished trials are stored; run the same command "
            "to resume\n"
        )
        return EXIT_INTERRUPTED
    if not res.completed():
        sys.stderr.write("workbench: error: no trial completed; see the failures above\n")
        return EXIT_FAILED
    return EXIT_OK


class _ProgressJSON:
    """``--progress-json PATH``: one JSON object per line, flushed at once, for tools that watch a
    run
    (the JupyterLab panel). Events: ``start`` (study, storage, total, finished), ``stage`` (text),
    ``trial`` (number, state, values, done, total), ``end`` (status, complete, failed)."""

    def __init__(self, path: str, cfg: StudyConfig) -> None:
        self.path = path
        with writing(path):
            self.fh = open(path, "a", encoding="utf-8", buffering=1)  # noqa: SIM115 - lives as long as the run
        self.total = cfg.trials
        self.done = _finished_before(cfg)
        from workbench.study._storage import _redact

        self.write(
            "start",
            study=cfg.name,
            storage=_redact(cfg.storage_url()),
            total=self.total,
            finished=self.done,
            metric_names=cfg.metric_names(),
            directions=cfg.directions(),
        )

    @classmethod
    def open(cls, path: str | None, cfg: StudyConfig) -> _ProgressJSON | None:
        return cls(path, cfg) if path else None

    def write(self, event: str, **fields: Any) -> None:
        import time

        with writing(self.path):
            self.fh.write(
                dumps({"event": event, "time": round(time.time(), 3), **fields}, indent=None) + "\n"
            )

    def stage(self, text: str) -> None:
        self.write("stage", text=text)

    def trial(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        self.done += 1
        failure = trial.user_attrs.get("failure") if hasattr(trial, "user_attrs") else None
        self.write(
            "trial",
            number=trial.number,
            state=trial.state.name.lower(),
            values=list(trial.values) if trial.values is not None else None,
            failure=failure,
            done=self.done,
            total=self.total,
        )

    def end(self, res: StudyResults, *, interrupted: bool) -> None:
        status = "interrupted" if interrupted else ("done" if res.completed() else "failed")
        self.write(
            "end",
            status=status,
            trials=len(res.trials),
            complete=len(res.completed()),
            failed=len(res.failed()),
        )
        self.fh.close()


def _finished_before(cfg: StudyConfig) -> int:
    """Trials of ``cfg``'s study already counting against its budget (0 for a new study)."""
    import optuna

    from workbench.study import count_finished, open_storage

    try:
        study = optuna.load_study(
            study_name=cfg.name, storage=open_storage(cfg.storage_url(), heartbeat=False)
        )
    except KeyError:
        return 0
    return count_finished(study)


def _print_summary(res: StudyResults) -> None:
    _out(
        f"\nstudy {res.study_name}: {len(res.trials)} trials, {len(res.completed())} complete, "
        f"{len(res.rejected())} rejected before training, {len(res.failed())} failed"
    )
    fronts = res.fronts()
    rows = res.rows()
    for key, f in fronts.items():
        n_points = len(res.points(key)[0])
        sources = {r.get("source") for r in rows if r.get("key") == key and r.get("status") == "ok"}
        predicted = sources == {"predicted"}
        label = "latency PREDICTED (not measured here)" if predicted else "latency measured p50"
        _out(
            f"\n{key}: Pareto front of {len(f.trials)} of {n_points} points (hypervolume "
            f"{f.hypervolume:.4g}; {label})"
        )
        if predicted:
            trust = next((r["trust"] for r in rows if r.get("key") == key and r.get("trust")), "")
            _out(f"  trust: {trust}")
        col = "pred ms" if predicted else "p50 ms"
        _out(f"  {'trial':>5}  {'accuracy':>8}  {col:>9}  architecture")
        by_trial = {t.number: t for t in res.trials}
        for n, (lat, acc) in zip(f.trials, f.points):
            knee = "  <- knee" if n == f.knee else ""
            arch = by_trial[n].user_attrs.get("arch", "")
            _out(f"  {n:>5}  {acc:>8.4f}  {lat:>9.4g}  {arch}{knee}")
    rejected = res.rejected()
    if rejected:
        _out("\nrejected before training (a budget broken; never trained):")
        for t in rejected[:20]:
            _out(f"  trial {t.number}: {'; '.join((t.rejected or {}).get('reasons', []))}")
        if len(rejected) > 20:
            _out(f"  ... and {len(rejected) - 20} more")
    fails = [(t.number, t.failure) for t in res.trials if t.failure]
    if fails:
        _out("\nfailed trials:")
        for number, failure in fails:
            _out(f"  trial {number}: {failure.get('stage')}: {failure.get('reason')}")
    dep_fail = [r for r in res.rows() if r.get("status") == "failed"]
    if dep_fail:
        _out("\nfailed deployments:")
        for r in dep_fail[:20]:
            _out(f"  trial {r['trial']} {r['key']}: {r.get('stage')}: {r.get('error')}")
        if len(dep_fail) > 20:
            _out(f"  ... and {len(dep_fail) - 20} more (results.csv has them all)")


def cmd_show(args: argparse.Namespace) -> int:
    from workbench.study import load_results, open_study

    storage = _existing_storage(args)
    study = open_study(args.study, storage)
    res = load_results(study)
    if args.json:
        _out(dumps(res.to_json()))
        return EXIT_OK
    _out(f"objectives: {', '.join(f'{n} ({d})' for n, d in zip(res.metric_names, res.directions))}")
    _print_summary(res)
    if args.report:
        from workbench._api import write_outputs

        outputs = write_outputs(res, None, Path(args.out) / args.study, _artifact_store(res))
        _out(f"\nreport: {outputs['report']}")
    return EXIT_OK


def _artifact_store(res: StudyResults) -> FileSystemArtifactStore | None:
    path = res.study_attrs.get("artifact_store")
    if not path or not Path(path).is_dir():
        return None
    from optuna.artifacts import FileSystemArtifactStore

    return FileSystemArtifactStore(path)


def cmd_studies(args: argparse.Namespace) -> int:
    from workbench.study import list_study_summaries, open_storage

    storage = _existing_storage(args)
    summaries = list_study_summaries(open_storage(storage, heartbeat=False))
    if not summaries:
        _out(f"no studies in {storage}")
        return EXIT_OK
    _out(f"{'study':<30}{'trials':>8}  {'status':<10}objectives")
    for s in summaries:
        names, dirs = s.metric_names, s.directions
        objectives = (
            ", ".join(f"{n} ({d})" for n, d in zip(names, dirs)) if names else ", ".join(dirs)
        )
        _out(f"{s.name:<30}{s.n_trials:>8}  {s.status:<10}{objectives}")
    return EXIT_OK


def cmd_reproduce(args: argparse.Namespace) -> int:
    """Rebuild stored trials and compare them: 0 all reproduced, 1 one did not, 2 bad input."""
    from workbench.check import reproduce_trials
    from workbench.study import open_study, study_config

    storage = _existing_storage(args)
    # the threads the study's first profile trains and runs with, before torch is imported
    _set_thread_env(study_config(open_study(args.study, storage)).hardware[0].resolved_threads())

    def progress(text: str) -> None:
        sys.stderr.write(f"reproduce {args.study}: {text}\n")
        sys.stderr.flush()

    result = reproduce_trials(
        storage,
        args.study,
        args.trials,
        latency_tolerance=args.latency_tolerance,
        on_stage=progress,
    )
    if args.json:
        _out(dumps(result.to_dict()))
    else:
        _print_reproduction(result.to_dict())
    return EXIT_OK if result.reproduced else EXIT_FAILED


def _print_reproduction(result: dict[str, Any]) -> None:
    _out(
        f"study {result['study']}: accuracy exact where training is deterministic, else McNemar "
        f"at alpha {result['alpha']}; latency rebuilt/stored timed interleaved, "
        f"tolerance {result['latency_tolerance']:.0%}"
    )
    for t in result["trials"]:
        verdict = "reproduced" if t["reproduced"] else "NOT reproduced"
        _out(f"\ntrial {t['trial']} ({t['arch_hash']}, data {t['data_fingerprint']}): {verdict}")
        for fw, acc in t["float_accuracy"].items():
            _out(f"  {fw} float accuracy: stored {_num(acc['stored'])}, now {_num(acc['now'])}")
        threads = t.get("train_threads")
        if threads and threads["stored"] != threads["now"]:
            was = "not stored" if threads["stored"] is None else threads["stored"]
            _out(
                f"  note: torch trained with {was} threads then, {threads['now']} now: weights "
                "can differ in their last bits"
            )
        for d in t["deployments"]:
            mark = "ok " if d["reproduced"] else "BAD"
            if d["error"]:
                _out(f"  {mark} {d['key']}: {d['error']}")
                continue
            ci = d["latency_ci95"]
            _out(
                f"  {mark} {d['key']}: accuracy {_num(d['stored_accuracy'])} -> "
                f"{_num(d['accuracy'])} ({d['accuracy_verdict']}, McNemar p {d['mcnemar_p']:.3g}"
                f", discordant {d['discordant'][0]}/{d['discordant'][1]}); latency x"
                f"{d['latency_ratio']:.3f} [{ci[0]:.3f}, {ci[1]:.3f}]"
                f"{'; identical file' if d['identical_file'] else ''}"
            )


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"


def cmd_profiles(args: argparse.Namespace) -> int:
    from workbench.hw import list_profiles, load_profile

    action = getattr(args, "profiles_command", None)
    if action == "calibrate":
        return _profiles_calibrate(args)
    if action == "accuracy":
        return _profiles_accuracy(args)
    if action == "show":
        p = load_profile(args.name)
        _out(f"{p.name} ({p.kind}, {p.device}) — {p.description}")
        _out(f"  file: {p.path}")
        threads = f"{p.threads}" + (
            f" (= {p.resolved_threads()} here)" if p.threads == "auto" and p.measured else ""
        )
        _out(f"  threads: intra-op {threads}, inter-op {p.inter_op_threads}")
        _out(f"  backends: {', '.join(p.backends)}; precisions: {', '.join(p.precisions)}")
        if p.deploy:
            _out(f"  deploys as: {p.deploy.backend} {p.deploy.precision} ({p.deploy.format})")
        for field in (
            "cores",
            "clock_ghz",
            "simd_bits",
            "memory_bandwidth_gbs",
            "ram_mb",
            "sram_kb",
            "flash_kb",
        ):
            v = getattr(p, field)
            if v is not None:
                _out(f"  {field}: {v.value:g}   [source: {v.source}]")
        for prec, v in p.peak_gops.items():
            _out(f"  peak_gops.{prec}: {v.value:g}   [source: {v.source}]")
        for name, source in p.sources().items():
            if name.startswith("predictor."):
                term = name.split(".", 1)[1]
                v = (
                    p.predictor.efficiency[term.split(".", 1)[1]]
                    if term.startswith("efficiency.")
                    else getattr(p.predictor, term)
                )
                _out(f"  {name}: {v.value:g}   [source: {source}]")
        if p.isa_flags:
            _out(f"  isa_flags: {' '.join(p.isa_flags)}")
        latency = (
            "measured on this host" if p.measured else "PREDICTED (roofline from the numbers above)"
        )
        _out(f"  latency: {latency}")
        if p.measured:
            from workbench.hw import host_info

            h = host_info()
            _out(
                f"  this host: {h.cpu_model}; {h.available_cpus} CPUs available; ISA "
                f"{h.isa_summary}"
            )
            _print_calibration(p)
        return EXIT_OK
    profiles = list_profiles()
    _out(f"{'name':<22}{'kind':<11}{'device':<8}{'latency':<11}{'deploys as':<30}description")
    for p in profiles:
        recipe = f"{p.deploy.backend}-{p.deploy.precision}" if p.deploy else "-"
        _out(
            f"{p.name:<22}{p.kind:<11}{p.device:<8}{'measured' if p.measured else 'predicted':<11}"
            f"{recipe:<30}{p.description}"
        )
    return EXIT_OK


def _print_calibration(profile: HardwareProfile) -> None:
    from workbench.calibrate import calibration_status
    from workbench.study._results import trust_text

    cal, note = calibration_status(profile)
    _out(f"  predictor: {note}")
    if cal is None:
        return
    for e in cal.entries:
        t = cal.trust_for(e.backend, e.precision, e.intra_op)
        _out(
            f"    {e.deployment} @ {e.intra_op} thread(s): fitted {e.created[:19]} on "
            f"{e.fit.get('models')} models "
            f"(in-sample {100 * e.fit.get('within_10pct', 0):.0f}% within ±10%); {trust_text(t)}"
        )


def _progress(enabled: bool) -> Callable[[str], None] | None:
    """Progress lines on stderr: rewritten in place on a terminal, one every 10 s in a log."""
    if not enabled:
        return None
    import time

    last = [0.0]

    def show(text: str) -> None:
        if sys.stderr.isatty():
            sys.stderr.write(f"\r\033[K{text}")
        elif time.monotonic() - last[0] >= 10 or not text.startswith("timing"):
            last[0] = time.monotonic()
            sys.stderr.write(f"{text}\n")
        sys.stderr.flush()

    return show


def _check_count(name: str, value: int | None, lo: int, hi: int) -> None:
    if value is not None and not lo <= value <= hi:
        raise ConfigError(f"--{name}: expected an integer in [{lo}, {hi}], got {value}")


_Report = TypeVar("_Report")


def _timed_profile_job(
    args: argparse.Namespace, job: Callable[..., _Report], max_models: int
) -> tuple[HardwareProfile, _Report]:
    """Load the profile, pin threads, run calibrate_profile or validate_profile with progress."""
    from workbench.hw import load_profile

    _check_count("models", args.models, 3, max_models)
    _check_count("threads", args.threads, 1, 1024)
    prof = load_profile(args.name)
    _set_thread_env(args.threads or (prof.resolved_threads() if prof.measured else 1))
    rep = job(
        prof,
        deployments=args.deploy or None,
        models=args.models,
        threads=args.threads,
        max_time_s=args.max_time,
        seed=args.seed,
        on_progress=_progress(not args.json),
    )
    if sys.stderr.isatty() and not args.json:
        sys.stderr.write("\n")
    return prof, rep


def _profiles_calibrate(args: argparse.Namespace) -> int:
    from workbench.calibrate import calibrate_profile

    prof, rep = _timed_profile_job(args, calibrate_profile, 200)
    if args.json:
        _out(
            json.dumps(
                {
                    "calibration_file": str(rep.path),
                    "entries": [e.to_dict() for e in rep.entries],
                    "notes": rep.notes,
                },
                indent=2,
                default=float,
            )
        )
        return EXIT_OK
    _out(f"calibrated {prof.name} on this host in {rep.seconds:.0f} s: {rep.path}")
    for n in rep.notes:
        _out(f"  note: {n}")
    for e in rep.entries:
        f = e.fit
        nf = f.get("noise_floor", {})
        _out(
            f"  {e.deployment} @ {e.intra_op} thread(s): {f['models']} models, in-sample "
            f"{100 * f['within_10pct']:.0f}% within ±10%, "
            f"median error {100 * f['median_abs_error']:.1f}% (noise floor "
            f"{100 * nf.get('median_rel_diff', float('nan')):.1f}%)"
        )
        km = e.params.kernels
        if km is not None:
            kinds = ", ".join(f"{k} {n}" for k, n in km.samples.items())
            fused = f"; fused by the runtime: {', '.join(km.absorbed)}" if km.absorbed else ""
            _out(
                f"    kernel level: per-kernel samples {kinds}{fused}; per call {km.call_us:.3g} "
                "us, per kernel "
                f"{km.unit_us:.3g} us"
            )
        eff = ", ".join(f"{k} {v:.3g}" for k, v in e.params.efficiency.items())
        label = (
            "roofline (kinds the kernel level does not cover)" if km is not None else "efficiency"
        )
        _out(
            f"    {label}: efficiency of nominal peak/bandwidth {eff}; K_half {e.params.k_half:.3g}"
            "; "
            f"call overhead {e.params.call_us:.3g} us"
        )
    _out(
        f"next: workbench profiles accuracy {prof.name}"
        + (f" --threads {args.threads}" if args.threads else "")
        + "   (checks the predictor on held-out architectures)"
    )
    return EXIT_OK


def _profiles_accuracy(args: argparse.Namespace) -> int:
    from workbench.calibrate import validate_profile

    prof, rep = _timed_profile_job(args, validate_profile, 500)
    if args.json:
        _out(json.dumps(rep.to_dict(), indent=2, default=float))
        return EXIT_OK
    _out(
        f"predictor accuracy on {prof.name} ({rep.threads} thread(s)), held-out architectures "
        "never used for calibration; "
        f"stored in {rep.path}"
    )
    _out(
        f"  {'deployment':<26}{'models':>7}{'within ±10%':>13}{'median |err|':>14}{'Spearman':>10}"
        f"{'noise floor':>13}"
        f"{'noise ±10%':>12}  latency range"
    )
    for dep, r in rep.results.items():
        nf = r["noise_floor"]
        lo, hi = r["latency_range_ms"]
        _out(
            f"  {dep:<26}{r['models']:>7}{100 * r['within_10pct']:>12.0f}"
            f"%{100 * r['median_abs_error']:>13.1f}%"
            f"{r['spearman']:>10.3f}{100 * nf['median_rel_diff']:>12.1f}"
            f"%{100 * nf['within_10pct']:>11.0f}%  {lo:.2f}-{hi:.1f} ms"
        )
    _out(
        "  noise floor: how far two halves of the same measurement run disagree (median over "
        "models), and the share that agree "
        "within ±10% -- what a perfect predictor would score against these measurements"
    )
    drift = next(iter(rep.results.values()))["drift_since_calibration"]
    if drift["models"]:
        _out(
            f"  drift since calibration: {drift['models']} calibration models re-timed now run at "
            f"{drift['median_ratio_now_to_calibration']:.3f}x their calibration-time latency "
            "(machine load changes)"
        )
        for dep, r in rep.results.items():
            adj = r.get("drift_adjusted")
            if adj:
                _out(
                    f"    {dep}: with predictions scaled by that drift, "
                    f"{100 * adj['within_10pct']:.0f}% within ±10%, "
                    f"median |err| {100 * adj['median_abs_error']:.1f}%"
                )
    return EXIT_OK


def cmd_bench(args: argparse.Namespace) -> int:
    from workbench._api import benchmark

    shape = None
    if args.input_shape:
        try:
            shape = tuple(
                int(v) for v in args.input_shape.replace("x", ",").split(",") if v.strip()
            )
        except ValueError:
            raise ConfigError(
                f"--input-shape: expected integers such as 3,224,224, got {args.input_shape!r}"
            ) from None
        if not shape or any(d < 1 for d in shape):
            raise ConfigError(
                f"--input-shape: expected positive integers, got {args.input_shape!r}"
            )
    if args.threads is not None and args.threads < 1:
        raise ConfigError(f"--threads: expected an integer >= 1, got {args.threads}")
    from workbench.hw import load_profile

    prof = load_profile(args.profile)
    _set_thread_env(args.threads or prof.resolved_threads())
    result = benchmark(
        args.model,
        input_shape=shape,
        data=args.data,
        deployments=args.deploy or None,
        profile=prof,
        out=args.out,
        name=args.name,
        threads=args.threads,
        memory=not args.no_memory,
        trust_pickle=args.trust_pickle,
    )
    if args.json:
        _out(json.dumps(json.loads(dumps(result.to_dict())), indent=2))
    else:
        _out(result.table())
        if result.report_path:
            _out(f"\nreport: {result.report_path}")
    return EXIT_OK if any(m.ok for m in result.measurements) else EXIT_FAILED


def cmd_baseline(args: argparse.Namespace) -> int:
    from workbench.check import save_baseline

    if args.baseline_command != "save":
        raise ConfigError("usage: workbench baseline save STUDY --to DIR")
    storage = _existing_storage(args)
    base = save_baseline(storage, args.study, args.to)
    _out(f"baseline of {args.study}: {len(base.points)} point(s) in {base.folder}")
    for line in base.missing:
        _out(f"  without a file: {line}")
    return EXIT_OK


def _existing_storage(args: argparse.Namespace) -> str:
    storage = _storage(args, args.out)
    if storage.startswith("sqlite:///") and not Path(storage[len("sqlite:///") :]).exists():
        raise ConfigError(
            f"no study database at {storage[len('sqlite:///') :]}; pass --storage URL or --out DIR"
        )
    return storage


def cmd_check(args: argparse.Namespace) -> int:
    from workbench.check import (
        Thresholds,
        check_baseline,
        load_baseline,
        to_junit,
        to_markdown,
    )

    Thresholds.parse(args.fail)  # bad input fails before any timing
    if args.time is not None and not args.time > 0:
        raise ConfigError(f"--time: expected seconds > 0, got {args.time}")
    base = load_baseline(args.baseline)
    storage = _existing_storage(args)
    result = check_baseline(
        base,
        storage,
        args.study,
        args.fail,
        time_s=args.time,
        measure_memory=args.memory,
        on_progress=_progress(not args.quiet),
        save=not args.no_save,
    )
    if not args.quiet and sys.stderr.isatty():
        sys.stderr.write("\n")
    if args.junit:
        Path(args.junit).write_text(to_junit(result), encoding="utf-8")
    if args.markdown:
        with open(args.markdown, "a", encoding="utf-8") as summary:
            summary.write(to_markdown(result))
    if args.json:
        _out(dumps(result.to_dict()))
    else:
        for p in result.points:
            for m in p.metrics:
                _out(f"{m.verdict.upper():<12}{p.name} {m.metric}: {m.detail}")
            if p.note:
                _out(f"{'':<12}{p.note}")
        for f in result.fronts:
            dominated = ", ".join(str(t) for t in f.newly_dominated) or "none"
            _out(
                f"{'FRONT':<12}{f.key}: hypervolume {100 * f.hypervolume_change:+.1f}%, newly "
                f"dominated trials: {dominated}"
            )
        for note in result.notes:
            _out(f"note: {note}")
        if result.path is not None:
            _out(f"check result: {result.path} (drawn in the study's report and explorer)")
        _out(result.summary())
    return EXIT_OK if result.passed else EXIT_FAILED
