"""REST handlers under ``<base_url>/workbench/api/``.

Every handler requires Jupyter's authentication (and, for POST, its XSRF check, which
``APIHandler`` applies); storage reads run in a thread pool so the server keeps answering
while a large study loads. Errors are JSON ``{"message": "..."}`` one-liners, never tracebacks.
"""

from __future__ import annotations

import asyncio
import json
import math
import re
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import tornado.web
from jupyter_server.base.handlers import APIHandler
from jupyter_server.utils import url_path_join
from tornado.ioloop import IOLoop, PeriodicCallback

from workbench._errors import ConfigError, StorageError, UnknownNameError, WorkbenchError
from workbench._version import __version__
from workbench.server._jobs import JobManager, PathError, confine_path
from workbench.server._storage import PROCESS_MIN_TRIALS
from workbench.server._views import StudyViews, list_configs, list_profiles
from workbench.server._worker import shared_loader

__all__ = ["WorkbenchContext", "route_table"]

T = TypeVar("T")
_MAX_LOG_WAIT_S = 25.0
_MAX_BODY = 1 << 20  # bytes of a JSON request body
_MAX_DEPTH = 32  # nesting of a JSON request body
_MAX_INT = (1 << 63) - 1  # what SQLite stores


def bounded_int(name: str, raw: str | None, default: int, low: int, high: int) -> int:
    """``raw`` (a request argument or path part) as an integer in ``[low, high]``; anything
    else is a 400 with one line."""
    if raw is None or raw == "":
        return default
    text = raw.strip()
    value = int(text) if re.fullmatch(r"-?[0-9]{1,19}", text) else None
    if value is None or not low <= value <= high:
        shown = raw if len(raw) <= 40 else raw[:40] + "..."
        raise tornado.web.HTTPError(
            400, f"{name} must be an integer in [{low}, {high}], got {shown!r}"
        )
    return value


def json_depth(raw: bytes) -> int:
    """The deepest nesting of arrays and objects in JSON text (strings skipped), found without
    parsing it, so a deep body is refused before the parser recurses."""
    depth = deepest = 0
    in_string = escaped = False
    for ch in raw.decode("utf-8", "replace"):
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "[{":
            depth += 1
            if depth > deepest:
                deepest = depth
        elif ch in "]}":
            depth -= 1
    return deepest


