"""Split a corpus 90/10 into data/train.txt and data/val.txt, on certificate boundaries.

    python -m proofgpt data split [--input data/training.txt] [--out-dir data] [--seed 0] [--val-frac 0.1]

- boundaries: whole certificates go to one side; nothing is ever cut;
- grouped: certificates of one statement class (certificate.statement_class_of: same structure,
  statement the same up to renaming, swapped sides and hypothesis order) go to the same side, so
  val never asks for a theorem the model saw proved in train, renamed or turned around; and a
  certificate that cites an earlier one as a lemma (`@P walk : x * 1 * y = x * y` names an
  earlier `@T walk` with that statement up to renaming and swapped sides) goes with it,
  so train.txt and val.txt each verify on their own;
- stratified: each structure × family stratum (from the meta sidecar; length quintiles for a
  corpus without one) sends ~val_frac of its characters to val;
- exact: a final pass moves the best-sized groups across until val holds val_frac of the
  characters to within ±0.5 % of the target;
- lossless and seeded: train + val is the input's multiset of certificates; each side keeps
  the input order, so a lemma proved earlier in the file still comes earlier.

The trade-off: groups make the split coarser than a random one. Lemma citations chain
certificates together into groups, some of them large (split.json counts them). A group spanning strata goes to val
when that brings its strata closer to their shares in total; the fix-up pass then moves or
swaps whole groups for the global total (split.json has the per-stratum counts).
Outputs (train.txt, val.txt, train/val.meta.jsonl, split.json) are all written to temp
files first and renamed into place only when every one of them is complete.
"""

import argparse
import json
import os
import sys
import warnings
from pathlib import Path

import numpy as np

from proofgpt import paths
from proofgpt.algebra import statement_class
from proofgpt.certificate import class_key, name_of, read_corpus, read_meta, statement_of
from proofgpt.errors import UserError
from proofgpt.io import sha256_bytes, sha256_file, write_temp
from proofgpt.terms import parse_equation

TOLERANCE = 0.005  # |val chars / target - 1| the fix-up pass aims below


def _groups(texts: list[str]) -> tuple[np.ndarray, int]:
    """Group ids (0..G-1, by first member) joining certificates that must share a side: one
    statement class (a statement that does not parse: its text), and a certificate with each
    earlier one it cites as a lemma
    (`@P name : S` naming an earlier hypothesis-free `@T name : S'`, S' = S up to renaming and
    swapped sides; several theorems may share a name), so either side checks on its own.

    ["@T a : x * 1 = x...", "@T b : y = y * y...", "@T c : z = z * 1...", "@T d : ...\n@P b : ..."] -> ([0, 1, 0, 1], 1)
    """
    parent = list(range(len(texts)))

    def find(i):
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    first_with_statement: dict = {}  # statement class -> its first certificate
    lemma_names: dict[tuple, int] = {}  # (@T name, statement class) -> certificate, hypothesis-free theorems so far
    known = set()  # their names
    n_links = 0
    for i, text in enumerate(texts):
        j = first_with_statement.setdefault(class_key(text), i)
        parent[find(i)] = find(j)
        for line in text.split("\n"):
            if line.startswith("@P ") and " : " in line and line[3:].split(" : ", 1)[0].strip() in known:
                cited = lemma_names.get(_lemma_key(*line[3:].split(" : ", 1)))
                if cited is not None and find(cited) != find(i):
                    parent[find(i)] = find(cited)
                    n_links += 1
        name, stmt = name_of(text), statement_of(text)
        if name is not None and "→" not in stmt:
            lemma_names.setdefault(_lemma_key(name, stmt), i)
            known.add(name)
    roots: dict[int, int] = {}
    return np.array([roots.setdefault(find(i), len(roots)) for i in range(len(texts))], dtype=np.int64), n_links


def _lemma_key(name: str, stmt: str) -> tuple:
    """('walk', 'a * 1 = a') -> ('walk', (None, 'v0 * 1 = v0')); the raw text if it does not parse."""
    try:
        return name.strip(), statement_class(None, [], parse_equation(stmt.strip()))
    except ValueError:
        return name.strip(), stmt.strip()


def _length_strata(n_chars: np.ndarray) -> list[str]:
    """Quintiles of certificate length, labelled by their range: [120, 540] -> ['len 120-199', ...]."""
    edges = np.unique(np.quantile(n_chars, [0.2, 0.4, 0.6, 0.8]).round().astype(int))
    bucket = np.searchsorted(edges, n_chars, side="right")
    bounds = [0, *edges.tolist(), None]
    labels = []
    for b in bucket:
        lo, hi = bounds[b], bounds[b + 1]
        labels.append(f"len {lo}-{hi - 1}" if hi is not None else f"len {lo}+")
    return labels


