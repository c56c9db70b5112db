"""Bytes <-> token ids, and whole certificates packed into fixed training rows.

The tokenizer is the identity on UTF-8 bytes (vocab 256): `⁻¹` is 4 tokens, `→` is 3. It
never fails and needs no training; the price is ~1.2 bytes per character on this corpus.

Packing. A training row holds ctx+1 tokens (x = row[:-1], y = row[1:]). Each certificate
contributes its bytes plus b"\\n\\n", so the model learns to stop after `qed`. Certificates
are placed whole, best-fit-decreasing: longest first, each into the open row whose free space
is the smallest that still fits it. Whole certificates mean every row starts at a proof
boundary and no proof is cut in half (nanochat's best-fit loader crops instead: 100 % use,
~35 % of tokens cropped at T=2048); the price is padding, which is masked out of the loss.
With certificates well under a row the padding is small (`python -m proofgpt data prepare`
prints the measured efficiency).
A certificate longer than a row is cut at line boundaries (a line longer than a row is cut
hard); both are counted in `Packed.stats`.

Worked example (ctx=9, so rows of 10 tokens; item = text bytes + 2 for the separator):

    texts  "aaaa" "bbb" "cc" "dd" "e" "f"  ->  item sizes 6 5 4 4 3 3 (25 tokens)
    6 -> new row 0 (free 4)
    5 -> new row 1 (free 5)          (row 0 has only 4)
    4 -> row 0, the tightest fit     (free 0)
    4 -> row 1                       (free 1)
    3 -> new row 2 (free 7)          (nothing has 3 free)
    3 -> row 2                       (free 4)
    rows: [aaaa..cc..] [bbb..dd..P] [e..f..PPPP]   n_real = 10 9 6, efficiency 25/30

References: Johnson, "Near-optimal bin packing algorithms" (1973) for FFD/BFD (<= 11/9 OPT + 1);
Krell et al., "Efficient sequence packing without cross-contamination" (2021).
"""

import bisect
import json
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from proofgpt.errors import UserError
from proofgpt.io import atomic_write_json

PAD = 0  # NUL never occurs in a corpus (certificate.read_text refuses it), so 0 is free to mean padding
SEP = b"\n\n"  # after every certificate: the blank line that ends it in the corpus file


def encode(s: str) -> np.ndarray:
    """Text -> uint8 token ids (its UTF-8 bytes).  encode("a⁻¹") -> [97, 226, 129, 187, 194, 185]"""
    return np.frombuffer(s.encode("utf-8"), dtype=np.uint8).copy()


def decode(ids) -> str:
    """Token ids -> text; bytes that are not valid UTF-8 (a model's half character) become U+FFFD."""
    return np.asarray(ids, dtype=np.uint8).tobytes().decode("utf-8", errors="replace")


