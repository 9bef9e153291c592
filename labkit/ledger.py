"""The results ledger: one JSON line per measured metric, appended under a file lock.

`results/ledger.jsonl` (moved with LABKIT_RESULTS_DIR) is append-only. Each record carries the run id,
notebook, profile, device and parameters that produced it, so a number is never separated from how it
was measured. Writers on one machine are serialised by a lock file, and each record lands whole on a line
of its own or not at all (a killed writer or a full disk loses that record only, never the next one).
"""

from __future__ import annotations

import errno
import functools
import json
import math
import os
import re
import secrets
import time
import warnings
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from filelock import FileLock

from labkit import __version__
from labkit.core import envinfo, files, paths

KEYS = (
    "run_id",
    "notebook",
    "metric",
    "value",
    "unit",
    "framework",
    "profile",
    "device",
    "params",
    "timestamp",
    "labkit_version",
    "git_commit",
    "hardware",
)
_METRIC_RE = re.compile(r"^[a-z0-9_]+(\.[a-z0-9_]+)+$")
_context: dict[str, Any] = {}
_session_run_id = f"interactive-{time.strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(2)}"


def current_run_id() -> str:
    """LABKIT_RUN_ID when the runner set it, else one id for this interactive session."""
    return os.environ.get("LABKIT_RUN_ID") or _session_run_id


def set_context(**context: Any) -> None:
    """Set what every later record of this kernel carries: notebook, profile, device, params."""
    _context.update(context)


def record(
    metric: str,
    value: float,
    unit: str,
    *,
    framework: str = "none",
    path: Path | None = None,
    **context: Any,
) -> dict[str, Any]:
    """Append one metric to the ledger and return the record written.

    `metric` follows `<topic>.<framework>.<what>` in lower case; `value` must be a finite number.
    """
    if not _METRIC_RE.match(metric):
        raise ValueError(
            f"metric name {metric!r} must be dot-separated lower-case words such as "
            "'baseline.keras.mlp.accuracy'."
        )
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        try:
            value = float(value)
        except (TypeError, ValueError):
            raise ValueError(f"metric {metric!r} got value {value!r}; a number is required.") from None
    if not math.isfinite(value):
        raise ValueError(f"metric {metric!r} got value {value!r}; a finite number is required.")
    merged: dict[str, Any] = {"notebook": "interactive", "profile": None, "device": None, "params": {}}
    merged.update(_context)
    merged.update(context)
    entry = {
        "run_id": merged.pop("run_id", current_run_id()),
        "notebook": merged.pop("notebook"),
        "metric": metric,
        "value": value,
        "unit": unit,
        "framework": framework,
        "profile": merged.pop("profile"),
        "device": merged.pop("device"),
        "params": merged.pop("params"),
        "timestamp": datetime.now(UTC).isoformat(timespec="milliseconds"),
        "labkit_version": __version__,
        "git_commit": envinfo.git_commit(),
        "hardware": _hardware(),
    }
    entry.update(merged)
    if os.environ.get("LABKIT_SWEEP_ID"):
        entry.setdefault("sweep_id", os.environ["LABKIT_SWEEP_ID"])
    append(entry, path)
    return entry


def log_check(claim: str, *, path: Path | None = None) -> None:
    """Log a self-check passed in an interactive notebook run, so the dashboard can count it.

    Runs of the runner and `labkit refresh` (LABKIT_RUN_ID set) are not logged: their PASS lines are
    counted from the executed notebooks. A results directory that cannot be written is a warning here,
    never a failed check.
    """
    notebook = _context.get("notebook")
    if not notebook or os.environ.get("LABKIT_RUN_ID"):
        return
    entry = {
        "run_id": current_run_id(),
        "notebook": notebook,
        "claim": claim,
        "timestamp": datetime.now(UTC).isoformat(timespec="milliseconds"),
    }
    try:
        append(entry, path or paths.checks_path())
    except OSError as error:
        warnings.warn(f"the check passed but was not logged: {error}", stacklevel=2)


@functools.cache
def _hardware() -> dict[str, Any]:
    return envinfo.hardware()


def append(entry: dict[str, Any], path: Path | None = None) -> None:
    """Append one record as a line of its own, whole or not at all, under the ledger's lock (fsynced).

    A read-only results directory or a full disk is an OSError that says where and what to do.
    """
    target = Path(path) if path else paths.ledger_path()
    line = (json.dumps(entry, sort_keys=True, default=str) + "\n").encode("utf-8")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        with FileLock(str(target) + ".lock", timeout=60):
            files.append_line(target, line)
    except OSError as error:
        if files.not_writable(error):
            raise OSError(
                error.errno,
                f"cannot write the results ledger in {target.parent} ({error.strerror}); set "
                "LABKIT_RESULTS_DIR to a writable directory, or make this one writable.",
            ) from None
        if error.errno == errno.ENOSPC:
            raise OSError(
                error.errno,
                f"the disk holding {target} is full; this record was not written and the ledger is "
                "unchanged: free some space and run the cell again.",
            ) from None
        raise


