"""One run: (dataset, noise model + severity, noise ratio, method + hyper-parameters, seed,
profile) -> a complete record in the run store."""

from __future__ import annotations

import dataclasses
import time
import traceback
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from rmdbench import __version__
from rmdbench.backbones.choice import (
    DEFAULT_BACKBONE,
    backbone_class,
    build_backbone,
    check_fits,
)
from rmdbench.contracts.method import Method, MethodContext
from rmdbench.data.base import SegmentationData
from rmdbench.metrics import CONVENTIONS, NSD_CONVENTION, evaluate_cases
from rmdbench.noise import NoisyLabels, apply_noise, severity_key
from rmdbench.params import build_params
from rmdbench.profiles import DEFAULT_THREADS, Profile, profile_threads
from rmdbench.provenance import provenance
from rmdbench.registry import METHODS, NOISE_MODELS
from rmdbench.results import with_identity
from rmdbench.seeding import seed_words
from rmdbench.store import (
    CASES_FILE,
    CURVE_FILE,
    FAILED_FILE,
    NOISE_FILE,
    NOISY_EXAMPLE_FILE,
    PREDICTIONS_FILE,
    RESULT_FILE,
    SPEC_FILE,
    RunState,
    RunStore,
    evaluation_files,
    spec_key,
    write_json,
)
from rmdbench.training.checkpoint import (
    CHECKPOINT_FORMAT,
    Checkpointing,
    checkpoint_path,
    remove_checkpoint,
)
from rmdbench.training.losses import output_channels
from rmdbench.training.model_selection import state_copy
from rmdbench.training.precision import check_precision
from rmdbench.training.trainer import DeviceData, NonFiniteLossError, Trainer, TrainResult

#: bump when the meaning of a spec field changes. 2: one random stream per purpose (common
#: random numbers across methods) and per-network initialisation seeds.
SPEC_VERSION = 2
#: one corrupted training case as the run trained on it (``noisy_example``), for reports


@dataclass(frozen=True)
class RunSpec:
    """Everything that determines a run's result; its hash names the run directory."""

    dataset: str
    noise_model: str
    noise_preset: str
    noise_params: dict
    noise_ratio: float
    method: str
    method_params: dict
    seed: int
    profile: dict
    backbone: str = "unet2d"
    spec_version: int = SPEC_VERSION
    #: for a prepared copy: a hash of its dataset.json, so re-preparing it with other
    #: options makes new runs; empty (and left out of the hash) for built-in datasets
    dataset_fingerprint: str = ""
    #: the code the run trains with (``rmdbench.fingerprint``): per component (``method``,
    #: ``noise_model``, ``backbone``, ``dataset``) a hash of its source, so a changed
    #: plug-in makes new runs; empty (and left out of the hash) when not planned by a sweep
    code: dict = field(default_factory=dict)
    #: the backbone's resolved parameters (``--backbone basicunet[features=...]``); empty
    #: (and left out of the hash) for a backbone without parameters, the default U-Net's
    backbone_params: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        values = asdict(self)
        if not values["dataset_fingerprint"]:
            del values["dataset_fingerprint"]  # built-in datasets keep their run names
        if not values["code"]:
            del values["code"]
        if values["profile"].get("threads") == DEFAULT_THREADS:
            del values["profile"]["threads"]  # runs made before the field keep their names
        if values["profile"].get("backbone") == DEFAULT_BACKBONE:
            del values["profile"]["backbone"]  # the default U-Net: runs keep their names
        if not values["backbone_params"]:
            del values["backbone_params"]
        return values

    @property
    def threads(self) -> int:
        """The torch thread count this run trains with on the CPU (its profile's)."""
        return profile_threads(self.profile)

    @property
    def key(self) -> str:
        return spec_key(self.as_dict())

    @property
    def run_name(self) -> str:
        return (
            f"{self.method}-{self.noise_model}-r{self.noise_ratio:g}-s{self.seed}-"
            f"{self.profile['name']}-{self.key}"
        )

    @property
    def severity_key(self) -> str:
        """The severity as one canonical string (part of the noise seed)."""
        return severity_key(self.noise_params)

    @property
    def noisy_label_seed(self) -> tuple:
        return (self.dataset, self.noise_model, self.severity_key, self.seed)


@dataclass
class RunOutcome:
    spec: RunSpec
    status: RunState  # done or failed
    summary: dict = field(default_factory=dict)
    error: str = ""


