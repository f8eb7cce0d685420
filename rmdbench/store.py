"""The run store: one directory per run, named by a hash of its full spec.

A run directory appears only complete: everything is written into a hidden temporary
directory next to it, which is renamed into place at the end (an atomic rename on one
filesystem). A run is done when its ``result.json`` exists; a failed run has
``failed.json`` (error and traceback) instead and is retried by the next sweep.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pandas as pd

from rmdbench.errors import UserError

RESULT_FILE = "result.json"
FAILED_FILE = "failed.json"
SPEC_FILE = "spec.json"


def write_json(path: Path, payload: dict) -> None:
    path.write_text(json.dumps(payload, indent=2, sort_keys=True, default=str) + "\n")


class RunStore:
    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def ensure_writable(self) -> None:
        """Create the root and prove it is writable, before any run starts."""
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            with tempfile.NamedTemporaryFile(dir=self.root, prefix=".write-test-"):
                pass
        except OSError as error:
            raise UserError(
                f"cannot write to runs directory '{self.root}' ({error.strerror}); "
                "pass a writable directory with --out"
            ) from None

    def run_dir(self, run_name: str) -> Path:
        return self.root / run_name

    def is_done(self, run_name: str) -> bool:
        return (self.run_dir(run_name) / RESULT_FILE).is_file()

    def is_failed(self, run_name: str) -> bool:
        return (self.run_dir(run_name) / FAILED_FILE).is_file()

    @contextmanager
    def staging(self, run_name: str) -> Iterator[Path]:
        """A temporary directory that becomes ``run_dir(run_name)`` when the block ends
        (on success or after a failure record was written); removed if nothing is kept."""
        self.root.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".staging-{run_name}-", dir=self.root))
        try:
            yield staging
            final = self.run_dir(run_name)
            if final.exists():
                shutil.rmtree(final)  # an earlier failed attempt
            os.replace(staging, final)
        finally:
            if staging.exists():
                shutil.rmtree(staging, ignore_errors=True)

    def done_runs(self) -> list[Path]:
        return sorted(path.parent for path in self.root.glob(f"*/{RESULT_FILE}"))

    def failed_runs(self) -> list[Path]:
        return sorted(path.parent for path in self.root.glob(f"*/{FAILED_FILE}"))


def write_table(path: Path, frame: pd.DataFrame) -> None:
    frame.to_parquet(path, index=False)
