"""The series: every notebook's title and declared parameters, the single source for all three.

The runner validates against these declarations before a kernel starts, `labkit params` prints them,
`labkit params --write-cells` writes each notebook's `parameters` cell from them and `--doc` the instructor
guide's tables (`labkit.workbook.generated`); a test fails when a cell or the guide differs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from labkit.workbook.params import DEVICES, PROFILES, Param

FRAMEWORKS = ("both", "keras", "torch")

# Every notebook declares these first.
COMMON = (
    Param(
        "profile",
        str,
        "quick",
        choices=PROFILES,
        help="workload size: quick (the defaults, at most 2 minutes a notebook) or full",
    ),
    Param(
        "seed",
        int,
        0,
        minimum=0,
        maximum=2**31 - 1,
        help="random seed for data order and weight initialisation",
    ),
    Param(
        "device",
        str,
        "auto",
        choices=DEVICES,
        help="auto uses a GPU when one is visible; gpu (or cuda) requires one",
    ),
    Param(
        "reveal_solutions",
        bool,
        False,
        help="apply the reference solutions of the exercises (the runner, CI and refresh do)",
    ),
)

# The pruning schedule's parameters, shared by 02 (tfmot) and 05 (torch.nn.utils.prune).
RAMP_FRACTION = Param(
    "ramp_fraction",
    float,
    0.5,
    minimum=0.05,
    maximum=1.0,
    help="share of the steps over which sparsity ramps up",
)
PRUNING_FREQUENCY = Param(
    "pruning_frequency", int, 10, minimum=1, maximum=1000, help="steps between mask updates"
)

# The load runs of the serving notebooks, shared by 09 (TF Serving) and 10 (TorchServe).
LOAD_REQUESTS = Param(
    "load_requests", int, 400, minimum=10, maximum=100000, full=2000, help="requests per load run"
)
CONCURRENCY = Param("concurrency", int, 8, minimum=1, maximum=64, help="concurrent clients in the load runs")
TIME_LIMIT_S = Param(
    "time_limit_s",
    float,
    20.0,
    minimum=1.0,
    maximum=600.0,
    help="no new request after this many seconds per run",
)


def calibration_samples(maximum: int) -> Param:
    """The int8 calibration set's size, shared by 03 and 13; at most the training images there are."""
    return Param(
        "calibration_samples",
        int,
        100,
        minimum=1,
        maximum=maximum,
        help="real training images for int8 calibration",
    )


@dataclass(frozen=True)
class NotebookEntry:
    """A notebook of the series: its file stem, title and declared parameters."""

    name: str
    title: str
    params: tuple[Param, ...]


