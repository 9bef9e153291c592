"""Execute one notebook with papermill in this process; the runner starts one of these per notebook.

Kept in its own process so the runner can enforce a timeout, kill the whole tree and read the
kernel's peak memory, whatever the notebook does. Writes a small JSON result for the runner.
"""

from __future__ import annotations

import json
import os
import signal
import sys
from pathlib import Path
from types import FrameType


def _end_with_kernel(signum: int, frame: FrameType | None) -> None:
    """On SIGTERM (the runner or a dead Ray worker asks us to stop), take the kernel down too."""
    import psutil

    for child in psutil.Process().children(recursive=True):
        try:
            child.kill()
        except psutil.Error:
            pass
    os._exit(128 + signum)


def main(argv: list[str]) -> int:
    source, target, parameters_file, cwd, result_file = argv
    signal.signal(signal.SIGTERM, _end_with_kernel)
    import papermill
    from papermill.exceptions import PapermillExecutionError

    parameters = json.loads(Path(parameters_file).read_text(encoding="utf-8"))
    result: dict[str, object] = {"status": "ok", "error": None}
    try:
        papermill.execute_notebook(
            source,
            target,
            parameters=parameters,
            cwd=cwd,
            kernel_name="python3",
            progress_bar=False,
            log_output=False,
        )
    except PapermillExecutionError as error:
        result = {
            "status": "failed",
            "error": f"cell {error.exec_count}: {error.ename}: {error.evalue}",
        }
    except Exception as error:  # the kernel died or could not start: report it, do not hide it
        result = {"status": "failed", "error": f"{type(error).__name__}: {error}"}
    Path(result_file).write_text(json.dumps(result), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