def _assign(group_of: np.ndarray, cert_stratum: np.ndarray, cert_size: np.ndarray, val_frac: float, rng) -> np.ndarray:
    """Choose val groups: greedily towards every stratum's share, then fix the global total.

    group_of, cert_stratum, cert_size (N,) per certificate -> is_val (G,) bool per group.
    A group may span strata (a lemma chain of walks and lemmas): it goes to val when that
    brings the strata it touches closer to their targets in total (sum of |deficit|).
    """
    n_groups = int(group_of.max()) + 1
    group_size = np.bincount(group_of, weights=cert_size, minlength=n_groups)
    deficit = val_frac * np.bincount(cert_stratum, weights=cert_size)  # (S,) chars val still needs
    # each group's characters per stratum, as a short list of (stratum, chars)
    pairs: dict[tuple[int, int], float] = {}
    for g, s, n in zip(group_of.tolist(), cert_stratum.tolist(), cert_size.tolist()):
        pairs[g, s] = pairs.get((g, s), 0.0) + n
    parts: list[list[tuple[int, float]]] = [[] for _ in range(n_groups)]
    for (g, s), n in pairs.items():
        parts[g].append((s, n))
    is_val = np.zeros(n_groups, dtype=bool)
    order = rng.permutation(n_groups)
    for g in order:
        gain = sum(abs(deficit[s]) - abs(deficit[s] - n) for s, n in parts[g])
        if gain > 0:
            is_val[g] = True
            for s, n in parts[g]:
                deficit[s] -= n

    # fix-up: move the group (or swap the pair) whose size best matches the remaining difference
    target = val_frac * group_size.sum()
    for _ in range(n_groups):
        diff = target - group_size[is_val].sum()  # > 0: val needs more
        if abs(diff) <= TOLERANCE * target / 4:
            break
        give = np.flatnonzero(~is_val if diff > 0 else is_val)  # the side that has too much
        take = np.flatnonzero(is_val if diff > 0 else ~is_val)
        gain = abs(diff) - np.abs(abs(diff) - group_size[give])  # how much closer each move gets
        if len(give) > 1 and gain.max() > 0:  # (a move never empties a side)
            best = give[np.argmax(gain + rng.random(len(give)) * 1e-3)]  # seeded tie-break
            is_val[best] = not is_val[best]
            continue
        if len(give) == 0 or len(take) == 0:
            break
        # no single move helps: swap a pair, give[i] one way and take[j] the other (capped sample)
        gi = rng.permutation(give)[:2000]
        tj = rng.permutation(take)[:2000]
        delta = group_size[gi][:, None] - group_size[tj][None, :]  # (I, J) how much the swap moves
        swap_gain = abs(diff) - np.abs(abs(diff) - delta)
        i, j = np.unravel_index(np.argmax(swap_gain), swap_gain.shape)
        if swap_gain[i, j] <= 0:
            break
        is_val[gi[i]] = not is_val[gi[i]]
        is_val[tj[j]] = not is_val[tj[j]]
    # tiny corpora: make sure both sides hold something
    if not is_val.any():
        is_val[order[0]] = True
    if is_val.all():
        is_val[order[0]] = False
    return is_val


def _write_all(files: dict[Path, bytes]) -> None:
    """Write every file to a temp file first, then rename them all: no half-written split."""
    tmps = {}
    try:
        for path, data in files.items():
            tmps[path] = write_temp(path, data)
        for path, tmp in tmps.items():
            os.replace(tmp, path)
    except BaseException:
        for tmp in tmps.values():
            if os.path.exists(tmp):
                os.unlink(tmp)
        raise


