"""Train a byte-level GPT on packed certificates, with checkpoints that resume exactly.

    python -m proofgpt train --profile cpu [--run NAME] [--resume [PATH]] [--force] [key=value ...]
    torchrun --nproc_per_node 8 -m proofgpt train --profile seed        # DDP, one process per GPU

A flat loop in the spirit of nanoGPT's train.py: `setup` finds the data, builds the model and
optimizer and restores a checkpoint; `train` is one `while` that takes optimizer steps. An
epoch is as many rows as the fixed packing of the train certificates has; `train.rows` says
what a row is (`pack.TrainRows`: packed rows in an order fixed by (seed, epoch), re-packed
each epoch, nanoGPT-style random windows of the byte stream, or packed rows read from random
offsets), always a pure function of (seed, epoch, position). Each optimizer step takes the
next batch_size x grad_accum x world_size rows (the last, incomplete step of an epoch is dropped).
With data.format=text the rows are random windows of a file's raw bytes, an epoch is as many
rows as the file has non-overlapping windows, and the losses are over those windows.

Exact resume. A checkpoint holds everything the next step depends on: weights, AdamW moments,
GradScaler, step, epoch and row position in the epoch, every RNG state (the sampler builds its
own torch.Generator from sample.seed at each evaluation, so it has no state to keep), the
early-stopping counters and how many bytes of metrics.jsonl existed. Resuming restores all of
it and cuts metrics.jsonl back to that length, so on CPU an interrupted-and-resumed run ends
with weights and metrics identical to an uninterrupted one (tests/test_resume.py kills runs
with SIGKILL to check). The price: every checkpoint carries optimizer state (3x the weights).

One writer per run: rank 0 claims the run directory (io.claim_run_dir: a directory proofgpt
did not create is refused) and holds its lock (io.lock_run) until training ends.

Files in the run directory (runs/<name>/):
    proofgpt-run.json    marks the directory as proofgpt's; proofgpt.lock: the writer's pid
    config.json          resolved config, derived numbers, data sha256, environment
    metrics.jsonl        one JSON row per step / evaluation / stop (schema in README.md, "Run directory")
    data/                split (and generated corpus) when not using data/ from `make data`
    ckpt/                checkpoints (checkpoint.py)

References: nanoGPT train.py (Karpathy) for the loop, get_lr and DDP's no_sync trick.
"""

import argparse
import contextlib
import json
import math
import os
import random
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from proofgpt import paths
from proofgpt.checkpoint import (CKPT_FORMAT, best_checkpoints, hook, load_checkpoint, remove_checkpoint,
                                 save_checkpoint, set_rng_state, weights_sha256)
from proofgpt.config import (MODEL_SHAPE_KEYS, RunConfig, apply_overrides, derive, describe, from_dict, load_profile,
                             to_dict)
from proofgpt.data import DataMismatch, corpus_entropy_bound, read_split_file, run_data
from proofgpt.diagnose import diagnose
from proofgpt.env import environment
from proofgpt.errors import UserError
from proofgpt.evaluate import complete_theorems
from proofgpt.io import atomic_write_bytes, atomic_write_json, claim_run_dir, read_jsonl, run_locked, sha256_file
from proofgpt.model import GPT
from proofgpt.pack import Packed, TrainRows, batch, eval_rows

TIMING_FIELDS = ("tokens_per_s", "elapsed_s")  # the only metrics that differ between identical runs


class TrainingDiverged(Exception):
    """Loss or gradient norm became NaN/inf; the checkpoints on disk predate it."""


# --------------------------------------------------------------------------------------------
# data, schedule, evaluation


def fixed_rows(n_rows: int, k: int) -> np.ndarray:
    """k rows spread evenly over n_rows, the same every time: fixed_rows(10, 3) -> [0, 4, 9]."""
    k = max(1, min(k, n_rows))
    return np.unique(np.linspace(0, n_rows - 1, num=k).round().astype(np.int64))


def to_device(xy, device) -> tuple[torch.Tensor, torch.Tensor]:
    """A batch's (x, y) int64 arrays (B, ctx) -> tensors on device (y = -1 where the target is padding)."""
    return tuple(torch.from_numpy(a).to(device, non_blocking=True) for a in xy)


