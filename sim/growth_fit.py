"""Growth and churn fitted from the router's ledger, with their uncertainty, as the scenario's growth laws.

From the ledger (``sim.start_from.sources``, one row per reservation):

- a **sign-up** is a customer's first reservation; a **new service** is any reservation;
- a customer has **churned** when every reservation it made has been released (at its last release).

``fit_growth`` fits each growth kind the scenario knows (``sim.distributions``: constant, linear, exponential,
logistic) to the weekly sign-up counts by Poisson maximum likelihood, the sign-up rate being that kind's rate
law with time measured from ``now`` (so the fitted law continues from today when a run starts), and chooses one
by information criterion (BIC by default, AIC on request). Uncertainty comes from the fit's covariance (the
inverse of the negative log-likelihood's Hessian, computed numerically in the parameters' unconstrained form:
logs of rates and steepness): ``GrowthFit.draw(rng)`` gives one growth law drawn from it for one Monte Carlo run.
With fewer than ``MIN_HISTORY_WEEKS`` of history nothing is fitted and the fit says so (the caller keeps the
base scenario's growth). Churn: ``sim.churn_fit``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import pandas as pd

from sim.distributions import (
    DAYS_PER_MONTH,
    ConstantGrowth,
    ExponentialGrowth,
    Growth,
    LinearGrowth,
    LogisticGrowth,
)

MIN_HISTORY_WEEKS = 8  # fewer weeks of ledger than this: no fit, the base scenario's growth is used
MIN_SIGNUPS = 10  # fewer sign-ups than this: no fit either (nothing to tell the kinds apart)
CRITERIA = ("aic", "bic")
Z90 = 1.6448536269514722  # the two-sided 90 % normal quantile
EXTRAPOLATION_RATIO = 2.0  # a horizon beyond this many times the fitted history: ``GrowthFit.horizon_note``
PLATEAU_RISE = 4.0  # (``_held_to_the_likelihood``) a 90 % step may cost this many times its quadratic share
_FLOOR = 1e-9  # sign-ups per month below which a rate law is taken as zero (a log-likelihood needs > 0)


@dataclass(frozen=True, slots=True)
class Kind:
    """One growth kind: its rate law over unconstrained parameters, the growth model they give, and starts."""

    name: str
    names: tuple[str, ...]  # the unconstrained parameters
    rate: Callable[[np.ndarray, np.ndarray], np.ndarray]  # (theta, months from now) -> sign-ups per month
    model: Callable[[np.ndarray], Growth]
    natural: Callable[[np.ndarray], dict[str, float]]  # each reported figure from its one unconstrained parameter


def _logistic_rate(theta: np.ndarray, t: np.ndarray) -> np.ndarray:
    top, midpoint, steepness = math.exp(theta[0]), theta[1], math.exp(theta[2])
    return top / (1.0 + np.exp(-steepness * (t - midpoint)))


KINDS: tuple[Kind, ...] = (
    Kind(
        "constant",
        ("log_rate",),
        lambda th, t: np.full_like(t, math.exp(th[0])),
        lambda th: ConstantGrowth(kind="constant", rate_per_month=math.exp(th[0])),
        lambda th: {"rate_per_month": math.exp(th[0])},
    ),
    Kind(
        "linear",
        ("log_start", "slope"),
        lambda th, t: math.exp(th[0]) + th[1] * t,
        lambda th: LinearGrowth(kind="linear", start_per_month=math.exp(th[0]), slope_per_month=float(th[1])),
        lambda th: {"start_per_month": math.exp(th[0]), "slope_per_month": float(th[1])},
    ),
    Kind(
        "exponential",
        ("log_start", "log_factor"),
        lambda th, t: np.exp(th[0] + th[1] * t),
        lambda th: ExponentialGrowth(
            kind="exponential", start_per_month=math.exp(th[0]), monthly_growth=math.expm1(th[1])
        ),
        lambda th: {"start_per_month": math.exp(th[0]), "monthly_growth": math.expm1(th[1])},
    ),
    Kind(
        "logistic",
        ("log_max", "midpoint", "log_steepness"),
        _logistic_rate,
        lambda th: LogisticGrowth(
            kind="logistic",
            max_per_month=math.exp(th[0]),
            min_per_month=0.0,
            midpoint_months=float(th[1]),
            steepness_per_month=math.exp(th[2]),
        ),
        lambda th: {
            "max_per_month": math.exp(th[0]),
            "midpoint_months": float(th[1]),
            "steepness_per_month": math.exp(th[2]),
        },
    ),
)
KIND_BY_NAME = {k.name: k for k in KINDS}


@dataclass(frozen=True)
class KindFit:
    """One kind fitted: its unconstrained estimate and covariance, log-likelihood and criteria."""

    kind: str
    theta: np.ndarray
    covariance: np.ndarray | None  # None: the Hessian was not positive definite (no uncertainty to draw from)
    log_likelihood: float
    aic: float
    bic: float

    @property
    def params(self) -> dict[str, float]:
        return KIND_BY_NAME[self.kind].natural(self.theta)

    def intervals(self) -> dict[str, tuple[float, float]]:
        """A 90 % interval per reported parameter (each is a monotone function of one unconstrained parameter)."""
        if self.covariance is None:
            return {}
        natural = KIND_BY_NAME[self.kind].natural
        se = np.sqrt(np.maximum(np.diag(self.covariance), 0.0))
        out: dict[str, tuple[float, float]] = {}
        names = list(self.params)
        for i, name in enumerate(names):
            low, high = self.theta.copy(), self.theta.copy()
            low[i] -= Z90 * se[i]
            high[i] += Z90 * se[i]
            a, b = natural(low)[name], natural(high)[name]
            out[name] = (min(a, b), max(a, b))
        return out

    def growth(self) -> Growth:
        return KIND_BY_NAME[self.kind].model(self.theta)

    def draw(self, rng: np.random.Generator) -> Growth:
        """One growth law with parameters drawn from the fit's covariance (the estimate without one)."""
        if self.covariance is None:
            return self.growth()
        theta = rng.multivariate_normal(self.theta, self.covariance, method="eigh")
        return KIND_BY_NAME[self.kind].model(theta)


