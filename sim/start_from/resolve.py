"""A scenario that names its live source (``start_from:``) read into the scenario it starts: what ``sim run``,
``sim sweep``, ``sim compare``, ``sim forecast --base`` and ``sim.simulation.run`` do before they simulate.

    scenario = started_scenario(load_scenario("scenarios/live.yaml"))   # start_from read, live filled in

The scenario is its own base: what the source cannot tell (the mix, the operator, growth without history) is the
scenario's. The source is read once, as of its ``as_of`` (else the clock), so a sweep's runs all start from the same
fleet. What the start said of it (held load, measured sizes, estimated customers) is kept in ``live.notes`` and
shows among the run's warnings.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sim.scenario import Scenario
from sim.start_from.spec import live_of


def needs_reading(scenario: Scenario) -> bool:
    """Whether ``scenario`` names a live source not read yet."""
    return scenario.start_from is not None and live_of(scenario.start_from) is None


def started_scenario(scenario: Scenario, now: datetime | None = None) -> Scenario:
    """``scenario`` started from its ``start_from`` source (unchanged without one, or once read); ``now`` is the
    read's time when the source has no ``as_of`` (default: the clock). ``StartFromError`` on a bad source."""
    from sim.config import signup_excess
    from sim.start_from.build import read_source, start_from
    from sim.start_from.sources import StartFromError

    if not needs_reading(scenario):
        return scenario
    source = scenario.start_from
    state = read_source(source, source.as_of or now or datetime.now(UTC))
    started = start_from(scenario.model_copy(update={"start_from": None}), state)
    notes = list(started.warnings)
    fit = started.growth_fit
    if fit is not None and fit.enough:
        # The growth is the ledger's, not the scenario's: where it cannot be run, say so in those terms.
        if excess := signup_excess(started.scenario):
            raise StartFromError(
                f"the growth fitted to the ledger ({fit.chosen.kind}, "
                f"{', '.join(f'{name} {value:.4g}' for name, value in fit.chosen.params.items())}; from "
                f"{fit.weeks:.1f} weeks of sign-ups) cannot be run over the scenario's {started.scenario.days:,.0f} "
                f"days: {excess}; shorten horizon_days or horizon_years"
            )
        notes += [note] if (note := fit.horizon_note(started.scenario.days, forecast=False)) else []
    live = live_of(started.scenario.start_from)
    spec = started.scenario.start_from.model_copy(
        update={"as_of": source.as_of, "live": live.model_copy(update={"notes": notes})}
    )
    return started.scenario.model_copy(update={"start_from": spec})
