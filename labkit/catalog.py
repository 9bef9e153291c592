"""The series: every notebook's title and declared parameters, in one place.

The runner validates against these declarations before starting a kernel, `labkit params` prints them,
and a test keeps each notebook's `parameters` cell in step with them. Later notebooks add entries here.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from labkit.params import Param, common_params

FRAMEWORKS = ("both", "keras", "torch")

# The pruning schedule's parameters, shared by 02 (tfmot) and 05 (torch.nn.utils.prune).
RAMP_FRACTION = Param(
    "ramp_fraction", float, 0.5, "share of the steps over which sparsity ramps up", None, 0.05, 1.0
)
PRUNING_FREQUENCY = Param("pruning_frequency", int, 10, "steps between mask updates", None, 1, 1000)

# The load runs of the serving notebooks, shared by 09 (TF Serving) and 10 (TorchServe).
LOAD_REQUESTS = Param("load_requests", int, 400, "requests per load run", None, 10, 100000, full=2000)
CONCURRENCY = Param("concurrency", int, 8, "concurrent clients in the load runs", None, 1, 64)
TIME_LIMIT_S = Param(
    "time_limit_s", float, 20.0, "no new request after this many seconds per run", None, 1.0, 600.0
)


def calibration_samples(maximum: int) -> Param:
    """The int8 calibration set's size, shared by 03 and 13; at most the training images there are."""
    return Param(
        "calibration_samples", int, 100, "real training images for int8 calibration", None, 1, maximum
    )


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
        NotebookEntry(
            "02_pruning",
            "Pruning: magnitude pruning with tfmot, measured as sparsity, accuracy and gzip size",
            common_params()
            + (
                Param(
                    "target_sparsity", float, 0.8, "fraction of kernel weights set to zero", None, 0.0, 0.99
                ),
                Param("epochs", int, 10, "fine-tuning epochs while pruning", None, 1, 200, full=20),
                RAMP_FRACTION,
                Param("learning_rate", float, 1e-3, "Adam learning rate for fine-tuning", None, 1e-6, 1.0),
                PRUNING_FREQUENCY,
                Param(
                    "sweep",
                    str,
                    "0.5,0.7,0.8,0.9,0.95",
                    "comma-separated sparsities for the sweep",
                    full="0.3,0.5,0.6,0.7,0.8,0.85,0.9,0.95,0.98",
                ),
            ),
        ),
        NotebookEntry(
            "03_quantization",
            "Quantization: LiteRT float16, dynamic-range, full int8 and QAT, measured",
            common_params()
            + (
                calibration_samples(1151),
                Param("threads", int, 1, "LiteRT interpreter threads for every variant", None, 1, 64),
                Param(
                    "iterations", int, 300, "timed calls per variant at batch 1", None, 10, 100000, full=2000
                ),
                Param("qat_epochs", int, 3, "quantization-aware fine-tuning epochs", None, 1, 100, full=6),
                Param("qat_learning_rate", float, 1e-4, "Adam learning rate for QAT", None, 1e-7, 1.0),
                Param(
                    "prune_sparsity",
                    float,
                    0.8,
                    "sparsity of the pruned model that is then quantized",
                    None,
                    0.0,
                    0.99,
                ),
            ),
        ),
        NotebookEntry(
            "04_distillation",
            "Knowledge distillation: a 5x smaller student, distilled vs trained from scratch",
            common_params()
            + (
                Param("student_hidden", int, 24, "hidden units of the student MLP (784-h-10)", None, 1, 1024),
                Param("epochs", int, 30, "training epochs for every student", None, 1, 500, full=60),
                Param("temperature", float, 2.0, "softmax temperature of the soft targets", None, 0.1, 100.0),
                Param("alpha", float, 0.5, "weight of the hard-label loss", None, 0.0, 1.0),
                Param("learning_rate", float, 1e-3, "Adam learning rate", None, 1e-6, 1.0),
                Param("seeds", int, 3, "seeds per comparison (mean and spread)", None, 1, 50, full=5),
                Param("sweep_temperatures", str, "1,2,4,8", "temperatures tried at the default alpha"),
                Param("sweep_alphas", str, "0.1,0.5,0.9", "alphas tried at the default temperature"),
            ),
        ),
        NotebookEntry(
            "05_pytorch_compression",
            "PyTorch compression: pruning, torchao and PT2E int8, distillation, export, next to Keras",
            common_params()
            + (
                Param(
                    "target_sparsity",
                    float,
                    0.8,
                    "fraction of weights set to zero (global L1)",
                    None,
                    0.0,
                    0.99,
                ),
                Param("prune_epochs", int, 10, "fine-tuning epochs while pruning", None, 1, 200, full=20),
                RAMP_FRACTION,
                PRUNING_FREQUENCY,
                Param(
                    "channel_ratio",
                    float,
                    0.5,
                    "share of hidden units structured pruning removes",
                    None,
                    0.05,
                    0.95,
                ),
                Param(
                    "learning_rate",
                    float,
                    1e-3,
                    "Adam learning rate for every training loop",
                    None,
                    1e-6,
                    1.0,
                ),
                Param(
                    "calibration_samples",
                    int,
                    100,
                    "real training images for static int8 calibration",
                    None,
                    1,
                    1151,
                ),
                Param("threads", int, 1, "torch intra-op threads while timing", None, 1, 64),
                Param(
                    "iterations",
                    int,
                    300,
                    "timed calls per variant and batch size",
                    None,
                    10,
                    100000,
                    full=2000,
                ),
                Param(
                    "compile_int8",
                    bool,
                    True,
                    "lower the CNNs with torch.compile before timing (needs a C++ compiler)",
                ),
                Param("student_hidden", int, 24, "hidden units of the student MLP (784-h-10)", None, 1, 1024),
                Param("distill_epochs", int, 30, "training epochs for every student", None, 1, 500, full=60),
                Param("temperature", float, 2.0, "softmax temperature of the soft targets", None, 0.1, 100.0),
                Param("alpha", float, 0.5, "weight of the hard-label loss", None, 0.0, 1.0),
                Param("seeds", int, 3, "seeds per comparison (mean and spread)", None, 1, 50, full=5),
            ),
        ),
        NotebookEntry(
            "06_benchmarking_inference",
            "Benchmarking and inference patterns: honest timing, thread pools vs batching, a correct cache",
            common_params()
            + (
                Param("batch_size", int, 32, "batch the seed's benchmark_model times", None, 1, 359),
                Param("iterations", int, 200, "timed calls per benchmark", None, 10, 100000, full=1000),
                Param(
                    "pool_requests",
                    int,
                    64,
                    "single-image requests in the thread-pool experiment",
                    None,
                    8,
                    4096,
                    full=256,
                ),
                Param("workers", str, "1,2,4", "thread-pool sizes to compare"),
                Param(
                    "cache_requests", int, 1000, "requests in the cache stream", None, 10, 1000000, full=5000
                ),
                Param("distinct_inputs", int, 100, "distinct request payloads in the stream", None, 2, 179),
                Param(
                    "zipf_a",
                    float,
                    1.2,
                    "Zipf skew of payload popularity (higher: more repeats)",
                    None,
                    1.01,
                    5.0,
                ),
                Param("cache_kb", float, 64.0, "memory bound of the fixed cache, in KiB", None, 0.1, 1e6),
            ),
        ),
        NotebookEntry(
            "07_gpu_configuration",
            "GPU and CPU configuration: memory growth and limits, threads, mixed precision, measured",
            common_params()
            + (
                Param("framework", str, "both", "which part runs: both, keras or torch", FRAMEWORKS),
                Param(
                    "matrix_size",
                    int,
                    512,
                    "side of the square matmul timed for thread settings",
                    None,
                    64,
                    8192,
                ),
                Param("thread_counts", str, "1,2", "intra-op thread counts to compare"),
                Param("iterations", int, 50, "timed calls per setting", None, 5, 100000, full=200),
                Param("batch_size", int, 256, "batch for the mixed-precision timings", None, 1, 8192),
            ),
        ),
        NotebookEntry(
            "08_efficient_architectures_and_pipelines",
            "Efficient architectures and input pipelines: separable convolutions, tf.data, DataLoader",
            common_params()
            + (
                Param(
                    "width_multiplier",
                    float,
                    1.0,
                    "MobileNet-style width multiplier for both CNNs",
                    None,
                    0.25,
                    4.0,
                ),
                Param("image_size", int, 64, "shapes image size (the seed uses 224)", None, 32, 224),
                Param("epochs", int, 5, "training epochs for each CNN", None, 1, 200, full=15),
                Param("batch_size", int, 32, "batch size for training, pipelines and latency", None, 1, 512),
                Param(
                    "iterations", int, 50, "timed calls per latency comparison", None, 10, 100000, full=300
                ),
                Param("decode_ms", float, 2.0, "simulated decode time per image, ms", None, 0.0, 100.0),
                Param("step_ms", float, 20.0, "simulated training step per batch, ms", None, 0.0, 1000.0),
                Param("pipeline_epochs", int, 2, "epochs each input pipeline is read for", None, 1, 10),
                Param("torch_loader", bool, True, "also time PyTorch's DataLoader with worker processes"),
            ),
        ),
        NotebookEntry(
            "09_tensorflow_serving",
            "TensorFlow Serving: SavedModel versions, the REST protocol, a fixed client, batching measured",
            common_params()
            + (
                LOAD_REQUESTS,
                CONCURRENCY,
                Param(
                    "batch_size",
                    int,
                    32,
                    "instances per batched request, and the server's max batch",
                    None,
                    1,
                    512,
                ),
                Param(
                    "batch_timeout_ms",
                    float,
                    2.0,
                    "how long the server waits to fill a batch",
                    None,
                    0.0,
                    1000.0,
                ),
                TIME_LIMIT_S,
                Param("prefer_real", bool, True, "use tensorflow_model_server when it is on PATH"),
            ),
        ),
        NotebookEntry(
            "10_torchserve",
            "TorchServe: a batch-aware handler, the archive, the three APIs, batching measured",
            common_params()
            + (
                LOAD_REQUESTS,
                CONCURRENCY,
                Param(
                    "batch_size",
                    int,
                    32,
                    "the server's batch size when batching is on, and instances per batched request",
                    None,
                    1,
                    512,
                ),
                Param(
                    "max_batch_delay_ms",
                    int,
                    5,
                    "how long TorchServe waits to fill a batch",
                    None,
                    0,
                    10000,
                ),
                Param(
                    "scaled_workers", int, 2, "workers after scaling through the management API", None, 1, 8
                ),
                TIME_LIMIT_S,
            ),
        ),
        NotebookEntry(
            "11_async_service_and_monitoring",
            "Async serving and monitoring: micro-batching, back-pressure, Prometheus metrics, data drift",
            common_params()
            + (
                Param("clients", int, 32, "concurrent clients in the load runs", None, 1, 512),
                Param("load_requests", int, 1500, "requests per load run", None, 50, 1000000, full=6000),
                Param("max_batch", int, 32, "the service's largest micro-batch", None, 2, 1024),
                Param("max_wait_ms", float, 2.0, "how long a micro-batch waits to fill", None, 0.0, 1000.0),
                Param("queue_limit", int, 256, "requests that may wait before 503", None, 1, 100000),
                Param("wide_units", int, 4096, "hidden units of the wide MLP", None, 64, 16384),
                Param("wide_epochs", int, 2, "training epochs of the wide MLP", None, 1, 50, full=5),
                Param("drift_window", int, 300, "inputs per drift window", None, 50, 100000),
                Param("drift_threshold", float, 0.25, "largest PSI before the drift alert", None, 0.01, 10.0),
                Param("noise_sd", float, 0.1, "Gaussian noise added to the shifted stream", None, 0.0, 1.0),
                Param(
                    "rotation_deg", float, 20.0, "rotation of the shifted stream, degrees", None, 0.0, 180.0
                ),
            ),
        ),
        NotebookEntry(
            "12_versioning_and_rollback",
            "Versioning and rollback: a safe registry, MLflow, a canary with automatic rollback",
            common_params()
            + (
                Param("challenger_epochs", int, 20, "training epochs of the challenger MLP", None, 1, 500),
                Param(
                    "canary_fraction", float, 0.2, "share of traffic sent to the challenger", None, 0.01, 0.99
                ),
                Param("canary_requests", int, 400, "requests replayed per canary", None, 20, 100000),
                Param(
                    "min_canary_requests", int, 60, "challenger requests before a verdict", None, 5, 100000
                ),
                Param(
                    "max_accuracy_drop",
                    float,
                    0.05,
                    "accuracy the challenger may lose before a rollback",
                    None,
                    0.0,
                    1.0,
                ),
                Param(
                    "max_latency_ratio",
                    float,
                    2.0,
                    "challenger p95 latency over the champion's before a rollback",
                    None,
                    1.0,
                    100.0,
                ),
            ),
        ),
        NotebookEntry(
            "13_case_study_image_classifier",
            "Case study: MobileNetV2 trained, int8-calibrated, served, monitored and registered",
            common_params()
            + (
                Param("image_size", int, 64, "image side in pixels (the seed uses 224)", None, 32, 224),
                Param(
                    "images_per_class",
                    int,
                    400,
                    "generated shapes per class (70% train)",
                    None,
                    20,
                    5000,
                    full=1000,
                ),
                Param("alpha", float, 0.35, "MobileNetV2 width multiplier", (0.35, 0.5, 0.75, 1.0, 1.3, 1.4)),
                Param(
                    "weights",
                    str,
                    "none",
                    "none trains from scratch; imagenet loads the Keras cache",
                    ("none", "imagenet"),
                ),
                Param(
                    "epochs",
                    int,
                    8,
                    "training epochs (from scratch), or head epochs (imagenet)",
                    None,
                    1,
                    500,
                    full=20,
                ),
                Param(
                    "fine_tune_epochs", int, 3, "epochs with the base unfrozen (imagenet only)", None, 0, 100
                ),
                Param("batch_size", int, 32, "training batch size", None, 1, 512),
                Param(
                    "learning_rate", float, 0.01, "Adam's initial rate (cosine decay to 0)", None, 1e-6, 1.0
                ),
                calibration_samples(5000),
                Param(
                    "load_requests", int, 200, "requests in the served load run", None, 10, 100000, full=1000
                ),
                Param("concurrency", int, 4, "concurrent clients in the served load run", None, 1, 64),
                TIME_LIMIT_S,
            ),
        ),
        NotebookEntry(
            "99_results_dashboard",
            "Results dashboard: trade-offs, Keras vs PyTorch, metric history, self-check status",
            common_params()
            + (
                Param("run_id", str, "", "show one run's records; empty shows the newest of every metric"),
                Param(
                    "history_metric",
                    str,
                    "",
                    "metric whose history to plot; empty picks the one that moved most",
                ),
                Param(
                    "framework",
                    str,
                    "all",
                    "framework shown in the trade-off plots",
                    ("all", "keras", "torch"),
                ),
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


def defaults(notebook: str) -> dict[str, Any]:
    """A notebook's quick-profile values, name -> default (what its parameters cell holds)."""
    return {p.name: p.default for p in params_of(notebook)}


DOC_START, DOC_END = "<!-- labkit params: start -->", "<!-- labkit params: end -->"


def markdown() -> str:
    """Every notebook's parameters as markdown tables: the reference section of docs/instructors.md."""
    lines = []
    for entry_ in SERIES.values():
        lines += [
            f"### {entry_.name}",
            "",
            entry_.title,
            "",
            "| parameter | type | default | full | allowed | what |",
            "|---|---|---|---|---|---|",
        ]
        for p in entry_.params:
            full = p.value_for("full")
            lines.append(
                f"| `{p.name}` | {p.kind.__name__} | `{p.default!r}` | "
                f"{f'`{full!r}`' if full != p.default else ''} | {p.allowed()} | {p.help} |"
            )
        lines.append("")
    return "\n".join(lines)


def write_params_doc(path: Path) -> Path:
    """Replace the generated section between the markers of `path` with `markdown()` (written atomically)."""
    from labkit import files

    text = path.read_text(encoding="utf-8")
    if DOC_START not in text or DOC_END not in text:
        raise ValueError(f"{path} lacks the markers {DOC_START} and {DOC_END} around its parameter tables.")
    head, rest = text.split(DOC_START, 1)
    tail = rest.split(DOC_END, 1)[1]
    return files.write_atomic(path, f"{head}{DOC_START}\n{markdown()}\n{DOC_END}{tail}")
