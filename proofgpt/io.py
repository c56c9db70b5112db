"""Small file helpers shared by every stage: atomic writes and hashing.

Everything that replaces a file a user may care about (corpus, split, checkpoints, reports)
goes through `atomic_write_*`: write a temp file in the same directory, fsync, rename. A
crash leaves either the old file or the new one, never half of one.
"""

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


def read_jsonl(path) -> list:
    """One JSON value per line (metrics.jsonl, meta sidecars); [] for a missing file. A torn last
    line (a process killed mid-write) is skipped; a bad line anywhere else is a UserError naming it."""
    path = Path(path)
    if not path.exists():
        return []
    lines = path.read_text(encoding="utf-8").splitlines()
    rows = []
    for i, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            rows.append(json.loads(line))
        except ValueError:
            if i == len(lines):
                break
            raise UserError(f"{path}:{i}: not a JSON line") from None
    return rows
