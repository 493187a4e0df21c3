"""Created sandbox templates, persisted as one small JSON file shared by every process.

The web process creates templates and the Celery worker sends them, so the catalogue cannot live
in memory. Writes take an exclusive `flock` on a side lock file, write a temporary file and
`os.replace` it over the old one, so a reader never sees half a file and two writers never lose
each other's changes. Approval is a state transition done under that lock: whichever process
moves a template from PENDING to APPROVED first is the one that reports it.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

from whatsapp.sandbox.catalogue import SandboxTemplate

try:
    import fcntl
except ImportError:  # pragma: no cover - non-POSIX systems only get the in-process lock
    fcntl = None  # type: ignore[assignment]

FILE_NAME = "templates.json"
LOCK_NAME = "templates.lock"
_FORMAT_VERSION = 1

T = TypeVar("T")


class DuplicateTemplateError(Exception):
    """A template with this name already exists in this language."""


class TemplateStore:
    """Created templates under `state_dir` (the directory is created on first write)."""

    def __init__(self, state_dir: str | os.PathLike[str]) -> None:
        self.state_dir = Path(state_dir)
        self.path = self.state_dir / FILE_NAME
        self._thread_lock = threading.Lock()

    @contextlib.contextmanager
    def _locked(self, *, exclusive: bool) -> Iterator[None]:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        with self._thread_lock, open(self.state_dir / LOCK_NAME, "a+b") as lock_file:
            if fcntl is not None:
                fcntl.flock(lock_file.fileno(), fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
            try:
                yield
            finally:
                if fcntl is not None:
                    fcntl.flock(lock_file.fileno(), fcntl.LOCK_UN)

    def _read(self) -> list[SandboxTemplate]:
        try:
            raw = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return []
        data = json.loads(raw) if raw.strip() else {}
        return [SandboxTemplate.from_json(item) for item in data.get("templates", [])]

    def _write(self, templates: list[SandboxTemplate]) -> None:
        document = {
            "version": _FORMAT_VERSION,
            "templates": [template.to_json() for template in templates],
        }
        descriptor, temporary = tempfile.mkstemp(
            prefix=".templates-", suffix=".json", dir=self.state_dir
        )
        try:
            with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
                json.dump(document, handle, ensure_ascii=False, indent=1)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temporary, self.path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temporary)
            raise

    def _update(self, change: Callable[[list[SandboxTemplate]], T]) -> T:
        with self._locked(exclusive=True):
            templates = self._read()
            result = change(templates)
            self._write(templates)
            return result

    def all(self) -> list[SandboxTemplate]:
        with self._locked(exclusive=False):
            return self._read()

    def find(self, name: str, language: str) -> SandboxTemplate | None:
        for template in self.all():
            if template.name == name and template.language == language:
                return template
        return None

    def add(self, template: SandboxTemplate) -> None:
        """Store a new template; raises DuplicateTemplateError if name + language exist."""

        def append(templates: list[SandboxTemplate]) -> None:
            for existing in templates:
                if existing.name == template.name and existing.language == template.language:
                    raise DuplicateTemplateError(f"{template.name} ({template.language})")
            templates.append(template)

        self._update(append)

    def approve_due(self, now: float) -> list[SandboxTemplate]:
        """Move every PENDING template whose `approve_at` has passed to APPROVED, and return the
        ones this call moved (so exactly one caller, in one process, reports each approval)."""
        pending_due = [
            template
            for template in self.all()
            if template.status == "PENDING"
            and template.approve_at is not None
            and template.approve_at <= now
        ]
        if not pending_due:
            return []

        def approve(templates: list[SandboxTemplate]) -> list[SandboxTemplate]:
            approved = []
            for template in templates:
                due = template.approve_at is not None and template.approve_at <= now
                if template.status == "PENDING" and due:
                    template.status = "APPROVED"
                    approved.append(template)
            return approved

        return self._update(approve)

    def set_status(self, template_id: str, status: str) -> SandboxTemplate | None:
        """Force a status (e.g. PAUSED for a demo of template pausing)."""

        def change(templates: list[SandboxTemplate]) -> SandboxTemplate | None:
            for template in templates:
                if template.id == template_id:
                    template.status = status
                    return template
            return None

        return self._update(change)

    def dump(self) -> dict[str, Any]:
        """The raw document, for debugging and tests."""
        with self._locked(exclusive=False):
            try:
                return json.loads(self.path.read_text(encoding="utf-8"))
            except FileNotFoundError:
                return {"version": _FORMAT_VERSION, "templates": []}
