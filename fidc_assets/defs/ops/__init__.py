"""Operations: the daily marts schedule, nightly maintenance and the expected-deliveries monitoring."""

import dagster as dg

from fidc_assets.defs.ops import deliveries, schedules


def definitions() -> dg.Definitions:
    return dg.Definitions.merge(schedules.definitions(), deliveries.definitions())


__all__ = ["definitions"]
