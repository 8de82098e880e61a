"""Churn fitted from the router's ledger: a constant hazard, and lognormal lifetimes where the ledger says the
hazard changes with a customer's age.

A customer has churned when every reservation it made has been released (``sim.growth_fit.churn_days``); it is
observed from its sign-up (its first reservation) to its churn or to now. ``fit_churn`` gives:

- **a constant hazard**: churned customers over the customer-months observed (a ``MonthlyChurn``), its
  uncertainty the Gamma(events, exposure) posterior; memoryless, so a customer's age does not matter;
- **lognormal lifetimes** (``LognormalLifetime``, the other age-dependent law the simulator knows), by maximum
  likelihood with the customers still here right-censored, over the customers whose sign-up the ledger holds
  (``sim.growth_fit.signed_up_here``), with at least ``MIN_SHAPE_EVENTS`` customers gone. Its hazard rises with
  age and then falls: a young fleet's first months under-state what its customers do later (lognormal lifetimes
  of mean 36 months and sigma 1 leave at 0.3 % a month at one month of age, 2.9 % at five, 3.8 % at twelve).

The two are weighed by the information criterion the growth fit uses (BIC by default; ``n`` the customers gone,
the events a censored likelihood rests on). Each Monte Carlo run draws one of them with its weight, and its
parameters from its uncertainty (``ChurnFit.draw``); ``ChurnFit.churn()`` is the preferred one. A live start
conditions each measured customer's lifetime on the age it has reached (``sim.start_from.draws``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import pandas as pd

from sim.distributions import DAYS_PER_MONTH, LognormalLifetime, MonthlyChurn
from sim.growth_fit import CRITERIA, Z90, churn_days, numerical_hessian, signed_up_here, signup_days_by_customer

MIN_SHAPE_EVENTS = 20  # fewer customers gone than this: no lognormal fit (two parameters, few events)
MIN_AGE_MONTHS = 1e-3  # a customer observed for less than this counts as observed this long (a log needs > 0)
MIN_WEIGHT = 1e-3  # a lognormal weighing less is left out of the draws (a run's churn is then drawn as without it)
SIGMA_RANGE = (0.05, 5.0)  # ``LognormalLifetime.sigma``'s bounds (5: the scenario's), drawn values clipped to them


@dataclass(frozen=True)
class LognormalFit:
    """Lognormal lifetimes in months: ``theta`` = (mu, log sigma), their covariance (None: the likelihood's
    curvature could not be inverted: draws take the estimate), and the fit's criteria. Tuples, not arrays: a fit
    compares equal to the same fit."""

    theta: tuple[float, float]
    covariance: tuple[tuple[float, float], tuple[float, float]] | None
    log_likelihood: float
    exponential_log_likelihood: float  # the constant hazard's, over the same customers
    events: int

    def criterion(self, name: str, lognormal: bool) -> float:
        k, ll = (2, self.log_likelihood) if lognormal else (1, self.exponential_log_likelihood)
        return (2 * k if name == "aic" else k * math.log(self.events)) - 2 * ll

    def weight(self, name: str) -> float:
        """The lognormal's weight against the constant hazard (Akaike/Schwarz weights)."""
        gap = self.criterion(name, True) - self.criterion(name, False)
        return 1.0 / (1.0 + math.exp(min(gap / 2, 700.0)))

    @staticmethod
    def law(theta) -> LognormalLifetime:
        sigma = min(max(math.exp(float(theta[1])), SIGMA_RANGE[0]), SIGMA_RANGE[1])
        return LognormalLifetime(kind="lognormal", mean_months=math.exp(float(theta[0]) + sigma**2 / 2), sigma=sigma)

    def hazard_per_month(self, age_months: float) -> float:
        from statistics import NormalDist

        mu, sigma = float(self.theta[0]), math.exp(float(self.theta[1]))
        z = (math.log(age_months) - mu) / sigma
        survival = 1.0 - NormalDist().cdf(z)
        return NormalDist().pdf(z) / (sigma * age_months * survival) if survival > 0 else math.inf


