"""JupyterLab opens without the "get notified about Jupyter news?" prompt: binder/overrides.json turns news
and the update check off, `make lab` and Binder install it where JupyterLab reads it, and a real JupyterLab
server started with it serves those as the settings' defaults (JupyterLab's own default, "none", asks)."""

from __future__ import annotations

import json
import re
import shutil
import sys
import urllib.request
from pathlib import Path

import pytest

from labkit.core import paths
from labkit.serve import processes

jupyterlab = pytest.importorskip("jupyterlab")

OVERRIDES = paths.repo_root() / "binder" / "overrides.json"
NOTIFICATION = "@jupyterlab/apputils-extension:notification"
SCHEMA = "share/jupyter/lab/schemas/@jupyterlab/apputils-extension/notification.json"


def test_make_lab_and_binder_install_the_overrides_where_jupyterlab_reads_them() -> None:
    from jupyterlab.commands import get_app_dir

    settings_dir = Path(get_app_dir()) / "settings"
    assert settings_dir == Path(sys.prefix) / "share" / "jupyter" / "lab" / "settings", settings_dir
    recipe = re.search(r"^lab:.*\n((?:\t.*\n)+)", (paths.repo_root() / "Makefile").read_text(), re.M)
    assert recipe is not None, "the Makefile has no lab target"
    wanted = "install -D -m 644 binder/overrides.json $(VENV)/share/jupyter/lab/settings/overrides.json"
    assert wanted in recipe.group(1), recipe.group(1)
    post_build = (paths.repo_root() / "binder" / "postBuild").read_text()
    assert "share/jupyter/lab/settings/overrides.json" in post_build, post_build


@pytest.mark.server
def test_a_jupyterlab_server_with_the_overrides_fetches_no_news(tmp_path: Path) -> None:
    settings_dir = tmp_path / "settings"
    settings_dir.mkdir()
    shutil.copy(OVERRIDES, settings_dir / "overrides.json")
    port = processes.free_port()
    command = [
        sys.executable,
        "-m",
        "jupyterlab",
        "--no-browser",
        "--allow-root",
        f"--ServerApp.ip={processes.HOST}",
        f"--ServerApp.port={port}",
        "--ServerApp.port_retries=0",
        "--IdentityProvider.token=",
        f"--ServerApp.root_dir={tmp_path}",
        f"--LabApp.app_settings_dir={settings_dir}",
        f"--LabApp.user_settings_dir={tmp_path / 'user-settings'}",
        f"--LabApp.workspaces_dir={tmp_path / 'workspaces'}",
    ]
    url = f"http://{processes.HOST}:{port}/lab/api/settings/{NOTIFICATION}"
    with processes.ServerProcess(command, url, name="jupyterlab", timeout_s=120):
        with urllib.request.urlopen(url, timeout=30) as response:
            schema = json.loads(response.read())["schema"]["properties"]
    defaults = (schema["fetchNews"]["default"], schema["checkForUpdates"]["default"])
    shipped = json.loads((Path(sys.prefix) / SCHEMA).read_text())["properties"]["fetchNews"]["default"]
    assert shipped == "none", f"JupyterLab itself now defaults fetchNews to {shipped!r}"
    assert defaults == ("false", False), defaults