@dataclass(frozen=True)
class GrowthFit:
    """The fits of every kind and the chosen one; ``chosen`` is None when there was too little history."""

    weeks: float
    signups: int
    criterion: str
    fits: tuple[KindFit, ...]
    chosen: KindFit | None
    message: str
    recent_misfit: str | None = None  # where the whole ledger's law missed the last weeks (sim.growth_recent)

    @property
    def enough(self) -> bool:
        return self.chosen is not None

    def weights(self) -> dict[str, float]:
        """Akaike (or Schwarz) weights of the kinds: the evidence for each, summing to 1."""
        if not self.fits:
            return {}
        scores = np.array([getattr(f, self.criterion) for f in self.fits])
        relative = np.exp(-(scores - scores.min()) / 2)
        return {f.kind: float(w) for f, w in zip(self.fits, relative / relative.sum(), strict=True)}

    def horizon_note(self, horizon_days: float, *, forecast: bool = True) -> str | None:
        """What a forecast (or, without ``forecast``, one run of the chosen kind) ``horizon_days`` ahead leans on
        when that is more than ``EXTRAPOLATION_RATIO`` times the weeks fitted: the kinds' rates at its end, and that
        a turn the history has not shown is in no run."""
        history_days = 7.0 * self.weeks
        if self.chosen is None or horizon_days <= EXTRAPOLATION_RATIO * history_days:
            return None
        weights = self.weights()
        kinds = sorted((f for f in self.fits if weights[f.kind] >= 0.01), key=lambda f: -weights[f.kind])
        end = np.array([horizon_days / DAYS_PER_MONTH])
        rates = [float(KIND_BY_NAME[f.kind].rate(f.theta, end)[0]) for f in kinds]
        now = float(KIND_BY_NAME[self.chosen.kind].rate(self.chosen.theta, np.zeros(1))[0])
        follows = "each run follows one of them" if forecast else f"the run follows the chosen {self.chosen.kind}"
        return (
            f"growth: fitted to {self.weeks:.1f} weeks of sign-ups, and the {'forecast' if forecast else 'run'} goes "
            f"{horizon_days:.0f} days, {horizon_days / history_days:.1f} times as long: the kinds that fit those weeks "
            f"({', '.join(f'{f.kind} {100 * weights[f.kind]:.0f} %' for f in kinds)}) sign up "
            f"{max(min(rates), 0.0):,.0f}-{max(rates):,.0f} customers a month by its end, against {now:,.0f} now, and "
            f"{follows}; a turn the history has not shown (an exponential's growth slowing, a step) is in none, so "
            f"dates past about day {EXTRAPOLATION_RATIO * history_days:.0f} rest on a kind continuing"
        )

    def table(self) -> pd.DataFrame:
        """One row per kind: parameters with 90 % intervals, log-likelihood, AIC, BIC, weight, chosen."""
        weights = self.weights()
        rows = []
        for fit in self.fits:
            intervals = fit.intervals()
            described = ", ".join(
                f"{name}={value:.4g}" + (" [{:.4g}, {:.4g}]".format(*intervals[name]) if name in intervals else "")
                for name, value in fit.params.items()
            )
            rows.append(
                {
                    "kind": fit.kind,
                    "parameters": described,
                    "log_likelihood": fit.log_likelihood,
                    "aic": fit.aic,
                    "bic": fit.bic,
                    "weight": weights[fit.kind],
                    "chosen": self.chosen is not None and fit.kind == self.chosen.kind,
                }
            )
        return pd.DataFrame(rows)


