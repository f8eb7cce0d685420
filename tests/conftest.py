import os

import pytest
import torch
from typer.testing import CliRunner

from tests.helpers.sweep_plugin import MARKER_VARIABLE


@pytest.fixture(autouse=True, scope="session")
def _two_threads():
    """Two torch threads (the CI machine's cores), or $OMP_NUM_THREADS when it is set: on a
    machine busy with other work, one thread per test process avoids spinning pools."""
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS") or 2))


@pytest.fixture(scope="module")
def runner():
    return CliRunner()


@pytest.fixture
def markers(tmp_path, monkeypatch):
    """Where the test plug-in records each training it starts (one file per run)."""
    folder = tmp_path / "markers"
    monkeypatch.setenv(MARKER_VARIABLE, str(folder))
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    return folder


@pytest.fixture
def one_thread():
    """In-process runs on one torch thread: on a shared, loaded machine an OpenMP pool
    of two spins and runs the tiny convolution many times slower."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def pytest_collection_modifyitems(config, items):
    """Tests marked ``slurm`` skip, with the reason, unless a SLURM cluster answers."""
    marked = [item for item in items if item.get_closest_marker("slurm")]
    if not marked:
        return
    from tests.helpers.slurm_cluster import unavailable_reason

    reason = unavailable_reason()
    if reason:
        for item in marked:
            item.add_marker(pytest.mark.skip(reason=reason))
