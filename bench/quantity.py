"""Benchmark size parsing at the edges: ordinary and hostile quantities through ``placement.quantity``.

    python -m bench.quantity [--upstream]

Each input is validated as the router's API validates a size (the ``PositiveBytes`` type), many times; the
figure is the median time per validation. A hostile quantity is refused before ``parse_quantity`` reads it.
``--upstream`` also times what the unbounded path did with the hostile inputs (``parse_quantity`` and the int
conversion): seconds each, so it runs each once.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import statistics
import time

from kubernetes.utils import parse_quantity
from pydantic import TypeAdapter, ValidationError

from placement.quantity import PositiveBytes

ORDINARY = ["2Gi", "263856540Ki", "1.5G", "512Mi", 1073741824]
HOSTILE = ["1E300000", "1e1000000", "9" * 100_000, "NaN", "1m"]


def per_call(adapter: TypeAdapter, value: object, repeats: int) -> float:
    samples = []
    for _ in range(5):
        start = time.perf_counter()
        for _ in range(repeats):
            with contextlib.suppress(ValidationError):
                adapter.validate_python(value)
        samples.append((time.perf_counter() - start) / repeats)
    return statistics.median(samples)


def label(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 24 else f"{text[:12]}… ({len(str(value)):,} chars)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--upstream", action="store_true", help="also time the unbounded upstream path (slow)")
    args = parser.parse_args()
    adapter = TypeAdapter(PositiveBytes)
    print("| input | result | per validation |")
    print("|---|---|---:|")
    for value in ORDINARY + HOSTILE:
        try:
            result = str(adapter.validate_python(value))
        except ValidationError as error:
            result = "refused: " + error.errors()[0]["msg"].removeprefix("Value error, ")[:48]
        print(f"| {label(value)} | {result} | {per_call(adapter, value, 2000) * 1e6:.1f} µs |")
    if args.upstream:
        print("\n| input | upstream parse_quantity + int(ceil(...)) |")
        print("|---|---:|")
        for value in HOSTILE[:3]:
            start = time.perf_counter()
            with contextlib.suppress(ValueError, ArithmeticError):
                int(math.ceil(parse_quantity(value)))
            print(f"| {label(value)} | {time.perf_counter() - start:.2f} s |")


if __name__ == "__main__":
    main()