class WorkbenchContext:
    """What the handlers share: the server root, the views, the jobs and the thread pool."""

    def __init__(
        self,
        root: Path,
        *,
        default_storage: str | None,
        jobs_dir: Path,
        max_running: int,
        threads: int = 4,
        index_process: bool = True,
        storage_outside_root: bool = False,
    ) -> None:
        self.root = root.resolve()
        self.loader = shared_loader() if index_process else None
        self.views = StudyViews(
            self.root, default_storage, loader=self.loader, outside_root=storage_outside_root
        )
        self.jobs = JobManager(self.root, jobs_dir, max_running=max_running)
        self.executor = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="workbench-api")
        self._ticker: PeriodicCallback | None = None
        self._prefetching = False

    def _poll_jobs(self) -> None:
        self.jobs.poll()

    def warm(self) -> None:
        """Import the storage stack and open the default storage in the background at server
        start, so the panel's first request does not pay for it."""
        self.executor.submit(_warm_storage, self.views)

    def warm_worker(self, storage: str | None) -> None:
        """Start the index worker process once the panel is in use (its first list of studies)."""
        if self.loader is not None:
            self.loader.warm(self.views.ref(storage).url)

    def prefetch(
        self,
        storage: str | None,
        studies: list[dict[str, Any]],
        min_trials: int = PROCESS_MIN_TRIALS,
    ) -> None:
        """Load the index of the most recently active large study in the background, so selecting
        it right after the list appears finds it ready (at most one at a time). Never while a run
        is active: its latency measurements would share the CPU with the load."""
        big = [s for s in studies if s["n_trials"] >= min_trials]
        if not big or self._prefetching or self.jobs.running_studies():
            return
        name = big[0]["name"]  # the list is ordered by last activity
        self._prefetching = True

        def run() -> None:
            try:
                self.views.storages.index(self.views.ref(storage), name, lean=True)
            except Exception:  # noqa: BLE001 - a real request reports the error
                pass
            finally:
                self._prefetching = False

        self.executor.submit(run)

    def shutdown(self) -> None:
        if self._ticker is not None:
            self._ticker.stop()
        # the shared index worker stays for other servers of this process (atexit stops it)
        self.jobs.shutdown()
        self.executor.shutdown(wait=False, cancel_futures=True)

    def ensure_ticker(self) -> None:
        """Poll jobs every second once the server's loop runs, so finished runs are noticed and
        queued ones started even when no panel is watching."""
        if self._ticker is None:
            self._ticker = PeriodicCallback(self._poll_jobs, 1000)
            self._ticker.start()

    async def blocking(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run ``fn`` in the pool: storage reads never hold the event loop."""
        return await IOLoop.current().run_in_executor(self.executor, lambda: fn(*args, **kwargs))


def _warm_storage(views: StudyViews) -> None:
    try:
        ref = views.ref(None)
        if ref.exists:
            views.storages.storage(ref)
        else:
            import optuna  # noqa: F401
    except Exception:  # noqa: BLE001 - warming is best effort; requests report real errors
        pass


class _Base(APIHandler):
    """JSON in, JSON out, errors as one-line messages."""

    @property
    def wb(self) -> WorkbenchContext:
        return self.settings["workbench_context"]

    async def prepare(self) -> None:  # type: ignore[override]  # as APIHandler's
        await super().prepare()
        self.wb.ensure_ticker()

    def storage_arg(self) -> str | None:
        """The request's ``storage``. Choosing a storage is protected like a POST: a browser
        session (login cookie) must send the XSRF token, so another site cannot make the
        user's browser open a database."""
        raw = self.get_query_argument("storage", None) or None
        if raw is not None:
            self.check_storage_xsrf()
        return raw

    def check_storage_xsrf(self) -> None:
        # Jupyter's own check lets a GET through on its Referer; here the token is required
        if self.token_authenticated or self.settings.get("disable_check_xsrf", False):
            return
        try:
            tornado.web.RequestHandler.check_xsrf_cookie(self)
        except tornado.web.HTTPError:
            raise tornado.web.HTTPError(
                403, "a request that chooses its storage must send the XSRF token (X-XSRFToken)"
            ) from None

    def int_arg(self, name: str, default: int, low: int = -_MAX_INT, high: int = _MAX_INT) -> int:
        return bounded_int(name, self.get_query_argument(name, None), default, low, high)

    def float_arg(self, name: str, default: float, low: float, high: float) -> float:
        raw = self.get_query_argument(name, None)
        if raw is None or raw == "":
            return default
        try:
            value = float(raw)
        except ValueError:
            value = math.nan
        if not low <= value <= high:  # NaN fails too
            raise tornado.web.HTTPError(400, f"{name} must be a number in [{low:g}, {high:g}]")
        return value

    def body(self) -> dict[str, Any]:
        raw = self.request.body
        if not raw:
            return {}
        if len(raw) > _MAX_BODY:
            raise tornado.web.HTTPError(413, f"the request body is over {_MAX_BODY} bytes")
        if json_depth(raw) > _MAX_DEPTH:
            raise tornado.web.HTTPError(
                400, f"the request body nests deeper than {_MAX_DEPTH} levels"
            )
        try:
            data = json.loads(raw)
        except (ValueError, RecursionError):
            raise tornado.web.HTTPError(400, "the request body is not JSON") from None
        if not isinstance(data, dict):
            raise tornado.web.HTTPError(400, "the request body must be a JSON object")
        return data

    def send(self, data: Any, status: int = 200) -> None:
        self.set_status(status)
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps(data, allow_nan=False, default=str))

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        """A one-line ``message`` (and ``reason``); the traceback stays in the server log."""
        exc = kwargs.get("exc_info", (None, None, None))[1]
        if isinstance(exc, tornado.web.HTTPError):
            message = (
                exc.log_message % exc.args
                if exc.log_message and exc.args
                else (exc.log_message or self._reason)
            )
        elif exc is not None:
            message = f"internal error: {type(exc).__name__}: {exc}"
        else:
            message = self._reason
        self.set_header("Content-Type", "application/json")
        self.finish(
            json.dumps(
                {
                    "message": str(message).strip().splitlines()[0] if message else self._reason,
                    "reason": self._reason,
                }
            )
        )

    def _handle_request_exception(self, e: BaseException) -> None:
        # library errors are the user's: answer 4xx with their one-line message
        mapped = _map_error(e)
        if mapped is not None:
            status, message = mapped
            if not self._finished:
                self.log.info(
                    "workbench: %s %s -> %s: %s",
                    self.request.method,
                    self.request.path,
                    status,
                    message,
                )
                self.set_status(status)
                self.set_header("Content-Type", "application/json")
                self.finish(json.dumps({"message": message, "reason": self._reason}))
            return
        super()._handle_request_exception(e)


