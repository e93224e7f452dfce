"""The layout of a configuration directory, and where the package's shipped one is (`fidc_assets/config/`).

A deployment points FIDC_CONFIG_DIR at its own copy (`fidc-lake config init DIR` writes one); the shipped
directory holds only the defaults the settings fall back to and the templates that copy starts from. Code
that reads configuration receives its paths from the settings (`ConfigLayout(FIDC_CONFIG_DIR)`); the
`SHIPPED` paths are for tests, benchmarks and the sample generator, which work on the shipped custodians.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

SHIPPED_CONFIG_DIR = Path(__file__).resolve().parents[2] / "config"


@dataclass(frozen=True)
class ConfigLayout:
    """Where each file is inside a configuration directory: one place knows the names."""

    root: Path

    @property
    def custodians(self) -> Path:
        """One `<custodian id>.yaml` spec per custodian; onboarding one is adding a file here."""
        return self.root / "custodians"

    @property
    def layouts(self) -> Path:
        """Shared fixed-width layouts (CNAB 444/400) the specs refer to by name."""
        return self.custodians / "layouts"

    @property
    def asset_types(self) -> Path:
        return self.root / "reference" / "asset_types.yaml"

    @property
    def fx_rates(self) -> Path:
        return self.root / "reference" / "fx_rates.csv"

    @property
    def legacy_mapping(self) -> Path:
        return self.root / "legacy" / "sifidc.yaml"

    @property
    def cvm_spec(self) -> Path:
        """The CVM Informe Mensal's tabs (`fidc_assets.lib.regulatory.spec`)."""
        return self.root / "cvm" / "inf_mensal.yaml"


SHIPPED = ConfigLayout(SHIPPED_CONFIG_DIR)
#: The shipped custodian specs (tests and benchmarks exercise these; commands read the configured ones).
CUSTODIANS_DIR = SHIPPED.custodians
