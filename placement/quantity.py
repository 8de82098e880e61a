"""Numbers at the edges: the one bounded type every pydantic edge model uses for a RAM or storage size, and the one
for a count.

A size arrives as whole bytes or as a Kubernetes quantity ("512Mi", "10Gi", "263856540Ki"). A quantity is checked
against Kubernetes' grammar with a bounded length and exponent before ``kubernetes.utils.parse_quantity`` reads it
(``placement.units``), so no input can make parsing slow; it must come to a whole number of bytes ("1m" is a
thousandth of a byte: refused), and booleans are not sizes. The result is an ``int`` of at most ``MAX_BYTES``.
Scenarios, policies, limits profiles, state files, the router's API and the optimizer's inputs all read sizes
through these two types, so a rule about what a size may be is written here once. Counts (pods, volumes,
objects) are whole numbers that fit an INTEGER column, and not booleans either.
"""

from __future__ import annotations

import functools
from typing import Annotated, Any

from pydantic import BeforeValidator, Field

from placement.units import MAX_QUANTITY_LENGTH, QUANTITY_PATTERN, quantity_value

DESCRIPTION = "bytes, or a Kubernetes quantity such as 2Gi (a whole number of bytes)"
# Below 2**53 a size round-trips through JSON numbers (doubles) exactly and fits a BIGINT; a count fits an INTEGER.
MAX_BYTES = 2**53
MAX_COUNT = 2**31 - 1


def parse_size(value: Any) -> Any:
    """A quantity string to whole bytes; anything else but a boolean is left to pydantic's own ``int`` check."""
    if isinstance(value, bool):
        raise ValueError("a size is a number of bytes or a quantity string, not a boolean")
    if not isinstance(value, str):
        return value
    return _whole_bytes(value)


# The router reads the same few sizes ("256Mi", "5Gi") in request after request, and a quantity's parse (its
# grammar's check, then Kubernetes' Decimal arithmetic) was ~7 % of a placement's CPU in the router, profiled. A
# refused string is not kept (it raises), and a kept one is at most MAX_QUANTITY_LENGTH characters.
@functools.lru_cache(maxsize=1024)
def _whole_bytes(text: str) -> int:
    exact = quantity_value(text)
    if exact != exact.to_integral_value():
        raise ValueError(f"not a whole number of bytes: {text!r} is {exact:f} bytes")
    return int(exact)


def _size_type(minimum: int) -> Any:
    # The bounds come before the parser, so pydantic applies them to the int itself and the JSON schema says
    # ``minimum``/``maximum`` (after a validator they would leak as non-standard ``ge``/``le`` keywords). What a
    # client may send is an integer or a quantity string, and the input schema says so.
    accepted = (
        Annotated[int, Field(ge=minimum, le=MAX_BYTES)]
        | Annotated[str, Field(min_length=1, max_length=MAX_QUANTITY_LENGTH, pattern=QUANTITY_PATTERN)]
    )
    return Annotated[
        int,
        Field(ge=minimum, le=MAX_BYTES, description=DESCRIPTION),
        BeforeValidator(parse_size, json_schema_input_type=accepted),
    ]


Bytes = _size_type(0)
PositiveBytes = _size_type(1)


def _not_a_boolean(value: Any) -> Any:
    # pydantic's lax mode reads true as 1; a count of true pods is a client's bug, not a request.
    if isinstance(value, bool):
        raise ValueError("a count is a whole number, not a boolean")
    return value


Count = Annotated[int, Field(ge=0, le=MAX_COUNT), BeforeValidator(_not_a_boolean)]
PositiveCount = Annotated[int, Field(ge=1, le=MAX_COUNT), BeforeValidator(_not_a_boolean)]
