"""StudyMonitor: run a search in a background thread of the kernel and watch it live.

The search is :func:`workbench.run_study` itself (progress output off), in a daemon thread, so
the notebook stays usable. After every trial the monitor re-reads the study's index and updates
the progress bar, the trials-per-minute rate and the Pareto fronts of the objective profile in
place; the stage the current trial is in shows as it changes. Stop lets the current trial
finish; pressing it again (``stop(now=True)``) interrupts the trial at its next stage, and an
interrupted trial does not count, so starting again resumes the study where it was.
"""

from __future__ import annotations

import collections
import html
import os
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from typing import Any

import ipywidgets as w

from workbench.report._study_figures import explorer_info
from workbench.study._storage import _redact
from workbench.widgets._view import ScatterView

__all__ = ["StudyMonitor"]

_STATES = ("idle", "running", "stopping", "finished", "stopped", "failed")


class StudyMonitor(w.VBox):
    """Run (or resume) the study a config describes, in the background, with live progress.

    ``config`` is a YAML path, a mapping or a :class:`~workbench.study.StudyConfig`;
    ``trials``, ``storage``, ``out_dir`` and ``timeout_s`` override the config's, and
    ``overrides`` are ``key=value`` strings as on the command line (``train.epochs=2``).
    """

    def __init__(
        self,
        config: Any,
        *,
        trials: int | None = None,
        storage: str | None = None,
        out_dir: str | None = None,
        timeout_s: float | None = None,
        overrides: Sequence[str] = (),
        measure_memory: bool = True,
        write: bool = True,
        x: str = "latency",
        y: str = "accuracy",
    ) -> None:
        from workbench.study import StudyConfig, load_config, with_overrides

        if isinstance(config, StudyConfig):
            cfg = config
            if overrides:
                raise ValueError(
                    "overrides apply to a YAML path or a mapping; change the StudyConfig with "
                    "dataclasses.replace"
                )
        elif isinstance(config, (str, os.PathLike, Mapping)):
            cfg = load_config(config, overrides=overrides)
        else:
            raise TypeError(
                "config must be a YAML path, a mapping or a StudyConfig, "
                f"got {type(config).__name__}"
            )
        self.config = with_overrides(
            cfg, trials=trials, storage=storage, out_dir=out_dir, timeout_s=timeout_s
        )
        self.measure_memory = measure_memory
        self.write = write
        self.x, self.y = x, y
        self.state = "idle"
        self.result: Any = None
        self.error: BaseException | None = None
        self.new_trials = 0
        self.finished_before = 0
        self.started_at: float | None = None
        self.stage_text = ""
        #: every stage the run went through, oldest first (the last few hundred)
        self.stage_log: collections.deque[str] = collections.deque(maxlen=500)
        self.refreshes = 0
        self._thread: threading.Thread | None = None
        self._stop_after_trial = threading.Event()
        self._stop_now = threading.Event()
        self._lock = threading.Lock()

        cfg = self.config
        self.title = w.HTML(
            f"<b>Study monitor</b> · <code>{html.escape(cfg.name)}</code> · "
            f"{', '.join(o for o in cfg.objectives)} · "
            f"{', '.join(d.name for d in cfg.deployments)} on "
            f"{', '.join(p.name for p in cfg.hardware)} · "
            f"storage <code>{html.escape(_redact(cfg.storage_url()))}</code>"
        )
        self.progress = w.IntProgress(
            value=0,
            min=0,
            max=max(1, cfg.trials),
            description="trials",
            bar_style="info",
            layout=w.Layout(width="420px"),
        )
        self.stats = w.HTML()
        self.stage = w.HTML()
        self.start_button = w.Button(
            description="Start", icon="play", button_style="success", layout=w.Layout(width="auto")
        )
        self.stop_button = w.Button(
            description="Stop",
            icon="stop",
            button_style="warning",
            disabled=True,
            layout=w.Layout(width="auto"),
        )
        self.start_button.on_click(lambda _b: self.start())
        self.stop_button.on_click(lambda _b: self.stop(now=self._stop_after_trial.is_set()))
        self.message = w.HTML()
        self.view = ScatterView(max_facets=1, height=420)
        super().__init__(
            [
                self.title,
                w.HBox([self.progress, self.start_button, self.stop_button]),
                self.stats,
                self.stage,
                self.message,
                self.view.figure,
            ]
        )
        self.add_class("wb-monitor")
        self._render_stats()

    @property
    def figure(self) -> Any:
        return self.view.figure

    # -- control -----------------------------------------------------------------------------
    def start(self) -> StudyMonitor:
        """Start (or resume) the search in a background thread; returns at once."""
        with self._lock:
            if self._thread is not None and self._thread.is_alive():
                raise RuntimeError(f"study {self.config.name!r} is already running in this monitor")
            self._stop_after_trial.clear()
            self._stop_now.clear()
            self.result, self.error = None, None
            self.new_trials = 0
            self.state = "running"
            self.started_at = time.perf_counter()
            self._thread = threading.Thread(
                target=self._run, name=f"workbench-study-{self.config.name}", daemon=True
            )
            self.start_button.disabled = True
            self.stop_button.disabled = False
            self.stop_button.description = "Stop"
            self.message.value = self._pool_note()
            self._thread.start()
        return self

    def stop(self, now: bool = False) -> None:
        """Stop after the current trial; ``now`` interrupts the trial at its next stage (it does
        not count)."""
        if self.state not in ("running", "stopping"):
            return
        self._stop_after_trial.set()
        if now:
            self._stop_now.set()
        self.state = "stopping"
        self.stop_button.description = "Stop now" if not now else "Stopping…"
        self.stop_button.disabled = now
        self.message.value = (
            "<span>stopping: interrupting the current trial at its next stage</span>"
            if now
            else "<span>stopping after the current trial "
            "(press <b>Stop now</b> to interrupt it)</span>"
        )
        self._render_stats()

    @staticmethod
    def _pool_note() -> str:
        """A caveat when PyTorch already ran in this kernel with several threads: its idle pool
        sits beside the one the study's thread creates, which slowed eager PyTorch timings by
        about a third on a two-core host (ONNX Runtime sessions have pools of their own and are
        unaffected)."""
        torch = sys.modules.get("torch")
        if torch is None or torch.get_num_threads() <= 1:
            return ""
        return (
            "<span style='color:#666'>note: PyTorch is already loaded in this kernel with several "
            "threads; for the cleanest eager-PyTorch timings run the study in a fresh kernel or "
            "with <code>workbench run</code></span>"
        )

    def wait(self, timeout: float | None = None) -> Any:
        """Block until the run ends; return its :class:`~workbench.study.RunResult` (re-raise its
        error)."""
        thread = self._thread
        if thread is None:
            raise RuntimeError("the monitor has not been started: call start() first")
        thread.join(timeout)
        if thread.is_alive():
            raise TimeoutError(f"study {self.config.name!r} still running after {timeout} s")
        if self.error is not None:
            raise self.error
        return self.result

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def trials_per_minute(self) -> float | None:
        if self.started_at is None or not self.new_trials:
            return None
        return self.new_trials / max(1e-9, (time.perf_counter() - self.started_at) / 60)

    def explorer(self, **kwargs: Any) -> Any:
        """A :class:`ParetoExplorer` on this study."""
        from workbench.widgets._explorer import ParetoExplorer

        return ParetoExplorer(self.config.name, self.config.storage_url(), **kwargs)

    # -- the worker thread -------------------------------------------------------------------
    def _run(self) -> None:
        from workbench._api import run_study

        try:
            self.finished_before = self._count_finished()
            self._render_stats()
            self.result = run_study(
                self.config,
                progress=False,
                on_stage=self._on_stage,
                on_trial=self._on_trial,
                should_stop=self._stop_after_trial.is_set,
                measure_memory=self.measure_memory,
                write=self.write,
            )
            stopped = self._stop_after_trial.is_set() or self.result.interrupted
            self.state = "stopped" if stopped else "finished"
        except BaseException as err:  # noqa: BLE001 - reported in the widget and by wait()
            self.error = err
            self.state = "failed"
        finally:
            self.stage_text = ""
            self.start_button.disabled = False
            self.start_button.description = (
                "Resume" if self.state in ("stopped", "failed") else "Start"
            )
            self.stop_button.disabled = True
            self.stop_button.description = "Stop"
            if self.state == "failed":
                kind, text = type(self.error).__name__, str(self.error)
                self.message.value = (
                    f"<span style='color:#b00'>{html.escape(kind)}: {html.escape(text)}</span>"
                )
            elif self.state == "stopped":
                self.message.value = (
                    "<span>stopped; press <b>Resume</b> (or call start()) to continue the "
                    "study</span>"
                )
            else:
                out = (self.result.outputs or {}).get("report") if self.result is not None else None
                where = f"; report: <code>{html.escape(str(out))}</code>" if out else ""
                self.message.value = f"<span>finished{where}</span>"
            self._refresh_front()
            self._render_stats()

    def _count_finished(self) -> int:
        import optuna

        from workbench.study import count_finished, open_storage

        st = open_storage(self.config.storage_url(), heartbeat=False)
        try:
            study = optuna.load_study(study_name=self.config.name, storage=st)
        except KeyError:
            return 0
        return count_finished(study)

    def _on_stage(self, text: str) -> None:
        if self._stop_now.is_set():
            raise KeyboardInterrupt  # interrupts the trial; the study records it as not finished
        self.stage_text = text
        self.stage_log.append(text)
        self.stage.value = f"<span style='color:#555'>now: {html.escape(text)}</span>"

    def _on_trial(self, _study: Any, trial: Any) -> None:
        state = trial.state.name
        counts = state in ("COMPLETE", "PRUNED") or (
            state == "FAIL" and "failure" in trial.user_attrs
        )
        if counts:
            self.new_trials += 1
        self._refresh_front()
        self._render_stats()

    def _refresh_front(self) -> None:
        """Re-read the study index and redraw the fronts of the objective profile."""
        from workbench.widgets._source import resolve_study

        try:
            index = resolve_study(self.config.name, self.config.storage_url()).index()
        except Exception:  # noqa: BLE001 - the study may not exist yet (first trial still running)
            return
        if not len(index) or not index.keys():
            return
        profile = self.config.objective_profile_name()
        info = explorer_info(
            index, x=self.x, y=self.y, profile=profile if profile in index.profiles() else ""
        )
        self.view.title = (
            f"{self.config.name}: Pareto fronts on {info.profile} after {len(index)} trials "
            "(updates live)"
        )
        self.view.apply(info)
        self.refreshes += 1

    def _render_stats(self) -> None:
        done = self.finished_before + self.new_trials
        self.progress.max = max(1, self.config.trials)
        self.progress.value = min(done, self.progress.max)
        self.progress.bar_style = {
            "failed": "danger",
            "finished": "success",
            "stopped": "warning",
        }.get(self.state, "info")
        rate = self.trials_per_minute()
        elapsed = time.perf_counter() - self.started_at if self.started_at is not None else 0.0
        parts = [
            f"<b>{self.state}</b>",
            f"{done}/{self.config.trials} trials finished",
            f"{self.new_trials} in this run",
            f"{rate:.2f} trials/min" if rate is not None else "– trials/min",
            f"{elapsed:.0f} s elapsed",
        ]
        self.stats.value = "<span>" + " · ".join(parts) + "</span>"
        if not self.stage_text:
            self.stage.value = ""