def get_lr(step: int, lr: float, min_lr: float, warmup_steps: int, total_steps: int) -> float:
    """Learning rate for optimizer step `step` (0-based).

    get_lr(0, 1.0, 0.1, 10, 100) -> 0.0909 (1/11);  get_lr(55, 1.0, 0.1, 10, 100) -> 0.55;  get_lr(100, ...) -> 0.1
    """
    # 1) linear warmup for warmup_steps steps
    if step < warmup_steps:
        return lr * (step + 1) / (warmup_steps + 1)
    # 2) past the end of the schedule, stay at the floor
    if step >= total_steps:
        return min_lr
    # 3) in between, cosine decay from lr down to min_lr
    ratio = (step - warmup_steps) / max(1, total_steps - warmup_steps)
    coeff = 0.5 * (1.0 + math.cos(math.pi * ratio))  # 1 -> 0
    return min_lr + coeff * (lr - min_lr)


@torch.no_grad()
def estimate_loss(model, packed, rows, batch_size, device, autocast) -> float:
    """Mean cross-entropy (nats per real token) over the given rows, padding excluded."""
    was_training = model.training
    model.eval()
    total, n = 0.0, 0
    for i in range(0, len(rows), batch_size):
        x, y = to_device(batch(packed, rows[i:i + batch_size]), device)
        with autocast:
            logits, _ = model(x)  # (B, T, V)
        loss = F.cross_entropy(logits.float().view(-1, logits.size(-1)), y.view(-1), ignore_index=-1, reduction="sum")
        total += loss.item()
        n += int((y != -1).sum())
    model.train(was_training)
    return total / max(1, n)


def monitor_validity(model, certs, cfg) -> tuple[float | None, float | None, str | None]:
    """Complete the first eval.monitor_theorems val theorems -> (structural_pct, verified_pct, skip reason)."""
    if cfg.eval.monitor_theorems == 0:
        return None, None, "eval.monitor_theorems=0"
    if cfg.data.format == "text":
        return None, None, "data.format=text has no certificates to complete"
    was_training = model.training
    model.eval()
    try:
        res = complete_theorems(model, certs[: cfg.eval.monitor_theorems], k=1,
                                sample_kwargs=cfg.sample.generate_kwargs(), seed=cfg.sample.seed)
    finally:
        model.train(was_training)
    return float(res["structural_pct"]), float(res["verified_pct"]), None


# --------------------------------------------------------------------------------------------
# set-up: where to compute, which checkpoint, the data, the model


@dataclass
class Device:
    """Where and how this process computes; rank and world size come from torchrun's environment."""

    device: str  # "cpu", "cuda" or "cuda:<local_rank>"
    dtype: str  # fp32 | bf16 | fp16
    rank: int = 0
    local_rank: int = 0
    world_size: int = 1

    @property
    def type(self) -> str:
        return "cuda" if self.device.startswith("cuda") else "cpu"

    @property
    def ddp(self) -> bool:
        return self.world_size > 1

    @property
    def master(self) -> bool:
        return self.rank == 0

    def autocast(self):
        if self.type == "cuda" and self.dtype != "fp32":
            return torch.autocast(device_type="cuda", dtype=torch.bfloat16 if self.dtype == "bf16" else torch.float16)
        return contextlib.nullcontext()

    def barrier(self):
        if self.ddp:
            torch.distributed.barrier()


def setup_device(cfg: RunConfig) -> Device:
    """Pick device and dtype, join the DDP process group under torchrun, set threads and TF32."""
    name = cfg.train.device
    if name == "cuda" and not torch.cuda.is_available():
        raise UserError("train.device=cuda: no CUDA device is available (use auto or cpu)")
    device = ("cuda" if torch.cuda.is_available() else "cpu") if name == "auto" else name
    world_size, rank = int(os.environ.get("WORLD_SIZE", "1")), int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if world_size > 1:
        if device == "cuda":
            device = f"cuda:{local_rank}"
            torch.cuda.set_device(device)
        if not torch.distributed.is_initialized():
            torch.distributed.init_process_group(backend="nccl" if device.startswith("cuda") else "gloo")
    if cfg.train.threads:
        torch.set_num_threads(cfg.train.threads)
    dtype = cfg.train.dtype
    if not device.startswith("cuda"):
        if dtype in ("bf16", "fp16"):
            raise UserError(f"train.dtype={dtype}: mixed precision is for CUDA; on CPU use auto or fp32")
        dtype = "fp32"
    else:
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
        if dtype == "auto":
            dtype = "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    return Device(device, dtype, rank, local_rank, world_size)


