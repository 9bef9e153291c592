"""`import labkit` is fast and framework-free; TensorFlow's variables are set in one place."""

from __future__ import annotations

import json
import subprocess
import sys
import time

PROBE = (
    "import json, os, sys, time; t = time.perf_counter(); import labkit; "
    "labkit.ledger; labkit.workbook.params; labkit.check; s = time.perf_counter() - t; "
    "heavy = ('tensorflow', 'torch', 'sklearn'); "
    "print(json.dumps({'seconds': s, 'loaded': [m for m in heavy if m in sys.modules], "
    "'legacy': os.environ.get('TF_USE_LEGACY_KERAS')}))"
)


def test_import_is_light() -> None:
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, check=True)
    wall = time.perf_counter() - start
    found = json.loads(done.stdout)
    assert found["loaded"] == [], f"import labkit loaded {found['loaded']}"
    assert found["seconds"] < 1.0, f"import labkit took {found['seconds']:.2f} s (limit 1 s)"
    assert found["legacy"] == "1", f"TF_USE_LEGACY_KERAS={found['legacy']!r} after import labkit"
    assert wall < 10, f"interpreter plus import took {wall:.1f} s"


def test_one_place_sets_tensorflow_variables() -> None:
    from pathlib import Path

    import labkit

    root = Path(labkit.__file__).parent
    setters = [p.name for p in root.rglob("*.py") if "TF_USE_LEGACY_KERAS" in p.read_text()]
    assert setters == ["tf_env.py"], f"TF_USE_LEGACY_KERAS appears in {setters}"
