"""Optimistic Iceberg commits that do not fail under concurrency: refresh, recompute, retry.

pyiceberg 0.12 already re-bases a commit whose base moved when nothing it read changed (an append into another
partition), but it raises when the outcome may depend on what a concurrent writer did: `ValidationException`
(files added or deleted that match this write's filter), `CommitFailedException` after its own few retries,
`CommitStateUnknownException` (the catalog did not answer; the commit may or may not have landed). The only
safe reaction to those is to read again and decide again, so every write in the lake is a function
`attempt() -> T` that loads fresh tables, reads what it depends on, computes, and commits; `with_commit_retry`
runs it until it commits, with exponential backoff and full jitter, and raises `CommitConflict` (which names
the write and the last error) after a bounded number of attempts. Every write is idempotent, so running an
attempt again after an unknown outcome is safe.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from pyiceberg.exceptions import CommitFailedException, CommitStateUnknownException, ValidationException
from sqlalchemy.exc import OperationalError

T = TypeVar("T")
log = logging.getLogger(__name__)

#: Messages of a SQL catalog's database that mean "busy, try again" (SQLite's single writer, PostgreSQL's
#: serialization failures); any other database error is not a conflict and is raised at once.
_TRANSIENT_DB = ("database is locked", "database table is locked", "could not serialize", "deadlock detected")


class CommitConflict(RuntimeError):
    """A lake write still conflicted with concurrent writers after every attempt."""


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 30
    first_wait_s: float = 0.05
    max_wait_s: float = 2.0

    def wait(self, attempt: int) -> float:
        """Full jitter (AWS architecture blog, "Exponential Backoff And Jitter"): uniform in [0, cap]."""
        return random.uniform(0, min(self.max_wait_s, self.first_wait_s * 2**attempt))


DEFAULT_POLICY = RetryPolicy()


@dataclass
class CommitStats:
    """Conflicts met and retried by one process (reported by landings and measured by the tests)."""

    retries: int = 0
    conflicts: dict[str, int] | None = None

    def count(self, err: BaseException) -> None:
        self.retries += 1
        self.conflicts = self.conflicts or {}
        name = type(err).__name__
        self.conflicts[name] = self.conflicts.get(name, 0) + 1


STATS = CommitStats()


def is_conflict(err: BaseException) -> bool:
    if isinstance(err, (CommitFailedException, CommitStateUnknownException, ValidationException)):
        return True
    return isinstance(err, OperationalError) and any(m in str(err).lower() for m in _TRANSIENT_DB)


def with_commit_retry(what: str, attempt: Callable[[], T], policy: RetryPolicy = DEFAULT_POLICY) -> T:
    """Run `attempt` (which must re-read everything it depends on) until it commits without a conflict."""
    for n in range(policy.attempts):
        try:
            return attempt()
        except Exception as err:
            if not is_conflict(err):
                raise
            STATS.count(err)
            if n + 1 == policy.attempts:
                raise CommitConflict(
                    f"{what}: still conflicting with concurrent writers after {policy.attempts} attempts; "
                    f"last error: {type(err).__name__}: {err}"
                ) from err
            pause = policy.wait(n)
            log.info("%s: %s, retrying in %.2f s (%d/%d)", what, type(err).__name__, pause, n + 1, policy.attempts)
            time.sleep(pause)
    raise AssertionError("unreachable")  # pragma: no cover