def resume_checkpoint(cfg: RunConfig, ckpt_dir: Path, resume, force: bool) -> tuple:
    """(payload, meta, path) of the checkpoint to resume from, or Nones for a fresh run; refuses
    an incompatible model config, and a fresh start over existing checkpoints without --force."""
    if not resume:
        if ((ckpt_dir / "last.pt").exists() or list(ckpt_dir.glob("best-*.pt"))) and not force:
            raise UserError(f"{ckpt_dir.parent}: already holds checkpoints; pass --resume to continue it "
                            f"or --force to start it over (deletes its checkpoints and metrics)")
        return None, None, None
    path = ckpt_dir / "last.pt" if resume is True else Path(resume)
    if resume is True and not path.exists():
        raise UserError(f"{path}: no checkpoint to resume from (start without --resume)")
    payload, meta = load_checkpoint(path, map_location="cpu")
    old = meta["config"]["model"]
    diffs = [f"model.{k}: checkpoint {old.get(k)!r}, now {getattr(cfg.model, k)!r}"
             for k in MODEL_SHAPE_KEYS if old.get(k) != getattr(cfg.model, k)]
    if diffs and not force:
        raise UserError(f"{path}: cannot resume with an incompatible model config ({'; '.join(diffs)}); "
                        f"pass --force to try anyway")
    return payload, meta, path


@dataclass
class TrainData:
    files: dict  # {"corpus", "train", "val"} paths (data.run_data)
    sha256: str  # of the train file: a checkpoint records it, a resume compares it
    val_texts: list
    rows: TrainRows  # what each step trains on (train.rows)
    val: Packed

    @property
    def train(self) -> Packed:
        """The fixed packing of the train certificates: its row count sets an epoch, the train loss reads it."""
        return self.rows.packed


def load_data(cfg: RunConfig, run_dir: Path, dev: Device, data_sha256=None) -> TrainData:
    """Rank 0 finds or makes the split (data.run_data), the other ranks then read the same files.
    data_sha256: a resumed checkpoint's, which the train file must have (DataMismatch)."""
    if dev.master:
        files = run_data(cfg, run_dir, data_sha256, stale_ok=False)
    dev.barrier()
    if not dev.master:
        files = run_data(cfg, run_dir, data_sha256, stale_ok=False)
    # text: raw bytes, random windows to train on and non-overlapping ones to measure
    train_data, val_data = (read_split_file(cfg, files[k]) for k in ("train", "val"))
    rows = TrainRows(train_data, cfg.model.ctx, cfg.train.rows, cfg.train.seed)
    return TrainData(files, sha256_file(files["train"]), [] if isinstance(val_data, bytes) else val_data, rows,
                     eval_rows(val_data, cfg.model.ctx, str(files["val"])))


def tidy_run_dir(run_dir: Path, state: dict, resumed: bool, log) -> None:
    """Clean up what a crash may have left; on resume, drop what came after the checkpoint."""
    ckpt_dir, metrics_path = run_dir / "ckpt", run_dir / "metrics.jsonl"
    ckpt_dir.mkdir(parents=True, exist_ok=True)
    if not resumed:  # a fresh start (the data read cleanly, so nothing is lost for a bad corpus)
        for pt in list(ckpt_dir.glob("*.pt")):
            remove_checkpoint(pt)
        if metrics_path.exists():
            metrics_path.unlink()
    for tmp in ckpt_dir.glob(".*.tmp"):
        tmp.unlink()  # half-written checkpoint from a killed write
    for meta_json in ckpt_dir.glob("*.json"):
        if not meta_json.with_suffix(".pt").exists():
            meta_json.unlink()  # its .pt was removed, the crash came before the .json went too
    if resumed:
        # checkpoints newer than the one resumed from belong to the abandoned future
        for _, step, pt in best_checkpoints(ckpt_dir):
            if step > state["step"]:
                log(f"removing {pt.name}: newer than the checkpoint resumed from (step {state['step']})")
                remove_checkpoint(pt)
        # metrics.jsonl back to what it held when the checkpoint was written
        n = state["metrics_n_bytes"]
        if metrics_path.exists() and metrics_path.stat().st_size != n:
            atomic_write_bytes(metrics_path, metrics_path.read_bytes()[:n])


