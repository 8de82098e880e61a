"""Numbers, money, dates and shares as a report reader expects them: separators, units, no long floats."""

from __future__ import annotations

import math
from datetime import date, datetime

import pandas as pd

GIB = 1024**3


def missing(value) -> bool:
    if value is None:
        return True
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def number(value, decimals: int | None = None) -> str:
    """``12,345``; ``1,234.5`` for a fraction (``decimals`` fixes the places); ``-`` when missing."""
    if missing(value):
        return "-"
    value = float(value)
    if decimals is None:
        decimals = 0 if value == math.floor(value) or abs(value) >= 100 else (1 if abs(value) >= 10 else 2)
    return f"{value:,.{decimals}f}"


def eur(value, decimals: int | None = None) -> str:
    """``EUR 25,009``; cents only below EUR 100 (``EUR 4.17``)."""
    if missing(value):
        return "-"
    if decimals is None:
        decimals = 0 if abs(float(value)) >= 100 else 2
    return f"EUR {float(value):,.{decimals}f}"


def signed_eur(value) -> str:
    """``+EUR 1,200`` / ``-EUR 350``: a difference."""
    if missing(value):
        return "-"
    text = eur(abs(float(value)))
    return ("-" if float(value) < 0 else "+") + text


def share(value, decimals: int = 1) -> str:
    """A fraction as a percentage: ``0.2348`` -> ``23.5 %``."""
    if missing(value):
        return "-"
    return f"{float(value) * 100:.{decimals}f} %"


def day_date(value) -> str:
    """``2028-02-18`` from a date, a timestamp or an ISO string; ``-`` when missing."""
    if missing(value):
        return "-"
    if isinstance(value, str):
        return value[:10]
    if isinstance(value, (datetime, pd.Timestamp)):
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def gib(value_bytes) -> str:
    if missing(value_bytes):
        return "-"
    return f"{float(value_bytes) / GIB:,.1f} GiB"


def quantity(value, unit: str) -> str:
    """A value with its unit: money as EUR, bytes as GiB, a ratio as-is, counts with separators."""
    if unit in ("EUR", "EUR/month"):
        return eur(value) + ("/month" if unit == "EUR/month" and not missing(value) else "")
    if unit == "bytes":
        return gib(value)
    if unit in ("ratio", "fraction"):
        return number(value, 2)
    if missing(value):
        return "-"
    return f"{number(value)} {unit}"


def in_unit(value, unit: str) -> tuple[str, str]:
    """A number in its reading unit, without the unit, and that unit: bytes in GiB, ratios with two places."""
    if unit == "bytes":
        return _bare(value, unit), "GiB"
    if unit in ("ratio", "fraction"):
        return number(value, 2), unit
    return _bare(value, unit), unit


def band(low, mid, high, unit: str, *, signed: bool = False) -> str:
    """``EUR 1,200/month (900 – 1,500)``: the p50 with its unit, then the p10 – p90 range in the same unit;
    ``signed`` puts a + on a positive difference."""
    if missing(mid):
        return "-"
    sign = "+" if signed and float(mid) > 0 else ""
    return f"{sign}{quantity(mid, unit)} ({_bare(low, unit)} – {_bare(high, unit)})"


def _bare(value, unit: str) -> str:
    if unit == "bytes":
        return number(None if missing(value) else float(value) / GIB, 1)
    if unit in ("EUR", "EUR/month"):
        return number(value, 0 if missing(value) or abs(float(value)) >= 100 else 2)
    return number(value)
