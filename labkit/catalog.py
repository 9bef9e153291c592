"""The series: every notebook's title and declared parameters, in one place.

The runner validates against these declarations before starting a kernel, `labkit params` prints them,
and a test keeps each notebook's `parameters` cell in step with them. Later notebooks add entries here.
"""

from __future__ import annotations

from dataclasses import dataclass

from labkit.params import Param, common_params

FRAMEWORKS = ("both", "keras", "torch")


@dataclass(frozen=True)
class NotebookEntry:
    """A notebook of the series: its file stem, title and declared parameters."""

    name: str
    title: str
    params: tuple[Param, ...]


SERIES: dict[str, NotebookEntry] = {
    entry.name: entry
    for entry in (
        NotebookEntry(
            "00_environment_check",
            "Environment check: versions, hardware, datasets",
            common_params()
            + (
                Param(
                    "frameworks",
                    str,
                    "both",
                    "frameworks the series must be able to import",
                    FRAMEWORKS,
                ),
                Param(
                    "min_free_memory_gb",
                    float,
                    1.0,
                    "free memory the self-check requires, in GiB",
                    None,
                    0.0,
                    1024.0,
                ),
            ),
        ),
        NotebookEntry(
            "01_baseline_models",
            "Baseline models: the seed's MLP and a small CNN in Keras and PyTorch",
            common_params()
            + (
                Param(
                    "frameworks",
                    str,
                    "both",
                    "train the Keras models, the PyTorch ones, or both",
                    FRAMEWORKS,
                ),
                Param("epochs_mlp", int, 20, "training epochs for the MLP", None, 1, 500, full=40),
                Param("epochs_cnn", int, 20, "training epochs for the CNN", None, 1, 500, full=40),
                Param("batch_size", int, 32, "mini-batch size", None, 1, 4096),
                Param("learning_rate", float, 1e-3, "Adam learning rate", None, 1e-6, 1.0),
            ),
        ),
    )
}


def entry(notebook: str) -> NotebookEntry:
    """The catalog entry for a notebook name (file stem), or a ValueError naming what exists."""
    try:
        return SERIES[notebook]
    except KeyError:
        raise ValueError(
            f"notebook {notebook!r} is not declared in labkit.catalog; known: {', '.join(SERIES)}."
        ) from None


def params_of(notebook: str) -> tuple[Param, ...]:
    return entry(notebook).params
