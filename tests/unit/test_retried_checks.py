"""Check results of a retried step are those of the attempt that counted (issue 13, defect 7): a run whose
dbt step failed on a PostgreSQL crash and passed on retry reported the dead attempt's failed checks too."""

import dagster as dg

from fidc_assets.pipeline import DaysRun, counted_check_evaluations


def _job_failing_once(attempts: list[int], fail_attempts: int):
    """An asset with two checks, evaluated in its own step the way dbt build emits them; the first
    `fail_attempts` attempts report a failed check and then crash."""

    @dg.asset(
        check_specs=[dg.AssetCheckSpec("rows_unique", asset="model"), dg.AssetCheckSpec("not_null", asset="model")],
        retry_policy=dg.RetryPolicy(max_retries=2),
    )
    def model(context: dg.AssetExecutionContext):
        attempt = context.retry_number
        attempts.append(attempt)
        yield dg.AssetCheckResult(check_name="not_null", passed=True)
        if attempt < fail_attempts:
            yield dg.AssetCheckResult(check_name="rows_unique", passed=False)
            raise RuntimeError("server closed the connection unexpectedly")
        yield dg.AssetCheckResult(check_name="rows_unique", passed=True)
        yield dg.MaterializeResult()

    return dg.define_asset_job("build", selection=[model]), model


def _run(fail_attempts: int):
    attempts: list[int] = []
    job, model = _job_failing_once(attempts, fail_attempts)
    definitions = dg.Definitions(assets=[model], jobs=[job])
    result = definitions.resolve_job_def("build").execute_in_process(raise_on_error=False)
    return result, attempts


def test_the_dead_attempts_failed_checks_are_not_reported():
    result, attempts = _run(fail_attempts=1)
    assert result.success and attempts == [0, 1]
    # Dagster keeps every attempt's events: what the run reported before the fix
    assert sorted((e.check_name, e.passed) for e in result.get_asset_check_evaluations()) == [
        ("not_null", True),
        ("not_null", True),
        ("rows_unique", False),
        ("rows_unique", True),
    ]
    counted = counted_check_evaluations(result)
    assert sorted((e.check_name, e.passed) for e in counted) == [("not_null", True), ("rows_unique", True)]
    both = DaysRun(ingest=result, marts=result)
    assert [e.passed for e in both.get_asset_check_evaluations()] == [True] * 4


def test_a_step_that_failed_on_every_attempt_reports_its_last_attempt():
    result, attempts = _run(fail_attempts=3)
    assert not result.success and attempts == [0, 1, 2]
    counted = counted_check_evaluations(result)
    assert sorted((e.check_name, e.passed) for e in counted) == [("not_null", True), ("rows_unique", False)]
