"""Declared notebook parameters: types, ranges, allowed values and the `quick`/`full` profiles.

`validate` checks values against a notebook's declared parameters (its callers look them up in the catalog)
and raises one `ValueError` naming the parameter, the value given and what is allowed.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import KW_ONLY, dataclass, field
from types import BuiltinFunctionType, FunctionType, ModuleType
from typing import Any

PROFILES = ("quick", "full")
DEVICES = ("auto", "cpu", "gpu", "cuda")
_UNSET: Any = object()
_IMPORTED = (ModuleType, type, FunctionType, BuiltinFunctionType)  # imports, never parameter values
_IPYTHON_NAMES = {"In", "Out", "get_ipython", "exit", "quit", "open"}
_TYPE_NAMES = {int: "an int", float: "a float", str: "a string", bool: "a bool (True/False)"}


@dataclass(frozen=True)
class Param:
    """One notebook parameter: name, type and quick default, then its constraints by keyword."""

    name: str
    kind: type
    default: Any
    _: KW_ONLY
    help: str
    choices: tuple[Any, ...] | None = None
    minimum: float | None = None
    maximum: float | None = None
    full: Any = field(default=_UNSET)

    def value_for(self, profile: str) -> Any:
        """The value this parameter takes under a profile when nobody set it."""
        return self.full if profile == "full" and self.full is not _UNSET else self.default

    def allowed(self) -> str:
        """What is allowed, in words, for error messages and `labkit params`."""
        if self.choices is not None:
            return "one of " + ", ".join(repr(c) for c in self.choices)
        text = _TYPE_NAMES[self.kind]
        if self.minimum is not None and self.maximum is not None:
            text += f" in [{self.minimum}, {self.maximum}]"
        elif self.minimum is not None:
            text += f" >= {self.minimum}"
        elif self.maximum is not None:
            text += f" <= {self.maximum}"
        return text

    def check(self, value: Any, notebook: str) -> Any:
        """Return the value (ints widened to float for float parameters) or raise ValueError."""
        where = f"parameter {self.name!r} of {notebook}"
        if self.kind is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        type_ok = isinstance(value, self.kind) and not (self.kind is not bool and isinstance(value, bool))
        if not type_ok:
            raise ValueError(f"{where} got {value!r} ({type(value).__name__}); allowed: {self.allowed()}.")
        if self.kind is float and not math.isfinite(value):
            raise ValueError(f"{where} got {value!r}; allowed: {self.allowed()} (finite).")
        if self.choices is not None and value not in self.choices:
            raise ValueError(f"{where} got {value!r}; allowed: {self.allowed()}.")
        too_low = self.minimum is not None and value < self.minimum
        too_high = self.maximum is not None and value > self.maximum
        if too_low or too_high:
            raise ValueError(f"{where} got {value!r}, out of range; allowed: {self.allowed()}.")
        return value


class Params(dict):
    """Validated parameter values, readable as `P.epochs` or `P["epochs"]`."""

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(f"no parameter {name!r}; declared: {sorted(self)}") from None


def _candidate_names(namespace: Mapping[str, Any]) -> dict[str, Any]:
    """The user-level names in a notebook namespace: what papermill or the parameters cell set.

    Modules, classes and functions are imports (`from pathlib import Path`), never parameter values.
    """
    return {
        key: value
        for key, value in namespace.items()
        if not key.startswith("_") and key not in _IPYTHON_NAMES and not isinstance(value, _IMPORTED)
    }


def validate(
    declared_params: Sequence[Param],
    namespace: Mapping[str, Any],
    *,
    notebook: str,
    reject_unknown: bool = True,
) -> Params:
    """Check `namespace` against the declared parameters and apply the profile; ValueError on a bad one.

    Under `profile='full'` a parameter still at its quick default takes its full value; explicit
    values win. `device='gpu'` on a machine without a visible GPU is rejected here, at once.
    `reject_unknown=False` skips the unknown-name check (a kernel that already ran later cells).
    """
    from labkit.core import envinfo

    declared = {p.name: p for p in declared_params}
    given = _candidate_names(namespace)
    unknown = sorted(set(given) - set(declared))
    if unknown and reject_unknown:
        name = unknown[0]
        raise ValueError(
            f"unknown parameter {name!r} (value {given[name]!r}) for {notebook}; "
            f"declared parameters: {', '.join(declared)}. See `labkit params {notebook}`."
        )
    values = {
        name: declared[name].check(given.get(name, p.default), notebook) for name, p in declared.items()
    }
    profile = values["profile"]
    for name, p in declared.items():
        if values[name] == p.default:
            values[name] = p.check(p.value_for(profile), notebook)
    if values["device"] in ("gpu", "cuda") and not envinfo.gpu_available():
        raise ValueError(
            f"parameter 'device' of {notebook} got {values['device']!r} but no GPU is visible on this "
            f"machine ({envinfo.gpu_summary()}); allowed here: 'auto' or 'cpu'."
        )
    return Params(values)


def _number_list(name: str, text: str, kind: type, *, minimum: float, maximum: float) -> list:
    """Parse comma-separated numbers of `kind` within [minimum, maximum]; ValueError names what is wrong."""
    try:
        values = [kind(part) for part in text.split(",") if part.strip()]
    except ValueError:
        values = []
    if not values or any(not minimum <= v <= maximum for v in values):
        words = "numbers" if kind is float else "integers"
        raise ValueError(
            f"parameter {name!r} got {text!r}; allowed: comma-separated {words} in [{minimum}, {maximum}]."
        )
    return values


def float_list(name: str, text: str, *, minimum: float, maximum: float) -> list[float]:
    """Parse a comma-separated parameter such as "0.5,0.8,0.9"."""
    return _number_list(name, text, float, minimum=minimum, maximum=maximum)


def int_list(name: str, text: str, *, minimum: int, maximum: int) -> list[int]:
    """Parse a comma-separated parameter such as "1,2,4"."""
    return _number_list(name, text, int, minimum=minimum, maximum=maximum)


def parse_cli_value(text: str) -> Any:
    """Turn a `-p NAME VALUE` string into int, float, bool or str, as papermill's CLI does."""
    lowered = text.strip().lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            continue
    return text