def new_state() -> dict:
    """The loop's state: everything besides weights, optimizer and RNG that a checkpoint keeps."""
    return {
        "step": 0,  # optimizer steps done
        "epoch": 0,  # current epoch (0-based)
        "row_in_epoch": 0,  # rows of this epoch's order already trained on (all ranks together)
        "tokens": 0,  # real (non-padding) target tokens trained on
        "elapsed_s": 0.0,
        "best_val_loss": None,
        "best_step": None,
        "evals_since_best": 0,
        "val_loss": None,  # of the latest evaluation
        "metrics_n_bytes": 0,  # length of metrics.jsonl when this state was saved
    }


@dataclass
class Run:
    """What `setup` prepares and the loop uses: config, device, data, model, optimizer, state."""

    cfg: RunConfig
    run_dir: Path
    dev: Device
    data: TrainData
    model: torch.nn.Module  # what the loop calls: compiled and/or DDP-wrapped
    raw_model: GPT  # the plain GPT: checkpoints, evaluation
    optimizer: torch.optim.Optimizer
    scaler: torch.amp.GradScaler
    derived: dict
    state: dict
    log: object = print
    metrics_file: object = None
    noted: set = field(default_factory=set)  # messages already printed once

    @property
    def ckpt_dir(self) -> Path:
        return self.run_dir / "ckpt"

    def write_row(self, row: dict) -> None:
        """Append one metrics.jsonl row (rank 0); a non-finite number is written as null (strict JSON)."""
        if self.metrics_file is None:
            return
        row = {k: None if isinstance(v, float) and not math.isfinite(v) else v for k, v in row.items()}
        try:
            self.metrics_file.write(json.dumps(row) + "\n")
            self.metrics_file.flush()
        except OSError as e:  # disk full: say which file
            raise OSError(e.errno, e.strerror or str(e), self.metrics_file.name) from None
        self.state["metrics_n_bytes"] = self.metrics_file.tell()

    def save(self, path: Path) -> None:
        if self.dev.master:
            meta = {"config": to_dict(self.cfg), "derived": self.derived, "data_sha256": self.data.sha256,
                    "format": CKPT_FORMAT, "state": dict(self.state)}
            save_checkpoint(path, self.raw_model, self.optimizer, self.scaler, meta)


