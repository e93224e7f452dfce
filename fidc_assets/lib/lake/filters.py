"""Row filters for `Lake.read` and `Lake.replace_slice`, typed: `equal_to("fund_cnpj", cnpj)`, `is_in(...)`.

pyiceberg's predicates (`EqualTo("a", 1)`, `In("a", [1, 2])`) are pydantic models with positional
constructors of their own, but pyright builds their `__init__` from the model's fields, keyword-only as
pydantic declares it, and reports every documented call as an error. These functions are the one place
that calls them, so the rest of the code is checked; `And`/`Or` type-check as they are.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from decimal import Decimal

from pyiceberg.expressions import BooleanExpression, EqualTo, GreaterThanOrEqual, In, LessThan

#: What a predicate compares a column with (pyiceberg turns it into an Iceberg literal of the column's type).
Value = str | int | float | Decimal | dt.date


def equal_to(column: str, value: Value) -> BooleanExpression:
    return EqualTo(column, value)  # pyright: ignore[reportCallIssue]  (pydantic __init__: module docstring)


def is_in(column: str, values: Iterable[Value]) -> BooleanExpression:
    """`column` is one of `values` (no values: nothing matches; one: an equality, as pyiceberg reduces it)."""
    return In(column, values)  # pyright: ignore[reportCallIssue]  (pydantic __init__: module docstring)


def greater_than_or_equal(column: str, value: Value) -> BooleanExpression:
    return GreaterThanOrEqual(column, value)  # pyright: ignore[reportCallIssue]  (module docstring)


def less_than(column: str, value: Value) -> BooleanExpression:
    return LessThan(column, value)  # pyright: ignore[reportCallIssue]  (module docstring)
