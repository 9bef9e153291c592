"""Ray Serve applications without a cluster: the config file checks (the replicas parse bodies with
`async_service.parse_instances`, tested with 11's service; notebook 15 checks their 400 end to end)."""

from __future__ import annotations

import copy

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