def setup(cfg: RunConfig, run_dir, resume=False, force=False) -> Run:
    """Device, checkpoint to resume, data, model and optimizer, the run directory and config.json."""
    run_dir = Path(run_dir)
    dev = setup_device(cfg)
    log = tqdm.write if dev.master else (lambda msg: None)
    payload, ckpt_meta, ckpt_path = resume_checkpoint(cfg, run_dir / "ckpt", resume, force) if dev.master or resume \
        else (None, None, None)
    try:  # nothing is written into <run>/data/ for a resume that is refused
        data = load_data(cfg, run_dir, dev, None if ckpt_meta is None or force else ckpt_meta["data_sha256"])
    except DataMismatch as e:
        raise UserError(f"{ckpt_path}: cannot resume on different train data: {e}; pass --force to continue "
                        f"anyway") from None

    # batch arithmetic (derived once, printed, saved)
    derived = derive(cfg, dev.world_size)
    n_rows, rows_per_step = len(data.train), derived["rows_per_step"]
    steps_per_epoch = n_rows // rows_per_step
    if steps_per_epoch < 1:
        raise UserError(f"{data.files['train']}: {n_rows} rows of {cfg.model.ctx + 1} tokens, but one step needs "
                        f"{rows_per_step} rows; lower train.batch_size or train.tokens_per_step, or use more data")
    total_steps = steps_per_epoch * cfg.train.epochs
    if cfg.train.max_steps is not None:
        total_steps = min(total_steps, cfg.train.max_steps)
    derived.update(n_train_rows=n_rows, n_val_rows=len(data.val), steps_per_epoch=steps_per_epoch,
                   total_steps=total_steps, train_packing_efficiency=data.train.stats["efficiency"],
                   n_train_tokens=int(data.train.stats["n_real_tokens"]),
                   n_val_tokens=int(data.val.stats["n_real_tokens"]))

    # model and optimizer (seeded the same on every rank; DDP also broadcasts rank 0's weights)
    random.seed(cfg.train.seed)
    np.random.seed(cfg.train.seed % 2**32)  # numpy's legacy seeding takes 32 bits
    torch.manual_seed(cfg.train.seed)
    model = GPT(cfg.model).to(dev.device)
    derived["n_params"] = model.num_params()
    optimizer = model.configure_optimizer(cfg.train.weight_decay, cfg.train.lr, (cfg.train.beta1, cfg.train.beta2),
                                          device_type=dev.type, decay_embeddings=cfg.train.decay_embeddings)
    scaler = torch.amp.GradScaler(dev.type, enabled=(dev.dtype == "fp16"))
    if dev.rank > 0:
        torch.manual_seed(cfg.train.seed + 1000 * dev.rank)  # each rank its own dropout masks
    state = new_state()
    if payload is not None:
        try:
            model.load_state_dict(payload["model"])
            optimizer.load_state_dict(payload["optimizer"])
        except (RuntimeError, ValueError, KeyError) as e:
            raise UserError(f"{ckpt_path}: cannot load into this model ({str(e).splitlines()[0][:160]})") from None
        if scaler.is_enabled() and payload.get("scaler"):
            scaler.load_state_dict(payload["scaler"])
        state.update(ckpt_meta["state"])
        if state["row_in_epoch"] + rows_per_step > n_rows:  # saved at an epoch's end, before it advanced
            state["epoch"], state["row_in_epoch"] = state["epoch"] + 1, 0
        if dev.master:
            set_rng_state(payload["rng"])
        else:  # only rank 0's RNG is saved: exact resume is guaranteed for one process
            torch.manual_seed(cfg.train.seed + 1000 * dev.rank + state["step"])
    raw_model = model
    if cfg.train.compile:
        model = torch.compile(model)
    if dev.ddp:
        model = torch.nn.parallel.DistributedDataParallel(model, device_ids=[dev.local_rank] if dev.type == "cuda" else None)

    run = Run(cfg, run_dir, dev, data, model, raw_model, optimizer, scaler, derived, state, log)
    if dev.master:
        tidy_run_dir(run_dir, state, resumed=payload is not None, log=log)
        atomic_write_json(run_dir / "config.json", {
            "config": to_dict(cfg), "derived": derived, "env": environment(dev.device, dev.dtype, dev.world_size),
            "data": {**{k: str(v) for k, v in data.files.items()}, "train_sha256": data.sha256},
            "resumed_from": str(ckpt_path) if ckpt_path else None,
        })
        log(describe(cfg, derived))
        log(f"data: {n_rows} train rows ({derived['n_train_tokens']:,} tokens, packing "
            f"{derived['train_packing_efficiency']:.1%}), {len(data.val)} val rows; {steps_per_epoch} steps/epoch, "
            f"{total_steps} steps; device {dev.device} ({dev.dtype}); run dir {run_dir}")
        if ckpt_path:
            log(f"resuming from {ckpt_path}: step {state['step']}, epoch {state['epoch']}, row {state['row_in_epoch']}")
        run.metrics_file = open(run_dir / "metrics.jsonl", "a", encoding="utf-8")
    dev.barrier()
    return run


# --------------------------------------------------------------------------------------------
# bookkeeping around the loop: evaluation with early stopping, when to stop


