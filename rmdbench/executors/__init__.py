"""Executors: where the runs of a sweep train (this process, a local pool of worker
processes, or SLURM array tasks), behind one small interface (``Executor.run`` in
``base``). This package module imports nothing heavy: ``EXECUTOR_NAMES`` and
``slurm_options`` are read when the command line starts."""

EXECUTOR_NAMES = ("inline", "local", "slurm")

__all__ = ["EXECUTOR_NAMES"]
