"""Jupyter server extension: the REST API behind the JupyterLab Workbench panel.

Endpoints live under ``<base_url>/workbench/api/``:

================================  =======================================================
``GET  status``                   version, root, storage shown, running jobs (cheap)
``GET  studies``                  studies in a storage with counts, best figures, status
``GET  studies/NAME``             one study: objectives, measurement keys and sources
``GET  studies/NAME/trials``      a page of the trial table (offset, limit, sort, order)
``GET  studies/NAME/trials/N``    one trial with its measurements
``GET  studies/NAME/points``      Pareto plot data for a profile and deployment, x and y
``GET  profiles``                 hardware profiles (measured or simulated)
``GET  configs``, ``POST``        ``search/*.yaml`` under the root; validate one
``GET  jobs``, ``POST``           background runs; launch ``workbench run CONFIG``
``GET  jobs/ID``, ``jobs/ID/log`` a run's progress; its log from an offset (long poll)
``POST jobs/ID/cancel``           SIGINT the run (finished trials stay stored)
================================  =======================================================

Every endpoint takes ``?storage=URL`` where it reads studies (default: ``WorkbenchServer.storage``,
else ``sqlite:///runs/workbench.db`` under the server root). SQLite storages are opened read-only
and must lie under the root unless ``allow_storage_outside_root`` is set; with a login cookie a
request naming a storage must send the XSRF token, as a POST does. Malformed requests answer 4xx
with a one-line ``message``. Configure with traitlets, e.g. ``c.WorkbenchServer.max_running_jobs
= 1``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from jupyter_server.extension.application import ExtensionApp
from traitlets import Bool, Int, Unicode

from workbench._version import __version__

__all__ = ["WorkbenchServer", "__version__", "_jupyter_server_extension_points"]


class WorkbenchServer(ExtensionApp):
    """The Workbench server extension and its settings (``c.WorkbenchServer.<name>``)."""

    name = "workbench_server"
    load_other_extensions = True

    storage = Unicode(
        "",
        help="Default study storage URL; relative SQLite paths are relative to the server root. "
        "Empty: sqlite:///runs/workbench.db, where `workbench run` writes when started in the "
        "root.",
    ).tag(config=True)
    allow_storage_outside_root = Bool(
        False,
        help="Let the panel's storage setting (the ?storage= of a request) name SQLite files "
        "outside the server root. Off: such requests are refused with one line, whether or not "
        "the file exists. The default storage above is always read.",
    ).tag(config=True)
    max_running_jobs = Int(
        1,
        help="Runs executing at once; more wait queued (concurrent runs would skew each other's "
        "latencies).",
    ).tag(config=True)
    jobs_dir = Unicode(
        "", help="Folder for run logs and progress files (default: <runtime dir>/workbench-jobs)."
    ).tag(config=True)
    threads = Int(4, help="Threads reading storages off the event loop.").tag(config=True)
    index_process = Bool(
        True,
        help="Load study indexes in a worker process (large studies never pause the server's "
        "event loop).",
    ).tag(config=True)

    context: Any = None

    def initialize_settings(self) -> None:
        from workbench.server._handlers import WorkbenchContext

        assert self.serverapp is not None
        root = Path(self.serverapp.root_dir).expanduser()
        jobs_dir = Path(self.jobs_dir or Path(self.serverapp.runtime_dir) / "workbench-jobs")
        self.context = WorkbenchContext(
            root,
            default_storage=self.storage or None,
            storage_outside_root=self.allow_storage_outside_root,
            jobs_dir=jobs_dir,
            max_running=self.max_running_jobs,
            threads=self.threads,
            index_process=self.index_process,
        )
        self.settings["workbench_context"] = self.context
        self.context.warm()
        self.log.info("workbench: API at %sworkbench/api/ (root %s)", self.serverapp.base_url, root)

    def initialize_handlers(self) -> None:
        from workbench.server._handlers import route_table

        self.handlers.extend(route_table("/"))

    async def stop_extension(self) -> None:
        """Interrupt running jobs (finished trials stay stored) and stop the index worker."""
        if self.context is not None:
            self.context.shutdown()


def _jupyter_server_extension_points() -> list[dict[str, Any]]:
    return [{"module": "workbench.server", "app": WorkbenchServer}]