def _map_error(e: BaseException) -> tuple[int, str] | None:
    if isinstance(e, PathError):
        return e.status, str(e)
    if isinstance(e, UnknownNameError):
        return 404, str(e)
    if isinstance(e, (ConfigError, StorageError)):
        return 400, str(e)
    if isinstance(e, WorkbenchError):
        return 400, str(e)
    if isinstance(e, KeyError) and not isinstance(e, UnknownNameError):
        return 404, str(e.args[0]) if e.args else "not found"
    return None


class StatusHandler(_Base):
    """Cheap liveness and settings: answered on the event loop without touching storage."""

    @tornado.web.authenticated
    def get(self) -> None:
        jobs = self.wb.jobs.list()
        self.send(
            {
                "version": __version__,
                "root": str(self.wb.root),
                "storage": self.wb.views.ref(self.storage_arg()).to_dict(self.wb.root),
                "jobs": {
                    "running": sum(j.status in ("running", "cancelling") for j in jobs),
                    "queued": sum(j.status == "queued" for j in jobs),
                },
                "time": time.time(),
            }
        )


class StudiesHandler(_Base):
    @tornado.web.authenticated
    async def get(self) -> None:
        self.wb.jobs.poll()
        running = self.wb.jobs.running_studies()
        data = await self.wb.blocking(self.wb.views.studies, self.storage_arg(), running)
        self.send(data)
        if any(s["n_trials"] >= PROCESS_MIN_TRIALS for s in data["studies"]):
            self.wb.warm_worker(self.storage_arg())
        self.wb.prefetch(self.storage_arg(), data["studies"])


class StudyHandler(_Base):
    @tornado.web.authenticated
    async def get(self, name: str) -> None:
        self.send(await self.wb.blocking(self.wb.views.study, self.storage_arg(), name))


class TrialsHandler(_Base):
    @tornado.web.authenticated
    async def get(self, name: str) -> None:
        self.send(
            await self.wb.blocking(
                self.wb.views.trials,
                self.storage_arg(),
                name,
                offset=self.int_arg("offset", 0),
                limit=self.int_arg("limit", 50),
                sort=self.get_query_argument("sort", "number"),
                order=self.get_query_argument("order", "desc"),
                state=self.get_query_argument("state", None) or None,
            )
        )


class TrialHandler(_Base):
    @tornado.web.authenticated
    async def get(self, name: str, number: str) -> None:
        self.send(
            await self.wb.blocking(
                self.wb.views.trial,
                self.storage_arg(),
                name,
                bounded_int("trial number", number, 0, 0, _MAX_INT),
            )
        )


class PointsHandler(_Base):
    """The Pareto plot's data: compact arrays, computed off the event loop and cached."""

    @tornado.web.authenticated
    async def get(self, name: str) -> None:
        body, hit = await self.wb.blocking(
            self.wb.views.points,
            self.storage_arg(),
            name,
            profile=self.get_query_argument("profile", None) or None,
            deployment=self.get_query_argument("deployment", None) or None,
            x=self.get_query_argument("x", None) or None,
            y=self.get_query_argument("y", None) or None,
        )
        self.set_header("Content-Type", "application/json")
        self.set_header("X-Workbench-Cache", "hit" if hit else "miss")
        self.finish(body)


class ProfilesHandler(_Base):
    @tornado.web.authenticated
    async def get(self) -> None:
        self.send(await self.wb.blocking(list_profiles, self.wb.root))


class ConfigsHandler(_Base):
    """Study configs (``search/*.yaml``) under the root; POST validates one without running it."""

    @tornado.web.authenticated
    async def get(self) -> None:
        self.send({"configs": await self.wb.blocking(list_configs, self.wb.root)})

    @tornado.web.authenticated
    async def post(self) -> None:
        path = confine_path(self.wb.root, self.body().get("path", ""))
        self.send(await self.wb.blocking(_check_config, path, self.wb.root))


