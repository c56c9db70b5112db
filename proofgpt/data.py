"""Reading certificate corpora: text, blocks, the generator's meta sidecar, stats.

A corpus is UTF-8 text of certificates separated by blank lines (see docs/format.md).
`read_corpus` accepts any such file, the user's own included; CRLF line ends and a leading
BOM are normalised with a warning, everything else that is wrong is a one-line `UserError`
naming the file and the line or byte offset.

    >>> blocks = split_blocks("@T a : x = x\\n@G x = x\\nrfl\\nqed\\n\\n@T b : ...\\n")
    >>> [(b.line, b.text.splitlines()[0]) for b in blocks]
    [(1, '@T a : x = x'), (6, '@T b : ...')]
"""

import json
import warnings
from dataclasses import dataclass
from pathlib import Path

from proofgpt.errors import UserError
from proofgpt.paths import meta_path


@dataclass(frozen=True)
class Block:
    """One certificate as it stands in the file: its text (no trailing newline) and first line number."""

    text: str
    line: int


def read_text(path) -> str:
    """Read a corpus file as normalised text ('\\n' line ends, no BOM), or raise a one-line UserError."""
    path = Path(path)
    if not path.exists():
        raise UserError(f"{path}: no such file")
    if path.is_dir():
        raise UserError(f"{path}: is a directory, expected a text file of certificates")
    raw = path.read_bytes()
    if raw.startswith(b"\xef\xbb\xbf"):
        warnings.warn(f"{path}: removed a leading UTF-8 byte-order mark")
        raw = raw[3:]
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        line = raw.count(b"\n", 0, e.start) + 1
        raise UserError(f"{path}:{line}: invalid UTF-8 at byte offset {e.start}") from None
    nul = text.find("\x00")
    if nul >= 0:
        raise UserError(f"{path}:{text.count(chr(10), 0, nul) + 1}: NUL byte at character offset {nul}")
    if "\r" in text:
        warnings.warn(f"{path}: normalised CRLF/CR line ends to LF")
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    if not text.strip():
        raise UserError(f"{path}: file is empty" if not text else f"{path}: file holds only whitespace")
    return text


def split_blocks(text: str) -> list[Block]:
    """Split text into blank-line separated blocks, remembering each block's first line (1-based)."""
    blocks, cur, start = [], [], 0
    for i, line in enumerate(text.split("\n"), start=1):
        if line.strip():
            if not cur:
                start = i
            cur.append(line)
        elif cur:
            blocks.append(Block("\n".join(cur), start))
            cur = []
    if cur:
        blocks.append(Block("\n".join(cur), start))
    return blocks


def read_corpus(path) -> list[Block]:
    """All certificate blocks of a corpus file; a file without any '@T' line is refused."""
    blocks = split_blocks(read_text(path))
    if not any(b.text.startswith("@T") for b in blocks):
        raise UserError(f"{path}: no '@T' theorem markers found; is this a certificate corpus?")
    return blocks


def read_meta(corpus_path) -> list[dict] | None:
    """The generator's sidecar for `corpus_path` (one JSON object per certificate), or None."""
    path = meta_path(corpus_path)
    if not path.exists():
        return None
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]
