"""Where the package's shipped configuration defaults are (`fidc_assets/config/`).

A deployment points FIDC_CONFIG_DIR at its own copy (`fidc-lake config init DIR` writes one); these paths
are only the defaults the settings fall back to and the templates that copy starts from.
"""

from __future__ import annotations

from pathlib import Path

SHIPPED_CONFIG_DIR = Path(__file__).resolve().parents[2] / "config"