# fmt: off
_ENTRIES = (
    NotebookEntry(
        "00_environment_check",
        "Environment check: versions, hardware, datasets",
        COMMON + (
            Param("frameworks", str, "both", choices=("both", "keras", "torch"), help="frameworks the series must be able to import: both, keras or torch"),
            Param("min_free_memory_gb", float, 1.0, minimum=0.0, maximum=1024.0, help="free memory the self-check requires, in GiB"),
        ),
    ),
    NotebookEntry(
        "01_baseline_models",
        "Baseline models: the source article's MLP and a small CNN in Keras and PyTorch",
        COMMON + (
            Param("frameworks", str, "both", choices=("both", "keras", "torch"), help="train the Keras models, the PyTorch ones, or both"),
            Param("epochs_mlp", int, 20, minimum=1, maximum=500, full=40, help="training epochs for the MLP"),
            Param("epochs_cnn", int, 20, minimum=1, maximum=500, full=40, help="training epochs for the CNN"),
            Param("batch_size", int, 32, minimum=1, maximum=4096, help="mini-batch size"),
            Param("learning_rate", float, 0.001, minimum=1e-6, maximum=1.0, help="Adam learning rate"),
        ),
    ),
    NotebookEntry(
        "02_pruning",
        "Pruning: magnitude pruning with tfmot, measured as sparsity, accuracy and gzip size",
        COMMON + (
            Param("target_sparsity", float, 0.8, minimum=0.0, maximum=0.99, help="fraction of kernel weights set to zero"),
            Param("epochs", int, 10, minimum=1, maximum=200, full=20, help="fine-tuning epochs while pruning"),
            RAMP_FRACTION,
            Param("learning_rate", float, 0.001, minimum=1e-6, maximum=1.0, help="Adam learning rate for fine-tuning"),
            PRUNING_FREQUENCY,
            Param("sweep", str, "0.5,0.7,0.8,0.9,0.95", full="0.3,0.5,0.6,0.7,0.8,0.85,0.9,0.95,0.98", help="comma-separated sparsities for the sweep"),
        ),
    ),
    NotebookEntry(
        "03_quantization",
        "Quantization: LiteRT float16, dynamic-range, full int8 and QAT, measured",
        COMMON + (
            calibration_samples(1151),
            Param("threads", int, 1, minimum=1, maximum=64, help="LiteRT interpreter threads for every variant"),
            Param("iterations", int, 300, minimum=10, maximum=100000, full=2000, help="interleaved calls per variant and float32 at batch 1 (a third at batch 32)"),
            Param("qat_epochs", int, 3, minimum=1, maximum=100, full=6, help="quantization-aware fine-tuning epochs"),
            Param("qat_learning_rate", float, 0.0001, minimum=1e-7, maximum=1.0, help="Adam learning rate for QAT"),
            Param("prune_sparsity", float, 0.8, minimum=0.0, maximum=0.99, help="sparsity of the pruned model that is then quantized"),
        ),
    ),
    NotebookEntry(
        "04_distillation",
        "Knowledge distillation: a 5x smaller student, distilled vs trained from scratch",
        COMMON + (
            Param("student_hidden", int, 24, minimum=1, maximum=1024, help="hidden units of the student MLP (784-h-10)"),
            Param("epochs", int, 30, minimum=1, maximum=500, full=60, help="training epochs for every student"),
            Param("temperature", float, 2.0, minimum=0.1, maximum=100.0, help="softmax temperature of the soft targets"),
            Param("alpha", float, 0.5, minimum=0.0, maximum=1.0, help="weight of the hard-label loss (1 - alpha goes to the teacher)"),
            Param("learning_rate", float, 0.001, minimum=1e-6, maximum=1.0, help="Adam learning rate"),
            Param("seeds", int, 3, minimum=1, maximum=50, full=5, help="seeds per comparison (mean and spread)"),
            Param("sweep_temperatures", str, "1,2,4,8", help="temperatures tried at the default alpha (every seed)"),
            Param("sweep_alphas", str, "0.1,0.5,0.9", help="alphas tried at the default temperature (every seed)"),
        ),
    ),
    NotebookEntry(
        "05_pytorch_compression",
        "PyTorch compression: pruning, torchao and PT2E int8, distillation, export, next to Keras",
        COMMON + (
            Param("target_sparsity", float, 0.8, minimum=0.0, maximum=0.99, help="fraction of weights set to zero (global L1)"),
            Param("prune_epochs", int, 10, minimum=1, maximum=200, full=20, help="fine-tuning epochs while pruning"),
            RAMP_FRACTION,
            PRUNING_FREQUENCY,
            Param("channel_ratio", float, 0.5, minimum=0.05, maximum=0.95, help="share of hidden units structured pruning removes"),
            Param("learning_rate", float, 0.001, minimum=1e-6, maximum=1.0, help="Adam learning rate for every training loop"),
            Param("calibration_samples", int, 100, minimum=1, maximum=1151, help="real training images for static int8 calibration"),
            Param("threads", int, 1, minimum=1, maximum=64, help="torch intra-op threads while timing"),
            Param("iterations", int, 300, minimum=10, maximum=100000, full=2000, help="interleaved calls per timed pair (a pair also stops after 2 s)"),
            Param("compile_int8", bool, True, help="lower the CNNs with torch.compile before timing (needs a C++ compiler)"),
            Param("student_hidden", int, 24, minimum=1, maximum=1024, help="hidden units of the student MLP (784-h-10)"),
            Param("distill_epochs", int, 30, minimum=1, maximum=500, full=60, help="training epochs for every student"),
            Param("temperature", float, 2.0, minimum=0.1, maximum=100.0, help="softmax temperature of the soft targets"),
            Param("alpha", float, 0.5, minimum=0.0, maximum=1.0, help="weight of the hard-label loss (1 - alpha goes to the teacher)"),
            Param("seeds", int, 3, minimum=1, maximum=50, full=5, help="seeds per comparison (mean and spread)"),
        ),
    ),
    NotebookEntry(
        "06_benchmarking_inference",
        "Benchmarking and inference patterns: honest timing, thread pools vs batching, a correct cache",
        COMMON + (
            Param("batch_size", int, 32, minimum=1, maximum=359, help="batch the source article's benchmark_model times"),
            Param("iterations", int, 200, minimum=10, maximum=100000, full=1000, help="timed calls per benchmark"),
            Param("pool_requests", int, 64, minimum=8, maximum=4096, full=256, help="single-image requests in the thread-pool experiment"),
            Param("workers", str, "1,2,4", help="thread-pool sizes to compare"),
            Param("cache_requests", int, 1000, minimum=10, maximum=1000000, full=5000, help="requests in the cache stream"),
            Param("distinct_inputs", int, 100, minimum=2, maximum=179, help="distinct request payloads in the stream"),
            Param("zipf_a", float, 1.2, minimum=1.01, maximum=5.0, help="Zipf skew of payload popularity (higher: more repeats)"),
            Param("cache_kb", float, 64.0, minimum=0.1, maximum=1000000.0, help="memory bound of the fixed cache, in KiB"),
        ),
    ),
    NotebookEntry(
        "07_gpu_configuration",
        "GPU and CPU configuration: memory growth and limits, threads, mixed precision, measured",
        COMMON + (
            Param("framework", str, "both", choices=("both", "keras", "torch"), help="which part runs: both, keras or torch (one framework per kernel saves memory)"),
            Param("matrix_size", int, 512, minimum=64, maximum=8192, help="side of the square matmul timed for thread settings (half and twice it too)"),
            Param("thread_counts", str, "1,2", help="intra-op thread counts to compare"),
            Param("iterations", int, 50, minimum=5, maximum=100000, full=200, help="timed calls per setting"),
            Param("batch_size", int, 256, minimum=1, maximum=8192, help="batch for the mixed-precision timings"),
        ),
    ),
    NotebookEntry(
        "08_efficient_architectures_and_pipelines",
        "Efficient architectures and input pipelines: separable convolutions, tf.data, DataLoader",
        COMMON + (
            Param("width_multiplier", float, 1.0, minimum=0.25, maximum=4.0, help="MobileNet-style width multiplier for both CNNs"),
            Param("image_size", int, 64, minimum=32, maximum=224, help="shapes image size (the source article uses 224)"),
            Param("epochs", int, 5, minimum=1, maximum=200, full=15, help="training epochs for each CNN"),
            Param("batch_size", int, 32, minimum=1, maximum=512, help="batch size for training, pipelines and latency"),
            Param("iterations", int, 50, minimum=10, maximum=100000, full=300, help="timed calls per latency comparison"),
            Param("decode_ms", float, 2.0, minimum=0.0, maximum=100.0, help="simulated decode time per image, ms"),
            Param("step_ms", float, 20.0, minimum=0.0, maximum=1000.0, help="simulated training step per batch, ms"),
            Param("pipeline_epochs", int, 2, minimum=1, maximum=10, help="epochs each input pipeline is read for"),
            Param("torch_loader", bool, True, help="also time PyTorch's DataLoader with worker processes"),
        ),
    ),
    NotebookEntry(
        "09_tensorflow_serving",
        "TensorFlow Serving: SavedModel versions, the REST protocol, a fixed client, batching measured",
        COMMON + (
            LOAD_REQUESTS,
            CONCURRENCY,
            Param("batch_size", int, 32, minimum=1, maximum=512, help="instances per batched request, and the server's max batch"),
            Param("batch_timeout_ms", float, 2.0, minimum=0.0, maximum=1000.0, help="how long the server waits to fill a batch"),
            TIME_LIMIT_S,
            Param("prefer_real", bool, True, help="use tensorflow_model_server when it is on PATH"),
            Param("protocol_requests", int, 400, minimum=20, maximum=1000000, full=2000, help="requests per run of the protocol comparison"),
            Param("protocol_time_limit_s", float, 2.0, minimum=0.5, maximum=600.0, full=10.0, help="no new request after this many seconds per protocol run"),
            Param("wide_units", int, 4096, minimum=64, maximum=16384, help="hidden units per layer of the wide MLP the protocols are compared on"),
        ),
    ),
    NotebookEntry(
        "10_torchserve",
        "TorchServe: a batch-aware handler, the archive, the three APIs, batching measured",
        COMMON + (
            LOAD_REQUESTS,
            CONCURRENCY,
            Param("batch_size", int, 32, minimum=1, maximum=512, help="the server's batch size when batching is on, and instances per batched request"),
            Param("max_batch_delay_ms", int, 5, minimum=0, maximum=10000, help="how long TorchServe waits to fill a batch"),
            Param("scaled_workers", int, 2, minimum=1, maximum=8, help="workers after scaling through the management API"),
            TIME_LIMIT_S,
        ),
    ),
    NotebookEntry(
        "11_async_service_and_monitoring",
        "Async serving and monitoring: micro-batching, back-pressure, Prometheus metrics, data drift",
        COMMON + (
            Param("clients", int, 32, minimum=1, maximum=512, help="concurrent clients in the load runs"),
            Param("load_requests", int, 1500, minimum=50, maximum=1000000, full=6000, help="requests per load run"),
            Param("max_batch", int, 32, minimum=2, maximum=1024, help="the service's largest micro-batch"),
            Param("max_wait_ms", float, 2.0, minimum=0.0, maximum=1000.0, help="how long a micro-batch waits to fill"),
            Param("queue_limit", int, 256, minimum=1, maximum=100000, help="requests that may wait before 503"),
            Param("wide_units", int, 4096, minimum=64, maximum=16384, help="hidden units of the wide MLP"),
            Param("wide_epochs", int, 2, minimum=1, maximum=50, full=5, help="training epochs of the wide MLP"),
            Param("protocol_requests", int, 400, minimum=20, maximum=1000000, full=2000, help="requests per run of the protocol comparison"),
            Param("protocol_time_limit_s", float, 2.0, minimum=0.5, maximum=600.0, full=10.0, help="no new request after this many seconds per protocol run"),
            Param("drift_window", int, 300, minimum=50, maximum=100000, help="inputs per drift window"),
            Param("drift_threshold", float, 0.25, minimum=0.01, maximum=10.0, help="largest PSI before the drift alert"),
            Param("noise_sd", float, 0.1, minimum=0.0, maximum=1.0, help="Gaussian noise added to the shifted stream"),
            Param("rotation_deg", float, 20.0, minimum=0.0, maximum=180.0, help="rotation of the shifted stream, degrees"),
        ),
    ),
    NotebookEntry(
        "12_versioning_and_rollback",
        "Versioning and rollback: a safe registry, MLflow, a canary with automatic rollback",
        COMMON + (
            Param("challenger_epochs", int, 20, minimum=1, maximum=500, help="training epochs of the challenger MLP"),
            Param("canary_fraction", float, 0.2, minimum=0.01, maximum=0.99, help="share of traffic sent to the challenger"),
            Param("canary_requests", int, 400, minimum=20, maximum=100000, help="requests replayed per canary"),
            Param("min_canary_requests", int, 60, minimum=5, maximum=100000, help="challenger requests before a verdict"),
            Param("max_accuracy_drop", float, 0.05, minimum=0.0, maximum=1.0, help="accuracy the challenger may lose before a rollback"),
            Param("max_latency_ratio", float, 2.0, minimum=1.0, maximum=100.0, help="challenger p95 latency over the champion's before a rollback"),
        ),
    ),
    NotebookEntry(
        "13_case_study_image_classifier",
        "Case study: MobileNetV2 trained, int8-calibrated, served, monitored and registered",
        COMMON + (
            Param("image_size", int, 64, minimum=32, maximum=224, help="image side in pixels (the source article uses 224)"),
            Param("images_per_class", int, 400, minimum=20, maximum=5000, full=1000, help="generated shapes per class (70% train)"),
            Param("alpha", float, 0.35, choices=(0.35, 0.5, 0.75, 1.0, 1.3, 1.4), help="MobileNetV2 width multiplier"),
            Param("weights", str, "none", choices=("none", "imagenet"), help="none trains from scratch; imagenet downloads ImageNet weights once (Keras cache)"),
            Param("epochs", int, 12, minimum=1, maximum=500, full=20, help="training epochs (from scratch), or head epochs (imagenet)"),
            Param("fine_tune_epochs", int, 3, minimum=0, maximum=100, help="epochs with the base unfrozen (imagenet only)"),
            Param("batch_size", int, 32, minimum=1, maximum=512, help="training batch size"),
            Param("learning_rate", float, 0.01, minimum=1e-6, maximum=1.0, help="Adam's peak rate (one warm-up epoch, then cosine decay to 0)"),
            calibration_samples(5000),
            Param("load_requests", int, 200, minimum=10, maximum=100000, full=1000, help="requests in the served load run"),
            Param("concurrency", int, 4, minimum=1, maximum=64, help="concurrent clients in the served load run"),
            TIME_LIMIT_S,
        ),
    ),
    NotebookEntry(
        "14_deployment_runtimes",
        "Deployment runtimes: ONNX Runtime, OpenVINO with NNCF, LiteRT and torch.compile, and where int8 pays",
        COMMON + (
            calibration_samples(1151),
            Param("threads", str, "1,2", help="intra-op thread counts every runtime is timed at"),
            Param("batch_sizes", str, "1,32", help="batch sizes every runtime is timed at"),
            Param("iterations", int, 200, minimum=10, maximum=100000, full=1000, help="rounds per race (each runtime called once a round; a race also stops at race_seconds)"),
            Param("race_seconds", float, 2.0, minimum=0.2, maximum=600.0, full=10.0, help="time budget of one race, in seconds"),
            Param("mobilenet_size", int, 224, minimum=32, maximum=224, help="input side of the untrained MobileNetV2 of the speed lesson"),
            Param("mobilenet_alpha", float, 1.0, choices=(0.35, 0.5, 0.75, 1.0, 1.3, 1.4), help="width multiplier of that MobileNetV2"),
            Param("benchmark_seconds", int, 3, minimum=0, maximum=600, help="seconds per benchmark_app cross-check run (0 skips the cross-check)"),
            Param("compile_torch", bool, True, help="also time torch.compile and PT2E int8 (needs a C++ compiler)"),
        ),
    ),
    NotebookEntry(
        "15_scaling_out_with_ray_serve",
        "Scaling out with Ray Serve: deployments, @serve.batch, fractional CPUs, autoscaling and a config file",
        COMMON + (
            Param("clients", int, 32, minimum=1, maximum=256, help="concurrent clients in the load runs"),
            Param("load_seconds", float, 1.5, minimum=0.5, maximum=600.0, full=10.0, help="no new request after this many seconds per load run"),
            Param("max_batch", int, 32, minimum=2, maximum=256, help="@serve.batch max_batch_size, and 11's service's largest micro-batch"),
            Param("batch_wait_ms", float, 2.0, minimum=0.0, maximum=1000.0, help="how long a batch waits to fill, in ms"),
            Param("wide_units", int, 4096, minimum=16, maximum=8192, help="hidden units of 11's wide MLP"),
            Param("wide_epochs", int, 2, minimum=1, maximum=50, help="training epochs of the wide MLP (when it is not saved yet)"),
            Param("replica_cpus", float, 0.5, minimum=0.1, maximum=16.0, help="CPUs each autoscaled replica reserves (fractions allowed)"),
            Param("target_ongoing", float, 2.0, minimum=0.5, maximum=100.0, help="autoscaling: requests in flight per replica it aims for"),
            Param("max_replicas", int, 2, minimum=1, maximum=16, help="autoscaling: most replicas"),
            Param("autoscale_clients", int, 8, minimum=1, maximum=256, help="concurrent clients in the autoscaling run"),
            Param("autoscale_hold_s", float, 3.0, minimum=0.0, maximum=30.0, full=10.0, help="seconds the autoscaling load goes on once every replica runs"),
        ),
    ),
    NotebookEntry(
        "99_results_dashboard",
        "Results dashboard: trade-offs, Keras vs PyTorch, metric history, self-check status",
        COMMON + (
            Param("run_id", str, "", help="the run to show; empty picks this run, else the newest complete one"),
            Param("history_metric", str, "", help="metric whose history to plot; empty picks one that is not a timing"),
            Param("framework", str, "all", choices=("all", "keras", "torch"), help="framework shown in the trade-off plots"),
        ),
    ),
)
# fmt: on
SERIES: dict[str, NotebookEntry] = {entry.name: entry for entry in _ENTRIES}


def entry(notebook: str) -> NotebookEntry:
    """The catalog entry for a notebook name (file stem), or a ValueError naming what exists."""
    try:
        return SERIES[notebook]
    except KeyError:
        raise ValueError(
            f"notebook {notebook!r} is not declared in labkit.workbook.catalog; known: {', '.join(SERIES)}."
        ) from None


def params_of(notebook: str) -> tuple[Param, ...]:
    """The parameters a notebook declares, in the order of its parameters cell."""
    return entry(notebook).params


def defaults(notebook: str) -> dict[str, Any]:
    """A notebook's quick-profile values, name -> default (what its parameters cell holds)."""
    return {p.name: p.default for p in params_of(notebook)}
