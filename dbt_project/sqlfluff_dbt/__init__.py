"""What sqlfluff's jinja templater lacks of dbt's context to render our models (`library_path` in .sqlfluff).

sqlfluff's dbt builtins make `config(...)` a function and `var(...)` a placeholder string; our macros also
read `config.get(...)`, compute month ends with `modules.datetime` and slice dates out of `var('max_date')`.
These stand-ins give them dbt's shapes and the defaults of dbt_project.yml, so sqlfluff lints the SQL a full
build compiles to, without a database or `dbt parse`. They are for linting only: dbt never imports this.
"""

import datetime as _datetime
import re as _re
from pathlib import Path as _Path
from types import SimpleNamespace as _SimpleNamespace
from typing import Any as _Any

import yaml as _yaml

_PROJECT = _yaml.safe_load((_Path(__file__).resolve().parent.parent / "dbt_project.yml").read_text(encoding="utf-8"))
_VARS: dict[str, _Any] = _PROJECT.get("vars") or {}


class _Config:
    """dbt's `config`: called in a model (renders nothing), read with `.get` in macros (the default)."""

    def __call__(self, *args: _Any, **kwargs: _Any) -> str:
        return ""

    def get(self, name: str, default: _Any = None) -> _Any:
        return default


def _var(name: str, default: _Any = None) -> _Any:
    """dbt's `var`: the project's default from dbt_project.yml (a plain `dbt build`), else the call's default."""
    return _VARS.get(name, default)


config = _Config()
var = _var
modules = _SimpleNamespace(datetime=_datetime, re=_re)
