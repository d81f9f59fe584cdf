"""The one run folder and the one run loop of every training command (``train``,
``unsupervised``, ``astdp train``, ``spikeprop``): ownership, a lock, atomic checkpoints, safe
loading, exact resume, time budget, divergence, progress bar, metrics CSVs.

:func:`run_loop` drives a :class:`Trainer` (a training method's step, its end-of-epoch
evaluation, its checkpoint) over a :class:`Schedule`; the trainer supplies nothing else.

A run folder records what made it in ``run.json`` (command, config, hebbtorch version, status).
Opening it again is allowed for the same run only: a different run, or a fresh start over an
unfinished one, is refused with a message naming ``--resume`` and ``--overwrite``; ``--resume``
without a checkpoint is an error; a second process writing into the same folder is refused
(``.lock`` holds the owner's pid; the lock of a process that died is taken over). Checkpoints
are written atomically (temporary file + ``os.replace``) and read with
``torch.load(weights_only=True)``: plain containers, numbers, strings and tensors only, so
opening someone else's run folder cannot execute code.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from hebbtorch.errors import HebbtorchError
from hebbtorch.io import atomic_write, csv_text, write_json, write_text

RUN_FILE = "run.json"
LOCK_FILE = ".lock"
CHECKPOINT = "checkpoint.pt"

Compatible = Callable[[dict, dict], bool]


# ------------------------------------------------------------------------------- checkpoints
def save_checkpoint(path: str | Path, state: dict) -> None:
    """Write ``state`` atomically (a crash mid-write keeps the previous checkpoint)."""
    atomic_write(path, lambda f: torch.save(state, f))


def load_checkpoint(path: str | Path, required: Iterable[str] = (),
                    map_location: str | torch.device = "cpu") -> dict:
    """Read a checkpoint with ``weights_only=True``; anything else than a dict holding
    ``required`` (an empty, truncated, hand-made or foreign file) is one clear error."""
    path = Path(path)
    if not path.is_file():
        raise HebbtorchError(f"no {path.name} in {path.parent}: train a model there first")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as e:  # noqa: BLE001 - any unreadable file is a corrupt checkpoint
        why = (str(e).strip().splitlines() or [""])[0][:160]
        raise HebbtorchError(f"checkpoint {path} is unreadable ({type(e).__name__}: {why})"
                             ) from e
    missing = [k for k in required if not isinstance(state, dict) or k not in state]
    if missing:
        raise HebbtorchError(f"checkpoint {path} is unreadable (not a hebbtorch checkpoint of "
                             f"this command: missing {', '.join(missing)})")
    return state


# ---------------------------------------------------------------------------------- the lock
def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def _acquire(folder: Path) -> Path:
    lock = folder / LOCK_FILE
    for _ in range(3):
        try:
            fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            try:
                pid = int(lock.read_text().strip() or 0)
            except (OSError, ValueError):
                pid = 0
            if pid and pid != os.getpid() and _alive(pid):
                raise HebbtorchError(
                    f"{folder} is in use by another run (pid {pid}); wait for it to end or "
                    "choose another --out") from None
            lock.unlink(missing_ok=True)  # stale: its process is gone
            continue
        except OSError as e:
            raise HebbtorchError(f"--out {folder} is not writable ({e.strerror})") from None
        with os.fdopen(fd, "w") as f:
            f.write(str(os.getpid()))
        return lock
    raise HebbtorchError(f"cannot take the lock {lock}; remove it if no run uses {folder}")


def prepare_out(path: str | Path) -> Path:
    """Create the output folder and check it is writable, before any work."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise HebbtorchError(f"--out {str(path)!r} exists and is not a folder")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        raise HebbtorchError(f"--out {str(path)!r}: a part of the path is a file") from None
    except OSError as e:
        raise HebbtorchError(f"--out {str(path)!r} cannot be created ({e.strerror})") from None
    if not os.access(path, os.W_OK | os.X_OK):
        raise HebbtorchError(f"--out {str(path)!r} is not writable")
    return path


