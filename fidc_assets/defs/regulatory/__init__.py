"""The regulator's view: the CVM Informe Mensal landed by month from the CVM inbox, and every fund-month of
the marts reconciled with it (`marts/mart_fund_regulatory`, with a blocking check on unexplained PL)."""

from fidc_assets.defs.regulatory.assets import definitions

__all__ = ["definitions"]
