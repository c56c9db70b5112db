"""Small file helpers shared by every stage: atomic writes, hashing, and the run directory's
marker and lock.

Everything that replaces a file a user may care about (corpus, split, checkpoints, reports)
goes through `atomic_write_*`: write a temp file in the same directory, fsync, rename. A
crash leaves either the old file or the new one, never half of one; an OSError names the file.

A run directory is proofgpt's only when it holds `proofgpt-run.json`, written when `train`
creates it (`claim_run_dir`); any other non-empty directory is the user's. One process at a
time writes a run: `lock_run` takes an advisory `fcntl.flock` on its `proofgpt.lock`, which the
kernel drops when the holder exits or dies, so a killed run's lock never goes stale.
"""

import contextlib
import fcntl
import hashlib
import json
import os
import tempfile
from pathlib import Path

from proofgpt.errors import UserError

_UMASK = os.umask(0)
os.umask(_UMASK)


def write_temp(path, data: bytes, midway=None) -> str:
    """Write data to a new fsynced temp file beside path and return its name (path is untouched).

    The file gets the mode a plain open() would (umask), not mkstemp's 0600. `midway`, if
    given, is called with half the data written (tests kill the process there).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.chmod(tmp, 0o666 & ~_UMASK)
        with os.fdopen(fd, "wb") as f:
            if midway is not None:
                f.write(data[: len(data) // 2])
                f.flush()
                midway()
                data = data[len(data) // 2:]
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
    except OSError as e:  # disk full: name the file it was meant for, not the temp file
        os.unlink(tmp)
        raise OSError(e.errno, e.strerror or str(e), str(path)) from None
    except BaseException:
        os.unlink(tmp)
        raise
    return tmp


def atomic_write_bytes(path, data: bytes, midway=None) -> None:
    tmp = write_temp(path, data, midway)
    try:
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def atomic_write_text(path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path, obj) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=True) + "\n")


def sha256_file(path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def read_json(path) -> dict:
    """A JSON object from path; {} when it is missing, unreadable or not an object (a run's
    config.json, a notebook's figures: optional files whose absence is not an error)."""
    try:
        obj = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return obj if isinstance(obj, dict) else {}


def saved_data_format(saved: dict, default=None):
    """config.data.format ("certificates" or "text") of a run's config.json as read_json gives it;
    default when it has none (not trained yet, or written before data.format existed)."""
    return ((saved.get("config") or {}).get("data") or {}).get("format", default)


def jsonl_text(rows) -> str:
    """One JSON object per line, non-ASCII kept as is (the meta sidecars); read back by read_meta."""
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)


def read_jsonl(path) -> list:
    """One JSON object per line (metrics.jsonl); [] for a missing file. A torn last line (a
    process killed mid-write) is skipped; a bad line anywhere else is a UserError naming it."""
    path = Path(path)
    if not path.exists():
        return []
    lines = path.read_text(encoding="utf-8").splitlines()
    rows = []
    for i, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except ValueError:
            if i == len(lines):
                break
            raise UserError(f"{path}:{i}: not a JSON line") from None
        if not isinstance(row, dict):
            raise UserError(f"{path}:{i}: expected a JSON object, got {type(row).__name__}")
        rows.append(row)
    return rows


# --------------------------------------------------------------------------------------------
# the run directory: whose it is, and who writes it now

RUN_MARKER = "proofgpt-run.json"  # written when train creates the directory: "this is proofgpt's"
RUN_LOCK = "proofgpt.lock"  # flock'ed by the one process writing the run; holds its pid
RUN_FILES = ("config.json", "metrics.jsonl", "ckpt", "data", "eval.json", "nb")  # what a run writes or deletes


def _is_legacy_run(run_dir: Path) -> bool:
    """A run written before markers existed: its config.json is train's (config, derived, env)."""
    return {"config", "derived", "env"} <= read_json(run_dir / "config.json").keys()


def claim_run_dir(run_dir, force: bool = False) -> None:
    """Make run_dir proofgpt's run directory (create it, write the marker), or refuse.

    Absent, empty, marked (or a pre-marker run): claimed. Any other directory is the user's:
    refused, and with force used only if it holds none of the files a run writes or deletes,
    so even --force never replaces a file proofgpt did not write.
    """
    run_dir = Path(run_dir)
    if (run_dir / RUN_MARKER).is_file():
        return
    if run_dir.exists() and not run_dir.is_dir():
        raise UserError(f"{run_dir}: exists and is not a directory")
    entries = sorted(p.name for p in run_dir.iterdir()) if run_dir.is_dir() else []
    if entries and not _is_legacy_run(run_dir):
        if not force:
            shown = ", ".join(entries[:3]) + (", ..." if len(entries) > 3 else "")
            raise UserError(f"{run_dir}: not a proofgpt run directory (no {RUN_MARKER}) and not empty ({shown}); "
                            f"choose another --run, or pass --force to use it (files proofgpt did not write are "
                            f"never replaced)")
        taken = [name for name in RUN_FILES if (run_dir / name).exists()]
        if taken:
            raise UserError(f"{run_dir / taken[0]}: not written by proofgpt, and --force never replaces such "
                            f"files; move it away or choose another --run")
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
        atomic_write_json(run_dir / RUN_MARKER, {"proofgpt": "run directory"})
    except OSError as e:
        raise UserError(f"{run_dir}: cannot write there ({(e.strerror or str(e)).lower()})") from None


def lock_run(run_dir, doing: str = "trained"):
    """Take run_dir's lock -> the open lock file (the lock lasts until it is closed), or a
    UserError "run R is being trained by pid P" when another process holds it."""
    path = Path(run_dir) / RUN_LOCK
    f = open(path, "a+", encoding="utf-8")
    try:
        fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        f.seek(0)
        holder = f.read().split() or ["?", "trained"]
        f.close()
        raise UserError(f"run {run_dir} is being {' '.join(holder[1:]) or 'trained'} by pid {holder[0]}; "
                        f"wait for it to finish (or stop it)") from None
    f.seek(0)
    f.truncate()
    f.write(f"{os.getpid()} {doing}\n")
    f.flush()
    return f


@contextlib.contextmanager
def run_locked(run_dir, doing: str = "trained"):
    """Hold run_dir's lock inside the block (lock_run); a run dir without a marker is not locked
    (nothing is written into a directory that is not proofgpt's)."""
    if not (Path(run_dir) / RUN_MARKER).is_file():
        yield
        return
    f = lock_run(run_dir, doing)
    try:
        yield
    finally:
        f.close()


def check_unlocked(run_dir) -> None:
    """UserError if another process holds run_dir's lock now (report: before a notebook resumes it)."""
    if (Path(run_dir) / RUN_LOCK).is_file():
        lock_run(run_dir, "checked").close()
