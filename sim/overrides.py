"""What-ifs on the command line: ``--set PATH=VALUE`` for any scenario field, validated like the YAML.

    scenario, record = apply_overrides(scenario, ["growth.start_per_month=300", "fleet.clusters[0].run_nodes=5"])

``PATH`` is dotted with list indices (``fleet.clusters[0].run_nodes``). A field of a union (growth, churn, sizes,
counts, delays, new-cluster storage) exists only as the chosen ``kind`` has it: the error names that kind's fields.
A mapping field (``regions``, ``limits_overrides``) takes the rest of the path as its key. A limits figure is
overridden by its own path (``kubernetes.max_pods_per_node=250``, ``costs.price_multiplier=1.3``), or explicitly
``limits.kubernetes.max_pods_per_node=250`` or ``limits_overrides.kubernetes.max_pods_per_node=250``.
``VALUE`` is read as YAML: ``300``, ``0.02``, ``true``, ``1Gi``, ``2027-01-01`` or a whole
``{kind: exponential, start_per_month: 150, monthly_growth: 0.05}``.

The changed scenario is validated by the same pydantic models as a file; a problem raises ``OverrideError`` naming
the ``--set`` and the field. ``record`` lists each override (path, value, the value it replaced) for the report.
"""

from __future__ import annotations

import re
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from placement.yamlio import ConfigError, format_loc
from sim.config import resolve_limits
from sim.scenario import Scenario

LIMITS_SHORTHAND = "limits."
_STEP = re.compile(r"\.?([A-Za-z_][A-Za-z0-9_-]*)|\[(\d+)\]")


class OverrideError(ValueError):
    """A ``--set`` that cannot be applied; the message names it and the field."""


def parse_path(path: str) -> list[str | int]:
    """``fleet.clusters[0].run_nodes`` -> ``["fleet", "clusters", 0, "run_nodes"]``."""
    steps: list[str | int] = []
    position = 0
    while position < len(path):
        match = _STEP.match(path, position)
        if match is None or (position == 0 and path.startswith(".")):
            raise OverrideError(f"--set {path}: cannot read the path at {path[position:]!r}")
        name, index = match.groups()
        steps.append(int(index) if index is not None else name)
        position = match.end()
    if not steps or isinstance(steps[0], int):
        raise OverrideError(f"--set {path!r}: a path starts with a field name, e.g. growth.start_per_month")
    return steps


def _split(assignment: str) -> tuple[str, Any]:
    path, sep, text = assignment.partition("=")
    path = path.strip()
    if not sep or not path:
        raise OverrideError(f"--set {assignment!r}: expected PATH=VALUE, e.g. growth.start_per_month=300")
    try:
        value = yaml.safe_load(text) if text.strip() else None
    except yaml.YAMLError as exc:
        raise OverrideError(f"--set {assignment!r}: the value is not valid YAML ({exc})") from None
    return path, value


def _fields(model: BaseModel) -> list[str]:
    return list(type(model).model_fields)


def _describe(model: BaseModel) -> str:
    kind = getattr(model, "kind", None)
    return f"kind {kind!r}" if isinstance(kind, str) else type(model).__name__


def _resolve(scenario: Scenario, path: str, steps: list[str | int]) -> tuple[list[str | int], Any]:
    """Check ``steps`` against the scenario as it is; return the dump path (mapping keys joined) and the old value."""
    current: Any = scenario
    walked: list[str | int] = []
    for position, step in enumerate(steps):
        where = format_loc(tuple(walked)) or "the scenario"
        if isinstance(current, BaseModel):
            if not isinstance(step, str) or step not in type(current).model_fields:
                what = f"[{step}]" if isinstance(step, int) else repr(step)
                raise OverrideError(
                    f"--set {path}: {where} ({_describe(current)}) has no field {what}; "
                    f"its fields: {', '.join(_fields(current))}"
                )
            current = getattr(current, step)
        elif isinstance(current, dict):
            rest = steps[position:]
            if any(isinstance(s, int) for s in rest):
                raise OverrideError(f"--set {path}: {where} is a mapping; its keys take no [index]")
            key = ".".join(str(s) for s in rest)
            return [*walked, key], current.get(key)
        elif isinstance(current, list):
            if not isinstance(step, int):
                raise OverrideError(f"--set {path}: {where} is a list; give an index, e.g. {where}[0]")
            if step >= len(current):
                raise OverrideError(f"--set {path}: {where} has {len(current)} entries (indices 0-{len(current) - 1})")
            current = current[step]
        elif current is None:
            raise OverrideError(
                f"--set {path}: {where} is not set in this scenario; set it whole, e.g. {where}={{...}}"
            )
        else:
            raise OverrideError(f"--set {path}: {where} is a single value ({current!r}); it has no field {step!r}")
        walked.append(step)
    return walked, current


def _put(data: Any, steps: list[str | int], value: Any) -> None:
    for step in steps[:-1]:
        data = data[step]
    data[steps[-1]] = value


def _plain(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    return value


def locate(scenario: Scenario, path: str) -> tuple[list[str | int], Any]:
    """Where ``path`` lives in the scenario's data, and its value there now.

    A path that is not a scenario field but is a figure of the scenario's limits profile (``costs.price_multiplier``,
    ``kubernetes.max_pods_per_node``; or explicitly ``limits.kubernetes.max_pods_per_node``) is a limits override.
    """
    if path.startswith(LIMITS_SHORTHAND):
        path = "limits_overrides." + path[len(LIMITS_SHORTHAND) :]
    try:
        return _resolve(scenario, path, parse_path(path))
    except OverrideError as problem:
        profile = resolve_limits(scenario)
        try:
            figure = profile.figure(path)
        except KeyError:
            section = path.split(".")[0] + "."
            siblings = [p for p in profile.figure_paths() if p.startswith(section)]
            if siblings:
                raise OverrideError(f"--set {path}: no such limits figure; known: {', '.join(siblings)}") from None
            raise problem from None
        steps = ["limits_overrides", path]
        return steps, scenario.limits_overrides.get(path, figure.value)


def set_values(scenario: Scenario, values: list[tuple[str, Any]], label: str = "--set") -> tuple[Scenario, list[dict]]:
    """The scenario with each ``(path, value)`` applied in order and validated; and the record of what changed."""
    data = scenario.model_dump()
    record: list[dict] = []
    for path, value in values:
        steps, old = locate(scenario, path)
        _put(data, steps, value)
        shown = f"{label} {path}={value}"
        try:
            scenario = Scenario.model_validate(data)
        except ValidationError as exc:
            problems = "; ".join(f"{format_loc(tuple(e['loc']))}: {e['msg']}" for e in exc.errors())
            raise OverrideError(f"{shown}: {problems}") from None
        if steps[0] == "limits_overrides":
            try:
                resolve_limits(scenario)  # the figure path and its value, checked against the limits profile
            except ConfigError as exc:
                raise OverrideError(f"{shown}: {'; '.join(exc.problems)}") from None
        record.append({"path": format_loc(tuple(steps)), "value": _plain(value), "was": _plain(old)})
    return scenario, record


def apply_overrides(scenario: Scenario, assignments: list[str] | tuple[str, ...]) -> tuple[Scenario, list[dict]]:
    """The scenario with every ``PATH=VALUE`` applied in order, validated; and the record of what changed."""
    if not assignments:
        return scenario, []
    return set_values(scenario, [_split(a) for a in assignments])
