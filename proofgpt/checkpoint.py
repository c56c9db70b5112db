"""Checkpoints: save, load, find the best, and rebuild a model from one.

Every .pt is a dict of tensors, numbers, strings and lists that `torch.load(weights_only=True)`
reads (no pickled objects): weights, AdamW moments, GradScaler, every RNG state (python,
numpy, torch CPU and CUDA) and the loop's metadata as a JSON string, plus the sha256 of all of
that (`payload_sha256`), checked on every load: a flipped byte is an error, never a silent load
of damaged weights. It is written to a temp file and renamed; the .json beside it is a readable
copy of the metadata. Which checkpoints are "best" is read from the files on disk, so it
survives a crash anywhere. Anything wrong with a checkpoint (not a regular file, truncated,
corrupt, a checksum or metadata that does not hold) is one UserError naming the file.

    ckpt/last.pt  .json          newest state (every epoch, and every train.ckpt_every steps)
    ckpt/best-<step>.pt  .json   the train.keep_best lowest val losses

`load_model(run_dir_or_pt)` is what sampling, evaluation and the notebooks use: a run directory
means its best checkpoint (else last.pt).

Reference: nanochat checkpoint_manager.py for tensors/metadata split and loop-state resume.
"""

import contextlib
import hashlib
import io
import json
import os
import pickle
import random
import re
import stat
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import torch

from proofgpt.config import from_dict, validate
from proofgpt.errors import UserError
from proofgpt.io import atomic_write_bytes, atomic_write_json
from proofgpt.model import GPT

CKPT_FORMAT = 2  # 2: the payload carries its sha256 (format 1 loads, with a warning)


# --------------------------------------------------------------------------------------------
# test hooks: PROOFGPT_TEST_HOOKS="ckpt_write=0.5,eval=0.2" announces each hook on stderr and
# sleeps there, so a test can SIGKILL the process inside a checkpoint write or an evaluation.

_HOOKS = dict(kv.split("=") for kv in os.environ.get("PROOFGPT_TEST_HOOKS", "").split(",") if "=" in kv)


def hook(name: str, step: int) -> None:
    """Announce test hook `name` on stderr and sleep there, if PROOFGPT_TEST_HOOKS names it."""
    if name in _HOOKS:
        print(f"proofgpt-hook: {name} step={step}", file=sys.stderr, flush=True)
        time.sleep(float(_HOOKS[name]))


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
    """atomic_write_bytes with a test hook halfway through the temp file (see hook)."""
    # a kill in the hook leaves a half-written temp file, never a half .pt
    atomic_write_bytes(path, data, midway=lambda: hook("ckpt_write", step))


