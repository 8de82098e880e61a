"""The scenario's random laws: sizes, counts, delays, the growth of sign-ups and churn.

Each law is a frozen pydantic model, a variant of a discriminated union on ``kind``; ``sim.sampling`` draws
from them. Sizes are bytes (Kubernetes quantities such as ``512Mi`` are accepted), times are days unless a
field says months. A month is ``DAYS_PER_MONTH`` days.
"""

from __future__ import annotations

import itertools
import math
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from placement.quantity import PositiveBytes

DAYS_PER_MONTH = 365.25 / 12


class SpecModel(BaseModel):
    """The base of every scenario model: frozen, and an unknown key is an error."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def check_weights(values: list, weights: list[float] | None) -> None:
    """Choice weights: one per value, non-negative, not all zero."""
    if weights is None:
        return
    if len(weights) != len(values):
        raise ValueError("weights must have one entry per value")
    if min(weights) < 0 or sum(weights) <= 0:
        raise ValueError("weights must be non-negative and not all zero")


# --- distributions of sizes and counts ------------------------------------------------------------------------


class FixedSize(SpecModel):
    kind: Literal["fixed"]
    value: PositiveBytes


class LognormalSize(SpecModel):
    """Lognormal by its median (``exp(mu)``) and ``sigma``, clipped to [min, max]."""

    kind: Literal["lognormal"]
    median: PositiveBytes
    sigma: float = Field(gt=0, le=5)
    min: PositiveBytes | None = None
    max: PositiveBytes | None = None

    @model_validator(mode="after")
    def _bounds(self) -> LognormalSize:
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError("min is above max")
        return self


class ChoiceSize(SpecModel):
    """One of ``values`` with the given ``weights`` (e.g. the plans' RAM sizes)."""

    kind: Literal["choice"]
    values: list[PositiveBytes] = Field(min_length=1)
    weights: list[float] | None = None

    @model_validator(mode="after")
    def _weights(self) -> ChoiceSize:
        check_weights(self.values, self.weights)
        return self


SizeDistribution = Annotated[FixedSize | LognormalSize | ChoiceSize, Field(discriminator="kind")]


class FixedCount(SpecModel):
    kind: Literal["fixed"]
    value: int = Field(ge=1)


class PoissonCount(SpecModel):
    """At least one: ``1 + Poisson(mean - 1)``, so the mean is ``mean``."""

    kind: Literal["poisson"]
    mean: float = Field(ge=1)
    max: int | None = Field(default=None, ge=1)


class GeometricCount(SpecModel):
    """Geometric on 1, 2, 3, ... with the given mean (a long tail of customers with many services)."""

    kind: Literal["geometric"]
    mean: float = Field(ge=1)
    max: int | None = Field(default=None, ge=1)


class ChoiceCount(SpecModel):
    kind: Literal["choice"]
    values: list[int] = Field(min_length=1)
    weights: list[float] | None = None

    @field_validator("values")
    @classmethod
    def _positive(cls, values: list[int]) -> list[int]:
        if min(values) < 1:
            raise ValueError("every customer has at least one service")
        return values

    @model_validator(mode="after")
    def _weights(self) -> ChoiceCount:
        check_weights(self.values, self.weights)
        return self


CountDistribution = Annotated[FixedCount | PoissonCount | GeometricCount | ChoiceCount, Field(discriminator="kind")]


class ExponentialDelay(SpecModel):
    kind: Literal["exponential"]
    mean_days: float = Field(ge=0)


class FixedDelay(SpecModel):
    kind: Literal["fixed"]
    days: float = Field(ge=0)


DelayDistribution = Annotated[ExponentialDelay | FixedDelay, Field(discriminator="kind")]


# --- growth ---------------------------------------------------------------------------------------------------


class ConstantGrowth(SpecModel):
    """A homogeneous Poisson process of sign-ups."""

    kind: Literal["constant"]
    rate_per_month: float = Field(ge=0)


class LinearGrowth(SpecModel):
    """The sign-up rate moves linearly from ``start_per_month`` by ``slope_per_month`` each month (floored at 0)."""

    kind: Literal["linear"]
    start_per_month: float = Field(ge=0)
    slope_per_month: float


class ExponentialGrowth(SpecModel):
    """The sign-up rate compounds: ``start_per_month * (1 + monthly_growth) ** months``."""

    kind: Literal["exponential"]
    start_per_month: float = Field(ge=0)
    monthly_growth: float = Field(gt=-1)


class LogisticGrowth(SpecModel):
    """An S-curve in the sign-up rate: from ``min_per_month`` up to ``max_per_month`` around ``midpoint_months``."""

    kind: Literal["logistic"]
    max_per_month: float = Field(ge=0)
    min_per_month: float = Field(default=0, ge=0)
    midpoint_months: float
    steepness_per_month: float = Field(gt=0)

    @model_validator(mode="after")
    def _ordered(self) -> LogisticGrowth:
        if self.min_per_month > self.max_per_month:
            raise ValueError(f"min_per_month {self.min_per_month:g} is above max_per_month {self.max_per_month:g}")
        return self


class MonthlySignups(SpecModel):
    month: str = Field(pattern=r"^\d{4}-(0[1-9]|1[0-2])$", description="calendar month, YYYY-MM")
    signups: float = Field(ge=0)


def _month_number(month: str) -> int:
    year, number = month.split("-")
    return int(year) * 12 + int(number) - 1


def _month_name(number: int) -> str:
    return f"{number // 12:04d}-{number % 12 + 1:02d}"


def resolve_gaps(rows: list[MonthlySignups], gaps: str) -> list[MonthlySignups]:
    """Monthly rows without a missing month: refused (``ValueError`` naming the months) or, with
    ``gaps: interpolate``, filled on the straight line between the months either side."""
    filled: list[MonthlySignups] = []
    missing: list[str] = []
    for before, after in itertools.pairwise(rows):
        filled.append(before)
        start, end = _month_number(before.month), _month_number(after.month)
        for number in range(start + 1, end):
            missing.append(_month_name(number))
            share = (number - start) / (end - start)
            signups = before.signups + share * (after.signups - before.signups)
            filled.append(MonthlySignups(month=_month_name(number), signups=signups))
    if missing and gaps != "interpolate":
        shown = ", ".join(missing[:6]) + (", ..." if len(missing) > 6 else "")
        raise ValueError(
            f"{len(missing)} month(s) missing between the first and the last row ({shown}); add them, or set "
            "growth.gaps: interpolate to fill them on the line between their neighbours"
        )
    return [*filled, rows[-1]] if rows else rows


class PiecewiseGrowth(SpecModel):
    """Real monthly sign-ups: a constant rate within each calendar month.

    In YAML, ``csv`` names a file (relative to the scenario) with the columns ``month,signups``;
    ``load_scenario`` reads it into ``monthly``. Months outside the data get ``after_data`` (``hold``: the
    last month's count; ``zero``: none) or, before the first month, none. A month missing between two rows is
    an error unless ``gaps: interpolate`` fills it on the line between its neighbours.
    """

    kind: Literal["piecewise"]
    csv: str | None = None
    gaps: Literal["refuse", "interpolate"] = "refuse"
    monthly: list[MonthlySignups] | None = None
    after_data: Literal["hold", "zero"] = "hold"

    @field_validator("monthly")
    @classmethod
    def _no_gaps(cls, rows: list[MonthlySignups] | None, info: ValidationInfo) -> list[MonthlySignups] | None:
        months = [row.month for row in rows or ()]
        if not rows or months != sorted(set(months)):
            return rows  # the order has its own error below
        return resolve_gaps(rows, info.data.get("gaps", "refuse"))

    @model_validator(mode="after")
    def _source(self) -> PiecewiseGrowth:
        if self.csv is None and not self.monthly:
            raise ValueError("give csv (a file of month,signups) or monthly (inline rows)")
        if self.monthly:
            months = [row.month for row in self.monthly]
            if months != sorted(set(months)):
                raise ValueError("monthly rows must be in increasing month order, each month once")
        return self


Growth = Annotated[
    ConstantGrowth | LinearGrowth | ExponentialGrowth | LogisticGrowth | PiecewiseGrowth,
    Field(discriminator="kind"),
]


# --- churn ----------------------------------------------------------------------------------------------------


class NoChurn(SpecModel):
    kind: Literal["none"]


class MonthlyChurn(SpecModel):
    """A constant monthly churn probability: exponential lifetimes with P(leave within a month) = ``rate``."""

    kind: Literal["monthly"]
    rate: float = Field(gt=0, lt=1)


class ExponentialLifetime(SpecModel):
    kind: Literal["exponential"]
    mean_months: float = Field(gt=0)


class LognormalLifetime(SpecModel):
    """Lognormal lifetimes with the given mean (not median) and log-scale ``sigma``."""

    kind: Literal["lognormal"]
    mean_months: float = Field(gt=0)
    sigma: float = Field(gt=0, le=5)

    @property
    def mu_days(self) -> float:
        """The log-scale location of the lifetimes in days (their mean is ``mean_months``)."""
        return math.log(self.mean_months * DAYS_PER_MONTH) - self.sigma**2 / 2


Churn = Annotated[NoChurn | MonthlyChurn | ExponentialLifetime | LognormalLifetime, Field(discriminator="kind")]
