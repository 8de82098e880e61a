"""Kubernetes quantities to plain integers, through the official client's parser."""

from __future__ import annotations

import math
from decimal import Decimal

from kubernetes.utils import parse_quantity

GiB = 1024**3
MiB = 1024**2


def to_bytes(quantity: str | int | float | Decimal) -> int:
    """Parse a Kubernetes memory or storage quantity ("10Gi", "263856540Ki", "1.5G", 1024) to whole bytes.

    Fractions of a byte round up, as kube-scheduler does for memory requests.
    Raises ValueError with the offending text when the quantity is malformed or negative.
    """
    if isinstance(quantity, bool):
        raise ValueError(f"not a quantity: {quantity!r}")
    try:
        value = parse_quantity(quantity)
    except (ValueError, TypeError, ArithmeticError) as exc:
        raise ValueError(f"not a Kubernetes quantity: {quantity!r}") from exc
    if value < 0:
        raise ValueError(f"negative quantity: {quantity!r}")
    return int(math.ceil(value))


def format_bytes(value: int) -> str:
    """Render bytes the way Kubernetes writes them: the largest binary suffix that keeps an integer."""
    for suffix, size in (("Ti", 1024**4), ("Gi", GiB), ("Mi", MiB), ("Ki", 1024)):
        if value and value % size == 0:
            return f"{value // size}{suffix}"
    return str(value)


def human_bytes(value: float) -> str:
    """A short reading for tables, e.g. 1.5 GiB."""
    for suffix, size in (("TiB", 1024**4), ("GiB", GiB), ("MiB", MiB), ("KiB", 1024)):
        if abs(value) >= size:
            return f"{value / size:.1f} {suffix}"
    return f"{int(value)} B"
