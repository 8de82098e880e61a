"""``--vary`` specifications: which scenario field or limits figure a sweep varies, and the distribution each run
draws it from.

Grammar (one spec per ``--vary``)::

    PATH=uniform:LOW:HIGH
    PATH=triangular:LOW:MODE:HIGH
    PATH=choice:V1,V2,...
    PATH=catalog                 # uniform over the profile figure's catalog range (low, high)

``PATH`` is any numeric scenario field, as ``--set`` takes it (``growth.start_per_month``, ``churn.rate``,
``customers.volume_probability``, ``operator.node_lead_days``, ``operator.shard.prepare_fraction``,
``fleet.clusters[0].run_nodes``; ``sim.overrides``), or a dotted limits figure path (``longhorn.max_volumes``;
``placement.limits.LimitsProfile.figure_paths``; also as ``limits.longhorn.max_volumes``). ``catalog`` needs a
limits figure with a range. A whole-number field (run nodes, days given as integers) gets its draws rounded.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from placement.limits import LimitsProfile
from sim.overrides import OverrideError, locate
from sim.scenario import Scenario

KINDS = ("uniform", "triangular", "choice", "catalog")


class VaryError(ValueError):
    """A ``--vary`` spec that cannot be used; the message names the spec."""


@dataclass(frozen=True)
class VarySpec:
    """One varied field. ``params`` holds (low, high), (low, mode, high) or the choice values. ``integer``: the
    field takes whole numbers, so draws are rounded."""

    path: str
    kind: str
    params: tuple[float, ...]
    text: str
    integer: bool = False

    def draw(self, rng: np.random.Generator) -> float:
        """One value from this spec's distribution, drawn from ``rng``."""
        if self.kind == "triangular":
            low, mode, high = self.params
            value = float(rng.triangular(low, mode, high)) if low < high else float(low)
        elif self.kind == "choice":
            value = float(self.params[int(rng.integers(len(self.params)))])
        else:
            low, high = self.params
            value = float(rng.uniform(low, high))
        return float(round(value)) if self.integer else value


def _numbers(spec: str, fields: list[str], what: str) -> tuple[float, ...]:
    values = []
    for field in fields:
        try:
            value = float(field)
        except ValueError:
            raise VaryError(f"--vary {spec!r}: {what} {field!r} is not a number") from None
        if not math.isfinite(value):
            raise VaryError(f"--vary {spec!r}: {what} {field!r} is not a finite number")
        values.append(value)
    return tuple(values)


def _target(spec: str, path: str, scenario: Scenario | None, profile: LimitsProfile):
    """(the limits figure or None, whether the field is whole-numbered); ``VaryError`` if ``path`` names no number."""
    if path.startswith("limits."):
        path = path[len("limits.") :]
    try:
        return profile.figure(path), False
    except KeyError as exc:
        figure_error = exc.args[0]
    if scenario is None:
        raise VaryError(f"--vary {spec!r}: {figure_error}; known figures: {', '.join(profile.figure_paths())}")
    try:
        _, value = locate(scenario, path)
    except OverrideError as exc:
        raise VaryError(
            f"--vary {spec!r}: not a limits figure ({figure_error}) nor a scenario field "
            f"({str(exc).removeprefix('--set ')}); known figures: {', '.join(profile.figure_paths())}"
        ) from None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise VaryError(f"--vary {spec!r}: {path} is {value!r} in this scenario, not a number")
    return None, isinstance(value, int)


def parse_vary(spec: str, profile: LimitsProfile, scenario: Scenario | None = None) -> VarySpec:
    """Parse one spec against the scenario and its limits ``profile``; raise ``VaryError`` naming the spec."""
    path, sep, dist = spec.partition("=")
    path, dist = path.strip(), dist.strip()
    if not sep or not path or not dist:
        raise VaryError(f"--vary {spec!r}: expected PATH=DISTRIBUTION, e.g. longhorn.max_volumes=uniform:400:1000")
    figure, integer = _target(spec, path, scenario, profile)
    path = path.removeprefix("limits.") if figure is not None else path
    kind, _, rest = dist.partition(":")
    if kind not in KINDS:
        raise VaryError(f"--vary {spec!r}: unknown distribution {kind!r}; use one of {', '.join(KINDS)}")
    if kind == "catalog":
        if rest:
            raise VaryError(f"--vary {spec!r}: 'catalog' takes no parameters")
        if figure is None:
            raise VaryError(f"--vary {spec!r}: catalog ranges are for limits figures; give uniform:LOW:HIGH")
        if figure.low is None or figure.high is None:
            raise VaryError(
                f"--vary {spec!r}: {path} has no catalog range in profile {profile.name!r}; give uniform:LOW:HIGH"
            )
        return VarySpec(path, "catalog", (float(figure.low), float(figure.high)), spec)
    if kind == "choice":
        fields = [f.strip() for f in rest.split(",")] if rest else []
        if not fields or any(not f for f in fields):
            raise VaryError(f"--vary {spec!r}: choice needs a comma-separated list of values, e.g. choice:400,500,1000")
        return VarySpec(path, "choice", _numbers(spec, fields, "choice value"), spec, integer)
    fields = rest.split(":") if rest else []
    names = ("LOW", "HIGH") if kind == "uniform" else ("LOW", "MODE", "HIGH")
    if len(fields) != len(names):
        raise VaryError(f"--vary {spec!r}: {kind} takes {':'.join(names)} ({len(names)} numbers), got {len(fields)}")
    values = _numbers(spec, fields, "bound")
    if values[0] > values[-1]:
        raise VaryError(f"--vary {spec!r}: low {fields[0]} is above high {fields[-1]}")
    if kind == "triangular" and not values[0] <= values[1] <= values[2]:
        raise VaryError(f"--vary {spec!r}: mode {fields[1]} is outside [{fields[0]}, {fields[2]}]")
    return VarySpec(path, kind, values, spec, integer)


def parse_all(
    specs: list[str] | tuple[str, ...], profile: LimitsProfile, scenario: Scenario | None = None
) -> list[VarySpec]:
    """Parse every spec; a path varied twice is an error."""
    parsed = [parse_vary(s, profile, scenario) for s in specs]
    seen: set[str] = set()
    for p in parsed:
        if p.path in seen:
            raise VaryError(f"--vary {p.text!r}: {p.path} is varied more than once")
        seen.add(p.path)
    return parsed


def draw_all(specs: list[VarySpec], rng: np.random.Generator) -> dict[str, float]:
    """One draw of every varied figure, in spec order, from one run's own ``rng``."""
    return {s.path: s.draw(rng) for s in specs}
