"""Train a byte-level GPT on packed certificates, with checkpoints that resume exactly.

    python -m proofgpt train --profile cpu [--run NAME] [--resume [PATH]] [--force] [key=value ...]
    torchrun --nproc_per_node 8 -m proofgpt train --profile seed        # DDP, one process per GPU

A flat loop in the spirit of nanoGPT's train.py: data, model, optimizer, then one `while`
that takes optimizer steps. An epoch is one pass over the packed train rows in an order fixed
by (seed, epoch) (`pack.epoch_order`); each optimizer step takes the next
batch_size x grad_accum x world_size rows of it (the last, incomplete step of an epoch is
dropped: < 1 step, e.g. < 2 % of the seed profile's ~51 steps per epoch).

Exact resume. A checkpoint holds everything the next step depends on: weights, AdamW moments,
GradScaler, step, epoch and row position in the epoch, every RNG state (python, numpy, torch
CPU and CUDA; the sampler builds its own torch.Generator from sample.seed at each evaluation,
so it has no state to keep), the early-stopping counters and how many bytes of
metrics.jsonl existed. Resuming restores all of it and cuts metrics.jsonl back to that length,
so on CPU an interrupted-and-resumed run ends with weights and metrics identical to an
uninterrupted one (tests/test_resume.py kills runs with SIGKILL to check). The price: every
checkpoint carries optimizer state (3x the weights: 121 MB for the 10M seed model).

Files in the run directory (runs/<name>/):
    config.json          resolved config, derived numbers, data sha256, environment
    metrics.jsonl        one JSON row per step / evaluation / stop (schema in README.md, "Run directory")
    data/                split (and generated corpus) when not using data/ from `make data`
    ckpt/last.pt  .json  newest state (every epoch, and every train.ckpt_every steps)
    ckpt/best-<step>.pt  .json   the train.keep_best lowest val losses

Every .pt is a dict of tensors, numbers, strings and lists that `torch.load(weights_only=True)`
reads (no pickled objects), written to a temp file and renamed; the .json beside it is a
readable copy of the loop state. Which checkpoints are "best" is read from the files on disk,
so it survives a crash anywhere.

References: nanoGPT train.py (Karpathy) for the loop, get_lr and DDP's no_sync trick;
nanochat checkpoint_manager.py for tensors/metadata split and loop-state resume.
"""

import argparse
import contextlib
import dataclasses
import hashlib
import io
import json
import math
import os
import pickle
import platform
import random
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from proofgpt import paths
from proofgpt.config import (MODEL_SHAPE_KEYS, RunConfig, apply_overrides, derive, describe, from_dict, load_profile,
                             to_dict)
from proofgpt.data import read_corpus
from proofgpt.errors import UserError
from proofgpt.io import atomic_write_bytes, atomic_write_json, sha256_file
from proofgpt.model import GPT, GPTConfig
from proofgpt.pack import batch, epoch_order, pack_proofs

CKPT_FORMAT = 1
TIMING_FIELDS = ("tokens_per_s", "elapsed_s")  # the only metrics that differ between identical runs


class TrainingDiverged(Exception):
    """Loss or gradient norm became NaN/inf; the checkpoints on disk predate it."""


# --------------------------------------------------------------------------------------------
# test hooks: PROOFGPT_TEST_HOOKS="ckpt_write=0.5,eval=0.2" announces each hook on stderr and
# sleeps there, so a test can SIGKILL the process inside a checkpoint write or an evaluation.

_HOOKS = dict(kv.split("=") for kv in os.environ.get("PROOFGPT_TEST_HOOKS", "").split(",") if "=" in kv)


def _hook(name: str, step: int) -> None:
    if name in _HOOKS:
        print(f"proofgpt-hook: {name} step={step}", file=sys.stderr, flush=True)
        time.sleep(float(_HOOKS[name]))


# --------------------------------------------------------------------------------------------
# data


def _split_is_current(out_dir: Path, corpus: Path, corpus_sha: str, seed: int, val_frac: float) -> bool:
    split_json = out_dir / "split.json"
    if not (split_json.exists() and (out_dir / "train.txt").exists() and (out_dir / "val.txt").exists()):
        return False
    try:
        m = json.loads(split_json.read_text(encoding="utf-8"))
    except ValueError:
        return False
    return m.get("input_sha256") == corpus_sha and m.get("seed") == seed and m.get("val_frac") == val_frac


