"""Ray Serve applications without a cluster: the request parser and the config file checks."""

from __future__ import annotations

import copy

import numpy as np
import pytest
from pydantic import ValidationError

from labkit.serve import ray_apps

CONFIG = {
    "applications": [
        {
            "name": "digits",
            "route_prefix": "/digits",
            "import_path": "labkit.serve.ray_apps:build_app",
            "args": {"model_path": "export/mlp.torchscript.pt"},
            "deployments": [
                {
                    "name": "model",
                    "ray_actor_options": {"num_cpus": 0.5},
                    "autoscaling_config": {
                        "min_replicas": 1,
                        "max_replicas": 2,
                        "target_ongoing_requests": 2,
                    },
                }
            ],
        }
    ]
}


def test_instances_parses_rows_and_names_what_is_wrong() -> None:
    x = ray_apps._instances(b'{"instances": [[0.5, 1.0]]}', 2)
    assert x.dtype == np.float32 and x.shape == (1, 2), (x.dtype, x.shape)
    for body, message in [
        (b"{", "not valid JSON"),
        (b"[1, 2]", '"instances"'),
        (b'{"instances": [["a", "b"]]}', "rows of numbers"),
        (b'{"instances": [[1, 2, 3]]}', "shape (n, 2); got (1, 3)"),
        (b"[" * 100_000, "not valid JSON"),
    ]:
        with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
            ray_apps._instances(body, 2)


def test_config_is_checked_by_rays_schemas() -> None:
    schema = ray_apps.validate_config(CONFIG)
    assert schema.applications[0].deployments[0].name == "model"
    broken = copy.deepcopy(CONFIG)
    broken["applications"][0]["deployments"][0]["autoscaling_config"]["min_replicas"] = 3
    with pytest.raises(ValidationError, match="must be greater than or equal to min_replicas"):
        ray_apps.validate_config(broken)
    unnamed = copy.deepcopy(CONFIG)
    del unnamed["applications"][0]["import_path"]
    with pytest.raises(ValidationError, match="import_path"):
        ray_apps.validate_config(unnamed)