def _check_config(path: Path, root: Path) -> dict[str, Any]:
    from workbench.study import load_config

    cfg = load_config(path, import_code=False)  # user code runs in the job's process only
    return {
        "path": path.relative_to(root).as_posix(),
        "study": cfg.name,
        "trials": cfg.trials,
        "objectives": list(cfg.objectives),
        "storage": cfg.storage,
        "storage_url": cfg.storage_url(),
        "deployments": [d.name for d in cfg.deployments],
    }


class JobsHandler(_Base):
    @tornado.web.authenticated
    def get(self) -> None:
        self.wb.jobs.poll()
        self.send({"jobs": [j.to_dict() for j in self.wb.jobs.list()]})

    @tornado.web.authenticated
    async def post(self) -> None:
        """Launch ``workbench run`` of a root-relative config; a malformed config is refused (400)
        with the validator's one-line message before anything starts."""
        data = self.body()
        path = confine_path(self.wb.root, data.get("config") or data.get("path") or "")
        trials = data.get("trials")
        if trials is not None and (
            isinstance(trials, bool) or not isinstance(trials, int) or not 1 <= trials <= 1_000_000
        ):
            raise tornado.web.HTTPError(
                400, f"trials must be an integer in [1, 1000000], got {trials!r}"
            )
        storage_req = data.get("storage") or None
        if storage_req is not None and not isinstance(storage_req, str):
            raise tornado.web.HTTPError(400, "storage must be a URL string")
        info = await self.wb.blocking(_check_config, path, self.wb.root)
        # the panel's storage applies unless the config names its own (as --storage would
        # override it)
        storage_arg = None
        if info["storage"] is None and storage_req:
            ref = self.wb.views.ref(storage_req)
            storage_arg = ref.url
        else:
            # the config's own storage, as `workbench run` in the root would use it
            ref = self.wb.views.ref(info["storage_url"], confine=False)
        job = self.wb.jobs.submit(
            path, study=info["study"], storage=ref.display, trials=trials, storage_arg=storage_arg
        )
        self.send(job.to_dict(), status=201)


class JobHandler(_Base):
    @tornado.web.authenticated
    def get(self, jid: str) -> None:
        self.wb.jobs.poll()
        self.send(self.wb.jobs.get(jid).to_dict())


class JobCancelHandler(_Base):
    @tornado.web.authenticated
    def post(self, jid: str) -> None:
        """SIGINT (finished trials stay stored); ``{"force": true}`` kills a run that does not
        stop."""
        job = self.wb.jobs.cancel(jid, force=bool(self.body().get("force")))
        self.wb.jobs.poll()
        self.send(job.to_dict(), status=202)


class JobLogHandler(_Base):
    """The run's log from a byte offset; with ``wait=S`` it holds the request until new text
    arrives or the run ends (long polling), so the panel streams the log without busy polling."""

    @tornado.web.authenticated
    async def get(self, jid: str) -> None:
        offset = self.int_arg("offset", 0, low=0)
        wait = min(self.float_arg("wait", 0.0, 0.0, 3600.0), _MAX_LOG_WAIT_S)
        deadline = time.monotonic() + wait
        while True:
            self.wb.jobs.poll()
            chunk = self.wb.jobs.read_log(jid, offset)
            if (
                chunk["text"]
                or chunk["final"]
                or time.monotonic() >= deadline
                or self._client_gone()
            ):
                break
            await asyncio.sleep(0.25)
        self.send(chunk)

    def _client_gone(self) -> bool:
        stream = getattr(self.request.connection, "stream", None)
        return bool(stream is not None and stream.closed())


def route_table(base_url: str) -> list[tuple[str, type[_Base]]]:
    """URL patterns of every endpoint."""

    def u(*parts: str) -> str:
        return url_path_join(base_url, "workbench", "api", *parts)

    study = r"(?P<name>[^/]+)"
    job = r"(?P<jid>[0-9a-f]{6,32})"
    return [
        (u("status"), StatusHandler),
        (u("studies"), StudiesHandler),
        (u("studies", study), StudyHandler),
        (u("studies", study, "trials"), TrialsHandler),
        (u("studies", study, "trials", r"(?P<number>\d+)"), TrialHandler),
        (u("studies", study, "points"), PointsHandler),
        (u("profiles"), ProfilesHandler),
        (u("configs"), ConfigsHandler),
        (u("jobs"), JobsHandler),
        (u("jobs", job), JobHandler),
        (u("jobs", job, "cancel"), JobCancelHandler),
        (u("jobs", job, "log"), JobLogHandler),
    ]
