"""labkit.workbook.params: declared parameters, profiles and the errors a bad value gets."""

from __future__ import annotations

import pytest

from labkit.core import envinfo
from labkit.workbook import catalog, params

NB = "01_baseline_models"


def defaults(notebook: str = NB) -> dict:
    return catalog.defaults(notebook)


def validate(namespace: dict) -> params.Params:
    """Validation as the notebooks' `start` calls it: the catalog's declarations for NB."""
    return params.validate(catalog.params_of(NB), namespace, notebook=NB)


def test_defaults_validate_to_the_quick_values() -> None:
    values = validate(defaults())
    assert values == defaults(), f"validated {dict(values)} differs from declared {defaults()}"
    assert values.epochs_mlp == 20, f"P.epochs_mlp read {values.epochs_mlp}, declared default 20"


def test_full_profile_replaces_untouched_defaults_and_keeps_explicit_values() -> None:
    values = validate({**defaults(), "profile": "full", "epochs_cnn": 7})
    full_mlp = next(p for p in catalog.params_of(NB) if p.name == "epochs_mlp").full
    assert values.epochs_mlp == full_mlp, f"full profile gave epochs_mlp={values.epochs_mlp}, want {full_mlp}"
    assert values.epochs_cnn == 7, f"explicit epochs_cnn=7 became {values.epochs_cnn}"


def test_unknown_parameter_is_named() -> None:
    with pytest.raises(ValueError, match=r"unknown parameter 'epochs' \(value 5\).*declared parameters"):
        validate({**defaults(), "epochs": 5})


def test_wrong_type_names_parameter_value_and_allowed() -> None:
    with pytest.raises(
        ValueError, match=r"'batch_size' of 01_baseline_models got 'big' \(str\); allowed: an int"
    ):
        validate({**defaults(), "batch_size": "big"})


def test_bool_is_not_an_int() -> None:
    with pytest.raises(ValueError, match=r"'seed' .* got True"):
        validate({**defaults(), "seed": True})


def test_out_of_range_value() -> None:
    with pytest.raises(
        ValueError, match=r"'epochs_mlp' .* got -3, out of range; allowed: an int in \[1, 500\]"
    ):
        validate({**defaults(), "epochs_mlp": -3})


def test_value_outside_choices() -> None:
    with pytest.raises(ValueError, match=r"'profile' .* got 'huge'; allowed: one of 'quick', 'full'"):
        validate({**defaults(), "profile": "huge"})


def test_int_accepted_for_float_parameter() -> None:
    values = validate({**defaults(), "learning_rate": 1})
    assert values.learning_rate == 1.0 and isinstance(values.learning_rate, float), values.learning_rate


def test_nan_rejected() -> None:
    with pytest.raises(ValueError, match="learning_rate"):
        validate({**defaults(), "learning_rate": float("nan")})


@pytest.mark.parametrize("requested", ["gpu", "cuda"])
def test_gpu_without_gpu_fails_at_once(monkeypatch: pytest.MonkeyPatch, requested: str) -> None:
    monkeypatch.setattr(envinfo, "gpu_available", lambda: False)
    with pytest.raises(
        ValueError, match=rf"'device' of 01_baseline_models got '{requested}' but no GPU is visible"
    ):
        validate({**defaults(), "device": requested})


def test_notebook_namespace_ignores_modules_and_ipython_names() -> None:
    import json

    namespace = {**defaults(), "json": json, "In": [], "Out": {}, "_i1": "x", "get_ipython": print}
    assert validate(namespace) == defaults()


def test_validate_takes_the_declared_parameters_it_is_given() -> None:
    """No catalog lookup inside: a notebook the catalog does not know validates against what it is given."""
    declared = (*catalog.COMMON, params.Param("work", int, 1, minimum=1, maximum=10, help="how much"))
    values = params.validate(declared, {"work": 4}, notebook="98_scratch")
    expected = {"profile": "quick", "seed": 0, "device": "auto", "reveal_solutions": False, "work": 4}
    assert values == expected, dict(values)
    with pytest.raises(ValueError, match=r"'work' of 98_scratch got 11, out of range; allowed: an int in"):
        params.validate(declared, {"work": 11}, notebook="98_scratch")


def test_undeclared_notebook_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match=r"notebook '77_nothing' is not declared in labkit.workbook.catalog"):
        catalog.params_of("77_nothing")


@pytest.mark.parametrize(
    ("text", "expected"),
    [("5", 5), ("0.5", 0.5), ("true", True), ("False", False), ("torch", "torch"), ("1e-3", 0.001)],
)
def test_cli_values_are_typed(text: str, expected: object) -> None:
    parsed = params.parse_cli_value(text)
    assert parsed == expected and type(parsed) is type(expected), f"{text!r} parsed as {parsed!r}"


def test_rerunning_start_in_a_used_kernel_ignores_lesson_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    from labkit import notebook

    monkeypatch.setattr(notebook, "_started", set())
    monkeypatch.delenv("LABKIT_REVEAL_SOLUTIONS", raising=False)
    with pytest.raises(ValueError, match="unknown parameter 'epochs'"):
        notebook.start(NB, {**defaults(), "epochs": 5})
    notebook.start(NB, defaults())
    rerun = notebook.start(NB, {**defaults(), "digits": [1, 2], "base_accuracy": 0.98})
    assert rerun == defaults(), dict(rerun)
    with pytest.raises(ValueError, match="'epochs_mlp' .* got -1"):
        notebook.start(NB, {**defaults(), "epochs_mlp": -1, "digits": [1]})


def test_int_list_parses_and_names_bad_values() -> None:
    assert params.int_list("workers", "1, 2,4", minimum=1, maximum=64) == [1, 2, 4]
    for bad in ("1,2.5", "", "0,2", "a"):
        with pytest.raises(ValueError, match=r"'workers' got .*comma-separated integers in \[1, 64\]"):
            params.int_list("workers", bad, minimum=1, maximum=64)