def _limit(indices: np.ndarray, limit: int | None) -> np.ndarray:
    return indices if limit is None else indices[:limit]


@dataclass
class PreparedRun:
    """One run ready to train: its noisy labels, its cases on the device and its method
    built; what ``train_and_evaluate`` (one run) and ``train_and_evaluate_packed`` (K runs
    of one pack) share before and after training."""

    spec: RunSpec
    data: SegmentationData
    noisy: NoisyLabels
    noisy_val: NoisyLabels
    train_index: np.ndarray
    val_index: np.ndarray
    test_index: np.ndarray
    train: DeviceData
    val: DeviceData
    test_images: DeviceData
    noisy_val_labels: torch.Tensor
    method: Method
    started: float


def prepare_run(
    spec: RunSpec,
    data: SegmentationData,
    profile: Profile,
    device: torch.device,
    cases_from: PreparedRun | None = None,
) -> PreparedRun:
    """The noisy labels of ``spec``, its training, validation and test cases on ``device``,
    and its method, built from the run's seeds. ``cases_from``: a prepared run of the same
    pack (same data and profile, so the same cases), whose images on the device this run
    shares instead of holding a copy of its own; only its training labels are its own."""
    started = time.perf_counter()
    noise_class = NOISE_MODELS.get(spec.noise_model)
    noise_model = noise_class(
        build_params(noise_class.Params, spec.noise_params, f"noise model '{spec.noise_model}'")
    )
    noisy = apply_noise(data, noise_model, spec.noise_ratio, spec.seed, spec.severity_key)
    # the validation labels corrupted like the training ones: what a user without clean
    # labels could select on (``val_noisy_dsc``, ``--evaluate best-noisy-val``)
    noisy_val = apply_noise(
        data, noise_model, spec.noise_ratio, spec.seed, spec.severity_key, split="val"
    )
    train_index = _limit(data.indices("train"), profile.max_train_cases)
    val_index = _limit(data.indices("val"), profile.max_eval_cases)
    test_index = _limit(data.indices("test"), profile.max_eval_cases)

    if cases_from is None:
        train = DeviceData.from_arrays(data.images[train_index], noisy.masks[train_index], device)
        val = DeviceData.from_arrays(data.images[val_index], data.masks[val_index], device)
        test_images = DeviceData.from_arrays(
            data.images[test_index], data.masks[test_index], device
        )
    else:
        own_labels = DeviceData.label_tensor(noisy.masks[train_index], device)
        train = DeviceData(cases_from.train.images, own_labels)
        val, test_images = cases_from.val, cases_from.test_images

    check_fits(spec.backbone, backbone_class(spec.backbone), data.spatial_dims, spec.dataset)
    sizes = {
        "in_channels": data.images.shape[1],
        "out_channels": output_channels(data.num_classes),
        "base_width": profile.base_width,
        "spatial_dims": data.spatial_dims,
    }
    context = MethodContext(
        build_backbone=lambda: build_backbone(spec.backbone, spec.backbone_params, **sizes),
        num_classes=data.num_classes,
        init_seed=spec.seed,  # network k of every method starts from the same weights
    )
    # anything a method builds outside its networks draws from torch's global generator:
    # seeded by the run, so a plug-in's own modules are reproducible too
    torch.manual_seed(seed_words("modules", spec.seed)[0])
    method = METHODS.get(spec.method).create(spec.method_params, context)
    check_precision(profile.precision, device)  # bf16 only where it is native
    noisy_val_labels = DeviceData.label_tensor(noisy_val.masks[val_index], device)
    return PreparedRun(
        spec,
        data,
        noisy,
        noisy_val,
        train_index,
        val_index,
        test_index,
        train,
        val,
        test_images,
        noisy_val_labels,
        method,
        started,
    )


def train_and_evaluate(
    spec: RunSpec,
    data: SegmentationData,
    profile: Profile,
    device: torch.device,
    on_epoch: Callable[[int, int, dict], None] | None = None,
    checkpointing: Checkpointing | None = None,
) -> dict[str, object]:
    """Train the method of ``spec`` on its noisy labels and score it on the clean test set.
    Returns the tables and facts to store."""
    run = prepare_run(spec, data, profile, device)
    trainer = Trainer.from_profile(profile, device, on_epoch)
    training = trainer.fit(
        run.method,
        run.train,
        run.val,
        seed=spec.seed,
        checkpointing=checkpointing,
        noisy_val_labels=run.noisy_val_labels,
    )
    return finish_run(run, trainer, training)