# --- from the ledger ------------------------------------------------------------------------------------------


def _days_before(times: pd.Series, now: datetime) -> np.ndarray:
    """Days from ``now`` (negative: in the past)."""
    return ((times - pd.Timestamp(now)).dt.total_seconds() / 86400.0).to_numpy(dtype=float)


def signup_days(ledger: pd.DataFrame, now: datetime) -> np.ndarray:
    """Each customer's first reservation, in days from ``now`` (negative), sorted."""
    if ledger.empty:
        return np.zeros(0)
    first = ledger.groupby("customer_id")["reserved_at"].min()
    return np.sort(_days_before(first, now))


def service_days(ledger: pd.DataFrame, now: datetime) -> np.ndarray:
    """Every reservation (a new service), in days from ``now``, sorted."""
    return np.sort(_days_before(ledger["reserved_at"], now)) if not ledger.empty else np.zeros(0)


def churn_days(ledger: pd.DataFrame, now: datetime) -> pd.Series:
    """Per customer: the day (from ``now``) it churned, its last release once all its reservations are released;
    NaN for a customer that still holds a reservation."""
    if ledger.empty:
        return pd.Series(dtype=float)
    grouped = ledger.groupby("customer_id")["released_at"]
    gone = grouped.count() == grouped.size()  # every reservation released
    last = grouped.max()
    days = pd.Series(_days_before(last.where(gone), now), index=last.index)
    return days.where(gone.to_numpy())


# --- fitting --------------------------------------------------------------------------------------------------


def weekly_counts(days: np.ndarray, start: float) -> tuple[np.ndarray, np.ndarray]:
    """Bin edges (days from now, ``start`` to 0, weekly; the first bin takes the odd days) and counts per bin."""
    weeks = max(int(math.ceil(-start / 7.0)), 1)
    edges = np.concatenate(([start], -7.0 * np.arange(weeks - 1, -1, -1)))
    edges = np.unique(np.clip(edges, start, 0.0))
    counts, _ = np.histogram(days, bins=edges)
    return edges, counts.astype(float)