def evaluate(run: Run) -> dict:
    """Val/train loss and the validity monitor; updates early stopping; writes best-* on rank 0.
    Returns the eval row it wrote to metrics.jsonl."""
    cfg, dev, state = run.cfg, run.dev, run.state
    val_loss = train_loss = structural = verified = None
    if dev.master:
        val_loss = estimate_loss(run.raw_model, run.data.val, np.arange(len(run.data.val)),
                                 cfg.train.eval_batch_size, dev.device, dev.autocast())
        hook("eval", state["step"])
        train_rows = fixed_rows(len(run.data.train), cfg.train.train_eval_rows or len(run.data.val))
        train_loss = estimate_loss(run.raw_model, run.data.train, train_rows, cfg.train.eval_batch_size,
                                   dev.device, dev.autocast())
        with dev.autocast():
            structural, verified, skip = monitor_validity(run.raw_model, run.data.val_texts, cfg)
        if skip and skip not in run.noted:
            run.log(f"validity monitor skipped: {skip}")
            run.noted.add(skip)
    if dev.ddp:  # every rank takes the same early-stopping decision
        t = torch.tensor([val_loss if dev.master else 0.0], dtype=torch.float64,
                         device=dev.device if dev.type == "cuda" else "cpu")
        torch.distributed.broadcast(t, src=0)
        val_loss = float(t.item())
    state["val_loss"] = val_loss
    improved = state["best_val_loss"] is None or val_loss < state["best_val_loss"]
    if improved:
        state["best_val_loss"], state["best_step"], state["evals_since_best"] = val_loss, state["step"], 0
    else:
        state["evals_since_best"] += 1
    ppl = math.exp(min(val_loss, 700.0))
    row = {"kind": "eval", "step": state["step"], "epoch": state["epoch"], "train_loss": train_loss,
           "val_loss": val_loss, "val_ppl": ppl, "val_bpb": val_loss / math.log(2),
           "structural_pct": structural, "verified_pct": verified}
    run.write_row(row)
    mon = "" if structural is None else f", structural {structural:.0f}%, verified {verified:.0f}%"
    run.log(f"step {state['step']} epoch {state['epoch']}: val loss {val_loss:.4f} (bpb {val_loss / math.log(2):.3f}, "
            f"ppl {ppl:.2f}), train loss {train_loss if train_loss is None else round(train_loss, 4)}"
            f"{mon}{' *' if improved else ''}")
    if improved and dev.master:  # best first, then last: a crash in between loses nothing
        run.save(run.ckpt_dir / f"best-{state['step']:07d}.pt")
        for _, _, pt in best_checkpoints(run.ckpt_dir)[cfg.train.keep_best:]:
            remove_checkpoint(pt)
    return row


def stop_reason(run: Run):
    """(status, reason) when the run should stop now, else None."""
    t, state = run.cfg.train, run.state
    if state["evals_since_best"] >= t.patience > 0:
        return ("early_stop", f"val loss did not improve for {state['evals_since_best']} evaluations "
                f"(best {state['best_val_loss']:.4f} at step {state['best_step']})")
    if state["epoch"] >= t.epochs:
        return "completed", f"completed {t.epochs} epochs"
    if state["step"] >= run.derived["total_steps"]:
        return "max_steps", f"reached train.max_steps={t.max_steps}"
    return None


def finish(run: Run, status: str, reason: str) -> dict:
    """The stop row, the log line, and the run's summary."""
    state = run.state
    run.write_row({"kind": "stop", "step": state["step"], "epoch": state["epoch"], "reason": reason})
    run.log(f"stopped: {reason}")
    if run.metrics_file:
        run.metrics_file.close()
    best = best_checkpoints(run.ckpt_dir) if run.dev.master else []
    last = run.ckpt_dir / "last.pt"
    summary = {
        "status": status, "reason": reason, "step": state["step"], "epoch": state["epoch"],
        "tokens": state["tokens"], "elapsed_s": state["elapsed_s"], "best_val_loss": state["best_val_loss"],
        "best_step": state["best_step"], "best_checkpoint": str(best[0][2]) if best else None,
        "last_checkpoint": str(last) if last.exists() else None, "run_dir": str(run.run_dir),
        "corpus": str(run.data.files["corpus"]),
        "weights_sha256": weights_sha256(run.raw_model), "rank": run.dev.rank, "world_size": run.dev.world_size,
    }
    run.dev.barrier()
    return summary


# --------------------------------------------------------------------------------------------
# the loop


