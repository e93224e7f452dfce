"""Health checks of a deployment: is each service the lakehouse needs up, and are the deliveries fresh.

Each check is a function that returns a short detail when its service answers and raises when it does not;
`run_checks` runs them one by one, each within a time limit (a service that hangs counts as down), and
gathers a `HealthReport`: per check `ok`, `warn` or `down`, and the first problem as one line. A check is
`critical` (PostgreSQL, the catalog, the storage, the inbox, the dbt manifest) or not (the freshness of
expected deliveries: a late custodian file is the data's problem, not a reason to restart a pod).

Pure: the caller (the `fidc-lake health` command) passes the DSN, the lake, the inbox location, the fund
registry and a clock, resolved from the settings; nothing here reads the environment or starts a server.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from enum import StrEnum
from zoneinfo import ZoneInfo

import pyarrow.fs as pafs

from fidc_assets.lib.core.calendar import TIMEZONE, is_business_day
from fidc_assets.lib.core.canonical import NAMESPACE
from fidc_assets.lib.core.deliveries import DeliveryStatus, Tally, evaluate
from fidc_assets.lib.core.funds import FundRegistry
from fidc_assets.lib.hot.dsn import connect
from fidc_assets.lib.ingest.inbox import Inbox
from fidc_assets.lib.lake.catalog import Lake
from fidc_assets.lib.lake.deliveries import read_file_records

#: Seconds a check may take before it counts as down.
DEFAULT_TIMEOUT = 20.0
PROBE_PREFIX = "_health"


class Status(StrEnum):
    OK = "ok"
    WARN = "warn"  # a non-critical check found a problem
    DOWN = "down"  # a critical check failed


class Warning_(Exception):  # noqa: N801 - not the builtin Warning: a check's non-fatal finding
    """Raised by a check whose service answers but whose finding needs a person (late deliveries)."""


@dataclass(frozen=True)
class Check:
    name: str
    run: Callable[[], str]
    critical: bool = True


@dataclass(frozen=True)
class CheckResult:
    name: str
    status: Status
    detail: str
    seconds: float
    critical: bool
    #: no answer within the time limit: the check's thread may still be blocked in a client library
    timed_out: bool = False


@dataclass(frozen=True)
class HealthReport:
    results: tuple[CheckResult, ...]

    @property
    def ok(self) -> bool:
        """No critical check is down (warnings do not fail a probe)."""
        return all(r.status is not Status.DOWN for r in self.results)

    @property
    def timed_out(self) -> bool:
        return any(r.timed_out for r in self.results)

    @property
    def reason(self) -> str | None:
        """The first problem, as one line: `name: detail` (None when everything is ok)."""
        for wanted in (Status.DOWN, Status.WARN):
            for r in self.results:
                if r.status is wanted:
                    return f"{r.name} {r.status}: {r.detail}"
        return None

    def as_dict(self) -> dict[str, object]:
        return {
            "ok": self.ok,
            "reason": self.reason,
            "checks": [{**asdict(r), "status": str(r.status), "seconds": round(r.seconds, 3)} for r in self.results],
        }


def _one_line(e: BaseException) -> str:
    text = " ".join(str(e).split()) or type(e).__name__
    return text if len(text) <= 300 else text[:297] + "..."


def _run_one(check: Check, timeout: float) -> CheckResult:
    outcome: list[str | BaseException] = []

    def target() -> None:
        try:
            outcome.append(check.run())
        except BaseException as e:  # noqa: BLE001 - whatever a client library raises means "down"
            outcome.append(e)

    started = time.monotonic()
    # a daemon thread: a client stuck in a connect never keeps the process (a probe) from exiting
    thread = threading.Thread(target=target, name=f"health-{check.name}", daemon=True)
    thread.start()
    thread.join(timeout)
    seconds = time.monotonic() - started
    if not outcome:
        status = Status.DOWN if check.critical else Status.WARN
        return CheckResult(check.name, status, f"no answer within {timeout:.0f} s", seconds, check.critical, True)
    value = outcome[0]
    if isinstance(value, Warning_):
        return CheckResult(check.name, Status.WARN, _one_line(value), seconds, check.critical)
    if isinstance(value, BaseException):
        status = Status.DOWN if check.critical else Status.WARN
        return CheckResult(check.name, status, f"{type(value).__name__}: {_one_line(value)}", seconds, check.critical)
    return CheckResult(check.name, Status.OK, value, seconds, check.critical)


def run_checks(checks: Sequence[Check], timeout: float = DEFAULT_TIMEOUT) -> HealthReport:
    return HealthReport(tuple(_run_one(c, timeout) for c in checks))


# -- the checks ------------------------------------------------------------------------------------------


def check_postgres(dsn: str | None, timeout: float = 5.0) -> str:
    """Connect and ask the server its version. `dsn` None: the embedded server is not running."""
    if dsn is None:
        raise ConnectionError("the embedded PostgreSQL is not running (`fidc-lake db start`, or set FIDC_PG_DSN)")
    with connect(dsn, connect_timeout=max(1, int(timeout))) as conn:
        row = conn.execute("select current_setting('server_version')").fetchone()
    return f"PostgreSQL {row[0] if row else '?'}"


def check_catalog(lake: Lake) -> str:
    """The catalog answers: the lake namespace's tables are listed."""
    tables = lake.catalog.list_tables(NAMESPACE)
    kind = type(lake.catalog).__name__
    return f"{kind}: {len(tables)} tables in {NAMESPACE}"