def expected_counts(kind: Kind, edges: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
    """The sign-ups a law expects per bin: its rate integrated over the bin (Simpson's rule)."""
    months = edges / DAYS_PER_MONTH
    a, b = months[:-1], months[1:]
    width = b - a

    def expected(theta: np.ndarray) -> np.ndarray:
        try:
            with np.errstate(over="ignore", invalid="ignore"):
                rates = [kind.rate(theta, x) for x in (a, (a + b) / 2, b)]
        except OverflowError:  # an optimizer's step far out (a logistic's steepness): no likelihood there
            return np.full_like(width, np.inf)
        return width * (rates[0] + 4 * rates[1] + rates[2]) / 6

    return expected


def _negative_log_likelihood(kind: Kind, edges: np.ndarray, counts: np.ndarray) -> Callable[[np.ndarray], float]:
    # Poisson counts per bin.
    expected_of = expected_counts(kind, edges)

    def nll(theta: np.ndarray) -> float:
        expected = expected_of(theta)
        if not np.all(np.isfinite(expected)):
            return 1e300
        expected = np.maximum(expected, _FLOOR)
        return float(np.sum(expected - counts * np.log(expected)))

    return nll


def numerical_hessian(function: Callable[[np.ndarray], float], theta: np.ndarray) -> np.ndarray:
    """Central-difference Hessian."""
    n = len(theta)
    steps = 1e-4 * np.maximum(1.0, np.abs(theta))
    hessian = np.empty((n, n))
    for i in range(n):
        for j in range(i, n):
            total = 0.0
            for si, sj, sign in ((1, 1, 1), (1, -1, -1), (-1, 1, -1), (-1, -1, 1)):
                shifted = theta.copy()
                shifted[i] += si * steps[i]
                shifted[j] += sj * steps[j]
                total += sign * function(shifted)
            hessian[i, j] = hessian[j, i] = total / (4 * steps[i] * steps[j])
    return hessian


def _starts(kind: str, mean_rate: float, history_months: float) -> list[np.ndarray]:
    log_rate = math.log(max(mean_rate, 1e-3))
    if kind == "constant":
        return [np.array([log_rate])]
    if kind == "linear":
        return [np.array([log_rate, 0.0]), np.array([log_rate, mean_rate / max(history_months, 1.0)])]
    if kind == "exponential":
        return [np.array([log_rate, 0.0]), np.array([log_rate, 0.05]), np.array([log_rate, -0.05])]
    return [
        np.array([log_rate + math.log(top), -history_months * share, math.log(steep)])
        for top in (1.5, 3.0)
        for share in (0.1, 0.5, 0.9)
        for steep in (0.3, 1.0)
    ]


def fit_kind(kind: Kind, edges: np.ndarray, counts: np.ndarray) -> KindFit:
    """The maximum-likelihood fit of one kind to binned counts, with its covariance."""
    # Imported here: the forecast's workers unpickle fits and draw from them, and only the parent fits (scipy's
    # import was ~0.4 s of each worker's start-up).
    from scipy import optimize

    nll = _negative_log_likelihood(kind, edges, counts)
    history_months = -edges[0] / DAYS_PER_MONTH
    mean_rate = counts.sum() / max(history_months, 1e-9)
    best = None
    for start in _starts(kind.name, mean_rate, history_months):
        candidate = optimize.minimize(nll, start, method="BFGS")
        if best is None or candidate.fun < best.fun:
            best = candidate
    # Polished from the best start: BFGS may stop early where the likelihood is flat (a logistic's plateau).
    polished = optimize.minimize(nll, best.x, method="Nelder-Mead", options={"xatol": 1e-8, "fatol": 1e-9})
    best = polished if polished.fun < best.fun else best
    theta = np.asarray(best.x, dtype=float)
    # The constant part of the Poisson log-likelihood (log k!) is the same for every kind; kept so it is a true one.
    log_likelihood = -float(best.fun) - float(np.sum([math.lgamma(c + 1) for c in counts]))
    k, n = len(theta), len(counts)
    covariance = None
    hessian = numerical_hessian(nll, theta)
    if np.all(np.isfinite(hessian)):
        eigenvalues = np.linalg.eigvalsh(hessian)
        if eigenvalues.min() > 1e-10 * max(eigenvalues.max(), 1.0):
            covariance = _held_to_the_likelihood(nll, theta, np.linalg.inv(hessian), float(best.fun))
    return KindFit(
        kind.name, theta, covariance, log_likelihood, 2 * k - 2 * log_likelihood, k * math.log(n) - 2 * log_likelihood
    )


def _held_to_the_likelihood(nll, theta: np.ndarray, covariance: np.ndarray, minimum: float) -> np.ndarray:
    """``covariance`` with each parameter's spread narrowed to where the likelihood falls no faster than
    ``PLATEAU_RISE`` times its quadratic approximation's at a 90 % step: on a plateau (a logistic's steepness once
    it is a step) the curvature is nearly flat, and draws from its huge variance leave it for laws the ledger rules
    out (a tenth of the runs at half today's rate)."""
    covariance = covariance.copy()
    allowed = PLATEAU_RISE * Z90**2 / 2

    def rises(i: int, share: float) -> bool:
        step = theta.copy()
        step[i] += share * Z90 * math.sqrt(covariance[i, i])
        return nll(step) - minimum > allowed

    for i in range(len(theta)):
        scale = 1.0
        for sign in (1.0, -1.0):
            if not rises(i, sign * scale):
                continue
            passes, fails = 0.0, scale  # the largest share of the step the likelihood allows, by bisection
            for _ in range(24):
                middle = (passes + fails) / 2
                passes, fails = (middle, fails) if not rises(i, sign * middle) else (passes, middle)
            scale = max(passes, 1e-6)
        covariance[i, :] *= scale
        covariance[:, i] *= scale
    return covariance


def fit_growth(
    days: np.ndarray,
    history_days: float,
    *,
    criterion: str = "bic",
    min_weeks: float = MIN_HISTORY_WEEKS,
) -> GrowthFit:
    """Fit every growth kind to sign-up times ``days`` (days from now, negative) observed over the last
    ``history_days`` days, and choose one by ``criterion``."""
    if criterion not in CRITERIA:
        raise ValueError(f"criterion must be one of {CRITERIA}, got {criterion!r}")
    weeks = history_days / 7.0
    if weeks < min_weeks or len(days) < MIN_SIGNUPS:
        message = (
            f"{weeks:.1f} weeks of history with {len(days)} sign-ups: fewer than {min_weeks:g} weeks or "
            f"{MIN_SIGNUPS} sign-ups, so growth is not fitted; the base scenario's growth is used"
        )
        return GrowthFit(weeks, len(days), criterion, (), None, message)
    edges, counts = weekly_counts(days, -history_days)
    fits = tuple(fit_kind(kind, edges, counts) for kind in KINDS)
    # Ties go to the simpler kind (KINDS is ordered by parameter count).
    chosen = min(fits, key=lambda f: (round(getattr(f, criterion), 9), len(f.theta)))
    message = (
        f"growth fitted to {len(days)} sign-ups over {weeks:.1f} weeks: {chosen.kind} chosen by "
        f"{criterion.upper()} ({', '.join(f'{f.kind} {getattr(f, criterion):.1f}' for f in fits)})"
    )
    return GrowthFit(weeks, len(days), criterion, fits, chosen, message)


def signed_up_here(ledger: pd.DataFrame) -> pd.DataFrame:
    """The reservations of the customers whose sign-up the ledger holds: where the product API marks
    ``new_customer``, those whose first reservation is marked (a customer the fleet had before the router came to
    it, and its first reservation is no sign-up); where it marks none, every customer's."""
    if "new_customer" not in ledger or not ledger["new_customer"].astype(bool).any():
        return ledger
    first_marked = ledger.sort_values("reserved_at", kind="stable").groupby("customer_id")["new_customer"].first()
    return ledger[ledger["customer_id"].map(first_marked.astype(bool)).to_numpy(bool)]


def signup_days_by_customer(ledger: pd.DataFrame, now: datetime) -> dict[str, float]:
    first = ledger.groupby("customer_id")["reserved_at"].min()
    return dict(zip(first.index, _days_before(first, now), strict=True))
