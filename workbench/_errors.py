"""One exception tree for the whole library.

Every error a user can cause is a :class:`WorkbenchError`; each child also subclasses the
builtin it refines, so ``except ValueError`` keeps working for callers that know nothing of us.
The CLI prints user errors as one line and exits 2; anything else is a bug and exits 1.
"""

from __future__ import annotations

__all__ = [
    "BackendError",
    "ConfigError",
    "DataError",
    "DeploymentError",
    "MissingDependencyError",
    "OutputError",
    "StorageError",
    "UnknownNameError",
    "WorkbenchError",
]


class WorkbenchError(Exception):
    """Base of every error raised on purpose by the workbench."""

    #: True when the error is the user's input (exit code 2), not a failure of the run.
    user_error: bool = True


class ConfigError(WorkbenchError, ValueError):
    """A config, profile or argument is malformed.

    ``location`` names the file (and line when known); ``field`` is the dotted path of the key.
    """

    def __init__(
        self,
        message: str,
        *,
        field: str | None = None,
        location: str | None = None,
    ) -> None:
        self.message = message
        self.field = field
        self.location = location
        super().__init__(self._render())

    def _render(self) -> str:
        head = ": ".join(p for p in (self.location, self.field) if p)
        return f"{head}: {self.message}" if head else self.message

    def at(self, *, location: str | None = None, field_prefix: str | None = None) -> ConfigError:
        """Return a copy that also names where the bad value came from."""
        field = self.field
        if field_prefix:
            field = f"{field_prefix}.{field}" if field else field_prefix
        return ConfigError(self.message, field=field, location=location or self.location)


class UnknownNameError(WorkbenchError, KeyError):
    """A name (backend, profile, family, sampler...) that no registry knows."""

    def __init__(self, kind: str, name: str, known: list[str] | tuple[str, ...]) -> None:
        self.kind, self.name, self.known = kind, name, sorted(known)
        super().__init__(f"unknown {kind} {name!r}; known: {', '.join(self.known) or '(none)'}")

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])


class MissingDependencyError(WorkbenchError, ImportError):
    """An optional package is needed for what was asked; the message says how to install it."""


class DataError(WorkbenchError, ValueError):
    """Input data is missing, unreadable or of the wrong shape."""


class StorageError(WorkbenchError, RuntimeError):
    """The study storage cannot be opened or read."""


class OutputError(WorkbenchError, OSError):
    """A file or folder a run writes cannot be written: a full disk, a read-only folder, a file
    where a folder is expected. ``filename`` is the path and ``errno`` the OS error's code."""

    user_error = False

    def __str__(self) -> str:  # OSError would render its errno and filename instead
        return str(self.args[0]) if self.args else ""


class BackendError(WorkbenchError, RuntimeError):
    """A backend could not export, quantize, compile or run a model."""

    user_error = False


class DeploymentError(BackendError):
    """One deployment of one candidate failed; the study records it and goes on."""

    def __init__(self, stage: str, message: str) -> None:
        self.stage = stage
        super().__init__(f"{stage} failed: {message}")
