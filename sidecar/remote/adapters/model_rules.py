"""Model × parameter rules: the values each provider model accepts, checked before anything is held or sent.

Each provider has one table of `ModelRule` rows (`fal_models`, `kling_models`, `runware_models`,
`synclabs_models`), each row naming the page its values were read from. `settle` turns a request's values
into the ones that will be sent (typed as the provider wants them, defaults made explicit so the price is
known) or refuses with VALIDATION_ERROR naming the allowed values.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from ...core.errors import AInfError, ErrorCode


@dataclass(frozen=True)
class Choice:
    """One parameter of a model: the values it accepts (typed as sent), its default, whether it is sent."""

    name: str
    allowed: tuple[Any, ...]
    default: Any
    sent: bool = True  # False: the model is fixed at this value and the field is not part of its input


@dataclass(frozen=True)
class ModelRule:
    """The parameters one provider model accepts, the combinations it refuses, where that is documented."""

    engine: str
    model: str
    choices: tuple[Choice, ...]
    source: str
    refused: tuple[tuple[tuple[str, Any], ...], ...] = ()  # combinations the provider refuses

    def allowed(self, name: str) -> tuple[Any, ...]:
        """The values a parameter takes (empty when the model has no such parameter)."""
        return next((c.allowed for c in self.choices if c.name == name), ())


def find_rule(rules: Iterable[ModelRule], model: str) -> ModelRule | None:
    """The row of a model in a provider's table."""
    return next((rule for rule in rules if rule.model == model), None)


def _refuse(rule: ModelRule, name: str, value: Any, allowed: Iterable[Any], context: str = "") -> AInfError:
    shown = ", ".join(str(v) for v in allowed)
    if not shown:  # the model has no such parameter at all
        message, step = f"{rule.model} takes no {name}.", f"Leave {name} empty, or pick a model taking it."
    else:
        message = f"{rule.model} does not take {name} {str(value)[:40]!r}{context}; allowed: {shown}."
        step = f"Pick one of: {shown}."
    return AInfError(
        ErrorCode.VALIDATION_ERROR,
        message,
        remediation=[step],
        detail={"engine": rule.engine, "model": rule.model, "field": name, "allowed": list(allowed),
                "source": rule.source},
    )  # fmt: skip


def _match(choice: Choice, value: Any) -> Any:
    """The allowed value a given one stands for (`"10"` for 10 and back), or raises KeyError."""
    if isinstance(value, bool):
        raise KeyError(value)
    for allowed in choice.allowed:
        if value == allowed or str(value).strip().lower() == str(allowed).lower():
            return allowed
    raise KeyError(value)


def settle(rule: ModelRule, request: dict[str, Any]) -> dict[str, Any]:
    """Every parameter of the rule at the value to be sent (defaults explicit); refused values raise."""
    values = {}
    for choice in rule.choices:
        given = request.get(choice.name)
        try:
            values[choice.name] = choice.default if given in (None, "", "default") else _match(choice, given)
        except KeyError:
            raise _refuse(rule, choice.name, given, choice.allowed) from None
    for combination in rule.refused:
        if all(values.get(name) == value for name, value in combination):
            (name, value), *others = combination
            together = ", ".join(f"{n} {v}" for n, v in others)
            allowed = [a for a in rule.allowed(name) if a != value]
            raise _refuse(rule, name, value, allowed, f" with {together}")
    return values


def sent(rule: ModelRule, values: dict[str, Any]) -> dict[str, Any]:
    """The settled values that go into the provider's input (fixed ones stay out)."""
    return {c.name: values[c.name] for c in rule.choices if c.sent}


def duration_for(rule: ModelRule, long: bool) -> Any:
    """A capability node's short/long onto the model's shortest or longest accepted duration."""
    durations = sorted(rule.allowed("duration"), key=lambda v: int(v))
    return durations[-1] if long else durations[0]
