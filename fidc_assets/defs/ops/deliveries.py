"""Expected deliveries in Dagster: the `expected_deliveries` check on `lake/custodian_files`, per fund-day.

The check fails (severity WARN) while a file the fund registry expects for that fund-day is past due and
absent, or came but was quarantined whole; it passes once every due file arrived (a late one is listed as
late in the metadata). The work is in `fidc_assets.lib.core.deliveries`.

Two ways to evaluate it: the `expected_deliveries` sensor (every 5 minutes, the last few business days, a new
evaluation only when a fund-day's result changes, so the flag is raised when a file is overdue and cleared
when it arrives, with no run), and the check itself, executable for any fund-day partition from the UI.
"""

import datetime as dt
import json
from collections.abc import Callable, Sequence
from zoneinfo import ZoneInfo

import dagster as dg

from fidc_assets.defs.ingest.assets import CUSTODIAN_FILES
from fidc_assets.defs.partitions import date_by_fund
from fidc_assets.defs.resources import LakehouseResource
from fidc_assets.lib.core.calendar import TIMEZONE, business_days_between
from fidc_assets.lib.core.deliveries import DeliveryStatus, Tally, by_fund_day, evaluate
from fidc_assets.lib.core.partition_math import date_fund_pairs

CHECK_NAME = "expected_deliveries"
#: Calendar days back from today the sensor watches (a week covers a late file of the previous business days).
LOOKBACK_DAYS = 7


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _table(statuses: Sequence[DeliveryStatus]) -> str:
    lines = ["| custodian | entity | due | state | late | first received |", "|---|---|---|---|---|---|"]
    for s in statuses:
        first = (
            s.first_received_at.astimezone(ZoneInfo(TIMEZONE)).isoformat(timespec="minutes")
            if s.first_received_at
            else ""
        )
        lines.append(
            f"| {s.custodian_id} | {s.entity} | {s.due_at.isoformat(timespec='minutes')} | {s.state} "
            f"| {'yes' if s.late else 'no'} | {first} |"
        )
    return "\n".join(lines)


def evaluation(fund: str, day: dt.date, statuses: Sequence[DeliveryStatus]) -> dg.AssetCheckEvaluation:
    """The check's result for one fund-day."""
    tally = Tally.of(statuses)
    flagged = [s for s in statuses if s.flagged]
    what = ", ".join(f"{s.custodian_id} {s.entity} {s.state}" for s in flagged)
    return dg.AssetCheckEvaluation(
        asset_key=CUSTODIAN_FILES,
        check_name=CHECK_NAME,
        passed=not flagged,
        severity=dg.AssetCheckSeverity.WARN,
        partition=dg.MultiPartitionKey({"date": day.isoformat(), "fund": fund}),
        description=f"{fund} {day}: {what}" if flagged else f"{fund} {day}: every due file arrived",
        metadata={
            "expected": tally.expected,
            "received": tally.received,
            "accepted": tally.accepted,
            "quarantined": tally.quarantined,
            "late": tally.late,
            "missing": tally.missing,
            "pending": tally.pending,
            "deliveries": dg.MetadataValue.md(_table(statuses)),
        },
    )


def _fingerprint(statuses: Sequence[DeliveryStatus]) -> str:
    return ";".join(f"{s.custodian_id}/{s.entity}={s.state}{'*' if s.late else ''}" for s in statuses)


def expected_deliveries_sensor(clock: Callable[[], dt.datetime] = utc_now) -> dg.SensorDefinition:
    """The sensor; `clock` is injectable so tests can stand at any moment."""

    @dg.sensor(
        name="expected_deliveries",
        minimum_interval_seconds=300,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description="Every 5 minutes: per fund-day of the last business days, whether the files the fund registry "
        "expects arrived by their due time; reports the `expected_deliveries` check on lake/custodian_files "
        "when a fund-day's result changes (raised when a file is overdue, cleared when it arrives).",
    )
    def expected_deliveries(context: dg.SensorEvaluationContext, lakehouse: LakehouseResource) -> dg.SensorResult:
        from fidc_assets.lib.lake.deliveries import read_file_records  # run-time import (pyiceberg)

        now = clock()
        today = now.astimezone(ZoneInfo(TIMEZONE)).date()
        days = list(business_days_between(today - dt.timedelta(days=LOOKBACK_DAYS), today))
        registry = lakehouse.fund_registry()
        statuses = evaluate(registry, days, read_file_records(lakehouse.lake(), days), now)
        previous: dict[str, str] = json.loads(context.cursor) if context.cursor else {}
        seen: dict[str, str] = {}
        events: list[dg.AssetCheckEvaluation] = []
        for (fund, day), group in by_fund_day(statuses).items():
            if all(s.state == "pending" for s in group):
                continue  # nothing due and nothing came: nothing to say yet
            key = f"{day.isoformat()}|{fund}"
            seen[key] = _fingerprint(group)
            if previous.get(key) != seen[key]:
                events.append(evaluation(fund, day, group))
        flagged = sum(not e.passed for e in events)
        context.log.info(f"{len(events)} fund-day(s) changed, {flagged} flagged ({len(seen)} watched)")
        return dg.SensorResult(asset_events=events, cursor=json.dumps(seen, sort_keys=True))

    return expected_deliveries


def definitions() -> dg.Definitions:
    @dg.asset_check(
        asset=CUSTODIAN_FILES,
        name=CHECK_NAME,
        description="Per fund-day: every file the fund registry (FIDC_FUNDS, `expected`) owes for the day arrived "
        "by its due time (São Paulo); fails while one is past due and absent, or quarantined whole. Also "
        "reported by the `expected_deliveries` sensor, which raises and clears it without a run.",
        partitions_def=date_by_fund(),
        blocking=False,
    )
    def expected_deliveries(
        context: dg.AssetCheckExecutionContext, lakehouse: LakehouseResource
    ) -> dg.AssetCheckResult:
        from fidc_assets.lib.lake.deliveries import read_file_records  # run-time import (pyiceberg)

        # one result for the run's partitions (one fund-day from the UI; a range passes only if each does)
        pairs = date_fund_pairs(context.partition_keys)
        days = sorted({d for d, _ in pairs})
        statuses = evaluate(lakehouse.fund_registry(), days, read_file_records(lakehouse.lake(), days), utc_now())
        wanted = {(fund, day) for day, fund in pairs}
        mine = [s for s in statuses if (s.fund_cnpj, s.reference_date) in wanted]
        flagged = [s for s in mine if s.flagged]
        if len(wanted) == 1:
            [(fund, day)] = wanted
            e = evaluation(fund, day, mine)
            return dg.AssetCheckResult(
                passed=e.passed, severity=e.severity, description=e.description, metadata=e.metadata
            )
        tally = Tally.of(mine)
        return dg.AssetCheckResult(
            passed=not flagged,
            severity=dg.AssetCheckSeverity.WARN,
            description=f"{len(flagged)} expected file(s) missing or quarantined over {len(wanted)} fund-days",
            metadata={
                "expected": tally.expected,
                "accepted": tally.accepted,
                "late": tally.late,
                "missing": tally.missing,
                "quarantined": tally.quarantined,
                "deliveries": dg.MetadataValue.md(_table(flagged)),
            },
        )

    return dg.Definitions(asset_checks=[expected_deliveries], sensors=[expected_deliveries_sensor()])