def check_storage(root: str) -> str:
    """Write, read back and delete a small object under `root` (the raw archive's root, FIDC_ARCHIVE: the
    bucket that takes plain objects; an S3 table bucket takes only tables)."""
    fs, base = pafs.FileSystem.from_uri(root)
    path = f"{base.rstrip('/')}/{PROBE_PREFIX}/{uuid.uuid4().hex}"
    payload = f"fidc-lake health {dt.datetime.now(dt.UTC).isoformat()}".encode()
    fs.create_dir(path.rsplit("/", 1)[0], recursive=True)
    with fs.open_output_stream(path) as out:
        out.write(payload)
    try:
        with fs.open_input_stream(path) as f:
            back = f.read()
    finally:
        fs.delete_file(path)
    if back != payload:
        raise OSError(f"{root}: read back {len(back)} bytes, wrote {len(payload)}")
    return f"{root}: wrote, read and deleted {len(payload)} bytes"


def check_inbox(location: str) -> str:
    """The inbox is listed. A local inbox must exist; on an object store its bucket must (a prefix with no
    object yet is an empty inbox, not a missing one)."""
    inbox = Inbox.at(location)
    inbox.fs.invalidate_cache()
    if inbox.is_local:
        if not inbox.fs.isdir(inbox.root):
            raise FileNotFoundError(f"{location}: the inbox directory does not exist")
    else:
        inbox.fs.info(inbox.root.split("/", 1)[0])  # the bucket: FileNotFoundError, or the store's own error
    return f"{location}: {len(inbox.list())} files waiting"


def check_manifest(check: Callable[[], None], what: str) -> str:
    """`check` raises when the dbt manifest is missing or stale (defs.dbt.project.check_manifest)."""
    check()
    return f"{what}: current"


def freshness_day(now: dt.datetime) -> dt.date:
    """The business day whose deliveries are judged: today in São Paulo, or the last business day before."""
    day = now.astimezone(ZoneInfo(TIMEZONE)).date()
    while not is_business_day(day):
        day -= dt.timedelta(days=1)
    return day


def delivery_statuses(lake: Lake, registry: FundRegistry, day: dt.date, now: dt.datetime) -> list[DeliveryStatus]:
    return evaluate(registry, [day], read_file_records(lake, [day]), now)


def check_deliveries(lake: Lake, registry: FundRegistry, now: dt.datetime) -> str:
    """The freshness of expected deliveries: none due and still missing or quarantined (`Warning_` if any)."""
    if not any(f.expected for f in registry.funds):
        return "the fund registry expects no file"
    day = freshness_day(now)
    statuses = delivery_statuses(lake, registry, day, now)
    t = Tally.of(statuses)
    detail = f"{day}: {t.expected} expected, {t.accepted} accepted, {t.pending} not due yet"
    if t.missing or t.quarantined:
        flagged = sorted({f"{s.fund_cnpj}/{s.custodian_id}" for s in statuses if s.flagged})
        raise Warning_(
            f"{detail}, {t.missing} missing, {t.quarantined} quarantined ({', '.join(flagged[:5])}"
            f"{', …' if len(flagged) > 5 else ''}; `fidc-lake status --date {day}`)"
        )
    return detail