def prepare_data(cfg: RunConfig, run_dir: Path) -> dict:
    """Find (or make) the train/val files for cfg -> {"corpus", "train", "val"} paths.

    data.generate_chars > 0: generate that corpus into <run_dir>/data/ (once) and split it there.
    Otherwise data.path (relative to the repo root): use the split beside it if it was made
    from this very file with this seed and val_frac (what `make data` writes), else split
    into <run_dir>/data/ so data/ is never touched.
    """
    d = cfg.data
    run_data = Path(run_dir) / "data"
    if d.generate_chars > 0:
        corpus = run_data / "training.txt"
        manifest = paths.manifest_path(corpus)
        current = False
        if corpus.exists() and manifest.exists():
            try:
                m = json.loads(manifest.read_text(encoding="utf-8"))
                current = (m.get("seed") == d.generate_seed and m.get("chars") == d.generate_chars
                           and m.get("sha256") == sha256_file(corpus))
            except ValueError:
                current = False
        if not current:
            from proofgpt.generate import write_corpus

            write_corpus(corpus, seed=d.generate_seed, n_chars=d.generate_chars, progress=False)
    else:
        corpus = Path(d.path)
        corpus = corpus if corpus.is_absolute() else paths.ROOT / corpus
        if not corpus.exists():
            raise UserError(f"{corpus}: no such corpus; run `make data` first (or set data.generate_chars "
                            f"to train on a generated one)")
    corpus_sha = sha256_file(corpus)
    for out_dir in (corpus.parent, run_data):
        if _split_is_current(out_dir, corpus, corpus_sha, d.split_seed, d.val_frac):
            break
    else:
        from proofgpt.split import split_corpus

        out_dir = run_data
        split_corpus(corpus, out_dir, seed=d.split_seed, val_frac=d.val_frac)
    return {"corpus": corpus, "train": out_dir / "train.txt", "val": out_dir / "val.txt"}


def fixed_rows(n_rows: int, k: int) -> np.ndarray:
    """k rows spread evenly over n_rows, the same every time: fixed_rows(10, 3) -> [0, 4, 9]."""
    k = max(1, min(k, n_rows))
    return np.unique(np.linspace(0, n_rows - 1, num=k).round().astype(np.int64))


# --------------------------------------------------------------------------------------------
# learning rate: warmup, cosine, floor


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


# --------------------------------------------------------------------------------------------
# RNG states as tensors and plain numbers (so weights_only=True can load them)