def payload_sha256(obj, h=None) -> str:
    """sha256 over a payload's structure and contents (tensor bytes, numbers, strings), its
    "sha256" entry left out: payload_sha256({"a": torch.zeros(2)}) changes if any byte does."""
    top = h is None
    h = hashlib.sha256() if top else h
    if isinstance(obj, dict):
        for k in sorted(obj, key=str):
            if not (top and k == "sha256"):
                h.update(f"<{k!r}>".encode())
                payload_sha256(obj[k], h)
    elif isinstance(obj, (list, tuple)):
        h.update(f"[{len(obj)}".encode())
        for v in obj:
            payload_sha256(v, h)
    elif isinstance(obj, torch.Tensor):
        t = obj.detach().cpu().contiguous().reshape(-1)  # 1-d: a 0-d tensor cannot be viewed as bytes
        h.update(f"T{obj.dtype}{tuple(obj.shape)}".encode())
        h.update(t.view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    else:
        h.update(repr(obj).encode())
    return h.hexdigest() if top else ""


def save_checkpoint(path: Path, model, optimizer, scaler, meta: dict) -> None:
    """Write path (.pt: tensors + meta as a JSON string + their sha256) then path.json (readable meta)."""
    payload = {
        "format": CKPT_FORMAT,
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "scaler": scaler.state_dict() if scaler.is_enabled() else {},
        "rng": get_rng_state(),
        "meta_json": json.dumps(meta),  # the .pt alone is complete; the .json is a copy for people
    }
    payload["sha256"] = payload_sha256(payload)
    buf = io.BytesIO()
    torch.save(payload, buf)
    _write_ckpt_bytes(path, buf.getvalue(), meta["state"]["step"])
    atomic_write_json(path.with_suffix(".json"), meta)


def load_checkpoint(path, map_location="cpu") -> tuple[dict, dict]:
    """A .pt checkpoint -> (payload, meta), loaded with weights_only=True and its sha256 checked;
    a UserError naming the file for anything else."""
    path = Path(path)
    try:
        mode = path.stat().st_mode  # follows a symlink to what it points at
    except FileNotFoundError:
        raise UserError(f"{path}: no such checkpoint") from None
    if stat.S_ISDIR(mode):
        raise UserError(f"{path}: is a directory, expected a .pt checkpoint (or pass a run directory to load_model)")
    if not stat.S_ISREG(mode):  # a FIFO would block the read forever
        raise UserError(f"{path}: not a regular file, expected a .pt checkpoint")
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
    except Exception as e:  # noqa: BLE001 -- whatever a damaged zip makes torch raise (RuntimeError, KeyError, ...)
        first = str(e).strip().splitlines()[0][:120] if str(e).strip() else ""
        raise UserError(f"{path}: truncated or corrupt checkpoint ({type(e).__name__}: {first})") from None
    if not isinstance(payload, dict) or "model" not in payload or "meta_json" not in payload:
        raise UserError(f"{path}: not a proofgpt checkpoint (no 'model' and 'meta_json' entries)")
    if "sha256" in payload:
        if payload["sha256"] != payload_sha256(payload):
            raise UserError(f"{path}: corrupt checkpoint (its contents do not match their sha256)")
    else:
        warnings.warn(f"{path}: no checksum (written before checkpoint format 2); loaded unverified")
    try:
        meta = json.loads(payload["meta_json"])
    except (TypeError, ValueError):
        raise UserError(f"{path}: corrupt checkpoint metadata (not JSON)") from None
    problem = _meta_problem(meta)
    if problem:
        raise UserError(f"{path}: malformed checkpoint metadata ({problem})")
    return payload, meta


def _meta_problem(meta) -> str | None:
    """What is wrong with a checkpoint's metadata, or None: the fields every reader relies on."""
    if not isinstance(meta, dict):
        return f"expected a JSON object, got {type(meta).__name__}"
    for key, kind in (("config", dict), ("state", dict), ("data_sha256", str)):
        if not isinstance(meta.get(key), kind):
            return f"{key!r} is missing or not a {kind.__name__}"
    state = meta["state"]
    for key in ("step", "epoch", "row_in_epoch"):
        if not isinstance(state.get(key), int) or isinstance(state.get(key), bool) or state[key] < 0:
            return f"state.{key} must be an integer >= 0, got {state.get(key)!r}"
    for key in ("val_loss", "best_val_loss"):
        if state.get(key) is not None and not isinstance(state[key], (int, float)):
            return f"state.{key} must be a number or null, got {state[key]!r}"
    return None


def read_checkpoint_meta(pt: Path) -> dict | None:
    """The loop meta of a checkpoint: its .json if readable, else the .pt itself; None if both are bad."""
    try:
        meta = json.loads(pt.with_suffix(".json").read_text(encoding="utf-8"))
        if _meta_problem(meta) is None:
            return meta
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
        meta = read_checkpoint_meta(pt)
        if meta is None or meta["state"].get("val_loss") is None:
            continue
        out.append((meta["state"]["val_loss"], meta["state"]["step"], pt))
    return sorted(out, key=lambda t: (t[0], t[1]))


def remove_checkpoint(pt: Path) -> None:
    for p in (pt, pt.with_suffix(".json")):
        with contextlib.suppress(FileNotFoundError):
            p.unlink()


def candidate_checkpoints(path_or_run_dir) -> list[Path]:
    """A .pt path -> [it]; a run dir -> its best checkpoints (lowest val loss first), then ckpt/last.pt."""
    p = Path(path_or_run_dir)
    if not p.is_dir():
        return [p]
    ckpt_dir = p / "ckpt" if (p / "ckpt").is_dir() else p
    found = [pt for _, _, pt in best_checkpoints(ckpt_dir)]
    if (ckpt_dir / "last.pt").exists():
        found.append(ckpt_dir / "last.pt")
    if not found:
        raise UserError(f"{p}: no checkpoints (expected {ckpt_dir}/best-*.pt or last.pt)")
    return found


def find_checkpoint(path_or_run_dir) -> Path:
    """A .pt path as is; a run dir -> its best checkpoint (lowest val loss), else ckpt/last.pt."""
    return candidate_checkpoints(path_or_run_dir)[0]


def torch_device(name: str) -> torch.device:
    """'cpu', 'cuda', 'cuda:1' -> a torch.device this machine has, else a UserError."""
    try:
        device = torch.device(name)
    except (RuntimeError, ValueError):
        raise UserError(f"device {name!r}: expected cpu, cuda or cuda:N") from None
    if device.type not in ("cpu", "cuda"):
        raise UserError(f"device {name!r}: expected cpu, cuda or cuda:N")
    if device.type == "cuda" and not torch.cuda.is_available():
        raise UserError(f"device {name!r}: no CUDA device is available (use cpu)")
    if device.type == "cuda" and (device.index or 0) >= torch.cuda.device_count():
        raise UserError(f"device {name!r}: this machine has {torch.cuda.device_count()} CUDA devices")
    return device


def _build_model(path: Path, payload: dict, meta: dict) -> tuple[GPT, object]:
    """The GPT a checkpoint's config describes, with its weights; UserError naming the file."""
    try:
        cfg = from_dict(meta["config"], strict=False, source=f"{path}: config")
        validate(cfg)
    except UserError as e:
        raise UserError(f"{path}: malformed checkpoint metadata ({e})") from None
    try:
        model = GPT(cfg.model)
        model.load_state_dict(payload["model"])
    except (RuntimeError, ValueError, TypeError) as e:
        raise UserError(f"{path}: weights do not fit the config saved with them ({str(e).splitlines()[0][:160]})") from None
    return model, cfg


def load_model(ckpt_path_or_run_dir, device="cpu") -> tuple[GPT, dict]:
    """A checkpoint or run dir (-> its best checkpoint) -> (GPT in eval mode on device, meta).

    In a run dir a checkpoint that does not load is skipped with a warning naming it, and the
    next best (at last ckpt/last.pt) is loaded; the first error is raised when none loads.
    meta: {"path", "config" (dict), "cfg" (RunConfig), "state" (step, epoch, val_loss, ...),
    "derived", "data_sha256", "env"}.
    """
    device = torch_device(device)
    candidates, first_error = candidate_checkpoints(ckpt_path_or_run_dir), None
    for i, path in enumerate(candidates):
        try:
            payload, meta = load_checkpoint(path, map_location="cpu")
            model, cfg = _build_model(path, payload, meta)
        except UserError as e:
            first_error = first_error or e
            if i + 1 < len(candidates):
                warnings.warn(f"skipped {e}; trying {candidates[i + 1].name}")
            continue
        model.to(device).eval()
        meta["path"] = str(path)
        meta["cfg"] = cfg
        return model, meta
    raise first_error


def weights_sha256(model) -> str:
    """sha256 over a state_dict's names and bytes: equal iff the weights are bitwise equal."""
    h = hashlib.sha256()
    for name, t in sorted(model.state_dict().items()):
        h.update(name.encode())
        h.update(t.detach().cpu().contiguous().view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()
