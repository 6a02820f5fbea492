"""Cost models (FR-004): how a plan's latency, fidelity risk and ebits become one number.

A cost model is any object with ``cost(terms: CostTerms) -> float`` (lower is better),
registered through ``qorch_register_cost_models`` and selected by ``[compiler]
cost_model``. Placement strategies search with a linearisation of it (see
:class:`qorch.compile.strategy.Objective`) and choose between candidate plans with the
exact value, so a researcher's model steers both.
"""

from __future__ import annotations

import attrs

from qorch.interfaces import CostTerms


@attrs.frozen
class WeightedOptions:
    """Weights of the default cost model: ``[plugins.cost_model.weighted]``."""

    latency: float = attrs.field(
        default=0.01,
        validator=attrs.validators.ge(0.0),
        metadata={"doc": "cost per millisecond of estimated makespan"},
    )
    fidelity_risk: float = attrs.field(
        default=10.0,
        validator=attrs.validators.ge(0.0),
        metadata={"doc": "cost per unit of fidelity risk (1 - estimated fidelity)"},
    )
    ebits: float = attrs.field(
        default=1.0,
        validator=attrs.validators.ge(0.0),
        metadata={"doc": "cost per ebit consumed"},
    )


class WeightedCost:
    """Weighted sum of latency, fidelity risk and ebits (the default)."""

    def __init__(self, options: WeightedOptions | None = None) -> None:
        self.options = options or WeightedOptions()

    def cost(self, terms: CostTerms) -> float:
        """``latency·ms + fidelity_risk·risk + ebits·ebits``."""
        o = self.options
        return (
            o.latency * terms.latency_ms
            + o.fidelity_risk * terms.fidelity_risk
            + (o.ebits * terms.ebits)
        )


class FidelityOnly:
    """Only the fidelity risk counts: the plan most likely to give the right answer."""

    def cost(self, terms: CostTerms) -> float:
        """``1 − estimated fidelity``."""
        return terms.fidelity_risk


class Makespan:
    """Only the estimated makespan counts: the fastest plan."""

    def cost(self, terms: CostTerms) -> float:
        """Estimated makespan in milliseconds."""
        return terms.latency_ms