@dataclass(frozen=True)
class ChurnFit:
    """Churn from the ledger: a constant hazard (``events`` churned customers over ``exposure_months``
    customer-months) and, where fitted, lognormal lifetimes (``lognormal``) weighed against it by ``criterion``."""

    events: int
    exposure_months: float
    message: str
    lognormal: LognormalFit | None = None
    criterion: str = "bic"

    @property
    def hazard_per_month(self) -> float:
        return self.events / self.exposure_months if self.exposure_months > 0 else 0.0

    @property
    def fitted(self) -> bool:
        return self.events > 0 and self.exposure_months > 0

    @property
    def lognormal_weight(self) -> float:
        weight = self.lognormal.weight(self.criterion) if self.lognormal is not None else 0.0
        return weight if weight >= MIN_WEIGHT else 0.0

    def churn(self) -> MonthlyChurn | LognormalLifetime:
        """The preferred law: lognormal lifetimes where they weigh more than the constant hazard."""
        if self.lognormal_weight > 0.5:
            return LognormalFit.law(self.lognormal.theta)
        return MonthlyChurn(kind="monthly", rate=min(-math.expm1(-self.hazard_per_month), 1 - 1e-9))

    def draw(self, rng: np.random.Generator) -> MonthlyChurn | LognormalLifetime:
        """One run's churn law: lognormal lifetimes with their weight, their parameters drawn from the fit's
        covariance; else the hazard drawn from its Gamma(events, exposure) posterior (flat prior)."""
        shape = self.lognormal
        if self.lognormal_weight and rng.random() < self.lognormal_weight:
            if shape.covariance is None:
                return LognormalFit.law(shape.theta)
            return LognormalFit.law(rng.multivariate_normal(shape.theta, np.array(shape.covariance)))
        hazard = rng.gamma(self.events, 1.0 / self.exposure_months)
        return MonthlyChurn(kind="monthly", rate=min(max(-math.expm1(-hazard), 1e-9), 1 - 1e-9))

    def described(self) -> str:
        law = self.churn()
        if isinstance(law, LognormalLifetime):
            return f"lognormal lifetimes, mean {law.mean_months:.1f} months, sigma {law.sigma:.2f}"
        return f"{law.rate:.2%} a month"

    def expected_departures(self, since_months: np.ndarray, until_months: np.ndarray) -> float:
        """Customers expected to leave under the preferred law, each observed from age ``since_months`` to
        ``until_months`` (months since its sign-up)."""
        law = self.churn()
        if not isinstance(law, LognormalLifetime):
            return self.hazard_per_month * float(np.sum(until_months - since_months))
        from scipy import special  # the parent's only

        mu, sigma = law.mu_days - math.log(DAYS_PER_MONTH), law.sigma  # in log months

        def log_survival(months: np.ndarray) -> np.ndarray:
            return special.log_ndtr(-(np.log(np.maximum(months, MIN_AGE_MONTHS)) - mu) / sigma)

        return float(np.sum(log_survival(since_months) - log_survival(until_months)))

    def interval(self) -> tuple[float, float]:
        """90 % interval of the constant monthly churn rate (normal approximation on the log hazard)."""
        if not self.fitted:
            return (0.0, 0.0)
        spread = Z90 / math.sqrt(self.events)
        return tuple(-math.expm1(-self.hazard_per_month * math.exp(s)) for s in (-spread, spread))  # type: ignore[return-value]