# ------------------------------------------------------------------------------ run folders
def _agree(resuming: bool, error: str | None) -> tuple[bool, str | None]:
    """Rank 0's outcome of opening the folder on every rank of a running process group
    (unchanged for one process)."""
    from hebbtorch import distributed as ddp

    info = ddp.current()
    return ddp.broadcast_object((resuming, error), info) if info.enabled else (resuming, error)


def _differences(a: dict, b: dict) -> list[str]:
    return sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k))


def _plain(config: dict) -> dict:
    """The config as JSON has it (tuples as lists), so saved and new compare equal."""
    return json.loads(json.dumps(config, default=str))


class RunFolder:
    """Owns ``path`` for one run; use as a context manager (releases the lock).

    config: what determines the result (compared with the folder's earlier run); ``ignore``:
    keys that may change between a run and its resumption (device, checkpoint interval);
    ``compatible(old, new)``: other accepted changes (e.g. more images to train on).
    ``main=False`` (the other ranks of a process group): no checks, no files, no lock.
    After opening, ``resuming`` says whether :meth:`load` has a checkpoint to continue from.
    """

    def __init__(self, path: str | Path, command: str, config: dict, *, resume: bool = False,
                 overwrite: bool = False, ignore: Iterable[str] = (),
                 compatible: Compatible | None = None, main: bool = True) -> None:
        self.path = Path(path)
        self.command, self.config = command, _plain(config)
        self.ignore, self.compatible = set(ignore), compatible
        self.checkpoint = self.path / CHECKPOINT
        self.main, self.lock = main, None
        if resume and overwrite:
            raise HebbtorchError("--resume and --overwrite exclude each other")
        error: BaseException | None = None
        self.resuming = not main and resume and self.checkpoint.exists()  # no group: as before
        if main:
            try:
                self._open(resume, overwrite)
            except BaseException as e:  # noqa: BLE001 - handed to the other ranks, re-raised
                error = e
        # In a process group rank 0 decides for all (its checks, its resume or fresh start):
        # every rank takes the same path, and a refusal on rank 0 stops the others too.
        resuming, why = _agree(self.resuming, None if error is None else
                               (str(error) or type(error).__name__))
        if error is not None:
            raise error
        if why is not None:
            raise HebbtorchError(f"rank 0: {why}")
        self.resuming = resuming

    def _open(self, resume: bool, overwrite: bool) -> None:
        prepare_out(self.path)
        self.lock = _acquire(self.path)
        try:
            self.resuming = self._claim(resume, overwrite)
            self._write_record("running")
        except BaseException:
            self.close()
            raise

    def _same(self, old: dict) -> bool:
        a = {k: v for k, v in old.items() if k not in self.ignore}
        b = {k: v for k, v in self.config.items() if k not in self.ignore}
        return a == b or (self.compatible is not None and self.compatible(a, b))

    def _claim(self, resume: bool, overwrite: bool) -> bool:
        record_file = self.path / RUN_FILE
        has_ckpt = self.checkpoint.exists()
        if overwrite:
            if record_file.exists() or has_ckpt:  # a run folder: clear it, keep the lock
                for p in self.path.iterdir():
                    if p.name != LOCK_FILE:
                        shutil.rmtree(p) if p.is_dir() and not p.is_symlink() else p.unlink()
            return False
        record = None
        if record_file.exists():
            try:
                record = json.loads(record_file.read_text())
                assert isinstance(record, dict) and isinstance(record.get("config"), dict)
            except (OSError, ValueError, AssertionError):
                raise HebbtorchError(f"{record_file} is unreadable; pass --overwrite to replace "
                                     "the run in it, or choose another --out") from None
        where = f"--out {self.path}"
        if record is not None:
            old = record["config"]
            if record.get("command") != self.command or not self._same(old):
                what = (f"a `{record.get('command')}` run" if record.get("command") !=
                        self.command else "a run with other options ("
                        + ", ".join(_differences(old, self.config)) + ")")
                raise HebbtorchError(
                    f"{where} holds {what}; choose another --out, or pass --overwrite to "
                    "replace it (--resume continues a run only with its own options)")
        if resume:
            if not has_ckpt:
                raise HebbtorchError(f"--resume: no {CHECKPOINT} in {self.path} to continue "
                                     "from; run without --resume to start")
            return True
        finished = record is not None and record.get("status") == "finished"
        if has_ckpt and not finished:
            raise HebbtorchError(
                f"{where} holds an unfinished run; pass --resume to continue it or "
                "--overwrite to start afresh")
        if has_ckpt:  # the same finished run again: start over (same options, same result)
            self.checkpoint.unlink()
        return False

    def _write_record(self, status: str, **extra: Any) -> None:
        from hebbtorch import __version__

        record = {"command": self.command, "status": status, "config": self.config,
                  "hebbtorch": __version__, "torch": torch.__version__,
                  "argv": sys.argv, "updated": time.strftime("%Y-%m-%dT%H:%M:%S%z"), **extra}
        write_json(self.path / RUN_FILE, record)

    def load(self, required: Iterable[str] = ("config",)) -> dict | None:
        """The checkpoint to resume from (None for a fresh start); a checkpoint made by other
        options (in a folder without ``run.json``) is refused."""
        if not self.resuming:
            return None
        state = load_checkpoint(self.checkpoint, required)
        saved = state.get("config")
        if isinstance(saved, dict) and not self._same(_plain(saved)):
            diff = ", ".join(k for k in _differences(_plain(saved), self.config)
                             if k not in self.ignore)
            raise HebbtorchError(
                f"checkpoint {self.checkpoint} was written with a different configuration "
                f"({diff}); use another --out folder or the same options")
        return state

    def save(self, state: dict) -> None:
        if self.main:
            save_checkpoint(self.checkpoint, state)

    def finish(self, **extra: Any) -> None:
        if self.main:
            self._write_record("finished", **extra)

    def close(self) -> None:
        if self.lock is not None:
            self.lock.unlink(missing_ok=True)
            self.lock = None

    def __enter__(self) -> RunFolder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# -------------------------------------------------------------------- budget and divergence