def train_and_evaluate_packed(
    specs: list[RunSpec],
    data: SegmentationData,
    profile: Profile,
    device: torch.device,
    on_epochs: list[Callable[[int, int, dict], None] | None] | None = None,
) -> list[dict[str, object] | BaseException]:
    """``train_and_evaluate`` of K runs that differ by seed only, trained as one pack
    (``Trainer.fit_packed``): per run its tables and facts, as ``train_and_evaluate`` gives
    them, or the exception that ended that run (its preparation, its diverged loss or
    its evaluation); an error of the pack's training itself (out of memory) ends every run
    that trained in it. A finished run's ``pack``: how many runs trained together."""
    check_one_pack(specs)
    on_epochs = on_epochs or [None] * len(specs)
    runs: list[PreparedRun | BaseException] = []
    for spec in specs:
        # the images go to the device once per pack: the runs differ by their labels only
        shared = next((run for run in runs if isinstance(run, PreparedRun)), None)
        try:
            runs.append(prepare_run(spec, data, profile, device, cases_from=shared))
        except Exception as error:  # noqa: BLE001 - that run fails, the others train
            runs.append(error)
    outputs: list[dict[str, object] | BaseException] = list(runs)
    ready = [index for index, run in enumerate(runs) if isinstance(run, PreparedRun)]
    if not ready:
        return outputs
    trainer = Trainer.from_profile(profile, device)
    try:
        trained = trainer.fit_packed(
            [runs[index].method for index in ready],
            [runs[index].train for index in ready],
            runs[ready[0]].val,  # one dataset and profile: the same clean validation cases
            [specs[index].seed for index in ready],
            [runs[index].noisy_val_labels for index in ready],
            [on_epochs[index] for index in ready],
        )
    except Exception as error:  # noqa: BLE001 - the pack's training failed: its runs did
        trained = [error] * len(ready)  # runs that failed to prepare keep their own error
    for index, training in zip(ready, trained, strict=True):
        try:
            if isinstance(training, BaseException):
                raise training
            outputs[index] = {**finish_run(runs[index], trainer, training), "pack": len(ready)}
        except Exception as error:  # noqa: BLE001 - recorded for that run
            outputs[index] = error
    return outputs


def check_one_pack(specs: list[RunSpec]) -> None:
    """Runs that may train as one pack: at least one, and the same run but for the seed
    (one method with its parameters, one dataset, noise and profile) of a method that
    packs exactly; anything else is a ``ValueError`` (a grouping error upstream)."""
    if not specs:
        raise ValueError("a pack needs at least one run")
    keys = {pack_key(spec) for spec in specs}
    if len(keys) != 1:
        raise ValueError("packed runs must differ by seed only (one method, dataset, profile)")
    if not packs_exactly(specs[0]):
        raise ValueError(
            f"run '{specs[0].run_name}' does not pack exactly (its method or backbone draws "
            "random numbers, or its profile compiles); train it unpacked"
        )


def packs_exactly(spec: RunSpec) -> bool:
    """Whether a run may share a pack, i.e. its packed step equals its unpacked one: its
    method opts in (``Method.packs_exactly``: no random draws in its step), its backbone
    draws nothing in a training forward (no dropout of its own) and its profile does not
    compile the networks."""
    return (
        METHODS.get(spec.method).packs_exactly
        and not backbone_class(spec.backbone).draws_random_numbers(spec.backbone_params)
        and not spec.profile.get("compile", False)
    )


def pack_key(spec: RunSpec) -> str:
    """What runs of one pack share: the spec but its seed."""
    return spec_key({key: value for key, value in spec.as_dict().items() if key != "seed"})


