"""The project's one error base for configuration, and the one strict base model for what it validates.

Every configuration file (custodian specs, layouts, the asset type registry, the fund registry, the legacy
mapping) is read into models built on `StrictModel` (unknown keys are errors, values are frozen), and every
problem with one is a `SpecError` whose message names the file, the key, what was expected and what was found.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class SpecError(ValueError):
    """A configuration file is invalid; the message names the file and the key."""


class StrictModel(BaseModel):
    """Unknown keys are errors; instances are immutable (specs are shared between threads and runs)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