@dataclass
class Packed:
    """Rows of ctx+1 byte tokens; real tokens are a prefix of each row, the rest is PAD.

    tokens (n_rows, ctx+1) uint8; n_real (n_rows,) int32;
    pieces (n_pieces, 4) int32 = (row, offset, n_tokens, certificate index), in certificate
    order, so `unpack` recovers every text (a split certificate has several pieces);
    stats: efficiency (real tokens / row tokens), n_rows, n_split, n_hard_split, ...
    """

    tokens: np.ndarray
    n_real: np.ndarray
    pieces: np.ndarray
    stats: dict = field(default_factory=dict)

    @property
    def ctx(self) -> int:
        return self.tokens.shape[1] - 1

    def __len__(self) -> int:
        return self.tokens.shape[0]

    def save(self, path) -> None:
        """Write a directory of .npy files (memmap-able) + stats.json, replacing `path` atomically."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp"))
        try:
            np.save(tmp / "tokens.npy", self.tokens)
            np.save(tmp / "n_real.npy", self.n_real)
            np.save(tmp / "pieces.npy", self.pieces)
            atomic_write_json(tmp / "stats.json", self.stats)
            old = None
            if path.exists():  # a rename cannot replace a non-empty directory: move the old one aside
                old = path.with_name(f".{path.name}.old")
                shutil.rmtree(old, ignore_errors=True)
                os.replace(path, old)
            os.replace(tmp, path)
            if old is not None:
                shutil.rmtree(old, ignore_errors=True)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise

    @classmethod
    def load(cls, path, mmap: bool = True) -> "Packed":
        path = Path(path)
        if not (path / "tokens.npy").exists():
            raise UserError(f"{path}: not a packed dataset (no tokens.npy); write one with Packed.save")
        mode = "r" if mmap else None
        stats = json.loads((path / "stats.json").read_text(encoding="utf-8"))
        return cls(
            tokens=np.load(path / "tokens.npy", mmap_mode=mode),
            n_real=np.load(path / "n_real.npy", mmap_mode=mode),
            pieces=np.load(path / "pieces.npy", mmap_mode=mode),
            stats=stats,
        )


def _cut(item: bytes, row_len: int) -> tuple[list[bytes], int]:
    """Cut an over-long item at line ends into pieces of <= row_len bytes; -> (pieces, n_hard_cuts).

    _cut(b"ab\\ncd\\n\\n", 4) -> ([b"ab\\n", b"cd\\n\\n"], 0)
    _cut(b"abcdef\\n\\n", 4) -> ([b"abcd", b"ef\\n\\n"], 1)
    """
    lines = item.splitlines(keepends=True)  # bytes.splitlines splits on \n (and \r, never present)
    pieces, cur, n_hard = [], b"", 0
    for line in lines:
        if len(line) > row_len:  # one line longer than a row: cut it hard, at byte boundaries
            n_hard += 1
            if cur:
                pieces.append(cur)
                cur = b""
            whole, rest = divmod(len(line), row_len)
            pieces += [line[i * row_len : (i + 1) * row_len] for i in range(whole)]
            cur = line[whole * row_len :]
        elif len(cur) + len(line) > row_len:
            pieces.append(cur)
            cur = line
        else:
            cur += line
    if cur:
        pieces.append(cur)
    return pieces, n_hard


def min_rows_bound(sizes, row_len: int) -> int:
    """A lower bound on the rows any packing needs (Martello & Toth's L2, 1990).

    Items longer than half a row can never share a row with each other, so
    min_rows_bound([6, 6, 6], 10) -> 3 where total/row alone says 2. For each k <= row/2:
    rows >= #(items > row/2) + what the items in [k, row/2] cannot fit into those rows' gaps.
    """
    sizes = np.asarray(sizes, dtype=np.int64)
    if len(sizes) == 0:
        return 0
    best = -(-int(sizes.sum()) // row_len)
    half = row_len / 2
    for k in np.unique(np.concatenate([[0], sizes[sizes <= half]])):
        big = sizes > row_len - k  # rows nothing of size >= k can join
        mid = (sizes > half) & ~big  # rows with some room
        small = (sizes >= k) & (sizes <= half)
        room = int(mid.sum()) * row_len - int(sizes[mid].sum())
        spill = max(0, -(-(int(sizes[small].sum()) - room) // row_len))
        best = max(best, int(big.sum()) + int(mid.sum()) + spill)
    return best


def pack_proofs(texts: list[str], ctx: int, shuffle_seed=None) -> Packed:
    """Pack certificates (each + "\\n\\n") into rows of ctx+1 tokens, best-fit-decreasing.

    pack_proofs(["aaaa", "bbb", "cc", "dd", "e", "f"], ctx=9).n_real -> [10, 9, 6]
    (the worked example in the module docstring). Best-fit-decreasing starts every row with
    its longest certificate; with shuffle_seed (an int or list of ints) equal-length
    certificates are placed in a random order and each row's certificates are laid out in a
    random order, so the first certificate of a row is no longer the long one.
    """
    if ctx < 1:
        raise UserError(f"ctx must be >= 1, got {ctx}")
    row_len = ctx + 1
    items, owner = [], []  # piece bytes, and the certificate each piece belongs to
    n_split = n_hard_split = 0
    for i, text in enumerate(texts):
        item = text.encode("utf-8") + SEP
        if len(item) <= row_len:
            items.append(item)
            owner.append(i)
            continue
        pieces, n_hard = _cut(item, row_len)
        n_split += 1
        n_hard_split += n_hard
        items += pieces
        owner += [i] * len(pieces)

    # best-fit decreasing: `free` is a sorted list of (free space, row) for rows with any room.
    # bisect finds the tightest row that fits in O(log rows); ties go to the oldest row.
    sizes = np.array([len(b) for b in items], dtype=np.int64)
    rng = None if shuffle_seed is None else np.random.default_rng(shuffle_seed)
    ties = np.arange(len(items)) if rng is None else rng.permutation(len(items))
    order = np.lexsort((ties, -sizes))  # longest first, input order (or a random one) among equals
    free: list[tuple[int, int]] = []
    row_of = np.empty(len(items), dtype=np.int64)
    offset_of = np.empty(len(items), dtype=np.int64)
    fill: list[int] = []  # tokens used in each row
    for k in order:
        size = int(sizes[k])
        j = bisect.bisect_left(free, (size, -1))
        if j < len(free):
            room, row = free.pop(j)
        else:
            room, row = row_len, len(fill)
            fill.append(0)
        row_of[k], offset_of[k] = row, fill[row]
        fill[row] += size
        if room - size > 0:
            bisect.insort(free, (room - size, row))

    n_rows = len(fill)
    if rng is not None:  # lay each row out in a random certificate order (a split one's pieces in text order)
        cert_key = rng.random(len(texts))[np.array(owner, dtype=np.int64)] if items else np.zeros(0)
        fill2 = [0] * n_rows
        for k in np.lexsort((np.arange(len(items)), cert_key, row_of)):
            offset_of[k] = fill2[row_of[k]]
            fill2[row_of[k]] += int(sizes[k])
    tokens = np.full((n_rows, row_len), PAD, dtype=np.uint8)
    for k, item in enumerate(items):
        tokens[row_of[k], offset_of[k] : offset_of[k] + len(item)] = np.frombuffer(item, dtype=np.uint8)
    n_real = np.array(fill, dtype=np.int32)
    # pieces are listed in certificate order (a split certificate's pieces in text order)
    pieces = np.stack([row_of, offset_of, sizes, np.array(owner, dtype=np.int64)], axis=1).astype(np.int32)
    if len(items) == 0:
        pieces = np.zeros((0, 4), dtype=np.int32)
    n_tokens = int(n_real.sum())
    stats = dict(
        ctx=ctx,
        n_rows=n_rows,
        n_certificates=len(texts),
        n_pieces=len(items),
        n_split=n_split,  # certificates longer than a row, cut at line ends
        n_hard_split=n_hard_split,  # lines longer than a row, cut inside the line
        n_real_tokens=n_tokens,
        n_row_tokens=n_rows * row_len,
        efficiency=n_tokens / max(1, n_rows * row_len),
        lower_bound_rows=min_rows_bound(sizes, row_len),  # no packing of these pieces uses fewer rows
    )
    # the efficiency no packing of these lengths can beat: the gap to it is the packer's
    stats["efficiency_bound"] = n_tokens / max(1, stats["lower_bound_rows"] * row_len)
    return Packed(tokens=tokens, n_real=n_real, pieces=pieces, stats=stats)


def unpack(packed: Packed) -> list[str]:
    """Every certificate's text back from the rows, in input order (inverse of pack_proofs)."""
    n = int(packed.pieces[:, 3].max()) + 1 if len(packed.pieces) else 0
    parts: list[list[bytes]] = [[] for _ in range(n)]
    for row, offset, n_tokens, cert in np.asarray(packed.pieces):
        parts[cert].append(np.asarray(packed.tokens[row, offset : offset + n_tokens]).tobytes())
    out = []
    for p in parts:
        b = b"".join(p)
        assert b.endswith(SEP), "every certificate ends with its separator"
        out.append(b[: -len(SEP)].decode("utf-8"))
    return out


def windows(data: bytes, ctx: int, name: str = "the data") -> Packed:
    """The non-overlapping ctx-byte windows of a byte string as rows (row i = data[i*ctx : i*ctx+ctx+1],
    so its targets are bytes i*ctx+1 .. i*ctx+ctx): every byte after the first is a target once,
    except the < ctx at the end that do not fill a window. What the loss of a text run is over."""
    n = (len(data) - 1) // ctx
    if n < 1:
        raise UserError(f"{name} has {len(data)} bytes, fewer than one window of {ctx + 1} (model.ctx + 1); use more data")
    stream = np.frombuffer(data, dtype=np.uint8)
    tokens = np.stack([stream[i * ctx: i * ctx + ctx + 1] for i in range(n)])  # (n, ctx+1)
    return Packed(tokens, np.full(n, ctx + 1, dtype=np.int32), np.zeros((0, 4), dtype=np.int32),
                  {"efficiency": 1.0, "n_rows": n, "n_real_tokens": n * ctx + 1})


def eval_rows(data, ctx: int, name: str = "the data") -> Packed:
    """The fixed rows a loss is measured over: raw bytes (data.format=text) -> their
    non-overlapping windows (`windows`); certificate texts -> their packing (`pack_proofs`)."""
    return windows(data, ctx, name) if isinstance(data, bytes) else pack_proofs(data, ctx)


def epoch_order(n_rows: int, seed: int, epoch: int) -> np.ndarray:
    """The row order for one epoch: a permutation fixed by (seed, epoch), different per epoch.

    epoch_order(5, seed=0, epoch=0) -> e.g. [2, 4, 1, 0, 3]; the same call always gives the same.
    """
    return np.random.default_rng([seed, epoch]).permutation(n_rows)


def batch(packed: Packed, row_ids) -> tuple[np.ndarray, np.ndarray]:
    """Rows -> (x, y) int64 arrays of shape (B, ctx); y = -1 where the target is padding.

    Row [a b c PAD] (ctx=3, n_real=3) -> x = [a b c], y = [b c -1].
    """
    row_ids = np.asarray(row_ids, dtype=np.int64)
    rows = np.asarray(packed.tokens[row_ids]).astype(np.int64)  # (B, ctx+1)
    n_real = np.asarray(packed.n_real[row_ids]).astype(np.int64)  # (B,)
    x = rows[:, :-1]  # (B, ctx)
    y = rows[:, 1:].copy()  # (B, ctx); y[:, t] is row position t+1
    pos = np.arange(1, rows.shape[1])[None, :]  # (1, ctx)
    y[pos >= n_real[:, None]] = -1
    return x, y


# --------------------------------------------------------------------------------------------
# training rows: where each row of an epoch comes from

ROW_MODES = ("packed", "repacked", "windows", "packed_offset")


class TrainRows:
    """The training rows of every epoch, for train.rows = one of ROW_MODES.

    packed         the fixed best-fit-decreasing packing above, rows in epoch_order: every
                   row starts at a certificate and no certificate is cut (unless over-long).
    repacked       a fresh packing each epoch: best-fit-decreasing with equal-length
                   certificates in an order drawn from (seed, epoch), so rows get new
                   neighbours, and each row laid out in a random certificate order, so a
                   row no longer starts with its longest certificate (in `packed`, position 0
                   only ever holds long ones; prompts are completed from position 0).
                   Rows start at a certificate; none is cut.
    windows        nanoGPT's get_batch: ctx+1 bytes starting anywhere in the train byte
                   stream (certificates + "\\n\\n" in file order); no padding, rows start and end
                   mid-certificate, each byte is seen a random number of times per epoch.
    packed_offset  the packed rows in epoch order, each read from a random offset in the
                   packed stream (real bytes of row r from offset o, then row r+1): every byte
                   about once per epoch, at a different position each time.

    `texts` may instead be raw bytes (data.format=text): then the mode is always windows over
    those bytes, and the fixed rows are their non-overlapping windows (`windows`).

    Every mode has len(self) = the fixed packing's row count rows per epoch, so the steps per
    epoch and the schedule do not depend on the mode (a repacked epoch with more rows drops the
    surplus, one with fewer wraps around). `batch(epoch, positions)` is a pure function of
    (seed, epoch, positions): an exactly resumed run sees the same bytes.
    """

    def __init__(self, texts, ctx: int, mode: str = "packed", seed: int = 0):
        if mode not in ROW_MODES:
            raise UserError(f"train.rows={mode!r}: must be one of {', '.join(ROW_MODES)}")
        self.texts, self.ctx, self.seed = texts, ctx, seed
        self.mode = "windows" if isinstance(texts, bytes) else mode
        self._epoch = self._order = self._rows = None
        if isinstance(texts, bytes):
            self.packed = windows(texts, ctx, "the train data")  # an epoch: as many rows as non-overlapping windows
            self.stream = np.frombuffer(texts, dtype=np.uint8)
            return
        self.packed = pack_proofs(texts, ctx)  # the fixed packing: also the row count of an epoch
        if mode == "windows":
            self.stream = np.frombuffer(b"".join(t.encode("utf-8") + SEP for t in texts), dtype=np.uint8)
        elif mode == "packed_offset":
            # the packed rows' real bytes end to end, and where each row starts in that stream
            n_real = np.asarray(self.packed.n_real, dtype=np.int64)
            self.stream = np.concatenate([np.asarray(self.packed.tokens[r, :n]) for r, n in enumerate(n_real)])
            self.row_start = np.concatenate([[0], np.cumsum(n_real)[:-1]])
        if mode in ("windows", "packed_offset") and len(self.stream) <= ctx + 1:
            raise UserError(f"train.rows={mode}: the train data ({len(self.stream)} bytes) is shorter than a row")

    def __len__(self) -> int:
        return len(self.packed)

    def _start_epoch(self, epoch: int) -> None:
        if self._epoch == epoch:
            return
        self._epoch, self._rows = epoch, self.packed
        if self.mode == "repacked":
            self._rows = pack_proofs(self.texts, self.ctx, shuffle_seed=[self.seed, epoch, 2])
        n = len(self)
        if self.mode == "windows":  # window starts, uniform over the stream
            self._order = np.random.default_rng([self.seed, epoch, 1]).integers(0, len(self.stream) - self.ctx, size=n)
        else:
            order = epoch_order(len(self._rows), self.seed, epoch)
            self._order = np.resize(order, n)  # repacked: drop the surplus or wrap around
            if self.mode == "packed_offset":  # start at a random real byte of the row, read on
                offset = np.random.default_rng([self.seed, epoch, 3]).random(n) * self.packed.n_real[self._order]
                start = self.row_start[self._order] + offset.astype(np.int64)
                self._order = np.minimum(start, len(self.stream) - self.ctx - 1)  # the last row's tail: no wrap

    def batch(self, epoch: int, positions) -> tuple[np.ndarray, np.ndarray]:
        """Rows at `positions` (0 <= p < len(self)) of `epoch` -> (x, y) int64 (B, ctx); y = -1 on padding."""
        self._start_epoch(epoch)
        picked = self._order[np.asarray(positions, dtype=np.int64)]
        if self.mode in ("packed", "repacked"):
            return batch(self._rows, picked)
        rows = np.stack([self.stream[s: s + self.ctx + 1] for s in picked]).astype(np.int64)  # (B, ctx+1)
        return rows[:, :-1], rows[:, 1:].copy()