def finish_run(run: PreparedRun, trainer: Trainer, training: TrainResult) -> dict[str, object]:
    """Score a trained run on the clean test set (its last epoch and every best epoch) and
    gather the tables and facts to store."""
    data, method = run.data, run.method
    eval_start = time.perf_counter()
    test = TestSet(run.test_images, data, run.test_index)
    predictions, cases = test.evaluate(trainer, method)
    evaluations = best_epoch_evaluations(training, trainer, method, test)
    last = training.curve[-1]
    validation = {
        "clean_dsc": last["val_dsc"],  # the last epoch's: the networks evaluated
        "noisy_dsc": last["val_noisy_dsc"],
        **validation_noise(run.noisy_val, data.case_ids[run.val_index]),
    }
    eval_seconds = time.perf_counter() - eval_start
    # the profile may train on a subset: describe the noise of the labels actually used
    noisy = run.noisy
    used = noisy.realised["case_id"].isin(set(data.case_ids[run.train_index]))
    noisy = dataclasses.replace(noisy, realised=noisy.realised[used].reset_index(drop=True))
    return {
        "cases": cases,
        "curve": pd.DataFrame(training.curve),
        "realised": noisy.realised,
        "predictions": predictions,
        "test_case_ids": data.case_ids[run.test_index],
        "noise_summary": noisy.summary(),
        "noisy_example": noisy_example(data, noisy) if run.spec.noise_ratio > 0 else None,
        "timings": {
            "train_seconds": training.train_seconds,
            "seconds_per_iteration": training.seconds_per_iteration,
            "iterations": training.iterations,
            "resumed_from_epoch": training.resumed_from_epoch,
            "eval_seconds": eval_seconds,
            "total_seconds": time.perf_counter() - run.started,
        },
        "sizes": {
            "train": len(run.train_index),
            "val": len(run.val_index),
            "test": len(run.test_index),
        },
        "validation": validation,
        "evaluations": evaluations,
    }


@dataclass(frozen=True)
class TestSet:
    """The clean test cases a run is scored on, as device tensors and as stored arrays."""

    images: DeviceData
    data: SegmentationData
    index: np.ndarray

    def evaluate(self, trainer: Trainer, method: Method) -> tuple[np.ndarray, pd.DataFrame]:
        """The method's test predictions and their per-case metrics."""
        predictions = trainer.predict(method, self.images.images).cpu().numpy()
        cases = evaluate_cases(
            predictions,
            self.data.masks[self.index],
            self.data.spacing[self.index],
            self.data.case_ids[self.index],
            self.data.num_classes,
        )
        cases["hd_unit"] = cases.attrs.get("hd_unit", "mm")
        return predictions, cases


def best_epoch_evaluations(
    training: TrainResult, trainer: Trainer, method: Method, test: TestSet
) -> dict[str, dict]:
    """The test set scored by each best-epoch rule (``rmdbench.training.model_selection``):
    per rule its epoch, its validation score and, when that epoch is not the last, the
    predictions and cases of its networks (``None``: the last epoch's serve). Leaves the
    method at its last state. A rule without a best epoch (no validation cases) is absent:
    ``rmdbench report --evaluate`` refuses it for this run."""
    last_epoch = training.curve[-1]["epoch"]
    evaluations: dict[str, dict] = {}
    last_state = None
    for rule, held in training.best.items():
        evaluation = {"epoch": held.epoch, "val_score": held.score, "tables": None}
        if held.epoch != last_epoch:
            if last_state is None:
                last_state = state_copy(method.state_dict())
            method.load_state_dict(held.state)
            evaluation["tables"] = test.evaluate(trainer, method)
        evaluations[rule] = evaluation
    if last_state is not None:
        method.load_state_dict(last_state)
    return evaluations


def evaluation_record(evaluations: dict[str, dict], last_epoch: int) -> dict[str, dict]:
    """result.json's ``evaluation``: per rule the epoch evaluated and whose files hold its
    cases and predictions (``rmdbench.store.evaluation_files``)."""
    record = {"last": {"epoch": last_epoch, "files": "last"}}
    for rule, evaluation in evaluations.items():
        record[rule] = {
            "epoch": evaluation["epoch"],
            "val_score": evaluation["val_score"],
            "files": "last" if evaluation["tables"] is None else rule,
        }
    return record


def validation_noise(noisy_val: NoisyLabels, case_ids: np.ndarray) -> dict[str, float | int]:
    """How noisy the scored validation labels are: ``cases``, how many ``corrupted``, and
    their mean Dice against the clean labels (``label_dsc``), so a selection on noisy
    validation labels can be read next to the noise it saw."""
    realised = noisy_val.realised
    used = realised[realised["case_id"].isin({str(case_id) for case_id in case_ids})]
    return {
        "cases": len(used),
        "corrupted": int(used["corrupted"].sum()),
        "label_dsc": float(used["noisy_dsc"].mean()) if len(used) else float("nan"),
    }