def train(cfg: RunConfig, run_dir, resume=False, force=False, progress=True, on_eval=None, on_step=None) -> dict:
    """Train cfg into run_dir. resume: False (fresh), True (run_dir/ckpt/last.pt) or a .pt path.
    on_eval: called with each eval row (on rank 0), e.g. to redraw the curves while training runs;
    on_step: with each train row, after it is logged (on rank 0; `make bench` times the loop by it).

    Returns a summary: {"status": completed|early_stop|max_steps|diverged, "reason", "step",
    "epoch", "best_val_loss", "best_checkpoint", "last_checkpoint", "weights_sha256", ...}.
    Raises UserError for bad input, a directory that is not proofgpt's (force: use it, but
    replace nothing in it), a run another process is writing, and refused resumes; a divergence
    returns status "diverged".
    """
    run_dir = Path(run_dir)
    if int(os.environ.get("RANK", "0")) > 0:  # rank 0 claims the run dir and holds its lock
        return _train(cfg, run_dir, resume, force, progress, on_eval, on_step)
    claim_run_dir(run_dir, force)
    with run_locked(run_dir, "trained"):
        return _train(cfg, run_dir, resume, force, progress, on_eval, on_step)


def _train(cfg: RunConfig, run_dir: Path, resume, force, progress, on_eval, on_step) -> dict:
    """train()'s loop, once the run dir is this process's."""
    run = setup(cfg, run_dir, resume, force)
    model, optimizer, scaler, dev, state, t = run.model, run.optimizer, run.scaler, run.dev, run.state, cfg.train
    total_steps, accum, B = run.derived["total_steps"], run.derived["grad_accum_steps"], t.batch_size
    rows_per_step, n_rows = run.derived["rows_per_step"], len(run.data.train)
    model.train()
    pbar = tqdm(total=total_steps, initial=state["step"], disable=not (progress and dev.master), desc=run.run_dir.name,
                unit="step", dynamic_ncols=True)
    try:
        while (status := stop_reason(run)) is None:
            lr = get_lr(state["step"], t.lr, t.min_lr, t.warmup_steps, total_steps)
            for group in optimizer.param_groups:
                group["lr"] = lr
            t0 = time.time()
            step_rows = np.arange(state["row_in_epoch"], state["row_in_epoch"] + rows_per_step)  # positions in the epoch
            loss_sum = torch.zeros((), device=dev.device)
            n_tokens = torch.zeros((), device=dev.device)
            for micro in range(accum):
                # this rank's B rows of micro-batch `micro` (ranks interleave: a DistributedSampler on rows)
                first = (micro * dev.world_size + dev.rank) * B
                x, y = to_device(run.data.rows.batch(state["epoch"], step_rows[first: first + B]), dev.device)  # (B, T)
                # DDP: all-reduce gradients only on the last micro-batch, not after every backward
                sync = model.no_sync() if dev.ddp and micro < accum - 1 else contextlib.nullcontext()
                with sync:
                    with dev.autocast():
                        _, loss = model(x, y, label_smoothing=t.label_smoothing)
                    if micro == accum // 2:
                        hook("step", state["step"])
                    scaler.scale(loss / accum).backward()
                loss_sum += loss.detach()
                n_tokens += (y != -1).sum()
            scaler.unscale_(optimizer)  # clip (and log) the true gradient norm under fp16 too
            grad_norm = torch.nn.utils.clip_grad_norm_(run.raw_model.parameters(), t.grad_clip if t.grad_clip > 0 else math.inf)
            stats = torch.stack([loss_sum / accum, n_tokens.float()])
            if dev.ddp:
                torch.distributed.all_reduce(stats)
                stats[0] /= dev.world_size
            step_loss, step_tokens, grad_norm = float(stats[0]), int(stats[1]), float(grad_norm)
            if not math.isfinite(step_loss) or (not math.isfinite(grad_norm) and not scaler.is_enabled()):
                raise TrainingDiverged(f"loss {step_loss}, grad norm {grad_norm} at step {state['step'] + 1} (lr {lr:.3g})")
            scaler.step(optimizer)
            scaler.update()
            optimizer.zero_grad(set_to_none=True)
            dt = time.time() - t0

            state["step"] += 1
            state["row_in_epoch"] += rows_per_step
            state["tokens"] += step_tokens
            state["elapsed_s"] += dt
            row = {"kind": "train", "step": state["step"], "epoch": state["epoch"], "loss": step_loss,
                   "grad_norm": grad_norm, "lr": lr, "tokens": state["tokens"],
                   "tokens_per_s": step_tokens / max(dt, 1e-9), "elapsed_s": state["elapsed_s"]}
            run.write_row(row)
            pbar.update(1)
            pbar.set_postfix(loss=f"{step_loss:.3f}", lr=f"{lr:.2e}", tok_s=f"{step_tokens / max(dt, 1e-9):,.0f}",
                             refresh=False)
            if on_step is not None and dev.master:
                on_step(row)

            epoch_end = state["row_in_epoch"] + rows_per_step > n_rows
            last_step = state["step"] >= total_steps
            if epoch_end or last_step or (t.eval_every and state["step"] % t.eval_every == 0):
                row = evaluate(run)
                if on_eval is not None and dev.master:
                    on_eval(row)
            if epoch_end:
                state["epoch"] += 1
                state["row_in_epoch"] = 0
            if epoch_end or last_step or stop_reason(run) or (t.ckpt_every and state["step"] % t.ckpt_every == 0):
                run.save(run.ckpt_dir / "last.pt")
        status, reason = status
    except TrainingDiverged as e:
        status, reason = "diverged", f"training diverged: {e}; the checkpoints in {run.ckpt_dir} predate it"
    finally:
        pbar.close()
    return finish(run, status, reason)