def fit_churn(ledger: pd.DataFrame, now: datetime, *, criterion: str = "bic") -> ChurnFit:
    """Churned customers over the customer-months observed (from sign-up to churn or ``now``), and lognormal
    lifetimes over the customers whose sign-up the ledger holds."""
    if criterion not in CRITERIA:
        raise ValueError(f"criterion must be one of {CRITERIA}, got {criterion!r}")
    if ledger.empty:
        return ChurnFit(0, 0.0, "no ledger: churn is not fitted; the base scenario's churn is used")
    first = pd.Series(signup_days_by_customer(ledger, now))
    gone = churn_days(ledger, now).reindex(first.index)
    exposure = float(np.sum(gone.fillna(0.0) - first)) / DAYS_PER_MONTH
    events = int(gone.notna().sum())
    if events == 0:
        message = (
            f"no customer has churned in {exposure:.0f} customer-months: churn is not fitted; the base scenario's "
            "churn is used"
        )
        return ChurnFit(events, exposure, message, criterion=criterion)
    rate = -math.expm1(-events / exposure)
    message = f"churn fitted: {events} customers left over {exposure:.0f} customer-months ({rate:.2%} a month)"
    here = signed_up_here(ledger)
    ids = here["customer_id"].unique()
    shape = _fit_lognormal(
        ((gone.reindex(ids).fillna(0.0) - first.reindex(ids)) / DAYS_PER_MONTH).to_numpy(float),
        gone.reindex(ids).notna().to_numpy(bool),
    )
    if shape is not None:
        message += "; " + _shape_said(shape, criterion)
    return ChurnFit(events, exposure, message, shape, criterion)


def _shape_said(shape: LognormalFit, name: str) -> str:
    law = LognormalFit.law(shape.theta)
    weight = shape.weight(name)
    hazards = ", ".join(f"{shape.hazard_per_month(age):.2%} at {age:g}" for age in (1, 6, 12, 24))
    compared = f"{name.upper()} {shape.criterion(name, True):.1f} against {shape.criterion(name, False):.1f}"
    if weight > 0.5:
        return (
            f"lognormal lifetimes (mean {law.mean_months:.1f} months, sigma {law.sigma:.2f}) chosen over the constant "
            f"rate by {compared}, weight {weight:.2f}: the hazard changes with age ({hazards} months)"
        )
    return (
        f"lognormal lifetimes (mean {law.mean_months:.1f} months, sigma {law.sigma:.2f}) weigh {weight:.2f} against "
        f"the constant rate ({compared})"
    )


def _fit_lognormal(months: np.ndarray, gone: np.ndarray) -> LognormalFit | None:
    """Maximum likelihood of lognormal lifetimes: ``months`` observed per customer, ``gone`` whether it churned
    then (else right-censored). None with fewer than ``MIN_SHAPE_EVENTS`` events."""
    events = int(gone.sum())
    if events < MIN_SHAPE_EVENTS:
        return None
    from scipy import optimize, special  # the parent's only, as in ``sim.growth_fit.fit_kind``

    log_age = np.log(np.maximum(months, MIN_AGE_MONTHS))
    seen, kept = log_age[gone], log_age[~gone]

    def negative_log_likelihood(theta: np.ndarray) -> float:
        mu, log_sigma = theta
        sigma = math.exp(log_sigma)
        z_gone = (seen - mu) / sigma
        density = -np.sum(0.5 * z_gone**2 + log_sigma + seen) - 0.5 * math.log(2 * math.pi) * len(seen)
        return -(density + float(np.sum(special.log_ndtr(-(kept - mu) / sigma))))

    exposure = float(np.maximum(months, 0.0).sum())
    start = np.array([math.log(max(exposure / events, MIN_AGE_MONTHS)), 0.0])
    best = optimize.minimize(
        negative_log_likelihood, start, method="Nelder-Mead", options={"xatol": 1e-8, "fatol": 1e-9}
    )
    best = min((best, optimize.minimize(negative_log_likelihood, best.x, method="BFGS")), key=lambda r: r.fun)
    theta = np.asarray(best.x, dtype=float)
    hazard = events / exposure if exposure > 0 else 0.0
    constant = events * math.log(hazard) - hazard * exposure if hazard > 0 else -math.inf
    covariance = None
    hessian = numerical_hessian(negative_log_likelihood, theta)
    if np.all(np.isfinite(hessian)) and np.linalg.eigvalsh(hessian).min() > 1e-10 * max(abs(hessian).max(), 1.0):
        covariance = tuple(tuple(float(v) for v in row) for row in np.linalg.inv(hessian))
    return LognormalFit((float(theta[0]), float(theta[1])), covariance, -float(best.fun), constant, events)
