"""Sizes at the edges: the one ``Bytes`` type every pydantic edge model uses for a RAM or storage size.

A size arrives as whole bytes or as a Kubernetes quantity ("512Mi", "10Gi", "263856540Ki"), parsed by
``kubernetes.utils.parse_quantity`` (through ``placement.units.to_bytes``), and is stored as an ``int``.
Scenarios, policies, limits profiles, state files, the router's API and the optimizer's inputs all read
sizes through these two types, so a rule about what a size may be is written here once.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BeforeValidator, Field

from placement.units import to_bytes

DESCRIPTION = "bytes, or a Kubernetes quantity such as 2Gi"


def parse_size(value: Any) -> Any:
    """A quantity string to whole bytes; anything else is left to pydantic's own ``int`` validation."""
    return to_bytes(value) if isinstance(value, str) else value


# The bound comes before the parser, so pydantic applies it to the int itself and the JSON schema says
# ``minimum``/``exclusiveMinimum`` (after a validator it would leak as a non-standard ``ge``/``gt`` keyword).
# Two types rather than one constrained twice, which would carry both bounds.
# What a client may send is an integer or a quantity string, and the input schema says so.
Bytes = Annotated[
    int,
    Field(ge=0, description=DESCRIPTION),
    BeforeValidator(parse_size, json_schema_input_type=Annotated[int, Field(ge=0)] | str),
]
PositiveBytes = Annotated[
    int,
    Field(gt=0, description=DESCRIPTION),
    BeforeValidator(parse_size, json_schema_input_type=Annotated[int, Field(gt=0)] | str),
]