def get_rng_state() -> dict:
    py_version, py_state, py_gauss = random.getstate()
    np_name, np_keys, np_pos, np_has_gauss, np_gauss = np.random.get_state()
    state = {
        "python_version": py_version,
        "python": torch.tensor(py_state, dtype=torch.int64),  # 625 ints
        "python_gauss": py_gauss,
        "numpy_name": np_name,
        "numpy": torch.from_numpy(np_keys.astype(np.int64)),  # 624 uint32 keys
        "numpy_pos": int(np_pos),
        "numpy_has_gauss": int(np_has_gauss),
        "numpy_gauss": float(np_gauss),
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = [s.cpu() for s in torch.cuda.get_rng_state_all()]
    return state


def set_rng_state(state: dict) -> None:
    random.setstate((state["python_version"], tuple(int(v) for v in state["python"].tolist()), state["python_gauss"]))
    np.random.set_state((state["numpy_name"], state["numpy"].numpy().astype(np.uint32), state["numpy_pos"],
                         state["numpy_has_gauss"], state["numpy_gauss"]))
    torch.set_rng_state(state["torch"].cpu())
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([s.cpu() for s in state["cuda"]][: torch.cuda.device_count()])


# --------------------------------------------------------------------------------------------
# checkpoints


def _write_ckpt_bytes(path: Path, data: bytes, step: int) -> None:
    """atomic_write_bytes with a test hook halfway through the temp file (see _hook)."""
    # a kill in the hook leaves a half-written temp file, never a half .pt
    atomic_write_bytes(path, data, midway=lambda: _hook("ckpt_write", step))


def save_checkpoint(path: Path, model, optimizer, scaler, meta: dict) -> None:
    """Write path (.pt: tensors + meta as a JSON string) then path.json (readable meta)."""
    payload = {
        "format": CKPT_FORMAT,
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "scaler": scaler.state_dict() if scaler.is_enabled() else {},
        "rng": get_rng_state(),
        "meta_json": json.dumps(meta),  # the .pt alone is complete; the .json is a copy for people
    }
    buf = io.BytesIO()
    torch.save(payload, buf)
    _write_ckpt_bytes(path, buf.getvalue(), meta["state"]["step"])
    atomic_write_json(path.with_suffix(".json"), meta)


def load_checkpoint(path, map_location="cpu") -> tuple[dict, dict]:
    """A .pt checkpoint -> (payload, meta), loaded with weights_only=True; UserError naming the file."""
    path = Path(path)
    if not path.exists():
        raise UserError(f"{path}: no such checkpoint")
    if path.is_dir():
        raise UserError(f"{path}: is a directory, expected a .pt checkpoint (or pass a run directory to load_model)")
    try:
        payload = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as e:
        # torch names the forbidden global differently across versions: "Unsupported global: GLOBAL
        # posix.system" or "unsupported GLOBAL posix.system whose module posix is blocked"
        found = re.search(r"GLOBAL\s+([\w.]+)", str(e))
        if found:
            what = found.group(1)
            raise UserError(f"{path}: refused to load: it holds a pickled Python object ({what}), "
                            f"not only tensors; checkpoints are loaded with weights_only=True") from None
        raise UserError(f"{path}: truncated or corrupt checkpoint (not a readable torch file)") from None
    except (RuntimeError, EOFError, ValueError, OSError) as e:
        first = str(e).strip().splitlines()[0][:120] if str(e).strip() else type(e).__name__
        raise UserError(f"{path}: truncated or corrupt checkpoint ({first})") from None
    if not isinstance(payload, dict) or "model" not in payload or "meta_json" not in payload:
        raise UserError(f"{path}: not a proofgpt checkpoint (no 'model' and 'meta_json' entries)")
    try:
        meta = json.loads(payload["meta_json"])
    except ValueError:
        raise UserError(f"{path}: corrupt checkpoint metadata") from None
    return payload, meta


def _read_meta(pt: Path) -> dict | None:
    """The loop meta of a checkpoint: its .json if readable, else the .pt itself; None if both are bad."""
    try:
        return json.loads(pt.with_suffix(".json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        pass
    try:
        return load_checkpoint(pt)[1]
    except UserError:
        return None


def best_checkpoints(ckpt_dir: Path) -> list[tuple[float, int, Path]]:
    """[(val_loss, step, path)] of the readable best-*.pt in ckpt_dir, best first (from disk only)."""
    out = []
    for pt in sorted(Path(ckpt_dir).glob("best-*.pt")):
        meta = _read_meta(pt)
        if meta is None or meta["state"].get("val_loss") is None:
            continue
        out.append((meta["state"]["val_loss"], meta["state"]["step"], pt))
    return sorted(out, key=lambda t: (t[0], t[1]))


def _remove_checkpoint(pt: Path) -> None:
    for p in (pt, pt.with_suffix(".json")):
        with contextlib.suppress(FileNotFoundError):
            p.unlink()


def find_checkpoint(path_or_run_dir) -> Path:
    """A .pt path as is; a run dir -> its best checkpoint (lowest val loss), else ckpt/last.pt."""
    p = Path(path_or_run_dir)
    if p.is_dir():
        ckpt_dir = p / "ckpt" if (p / "ckpt").is_dir() else p
        best = best_checkpoints(ckpt_dir)
        if best:
            return best[0][2]
        if (ckpt_dir / "last.pt").exists():
            return ckpt_dir / "last.pt"
        raise UserError(f"{p}: no checkpoints (expected {ckpt_dir}/best-*.pt or last.pt)")
    return p


def load_model(ckpt_path_or_run_dir, device="cpu") -> tuple[GPT, dict]:
    """A checkpoint or run dir (-> its best checkpoint) -> (GPT in eval mode on device, meta).

    meta: {"path", "config" (dict), "cfg" (RunConfig), "state" (step, epoch, val_loss, ...),
    "derived", "data_sha256", "env"}.
    """
    path = find_checkpoint(ckpt_path_or_run_dir)
    payload, meta = load_checkpoint(path, map_location="cpu")
    cfg = from_dict(meta["config"], strict=False)
    model = GPT(GPTConfig(**dataclasses.asdict(cfg.model)))
    try:
        model.load_state_dict(payload["model"])
    except RuntimeError as e:
        raise UserError(f"{path}: weights do not fit the config saved with them ({str(e).splitlines()[0]})") from None
    model.to(device).eval()
    meta["path"] = str(path)
    meta["cfg"] = cfg
    return model, meta


def weights_sha256(model) -> str:
    """sha256 over a state_dict's names and bytes: equal iff the weights are bitwise equal."""
    h = hashlib.sha256()
    for name, t in sorted(model.state_dict().items()):
        h.update(name.encode())
        h.update(t.detach().cpu().contiguous().view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()


# --------------------------------------------------------------------------------------------
# environment


def environment(device: str, dtype: str, world_size: int) -> dict:
    """What ran this: versions, device, git commit + dirty flag (no hostname)."""

    def git(*args):
        try:
            return subprocess.run(["git", "-C", str(paths.ROOT), *args], capture_output=True, text=True,
                                  timeout=10).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return ""

    commit = git("rev-parse", "HEAD") or None
    return {
        "torch": torch.__version__,
        "numpy": np.__version__,
        "python": platform.python_version(),
        "platform": f"{platform.system()} {platform.machine()}",
        "device": device,
        "device_name": torch.cuda.get_device_name() if device.startswith("cuda") else platform.processor() or "cpu",
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "dtype": dtype,
        "world_size": world_size,
        "git_commit": commit,
        "git_dirty": bool(git("status", "--porcelain", "--untracked-files=no")) if commit else None,
    }


# --------------------------------------------------------------------------------------------
# evaluation


@torch.no_grad()
def estimate_loss(model, packed, rows, batch_size, device, autocast) -> float:
    """Mean cross-entropy (nats per real token) over the given rows, padding excluded."""
    was_training = model.training
    model.eval()
    total, n = 0.0, 0
    for i in range(0, len(rows), batch_size):
        x, y = batch(packed, rows[i:i + batch_size])
        x, y = x.to(device), y.to(device)
        with autocast:
            logits, _ = model(x)  # (B, T, V)
        loss = F.cross_entropy(logits.float().view(-1, logits.size(-1)), y.view(-1), ignore_index=-1, reduction="sum")
        total += loss.item()
        n += int((y != -1).sum())
    model.train(was_training)
    return total / max(1, n)


def monitor_validity(model, certs, cfg, device) -> tuple[float | None, float | None, str | None]:
    """Complete the first eval.monitor_theorems val theorems -> (structural_pct, verified_pct, skip reason)."""
    if cfg.eval.monitor_theorems == 0:
        return None, None, "eval.monitor_theorems=0"
    from proofgpt.evaluate import complete_theorems

    s = cfg.sample
    was_training = model.training
    model.eval()
    try:
        res = complete_theorems(model, certs[: cfg.eval.monitor_theorems], k=1,
                                sample_kwargs=dict(temperature=s.temperature, top_k=s.top_k, top_p=s.top_p,
                                                   max_new_tokens=s.max_new_tokens),
                                seed=s.seed)
    finally:
        model.train(was_training)
    return float(res["structural_pct"]), float(res["verified_pct"]), None


# --------------------------------------------------------------------------------------------
# the run


def _pick_device(name: str) -> str:
    if name == "cuda" and not torch.cuda.is_available():
        raise UserError("train.device=cuda: no CUDA device is available (use auto or cpu)")
    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return name


def _pick_dtype(name: str, device: str) -> str:
    if device == "cpu":
        if name in ("bf16", "fp16"):
            raise UserError(f"train.dtype={name}: mixed precision is for CUDA; on CPU use auto or fp32")
        return "fp32"
    if name == "auto":
        return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    return name


def train(cfg: RunConfig, run_dir, resume=False, force=False, progress=True) -> dict:
    """Train cfg into run_dir. resume: False (fresh), True (run_dir/ckpt/last.pt) or a .pt path.

    Returns a summary: {"status": completed|early_stop|max_steps|diverged, "reason", "step",
    "epoch", "best_val_loss", "best_checkpoint", "last_checkpoint", "weights_sha256", ...}.
    Raises UserError for bad input and refused resumes; a divergence returns status "diverged".
    """
    run_dir = Path(run_dir)
    ckpt_dir = run_dir / "ckpt"
    metrics_path = run_dir / "metrics.jsonl"

    # ---- DDP: rank and world size come from torchrun's environment
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    ddp = world_size > 1
    master = rank == 0
    device = _pick_device(cfg.train.device)
    if ddp:
        import torch.distributed as dist

        if device == "cuda":
            device = f"cuda:{local_rank}"
            torch.cuda.set_device(device)
        if not dist.is_initialized():
            dist.init_process_group(backend="nccl" if device.startswith("cuda") else "gloo")
    device_type = "cuda" if device.startswith("cuda") else "cpu"
    if cfg.train.threads:
        torch.set_num_threads(cfg.train.threads)
    dtype = _pick_dtype(cfg.train.dtype, device_type)
    if device_type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    autocast = (torch.autocast(device_type="cuda", dtype=torch.bfloat16 if dtype == "bf16" else torch.float16)
                if device_type == "cuda" and dtype != "fp32" else contextlib.nullcontext())

    def log(msg):
        if master:
            tqdm.write(msg)

    # ---- resume: which checkpoint, and may we use it?
    ckpt_payload = ckpt_meta = ckpt_path = None
    if resume:
        ckpt_path = ckpt_dir / "last.pt" if resume is True else Path(resume)
        if resume is True and not ckpt_path.exists():
            raise UserError(f"{ckpt_path}: no checkpoint to resume from (start without --resume)")
        ckpt_payload, ckpt_meta = load_checkpoint(ckpt_path, map_location="cpu")
        old = ckpt_meta["config"]["model"]
        diffs = [f"model.{k}: checkpoint {old.get(k)!r}, now {getattr(cfg.model, k)!r}"
                 for k in MODEL_SHAPE_KEYS if old.get(k) != getattr(cfg.model, k)]
        if diffs and not force:
            raise UserError(f"{ckpt_path}: cannot resume with an incompatible model config ({'; '.join(diffs)}); "
                            f"pass --force to try anyway")
    elif master and ((ckpt_dir / "last.pt").exists() or list(ckpt_dir.glob("best-*.pt"))):
        if not force:
            raise UserError(f"{run_dir}: already holds checkpoints; pass --resume to continue it "
                            f"or --force to start it over (deletes its checkpoints and metrics)")
    # ---- data: rank 0 generates/splits, the others wait and then read the same files
    if master:
        files = prepare_data(cfg, run_dir)
    if ddp:
        torch.distributed.barrier()
    if not master:
        files = prepare_data(cfg, run_dir)
    data_sha = sha256_file(files["train"])
    if ckpt_meta is not None and ckpt_meta["data_sha256"] != data_sha and not force:
        raise UserError(f"{ckpt_path}: cannot resume on different train data: the checkpoint was trained on "
                        f"sha256 {ckpt_meta['data_sha256'][:12]}..., {files['train']} is {data_sha[:12]}...; "
                        f"pass --force to continue anyway")
    train_texts = [b.text for b in read_corpus(files["train"])]
    val_texts = [b.text for b in read_corpus(files["val"])]
    if master and not resume:  # only now that the data is known good: a bad corpus loses nothing
        for pt in list(ckpt_dir.glob("*.pt")):
            _remove_checkpoint(pt)
        if metrics_path.exists():
            metrics_path.unlink()
    ctx = cfg.model.ctx
    train_packed = pack_proofs(train_texts, ctx)
    val_packed = pack_proofs(val_texts, ctx)
    n_rows = len(train_packed)

    # ---- batch arithmetic (derived once, printed, saved)
    derived = derive(cfg, world_size, n_params=-1)  # the real count comes with the model below
    B, accum, rows_per_step = cfg.train.batch_size, derived["grad_accum_steps"], derived["rows_per_step"]
    steps_per_epoch = n_rows // rows_per_step
    if steps_per_epoch < 1:
        raise UserError(f"{files['train']}: {n_rows} rows of {ctx + 1} tokens, but one step needs {rows_per_step} "
                        f"rows; lower train.batch_size or train.tokens_per_step, or use more data")
    total_steps = steps_per_epoch * cfg.train.epochs
    if cfg.train.max_steps is not None:
        total_steps = min(total_steps, cfg.train.max_steps)
    val_rows = np.arange(len(val_packed))
    train_eval_rows = fixed_rows(n_rows, cfg.train.train_eval_rows or len(val_packed))
    derived.update(n_train_rows=n_rows, n_val_rows=len(val_packed), steps_per_epoch=steps_per_epoch,
                   total_steps=total_steps, train_packing_efficiency=train_packed.stats["efficiency"],
                   n_train_tokens=int(train_packed.stats["n_real_tokens"]),
                   n_val_tokens=int(val_packed.stats["n_real_tokens"]))

    # ---- model and optimizer (seeded the same on every rank; DDP also broadcasts rank 0's weights)
    random.seed(cfg.train.seed)
    np.random.seed(cfg.train.seed)
    torch.manual_seed(cfg.train.seed)
    model = GPT(GPTConfig(**dataclasses.asdict(cfg.model))).to(device)
    derived["n_params"] = model.num_params()
    optimizer = model.configure_optimizer(cfg.train.weight_decay, cfg.train.lr, (cfg.train.beta1, cfg.train.beta2),
                                          device_type=device_type)
    scaler = torch.amp.GradScaler(device_type, enabled=(dtype == "fp16"))
    if ddp and rank > 0:
        torch.manual_seed(cfg.train.seed + 1000 * rank)  # each rank its own dropout masks

    state = {
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
    if ckpt_payload is not None:
        try:
            model.load_state_dict(ckpt_payload["model"])
            optimizer.load_state_dict(ckpt_payload["optimizer"])
        except (RuntimeError, ValueError, KeyError) as e:
            raise UserError(f"{ckpt_path}: cannot load into this model ({str(e).splitlines()[0][:160]})") from None
        if scaler.is_enabled() and ckpt_payload.get("scaler"):
            scaler.load_state_dict(ckpt_payload["scaler"])
        state.update(ckpt_meta["state"])
        if master:
            set_rng_state(ckpt_payload["rng"])
        else:  # only rank 0's RNG is saved: exact resume is guaranteed for one process
            torch.manual_seed(cfg.train.seed + 1000 * rank + state["step"])
        del ckpt_payload
    raw_model = model
    if cfg.train.compile:
        model = torch.compile(model)
    if ddp:
        from torch.nn.parallel import DistributedDataParallel as DDP

        model = DDP(model, device_ids=[local_rank] if device_type == "cuda" else None)

    # ---- run directory: clean up what a crash may have left, then config.json
    if master:
        ckpt_dir.mkdir(parents=True, exist_ok=True)
        for tmp in ckpt_dir.glob(".*.tmp"):
            tmp.unlink()  # half-written checkpoint from a killed write
        for meta_json in ckpt_dir.glob("*.json"):
            if not meta_json.with_suffix(".pt").exists():
                meta_json.unlink()  # its .pt was removed, the crash came before the .json went too
        if ckpt_meta is not None:
            # checkpoints newer than the one resumed from belong to the abandoned future
            for _, step, pt in best_checkpoints(ckpt_dir):
                if step > state["step"]:
                    log(f"removing {pt.name}: newer than the checkpoint resumed from (step {state['step']})")
                    _remove_checkpoint(pt)
            # metrics.jsonl back to what it held when the checkpoint was written
            n = state["metrics_n_bytes"]
            if metrics_path.exists() and metrics_path.stat().st_size != n:
                atomic_write_bytes(metrics_path, metrics_path.read_bytes()[:n])
        env = environment(device, dtype, world_size)
        atomic_write_json(run_dir / "config.json", {
            "config": to_dict(cfg), "derived": derived, "env": env,
            "data": {"corpus": str(files["corpus"]), "train": str(files["train"]), "val": str(files["val"]),
                     "train_sha256": data_sha},
            "resumed_from": str(ckpt_path) if ckpt_path else None,
        })
        log(describe(cfg, derived))
        log(f"data: {n_rows} train rows ({derived['n_train_tokens']:,} tokens, packing "
            f"{derived['train_packing_efficiency']:.1%}), {len(val_packed)} val rows; {steps_per_epoch} steps/epoch, "
            f"{total_steps} steps; device {device} ({dtype}); run dir {run_dir}")
        if ckpt_path:
            log(f"resuming from {ckpt_path}: step {state['step']}, epoch {state['epoch']}, "
                f"row {state['row_in_epoch']}")
    if ddp:
        torch.distributed.barrier()
    metrics_file = open(metrics_path, "a", encoding="utf-8") if master else None

    def write_row(row):
        if master:
            # strict JSON: a non-finite number (an fp16 overflow step's grad norm) is written as null
            row = {k: None if isinstance(v, float) and not math.isfinite(v) else v for k, v in row.items()}
            metrics_file.write(json.dumps(row) + "\n")
            metrics_file.flush()
            state["metrics_n_bytes"] = metrics_file.tell()

    noted = set()  # messages already printed once
    meta_base = {"config": to_dict(cfg), "derived": derived, "data_sha256": data_sha, "format": CKPT_FORMAT}

    def checkpoint(path):
        if master:
            save_checkpoint(path, raw_model, optimizer, scaler, {**meta_base, "state": dict(state)})

    def evaluate_now():
        """Val/train loss and the validity monitor; updates early stopping; writes best-* on rank 0."""
        val_loss = train_loss = structural = verified = None
        if master:
            val_loss = estimate_loss(raw_model, val_packed, val_rows, cfg.train.eval_batch_size, device, autocast)
            _hook("eval", state["step"])
            train_loss = estimate_loss(raw_model, train_packed, train_eval_rows, cfg.train.eval_batch_size, device,
                                       autocast)
            with autocast:
                structural, verified, skip = monitor_validity(raw_model, val_texts, cfg, device)
            if skip and skip not in noted:
                log(f"validity monitor skipped: {skip}")
                noted.add(skip)
        if ddp:  # every rank takes the same early-stopping decision
            t = torch.tensor([val_loss if master else 0.0], dtype=torch.float64,
                             device=device if device_type == "cuda" else "cpu")
            torch.distributed.broadcast(t, src=0)
            val_loss = float(t.item())
        state["val_loss"] = val_loss
        improved = state["best_val_loss"] is None or val_loss < state["best_val_loss"]
        if improved:
            state["best_val_loss"], state["best_step"], state["evals_since_best"] = val_loss, state["step"], 0
        else:
            state["evals_since_best"] += 1
        write_row({"kind": "eval", "step": state["step"], "epoch": state["epoch"], "train_loss": train_loss,
                   "val_loss": val_loss, "val_ppl": math.exp(min(val_loss, 700.0)),
                   "val_bpb": val_loss / math.log(2), "structural_pct": structural, "verified_pct": verified})
        mon = "" if structural is None else f", structural {structural:.0f}%, verified {verified:.0f}%"
        log(f"step {state['step']} epoch {state['epoch']}: val loss {val_loss:.4f} (bpb {val_loss / math.log(2):.3f}, "
            f"ppl {math.exp(min(val_loss, 700.0)):.2f}), train loss {train_loss if train_loss is None else round(train_loss, 4)}"
            f"{mon}{' *' if improved else ''}")
        if improved and master:  # best first, then last: a crash in between loses nothing
            checkpoint(ckpt_dir / f"best-{state['step']:07d}.pt")
            for _, _, pt in best_checkpoints(ckpt_dir)[cfg.train.keep_best:]:
                _remove_checkpoint(pt)

    def stop_reason():
        if state["evals_since_best"] >= cfg.train.patience > 0:
            return (f"early_stop", f"val loss did not improve for {state['evals_since_best']} evaluations "
                    f"(best {state['best_val_loss']:.4f} at step {state['best_step']})")
        if state["epoch"] >= cfg.train.epochs:
            return "completed", f"completed {cfg.train.epochs} epochs"
        if state["step"] >= total_steps:
            return "max_steps", f"reached train.max_steps={cfg.train.max_steps}"
        return None

    # ---- the loop
    model.train()
    pbar = tqdm(total=total_steps, initial=state["step"], disable=not (progress and master), desc=run_dir.name,
                unit="step", dynamic_ncols=True)
    order_epoch, order = None, None
    status = None
    try:
        while (status := stop_reason()) is None:
            if order_epoch != state["epoch"]:
                order, order_epoch = epoch_order(n_rows, cfg.train.seed, state["epoch"]), state["epoch"]
            lr = get_lr(state["step"], cfg.train.lr, cfg.train.min_lr, cfg.train.warmup_steps, total_steps)
            for group in optimizer.param_groups:
                group["lr"] = lr
            t0 = time.time()
            step_rows = order[state["row_in_epoch"]: state["row_in_epoch"] + rows_per_step]
            loss_sum = torch.zeros((), device=device)
            n_tokens = torch.zeros((), device=device)
            for micro in range(accum):
                # this rank's B rows of micro-batch `micro` (ranks interleave: a DistributedSampler on rows)
                rows = step_rows[(micro * world_size + rank) * B: (micro * world_size + rank + 1) * B]
                x, y = batch(train_packed, rows)  # (B, T), (B, T)
                x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
                # DDP: all-reduce gradients only on the last micro-batch, not after every backward
                sync = contextlib.nullcontext() if not ddp or micro == accum - 1 else model.no_sync()
                with sync:
                    with autocast:
                        _, loss = model(x, y, label_smoothing=cfg.train.label_smoothing)
                    if micro == accum // 2:
                        _hook("step", state["step"])
                    scaler.scale(loss / accum).backward()
                loss_sum += loss.detach()
                n_tokens += (y != -1).sum()
            scaler.unscale_(optimizer)  # clip (and log) the true gradient norm under fp16 too
            grad_norm = torch.nn.utils.clip_grad_norm_(raw_model.parameters(),
                                                       cfg.train.grad_clip if cfg.train.grad_clip > 0 else math.inf)
            stats = torch.stack([loss_sum / accum, n_tokens.float()])
            if ddp:
                torch.distributed.all_reduce(stats)
                stats[0] /= world_size
            step_loss, step_tokens, grad_norm = float(stats[0]), int(stats[1]), float(grad_norm)
            if not math.isfinite(step_loss) or (not math.isfinite(grad_norm) and not scaler.is_enabled()):
                raise TrainingDiverged(f"loss {step_loss}, grad norm {grad_norm} at step {state['step'] + 1} "
                                       f"(lr {lr:.3g})")
            scaler.step(optimizer)
            scaler.update()
            optimizer.zero_grad(set_to_none=True)
            dt = time.time() - t0

            state["step"] += 1
            state["row_in_epoch"] += rows_per_step
            state["tokens"] += step_tokens
            state["elapsed_s"] += dt
            write_row({"kind": "train", "step": state["step"], "epoch": state["epoch"], "loss": step_loss,
                       "grad_norm": grad_norm, "lr": lr, "tokens": state["tokens"],
                       "tokens_per_s": step_tokens / max(dt, 1e-9), "elapsed_s": state["elapsed_s"]})
            pbar.update(1)
            pbar.set_postfix(loss=f"{step_loss:.3f}", lr=f"{lr:.2e}", refresh=False)

            epoch_end = state["row_in_epoch"] + rows_per_step > n_rows
            last_step = state["step"] >= total_steps
            every = cfg.train.eval_every
            if epoch_end or last_step or (every and state["step"] % every == 0):
                evaluate_now()
            if epoch_end:
                state["epoch"] += 1
                state["row_in_epoch"] = 0
            every = cfg.train.ckpt_every
            if epoch_end or last_step or stop_reason() or (every and state["step"] % every == 0):
                checkpoint(ckpt_dir / "last.pt")
        status, reason = status
    except TrainingDiverged as e:
        status, reason = "diverged", f"training diverged: {e}; the checkpoints in {ckpt_dir} predate it"
    finally:
        pbar.close()
    write_row({"kind": "stop", "step": state["step"], "epoch": state["epoch"], "reason": reason})
    log(f"stopped: {reason}")
    if metrics_file:
        metrics_file.close()
    best = best_checkpoints(ckpt_dir) if master else []
    summary = {
        "status": status, "reason": reason, "step": state["step"], "epoch": state["epoch"],
        "tokens": state["tokens"], "elapsed_s": state["elapsed_s"], "best_val_loss": state["best_val_loss"],
        "best_step": state["best_step"], "best_checkpoint": str(best[0][2]) if best else None,
        "last_checkpoint": str(ckpt_dir / "last.pt") if (ckpt_dir / "last.pt").exists() else None,
        "run_dir": str(run_dir), "weights_sha256": weights_sha256(raw_model), "rank": rank, "world_size": world_size,
    }
    if ddp:
        torch.distributed.barrier()
    return summary


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
    return 0
