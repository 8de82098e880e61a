"""Kubernetes quantities to plain integers, through the official client's parser."""

from __future__ import annotations

import math
import re
from decimal import Decimal

GiB = 1024**3
MiB = 1024**2

# ``kubernetes.utils.parse_quantity`` hands the number to ``Decimal`` unbounded: "1E300000" parses at once, but
# turning it into an int takes seconds (minutes for longer exponents), and Decimal also takes "NaN", "Infinity",
# "1_000" and surrounding blanks, which Kubernetes does not. So a quantity is first checked against Kubernetes'
# own grammar (apimachinery's resource.Quantity) with bounds on its length and exponent, then parsed.
MAX_QUANTITY_LENGTH = 64
MAX_QUANTITY_EXPONENT = 30  # 1e30 bytes is far beyond any RAM or disk; 1e-30 far below a byte
# The grammar as a JSON-schema (ECMA) pattern too, so the API document states it; group 1 is the exponent.
QUANTITY_PATTERN = r"^[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[KMGTPE]i|[eE]([+-]?[0-9]+)|[numkMGTPE])?$"
_QUANTITY = re.compile(QUANTITY_PATTERN)


def check_quantity(text: str) -> None:
    """Raise ValueError unless ``text`` is a Kubernetes quantity within the length and exponent bounds.

    Cheap whatever the input: the message quotes at most a short prefix of it.
    """
    if len(text) > MAX_QUANTITY_LENGTH:
        raise ValueError(f"a quantity has at most {MAX_QUANTITY_LENGTH} characters (got {len(text)})")
    match = _QUANTITY.match(text)
    if match is None:
        raise ValueError(f"not a Kubernetes quantity: {text!r}")
    exponent = match.group(1)
    if exponent is not None and abs(int(exponent)) > MAX_QUANTITY_EXPONENT:
        raise ValueError(f"a quantity's exponent must be within ±{MAX_QUANTITY_EXPONENT}: {text!r}")


def quantity_value(quantity: str | int | float | Decimal) -> Decimal:
    """A quantity's exact value, refused (ValueError) when malformed, out of bounds, not finite or negative."""
    if isinstance(quantity, bool):
        raise ValueError(f"not a quantity: {quantity!r}")
    if isinstance(quantity, str):
        check_quantity(quantity)
    # Imported here, at the edge that parses a quantity: the engine alone never loads the Kubernetes client.
    from kubernetes.utils import parse_quantity

    try:
        value = parse_quantity(quantity)
    except (ValueError, TypeError, ArithmeticError) as exc:
        raise ValueError(f"not a Kubernetes quantity: {str(quantity)[:MAX_QUANTITY_LENGTH]!r}") from exc
    if not value.is_finite():
        raise ValueError(f"not a finite quantity: {quantity!r}")
    if value < 0:
        raise ValueError(f"negative quantity: {quantity!r}")
    return value


def to_bytes(quantity: str | int | float | Decimal) -> int:
    """Parse a Kubernetes memory or storage quantity ("10Gi", "263856540Ki", "1.5G", 1024) to whole bytes.

    Fractions of a byte round up, as kube-scheduler does for memory requests.
    Raises ValueError with the offending text when the quantity is malformed, out of bounds or negative.
    """
    return int(math.ceil(quantity_value(quantity)))


def to_count(quantity: str | int | float | Decimal) -> int:
    """A count written as a Kubernetes quantity (a node's allocatable "110" pods, a quota's used "5"), bounded as
    every quantity is; a fraction is dropped."""
    return int(quantity_value(quantity))


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