# --------------------------------------------------------------------------------------------
# command line


EPILOG = """examples:
  python -m proofgpt train --profile smoke --run smoke            # seconds, on a generated corpus
  python -m proofgpt train --profile cpu train.lr=2e-3 --model.dropout=0.1
  python -m proofgpt train --run cpu --resume                     # continue runs/cpu exactly
  python -m proofgpt train --run cpu --resume runs/cpu/ckpt/best-0000400.pt
  torchrun --nproc_per_node 8 -m proofgpt train --profile seed   # DDP on 8 GPUs

overrides are section.key=value (or --section.key=value), type-checked against the profile:
  sections data, model, train, sample, eval, report; see configs/*.yaml and proofgpt/config.py"""


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="proofgpt train", description="Train a byte-level GPT from a profile, "
                                     "with exact --resume.", epilog=EPILOG,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--profile", help="profile name in configs/ (smoke, cpu, seed, seed-15m, seed-6m) or a "
                        "YAML path; default cpu, or the checkpoint's own config with --resume")
    parser.add_argument("--run", help="run name (runs/NAME) or a directory path; default: the profile name")
    parser.add_argument("--resume", nargs="?", const=True, default=False, metavar="PATH",
                        help="continue from RUN/ckpt/last.pt, or from the checkpoint PATH given")
    parser.add_argument("--force", action="store_true", help="resume despite changed train data or model config; "
                        "without --resume, start over in a run dir that already has checkpoints")
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), help="override train.device")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar (also off when not a TTY)")
    parser.add_argument("overrides", nargs="*", metavar="key=value", help="config overrides, e.g. train.lr=3e-4")
    args, unknown = parser.parse_known_args(argv)
    overrides = list(args.overrides)
    for u in unknown:
        # `--train.lr=3e-4`, and key=value after an option (argparse takes positionals in one run)
        if "=" in u and (not u.startswith("-") or (u.startswith("--") and "." in u.split("=")[0])):
            overrides.append(u)
        else:
            parser.error(f"unrecognized argument {u!r}")
    resume = args.resume
    if isinstance(resume, str) and "=" in resume and not Path(resume).exists():
        overrides.insert(0, resume)  # `--resume train.lr=1e-4`: argparse took the override for PATH
        resume = True
    if args.device:
        overrides.append(f"train.device={args.device}")

    run_dir = paths.resolve_run(args.run or args.profile or "cpu")
    if resume and args.profile is None:
        # continue with the checkpoint's own config (plus any overrides)
        ckpt = run_dir / "ckpt" / "last.pt" if resume is True else Path(resume)
        meta = load_checkpoint(ckpt)[1]
        cfg = apply_overrides(from_dict(meta["config"], strict=False), overrides)
    else:
        cfg = load_profile(args.profile or "cpu", overrides)
    if resume is not True and resume:
        resume = Path(resume)
    summary = train(cfg, run_dir, resume=resume, force=args.force,
                    progress=not args.no_progress and sys.stderr.isatty())
    if summary["status"] == "diverged":
        print(f"proofgpt: error: {summary['reason']}", file=sys.stderr)
        return 1
    if summary["rank"] == 0:
        d = diagnose(read_jsonl(run_dir / "metrics.jsonl"), corpus_entropy_bound(summary["corpus"]))
        print("\n" + d.markdown())
    return 0