def split_owner(out_dir) -> str:
    """Who wrote the split in out_dir: 'absent' (no train.txt, val.txt, split.json), 'ours' (its
    split.json says proofgpt wrote it) or 'user' (anything else: never written over)."""
    out_dir = Path(out_dir)
    if not any((out_dir / name).exists() for name in ("train.txt", "val.txt", "split.json")):
        return "absent"
    try:
        m = json.loads((out_dir / "split.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return "user"
    # split.json files from before the mark carry the input's sha256 and the stratification
    ours = isinstance(m, dict) and (m.get("written_by") == "proofgpt" or {"input_sha256", "stratified_by"} <= m.keys())
    return "ours" if ours else "user"


def split_corpus(input_path=paths.CORPUS, out_dir=paths.DATA_DIR, seed: int = 0, val_frac: float = 0.1,
                 blocks=None) -> dict:
    """Split `input_path` into out_dir/{train,val}.txt (+ meta sidecars) and out_dir/split.json.

    `blocks`: the corpus as `read_corpus(input_path)` already returned it (so a caller that has
    read it does not read it, and warn about its CRLF/BOM, a second time).

    Returns the manifest written to split.json, e.g.
    {"n_certificates": {"train": 9021, "val": 1003}, "val_frac_actual": 0.1000, ...}.
    """
    input_path, out_dir = Path(input_path), Path(out_dir)
    if not 0 < val_frac < 1:
        raise UserError(f"--val-frac must be between 0 and 1 (exclusive), got {val_frac}")
    if blocks is None:
        blocks = read_corpus(input_path)
    texts = [b.text for b in blocks]
    meta = read_meta(input_path)
    if meta is not None and (
        len(meta) != len(texts) or any(m.get("name") != name_of(t) for m, t in zip(meta, texts))
    ):
        warnings.warn(f"{paths.meta_path(input_path)}: does not match {input_path} certificate for certificate; ignored")
        meta = None

    outputs = {name: out_dir / name for name in ("train.txt", "val.txt", "split.json", "train.meta.jsonl", "val.meta.jsonl")}
    if input_path.resolve() in {p.resolve() for p in outputs.values()}:
        raise UserError(f"{input_path}: the input would be overwritten by the split; choose another --out-dir")
    if split_owner(out_dir) == "user":
        mine = next(out_dir / n for n in ("train.txt", "val.txt", "split.json") if (out_dir / n).exists())
        raise UserError(f"{mine}: not written by proofgpt (no proofgpt split.json beside it); refusing to replace "
                        f"it; move it away or choose another output directory")

    # groups of identical theorem statements, and each group's stratum (its first member's)
    n_chars = np.array([len(t) for t in texts], dtype=np.int64)
    if meta is not None:
        strata = [f"{m.get('structure', '?')}×{m.get('family', '?')}" for m in meta]
        stratified_by = "structure×family"
    else:
        strata = _length_strata(n_chars)
        stratified_by = "length"
    group_of, n_lemma_links = _groups(texts)
    n_groups = int(group_of.max()) + 1
    if n_groups < 2:
        raise UserError(f"{input_path}: only one distinct theorem statement; a split needs at least two")
    stratum_names = sorted(set(strata))
    stratum_id = {s: i for i, s in enumerate(stratum_names)}
    cert_stratum = np.array([stratum_id[s] for s in strata], dtype=np.int64)

    rng = np.random.default_rng(seed)
    is_val = _assign(group_of, cert_stratum, n_chars + 2, val_frac, rng)[group_of]  # per certificate

    sides = {"train": np.flatnonzero(~is_val), "val": np.flatnonzero(is_val)}
    files, n_bytes, n_chars_side = {}, {}, {}
    for side, idx in sides.items():
        text = "\n\n".join(texts[i] for i in idx) + "\n"
        data = text.encode("utf-8")
        files[outputs[f"{side}.txt"]] = data
        n_bytes[side], n_chars_side[side] = len(data), len(text)
        if meta is not None:
            files[outputs[f"{side}.meta.jsonl"]] = "".join(json.dumps(meta[i]) + "\n" for i in idx).encode("utf-8")
    per_stratum = {s: {"train": 0, "val": 0} for s in stratum_names}
    for s, v in zip(strata, is_val):
        per_stratum[s]["val" if v else "train"] += 1
    total_chars = n_chars_side["train"] + n_chars_side["val"]
    manifest = {
        "written_by": "proofgpt",  # split_owner: this split may be replaced; any other is the user's
        "input": str(input_path),
        "input_sha256": sha256_file(input_path),
        "seed": seed,
        "val_frac": val_frac,
        "val_frac_actual": n_chars_side["val"] / total_chars,  # by characters, separators included
        "n_bytes": n_bytes,
        "n_chars": n_chars_side,
        "n_certificates": {side: len(idx) for side, idx in sides.items()},
        "n_groups": n_groups,
        "n_lemma_links": n_lemma_links,  # certificates joined to an earlier one they cite
        "strata": per_stratum,
        "stratified_by": stratified_by,
        "meta": meta is not None,
        "train_sha256": sha256_bytes(files[outputs["train.txt"]]),
        "val_sha256": sha256_bytes(files[outputs["val.txt"]]),
    }
    files[outputs["split.json"]] = (json.dumps(manifest, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode("utf-8")
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        _write_all(files)
    except OSError as e:
        raise UserError(f"{out_dir}: cannot write the split there ({e.strerror or e})") from None
    if meta is None:  # stale sidecars from an earlier split with meta would no longer match
        for side in ("train", "val"):
            stale = outputs[f"{side}.meta.jsonl"]
            if stale.exists():
                stale.unlink()
    return manifest


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="proofgpt data split", description=__doc__.split("\n\n")[0])
    parser.add_argument("--input", default=str(paths.CORPUS), help="corpus to split (default: %(default)s)")
    parser.add_argument("--out-dir", default=str(paths.DATA_DIR), help="where train.txt, val.txt, split.json go (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the group shuffle (default: %(default)s)")
    parser.add_argument("--val-frac", type=float, default=0.1, help="fraction of characters for val (default: %(default)s)")
    args = parser.parse_args(argv)
    m = split_corpus(args.input, args.out_dir, seed=args.seed, val_frac=args.val_frac)
    print_summary(m)
    return 0


def print_summary(m: dict, file=sys.stdout) -> None:
    n, b = m["n_certificates"], m["n_bytes"]
    print(f"split {m['input']} (seed {m['seed']}, stratified by {m['stratified_by']}, {m['n_groups']:,} groups that stay together)", file=file)
    print(f"  train {n['train']:>7,} certificates {b['train']:>11,} bytes", file=file)
    print(f"  val   {n['val']:>7,} certificates {b['val']:>11,} bytes", file=file)
    err = m["val_frac_actual"] / m["val_frac"] - 1
    print(f"  val share {m['val_frac_actual']:.4%} of characters (target {m['val_frac']:.1%}, off by {err:+.2%} of it)", file=file)