class Budget:
    """Wall-clock budget of the training part of a run, carried over a resumption."""

    def __init__(self, seconds: float | None, spent: float = 0.0) -> None:
        if seconds is not None and not (seconds > 0 and math.isfinite(seconds)):
            raise HebbtorchError(f"--time-budget must be a positive number of seconds, "
                                 f"got {seconds}")
        self.seconds, self._t0 = seconds, time.perf_counter() - spent

    @property
    def elapsed(self) -> float:
        return time.perf_counter() - self._t0

    def exceeded(self) -> bool:
        return self.seconds is not None and self.elapsed > self.seconds


class Divergence:
    """Stops a run whose loss turns non-finite or explodes (``> factor`` times the first loss
    and above ``floor``), naming the learning rate: the usual cause."""

    def __init__(self, lr: float, factor: float = 1e3, floor: float = 1e4) -> None:
        self.lr, self.factor, self.floor, self.first = lr, factor, floor, None

    def check(self, loss: float, where: str, kept: str) -> None:
        if self.first is None and math.isfinite(loss):
            self.first = abs(loss)
        limit = max(self.floor, self.factor * (self.first or 0.0))
        if not math.isfinite(loss) or abs(loss) > limit:
            raise HebbtorchError(
                f"loss became {loss:.3g} at {where}: the learning rate ({self.lr:g}) is likely "
                f"too large; lower --lr ({kept})")


