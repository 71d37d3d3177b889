"""`photonormals batch --ray` on the tests' local Ray instance (conftest's ray_instance): the
same folders as without Ray, written by this process from the tasks' predictions."""

from __future__ import annotations

import pytest
from test_batch import check_batch, sets  # noqa: F401 (the sets fixture is used by name)

pytest.importorskip("ray")


def test_batch_on_ray_writes_the_same_folders_and_resumes(cli, ray_instance, sets, tmp_path):  # noqa: F811
    # Both CPUs to each task: one worker process, which imports torch once (seconds on 2 cores).
    check_batch(cli, sets, tmp_path / "out", "--ray", "--cpus-per-set", "2")
