"""Operations: the daily marts schedule and nightly maintenance."""

from fidc_assets.defs.ops.schedules import definitions

__all__ = ["definitions"]