# ------------------------------------------------------------------------------ the run loop
@dataclass
class LoopState:
    """Where a run stands: steps done, one row per step (``batches.csv``) and per epoch
    (``metrics.csv``), and the seconds spent in training steps over all its calls."""

    step: int = 0
    history: list[dict] = field(default_factory=list)
    batch_log: list[dict] = field(default_factory=list)
    elapsed: float = 0.0


@dataclass(frozen=True)
class Schedule:
    """The steps of a run: ``steps`` in all, an epoch every ``per_epoch`` (the trainer's
    :meth:`Trainer.end_epoch` after each full one, then a checkpoint when ``epoch_checkpoints``),
    and a checkpoint every ``checkpoint_every`` steps (counted from the run's start). The
    progress bar counts ``scale`` ``unit`` per step (e.g. images per batch)."""

    steps: int
    per_epoch: int
    checkpoint_every: int | None = None
    epoch_checkpoints: bool = True
    unit: str = "batch"
    scale: int = 1
    epoch_label: str | None = "epoch"  # shown on the bar (None: epochs are not the user's)


class Trainer:
    """What a training method gives :func:`run_loop`. Subclasses define :meth:`train_step`,
    :meth:`state_dict` and :meth:`load_state_dict`; the rest is optional."""

    desc = "train"  # progress-bar label

    def train_step(self, step: int) -> dict | None:
        """Run step ``step`` (0-based over the whole run); its row for ``batches.csv`` (a
        ``loss`` in it is watched for divergence), or None."""
        raise NotImplementedError

    def end_epoch(self, epoch: int, loop: LoopState) -> dict | None:
        """After full epoch ``epoch`` (1-based): its row for ``metrics.csv`` (an evaluation),
        or None. Called on every rank of a process group."""
        return None

    def finished(self, loop: LoopState) -> bool:
        """True ends the run early, as finished (e.g. converged)."""
        return False

    def state_dict(self, loop: LoopState) -> dict:
        """The checkpoint: the trainer's state and ``loop`` (collective in a process group)."""
        raise NotImplementedError

    def load_state_dict(self, state: dict) -> LoopState:
        """Restore a checkpoint of :meth:`state_dict`; return its loop state."""
        raise NotImplementedError

    def postfix(self, row: dict) -> dict:
        """What the progress bar shows of a step's row."""
        return {k: f"{row[k]:.3f}" for k in ("loss", "accuracy") if k in row}


@dataclass
class LoopEnd:
    loop: LoopState
    stopped: bool  # by the time budget or ``stop_after``: the run stays unfinished


def write_logs(out: str | Path, loop: LoopState) -> None:
    """``metrics.csv`` (one row per epoch) and ``batches.csv`` (one per step), where any."""
    for name, rows in (("metrics.csv", loop.history), ("batches.csv", loop.batch_log)):
        if rows:
            write_text(Path(out) / name, csv_text(rows))