def read(path: Path | None = None) -> list[dict[str, Any]]:
    """All records in order; a line that is not UTF-8 JSON of one record is reported and skipped."""
    target = Path(path) if path else paths.ledger_path()
    if not target.exists():
        return []
    records = []
    with open(target, "rb") as handle:
        for number, raw in enumerate(handle, start=1):
            if not raw.strip():
                continue
            try:
                entry = json.loads(raw.decode("utf-8"))
            except UnicodeDecodeError:
                warnings.warn(f"{target}: line {number} is not UTF-8 text; skipped.", stacklevel=2)
                continue
            except json.JSONDecodeError:
                warnings.warn(f"{target}: line {number} is not valid JSON; skipped.", stacklevel=2)
                continue
            if not isinstance(entry, dict):
                warnings.warn(f"{target}: line {number} is not a JSON object; skipped.", stacklevel=2)
                continue
            records.append(entry)
    return records


def latest(
    metric: str,
    run_id: str | None = None,
    framework: str | None = None,
    *,
    path: Path | None = None,
) -> dict[str, Any] | None:
    """The most recent record of a metric (optionally of one run or framework), or None."""
    for entry in reversed(read(path)):
        if entry.get("metric") != metric:
            continue
        if run_id is not None and entry.get("run_id") != run_id:
            continue
        if framework is not None and entry.get("framework") != framework:
            continue
        return entry
    return None


def latest_value(metric: str, run_id: str | None = None, path: Path | None = None) -> float:
    """The latest value of a metric, or a KeyError that says which notebook to run."""
    found = latest(metric, run_id=run_id, path=path)
    if found is None:
        scope = f" in run {run_id}" if run_id else ""
        raise KeyError(
            f"metric {metric!r} is not in the ledger{scope}; run the notebook that records it first."
        )
    return found["value"]


def this_run(notebook: str | None = None, path: Path | None = None) -> list[dict[str, Any]]:
    """Records of the current run (optionally of one notebook), for a notebook's results table."""
    run_id = current_run_id()
    return [
        entry
        for entry in read(path)
        if entry.get("run_id") == run_id and (notebook is None or entry.get("notebook") == notebook)
    ]


def table(records: list[dict[str, Any]]) -> str:
    """Metric, value, unit and framework as an aligned text table."""
    lines = [f"{'metric':<44} {'value':>14} {'unit':<10} framework"]
    lines += [
        f"{r['metric']:<44} {format_value(r['value']):>14} {r['unit']:<10} {r['framework']}" for r in records
    ]
    return "\n".join(lines)


def format_value(value: float) -> str:
    """Counts and byte sizes as grouped integers, everything else to 6 significant digits."""
    if float(value).is_integer() and abs(value) >= 1000:
        return f"{int(value):,}"
    return f"{value:.6g}"


FRAMEWORK_PAIRS = (
    "pruning.{fw}.sparsity",
    "pruning.{fw}.accuracy_drop_pts",
    "pruning.{fw}.gzip_ratio",
    "quantization.{fw}.mlp.int8.size_ratio",
    "quantization.{fw}.mlp.int8.accuracy_drop_pts",
    "quantization.{fw}.cnn.int8.speedup",
    "distillation.{fw}.student_minus_scratch_pts",
)


def side_by_side(
    templates: tuple[str, ...] = FRAMEWORK_PAIRS,
    frameworks: tuple[str, ...] = ("keras", "torch"),
    path: Path | None = None,
    *,
    records: list[dict[str, Any]] | None = None,
) -> list[dict[str, Any]]:
    """For each metric template, the latest record per framework (None where a notebook has not run).

    A row is {"metric": template with {fw} shown as "*", "unit": ..., framework: record or None, ...}.
    `records` (for example one run's) replaces reading the whole ledger.
    """
    records = read(path) if records is None else records
    newest: dict[str, dict[str, Any]] = {}
    for entry in records:
        newest[entry.get("metric", "")] = entry
    rows = []
    for template in templates:
        found = {fw: newest.get(template.format(fw=fw)) for fw in frameworks}
        unit = next((r["unit"] for r in found.values() if r is not None), "")
        rows.append({"metric": template.format(fw="*"), "unit": unit, **found})
    return rows


def side_by_side_table(rows: list[dict[str, Any]], frameworks: tuple[str, ...] = ("keras", "torch")) -> str:
    """`side_by_side` rows as an aligned text table; a missing value reads "not run"."""
    lines = [f"{'metric':<44} " + " ".join(f"{fw:>14}" for fw in frameworks) + "  unit"]
    for row in rows:
        cells = [format_value(row[fw]["value"]) if row[fw] is not None else "not run" for fw in frameworks]
        lines.append(f"{row['metric']:<44} " + " ".join(f"{c:>14}" for c in cells) + f"  {row['unit']}")
    return "\n".join(lines)
