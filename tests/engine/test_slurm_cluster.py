"""The slurm executor's reading of the cluster (sinfo, squeue) and its checks, from
recorded command output: no cluster needed."""

from __future__ import annotations

import pytest

from rmdbench.errors import OptionError
from rmdbench.executors import slurm_cluster, slurm_queue
from rmdbench.executors.slurm_options import SlurmOptions


def test_sinfo_partitions_gpus_limits_and_memory():
    text = (
        "debug*|(null)|infinite|21217\n"
        "gpu|gpu:a100:4(S:0-1),shard:8|2-00:00:00|512000\n"
        "gpu|gpu:v100:2|2-00:00:00|256000\n"
        "short|gpu:1|30:00|1000+\n"
    )
    partitions = slurm_cluster.parse_sinfo(text)
    assert partitions["debug"] == slurm_cluster.Partition("debug", True, 0, None, 21217)
    assert partitions["gpu"] == slurm_cluster.Partition("gpu", False, 4, 2 * 24 * 60, 512000)
    assert partitions["short"].max_minutes == 30 and partitions["short"].gpus == 1
    assert slurm_cluster.chosen_partition(partitions, None).name == "debug"


@pytest.mark.parametrize(
    ("name", "gpus", "minutes", "memory", "flag"),
    [
        ("nope", None, 10, None, "slurm_partition"),
        ("debug", 1, 10, None, "slurm_gpus"),
        ("short", None, 31, None, "slurm_time"),
        ("debug", 0, 10, 64.0, "slurm_mem"),
    ],
)
def test_requests_the_partition_cannot_meet_name_the_option(name, gpus, minutes, memory, flag):
    partitions = slurm_cluster.parse_sinfo("debug*|(null)|infinite|21217\nshort|gpu:1|30:00|1000")
    with pytest.raises(OptionError) as caught:
        partition = slurm_cluster.chosen_partition(partitions, name)
        slurm_cluster.check_fits(partition, gpus, minutes, memory)
    assert caught.value.option == flag
    assert "\n" not in str(caught.value)


def test_gpus_default_to_none_off_slurm_and_flags_match_the_request(tmp_path):
    options = SlurmOptions(tmp_path, cluster="local")
    assert options.fitted().gpus == 0 and options.parameters(2)["gpus_per_node"] == 0
    flags = SlurmOptions(tmp_path, partition="gpu", gpus=2, mem="1.5G", time="1:00:00")
    assert flags.sbatch_flags() == [
        "--nodes=1",
        "--ntasks-per-node=1",
        "--partition=gpu",
        "--time=60",
        "--gpus-per-node=2",
        "--mem=1536MB",
    ]


def test_a_task_that_ended_without_a_result_says_why():
    assert slurm_queue.has_ended("CANCELLED") and not slurm_queue.has_ended("PENDING")
    assert not slurm_queue.has_ended(None)
    assert "--slurm-time (5 min)" in slurm_queue.ended_reason("TIMEOUT", "3_1", 5)
    assert "cancelled" in slurm_queue.ended_reason("CANCELLED", "3_1", 5)
    assert "raise --slurm-mem" in slurm_queue.ended_reason("OUT_OF_MEMORY", "3_1", 5)