def run_loop(folder: RunFolder | None, trainer: Trainer, schedule: Schedule, *,
             quiet: bool = False, time_budget_s: float | None = None,
             divergence: Divergence | None = None, stop_after: int | None = None,
             required: Iterable[str] = ("config",)) -> LoopEnd:
    """Run ``trainer`` to the end of ``schedule``, resuming ``folder``'s checkpoint if it has
    one. Stops early (unfinished, checkpoint written) after ``time_budget_s`` seconds of this
    call or ``stop_after`` steps of it; raises, keeping the last checkpoint, when a step's loss
    diverges. Writes ``metrics.csv``/``batches.csv`` after every epoch and at the end (rank 0).
    ``folder=None``: no files at all (an in-memory fit). In a process group every rank runs it;
    rank 0's clock decides the budget for all."""
    from hebbtorch import distributed as ddp

    info = ddp.current()
    budget = Budget(time_budget_s)  # this call's time: a time-boxed job, then --resume
    loop = LoopState()
    state = folder.load(tuple(required)) if folder is not None else None
    if state is not None:
        loop = trainer.load_state_dict(state)
        if not quiet and info.is_main:
            print(f"resuming {folder.path} at {schedule.unit} {loop.step * schedule.scale} "
                  f"of {schedule.steps * schedule.scale}")
    epochs = -(-schedule.steps // schedule.per_epoch)

    where = getattr(trainer, "device", "cpu")  # fail_together's flag lives there (NCCL: GPU)

    def save() -> None:
        if folder is not None:
            state = trainer.state_dict(loop)  # collectives: every rank, outside the guard
            with ddp.fail_together(info, "rank 0's checkpoint write", where):
                folder.save(state)  # rank 0 writes: a failed write must stop the others too

    def stop_now(calls: int) -> bool:
        if stop_after is not None and calls >= stop_after:
            return True
        if budget.seconds is None:
            return False
        return ddp.broadcast_object(budget.exceeded(), info) if info.enabled \
            else budget.exceeded()

    bar = _progress(schedule, loop.step, trainer.desc, quiet or not info.is_main)
    stopped, calls, saved = False, 0, False
    while loop.step < schedule.steps and not trainer.finished(loop):
        epoch, in_epoch = divmod(loop.step, schedule.per_epoch)
        if schedule.epoch_label and epochs > 1 and in_epoch == 0:
            bar.set_description(f"{trainer.desc} {schedule.epoch_label} {epoch + 1}/{epochs}")
        t0 = time.perf_counter()
        row = trainer.train_step(loop.step)
        loop.elapsed += time.perf_counter() - t0
        if row is not None:
            if divergence is not None and "loss" in row:
                divergence.check(float(row["loss"]), f"epoch {epoch + 1}, {schedule.unit} "
                                 f"{in_epoch}", f"the last good checkpoint is kept in "
                                 f"{folder.path}" if folder is not None and
                                 folder.checkpoint.exists() else "no checkpoint was written yet")
            loop.batch_log.append(row)
            bar.set_postfix(trainer.postfix(row), refresh=False)
        loop.step, calls = loop.step + 1, calls + 1
        bar.update(schedule.scale)
        saved = False
        if loop.step % schedule.per_epoch == 0:
            summary = trainer.end_epoch(epoch + 1, loop)
            if summary is not None:
                loop.history.append(summary)
            if schedule.epoch_checkpoints:
                save()
                saved = True
            if folder is not None and info.is_main:
                write_logs(folder.path, loop)
        if not saved and schedule.checkpoint_every and \
                loop.step % schedule.checkpoint_every == 0:
            save()
            saved = True
        if loop.step < schedule.steps and not trainer.finished(loop) and stop_now(calls):
            if not saved:
                save()
            stopped = True
            break
    bar.close()
    if not stopped and calls and not saved:
        save()  # the final state (a no-op run, e.g. resuming a finished one, writes nothing)
    if folder is not None and info.is_main:
        write_logs(folder.path, loop)
    return LoopEnd(loop, stopped)


def _progress(schedule: Schedule, start: int, desc: str, disable: bool):
    from tqdm.auto import tqdm

    return tqdm(total=schedule.steps * schedule.scale, initial=start * schedule.scale,
                desc=desc, unit=schedule.unit, disable=disable, leave=False,
                dynamic_ncols=True)


# ------------------------------------------------------------------------------------ memory
def available_memory(device: str | torch.device = "cpu") -> int | None:
    """Bytes free for a new allocation on ``device`` (None where it cannot be told)."""
    device = torch.device(device)
    if device.type == "cuda":
        return int(torch.cuda.mem_get_info(device)[0])
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def check_memory(nbytes: float, what: str, hint: str,
                 device: str | torch.device = "cpu") -> None:
    """Refuse before the work an allocation larger than the free memory, naming the option."""
    free = available_memory(device)
    if free is not None and nbytes > free:
        raise HebbtorchError(f"{what} needs about {nbytes / 2**30:.1f} GiB but only "
                             f"{free / 2**30:.1f} GiB are free on {device}; {hint}")