def noisy_example(data: SegmentationData, noisy: NoisyLabels) -> dict[str, np.ndarray] | None:
    """One corrupted training case as the run trained on it, so that a report shows a noisy
    label without regenerating noise: ``image``, ``clean_mask``, ``noisy_mask``, ``case_id``
    and ``noisy_dsc`` (Dice of noisy vs clean). The case is picked deterministically: of the
    corrupted training cases in ``noisy.realised`` (the cases trained on) with a non-empty
    clean mask (any corrupted case when none has one), the one at the median of their Dice
    (the lower middle one for an even count; equal Dice in training order). None when no
    case was corrupted."""
    realised = noisy.realised
    corrupted = realised[realised["corrupted"].astype(bool) & realised["noisy_dsc"].notna()]
    if corrupted.empty:
        return None
    index_of = {str(case_id): index for index, case_id in enumerate(data.case_ids)}
    indices = np.array([index_of[str(case_id)] for case_id in corrupted["case_id"]])
    dice = corrupted["noisy_dsc"].to_numpy(dtype=float)
    non_empty = np.array([bool(data.masks[index].any()) for index in indices])
    if non_empty.any():
        indices, dice = indices[non_empty], dice[non_empty]
    pick = int(np.argsort(dice, kind="stable")[(len(dice) - 1) // 2])
    index = int(indices[pick])
    return {
        "image": data.images[index],
        "clean_mask": data.masks[index],
        "noisy_mask": noisy.masks[index],
        "case_id": np.array(str(data.case_ids[index])),
        "noisy_dsc": np.array(dice[pick]),
    }


def summarise_cases(cases: pd.DataFrame) -> dict[str, float]:
    numeric = cases.select_dtypes("number")
    return {column: float(numeric[column].mean()) for column in numeric.columns}


OUT_OF_MEMORY_FIX = (
    "use a smaller batch or profile (e.g. --profile quick rather than paper), "
    "or fewer runs per device (--workers)"
)


def describe_failure(error: BaseException) -> str:
    """One line for a failed run that names the fix where the user has one: out of memory
    (GPU or host) and a diverged loss are recorded like any other failure."""
    text = str(error).strip().splitlines()
    detail = type(error).__name__ + (f": {text[0]}" if text else "")
    out_of_memory = isinstance(error, torch.cuda.OutOfMemoryError | MemoryError) or (
        isinstance(error, RuntimeError) and "out of memory" in str(error).lower()
    )
    if out_of_memory:
        return f"out of memory ({detail}); {OUT_OF_MEMORY_FIX}"
    if isinstance(error, NonFiniteLossError):
        return (
            f"training diverged ({detail}); check the method's hyper-parameters or the "
            "profile's learning rate, then rerun with --retry-failed"
        )
    return detail


def checkpoint_identity(spec: RunSpec, device: torch.device) -> dict:
    """What a checkpoint must have been saved under to be resumed: the spec, the rmdbench
    version, the device type and, on the CPU, torch's thread count now (results depend on
    it there: a run resumed at another count would be a hybrid of two results)."""
    identity = {
        "spec": spec.key,
        "rmdbench": __version__,
        "device": device.type,
        "format": CHECKPOINT_FORMAT,
    }
    if device.type == "cpu":
        identity["threads"] = torch.get_num_threads()
    return identity


def execute_run(
    spec: RunSpec,
    data: SegmentationData,
    profile: Profile,
    store: RunStore,
    device: torch.device,
    on_epoch: Callable[[int, int, dict], None] | None = None,
    checkpoint_every: int = 0,
) -> RunOutcome:
    """Run and record one spec. An exception becomes a failed record (with traceback) and
    a failed outcome; it is not raised, so a sweep goes on. With ``checkpoint_every``, the
    training state is saved every so many epochs and a rerun after a kill resumes from it;
    the caller holds the run's lock, so no one else touches that checkpoint."""
    path = checkpoint_path(store.root, spec.run_name)
    identity = checkpoint_identity(spec, device)
    checkpointing = Checkpointing(path, checkpoint_every, identity) if checkpoint_every else None
    with store.staging(spec.run_name) as staging:
        write_json(staging / SPEC_FILE, spec.as_dict())
        try:
            output = train_and_evaluate(spec, data, profile, device, on_epoch, checkpointing)
        except Exception as error:  # noqa: BLE001 - recorded, the sweep goes on
            remove_checkpoint(path)  # a retry starts over rather than from a bad state
            return write_failure(staging, spec, error, traceback.format_exc())
        summary = write_record(staging, spec, output, device)
    remove_checkpoint(path)  # also one left by an earlier attempt with the option
    return RunOutcome(spec, RunState.DONE, summary=summary)


def execute_packed(
    specs: list[RunSpec],
    data: SegmentationData,
    profile: Profile,
    store: RunStore,
    device: torch.device,
    on_epochs: list[Callable[[int, int, dict], None] | None] | None = None,
) -> list[RunOutcome]:
    """Run and record K specs that differ by seed only as one pack
    (``train_and_evaluate_packed``): each run's record is the one ``execute_run`` writes,
    but for ``provenance.pack`` (K); a run that fails is recorded failed alone, and an
    error of the pack's training fails every run of it. Nothing is raised; the caller
    holds every run's lock. No checkpoints (a packed sweep refuses them)."""
    try:
        outputs = train_and_evaluate_packed(specs, data, profile, device, on_epochs)
    except Exception as error:  # noqa: BLE001 - the pack's training failed: every run did
        details = traceback.format_exc()
        outputs = [error] * len(specs)
    else:
        details = ""
    outcomes = []
    for spec, output in zip(specs, outputs, strict=True):
        with store.staging(spec.run_name) as staging:
            write_json(staging / SPEC_FILE, spec.as_dict())
            if isinstance(output, BaseException):
                described = details or "".join(traceback.format_exception(output))
                outcome = write_failure(staging, spec, output, described)
            else:
                summary = write_record(staging, spec, output, device, pack=output["pack"])
                outcome = RunOutcome(spec, RunState.DONE, summary=summary)
        # done or failed, a leftover checkpoint goes: a retry starts over (as execute_run)
        remove_checkpoint(checkpoint_path(store.root, spec.run_name))
        outcomes.append(outcome)
    return outcomes


def write_failure(staging: Path, spec: RunSpec, error: BaseException, details: str) -> RunOutcome:
    """A run's failed record (its one-line reason and ``details``, the traceback) into
    ``staging``, and its failed outcome."""
    message = describe_failure(error)
    write_json(
        staging / FAILED_FILE,
        {"error": message, "traceback": details, "spec": spec.as_dict()},
    )
    return RunOutcome(spec, RunState.FAILED, error=message)


def write_record(
    staging: Path, spec: RunSpec, output: dict, device: torch.device, pack: int = 1
) -> dict[str, float]:
    """A finished run's files and result.json into ``staging``; returns its summary.
    ``pack``: how many runs trained together in its vmapped step (1: alone), how it ran,
    not what it is: recorded in ``provenance``, never in the spec or run name."""
    summary = summarise_cases(output["cases"])  # of the metrics, before identity columns
    identify = partial(with_identity, spec=spec.as_dict(), run_name=spec.run_name)
    identify(output["cases"]).to_parquet(staging / CASES_FILE, index=False)
    identify(output["curve"]).to_parquet(staging / CURVE_FILE, index=False)
    output["realised"].to_parquet(staging / NOISE_FILE, index=False)
    np.savez_compressed(
        staging / PREDICTIONS_FILE,
        predictions=output["predictions"],
        case_ids=output["test_case_ids"],
    )
    for rule, evaluation in output["evaluations"].items():
        if evaluation["tables"] is not None:
            predictions, cases = evaluation["tables"]
            cases_file, predictions_file = evaluation_files(rule)
            identify(cases).to_parquet(staging / cases_file, index=False)
            np.savez_compressed(
                staging / predictions_file,
                predictions=predictions,
                case_ids=output["test_case_ids"],
            )
    if output["noisy_example"] is not None:
        np.savez_compressed(staging / NOISY_EXAMPLE_FILE, **output["noisy_example"])
    write_json(
        staging / RESULT_FILE,
        {
            "status": RunState.DONE.value,
            "run_name": spec.run_name,
            "spec": spec.as_dict(),
            "summary": summary,
            "noise": output["noise_summary"],
            "timings": output["timings"],
            "sizes": output["sizes"],
            "validation": output["validation"],
            "evaluation": evaluation_record(
                output["evaluations"], int(output["curve"]["epoch"].iloc[-1])
            ),
            "conventions": CONVENTIONS,
            "nsd_convention": NSD_CONVENTION,  # its tolerance; absent before NSD
            "provenance": {**provenance(device), "pack": pack},
        },
    )
    return summary
