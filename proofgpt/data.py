"""Reading certificate corpora: text, blocks, the generator's meta sidecar, stats.

A corpus is UTF-8 text of certificates separated by blank lines (README.md, "Certificate format").
`read_corpus` accepts any such file, the user's own included; CRLF line ends and a leading
BOM are normalised with a warning, everything else that is wrong is a one-line `UserError`
naming the file and the line or byte offset.

    >>> blocks = split_blocks("@T a : x = x\\n@G x = x\\nrfl\\nqed\\n\\n@T b : ...\\n")
    >>> [(b.line, b.text.splitlines()[0]) for b in blocks]
    [(1, '@T a : x = x'), (6, '@T b : ...')]

`corpus_stats` / `python -m proofgpt data stats FILE`: counts by structure × family, length,
step and term-size histograms, marker and tactic counts, the most frequent bytes (one pass,
~1 s for the 3.68M-char corpus). `prepare` / `python -m proofgpt data prepare` (= `make data`):
generate data/training.txt when it is absent or ours (never a user's file), check it, split
it, and print verified %, the entropy bound, packing efficiency and generate/check speeds;
the numbers also go to data/prepare.json.
"""

import argparse
import json
import re
import sys
import time
import warnings
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from proofgpt import paths
from proofgpt.errors import UserError
from proofgpt.io import atomic_write_json, sha256_file
from proofgpt.paths import manifest_path, meta_path


@dataclass(frozen=True)
class Block:
    """One certificate as it stands in the file: its text (no trailing newline) and first line number."""

    text: str
    line: int


# The longest line a corpus may hold. Generated certificates are <= 2,048 bytes in all; a line of
# a megabyte is a file that is not a corpus (or a corrupted one), refused before the checker
# spends ~0.25 s per MB on it.
MAX_LINE_BYTES = 1 << 20


def longest_line(raw: bytes) -> tuple[int, int]:
    """(length in bytes, 1-based line number) of the longest line: b"ab\\nabcd\\n" -> (4, 2)."""
    if len(raw) <= MAX_LINE_BYTES:  # cannot exceed the limit: skip the scan
        return 0, 1
    b = np.frombuffer(raw, dtype=np.uint8)
    breaks = np.flatnonzero((b == 10) | (b == 13))  # CR alone ends a line too (normalised later)
    starts = np.concatenate(([0], breaks + 1))
    ends = np.concatenate((breaks, [len(raw)]))
    i = int(np.argmax(ends - starts))
    return int(ends[i] - starts[i]), raw.count(b"\n", 0, int(starts[i])) + 1


def read_text(path) -> str:
    """Read a corpus file as normalised text ('\\n' line ends, no BOM), or raise a one-line UserError."""
    path = Path(path)
    if not path.exists():
        raise UserError(f"{path}: no such file")
    if path.is_dir():
        raise UserError(f"{path}: is a directory, expected a text file of certificates")
    raw = path.read_bytes()
    n_bom = 3 if raw.startswith(b"\xef\xbb\xbf") else 0  # offsets below count from the file's first byte
    longest, line = longest_line(raw)
    if longest > MAX_LINE_BYTES:  # refused before any per-line work (a 100 MB line: ~0.3 s, not minutes)
        raise UserError(f"{path}:{line}: a line of {longest:,} bytes (certificate lines are short; the limit is "
                        f"{MAX_LINE_BYTES:,}); is this a certificate corpus?")
    if n_bom:
        warnings.warn(f"{path}: removed a leading UTF-8 byte-order mark")
        raw = raw[n_bom:]
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        line = raw.count(b"\n", 0, e.start) + 1
        raise UserError(f"{path}:{line}: invalid UTF-8 at byte offset {e.start + n_bom}") from None
    nul = raw.find(b"\x00")
    if nul >= 0:
        line = raw.count(b"\n", 0, nul) + 1
        raise UserError(f"{path}:{line}: NUL byte at byte offset {nul + n_bom}")
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


# ---------------------------------------------------------------------------------------------
# corpus statistics: `python -m proofgpt data stats FILE` (the notebooks plot the same dict)

MARKERS = ("@T", "@C", "@P", "@G")
# one node per constant/variable, per operator application; parentheses and '=' are not nodes
_NODE = re.compile(r"[a-z][a-z0-9_]*|[01⊤⊥]|⁻¹|ᶜ|[-*+⊓⊔]")


def term_size(side: str) -> int:
    """Node count of a printed term: 'a⁻¹ * (b * c)' -> 6 (a, ⁻¹, *, b, *, c)."""
    return len(_NODE.findall(side))


def tactic_kind(line: str) -> str:
    """'rw [← one_mul b]' -> 'rw ←', 'rw [h1]' -> 'rw', 'symm' -> 'symm', 'rfl' -> 'rfl'."""
    if line.startswith("rw [← "):
        return "rw ←"
    if line.startswith("rw ["):
        return "rw"
    return line.split(" ", 1)[0] if line in ("symm", "rfl") else "other"


def _structure_of(text: str) -> str:
    from proofgpt.split import structure_of

    return structure_of(text)


def histogram(values, n_bins: int = 12) -> list[tuple[int, int, int]]:
    """Integer bins of equal width over [min, max] -> [(lo, hi inclusive, count), ...].

    histogram([1, 2, 2, 9], n_bins=2) -> [(1, 5, 3), (6, 10, 1)]

    A long tail (max > 1.5 × the 99th percentile) gets one last bin of its own, (p99+1, max, n),
    so the bulk keeps its resolution.
    """
    values = np.asarray(values, dtype=np.int64)
    if len(values) == 0:
        return []
    lo, hi = int(values.min()), int(values.max())
    p99 = int(np.percentile(values, 99))
    tail = hi > 1.5 * p99 and p99 > lo
    top = p99 if tail else hi
    width = max(1, -(-(top - lo + 1) // n_bins))
    bulk = values[values <= top]
    counts = np.bincount((bulk - lo) // width)
    rows = [(lo + i * width, lo + (i + 1) * width - 1, int(c)) for i, c in enumerate(counts)]
    if tail:
        rows.append((top + 1, hi, int((values > top).sum())))
    return rows


def _summary(values) -> dict:
    v = np.asarray(values, dtype=np.float64)
    if len(v) == 0:
        return dict(min=0, median=0, mean=0.0, max=0)
    return dict(min=int(v.min()), median=float(np.median(v)), mean=float(v.mean()), max=int(v.max()))


def corpus_stats(blocks, meta=None, top_bytes: int = 16) -> dict:
    """Counts, histograms, markers and byte frequencies of a corpus (Blocks or strings).

    Structure/family/steps/term size come from the meta sidecar when given, else they are
    parsed from the text (family is then 'unknown'). For the spec's left_cancel example:
    corpus_stats([LEFT_CANCEL])["markers"] -> {"@T": 1, "@C": 2, "@P": 4, "@G": 8, "tactic": 8, "qed": 1}
    """
    texts = [b.text if isinstance(b, Block) else b for b in blocks]
    if meta is not None and len(meta) != len(texts):
        warnings.warn(f"meta has {len(meta)} rows for {len(texts)} certificates; ignored")
        meta = None
    markers = dict.fromkeys(MARKERS, 0) | {"tactic": 0, "qed": 0}
    tactics: Counter = Counter()
    steps, term_sizes, structures, families = [], [], [], []
    for i, text in enumerate(texts):
        n_steps, size = 0, 0
        for line in text.split("\n"):
            head = line[:2]
            if head in markers:
                markers[head] += 1
                if head == "@G" and meta is None:
                    size = max([size] + [term_size(side) for side in line[3:].split(" = ")])
            elif line == "qed":
                markers["qed"] += 1
            else:
                markers["tactic"] += 1
                tactics[tactic_kind(line)] += 1
                n_steps += 1
        m = meta[i] if meta is not None else {}
        steps.append(int(m.get("steps", n_steps)))
        term_sizes.append(int(m.get("term_size", size)))
        structures.append(m.get("structure") or _structure_of(text))
        families.append(m.get("family", "unknown"))

    n_bytes = [len(t.encode("utf-8")) for t in texts]
    file_bytes = ("\n\n".join(texts) + "\n").encode("utf-8")  # the canonical file these blocks make
    freq = np.bincount(np.frombuffer(file_bytes, dtype=np.uint8), minlength=256)
    top = np.argsort(-freq, kind="stable")[:top_bytes]
    stats = dict(
        n_certificates=len(texts),
        n_chars=sum(len(t) for t in texts),
        n_bytes=sum(n_bytes),
        n_file_bytes=len(file_bytes),
        labels_from="meta" if meta is not None else "text",
        by_structure=dict(Counter(structures).most_common()),
        by_family=dict(Counter(families).most_common()),
        by_structure_family=dict(Counter(f"{s}×{f}" for s, f in zip(structures, families)).most_common()),
        cert_n_bytes=n_bytes,
        cert_steps=steps,
        cert_term_size=term_sizes,
        length=_summary(n_bytes),
        steps=_summary(steps),
        term_size=_summary(term_sizes),
        length_hist=histogram(n_bytes),
        steps_hist=histogram(steps),
        term_size_hist=histogram(term_sizes),
        markers=markers,
        tactics=dict(tactics.most_common()),
        byte_top=[
            dict(byte=int(b), char=repr(chr(b)) if b < 128 else f"0x{b:02x}", count=int(freq[b]), frac=float(freq[b] / max(1, len(file_bytes))))
            for b in top
            if freq[b]
        ],
    )
    if meta is not None and all("log2p" in m for m in meta):
        stats["entropy_bound_bpb"] = -sum(sum(m["log2p"]) for m in meta) / max(1, len(file_bytes))
    return stats


def _bar_rows(hist, width: int = 40) -> list[str]:
    peak = max((c for _, _, c in hist), default=1) or 1
    label = lambda lo, hi: f"{lo}" if lo == hi else f"{lo}-{hi}"  # noqa: E731
    return [f"  {label(lo, hi):>11} | {'#' * round(width * c / peak):<{width}} {c:,}" for lo, hi, c in hist]


def format_stats(stats: dict, title: str = "corpus") -> str:
    """The stats dict as readable tables and ASCII histograms."""
    out = [
        f"{title}: {stats['n_certificates']:,} certificates, {stats['n_chars']:,} chars, "
        f"{stats['n_file_bytes']:,} bytes (structure/family from {stats['labels_from']})",
        "",
    ]
    # structure × family table
    fams = list(stats["by_family"])
    width = max([9] + [len(s) for s in stats["by_structure"]])
    out.append(f"{'structure':<{width}} " + " ".join(f"{f:>10}" for f in fams) + f" {'total':>8}")
    for s, total in stats["by_structure"].items():
        cells = " ".join(f"{stats['by_structure_family'].get(f'{s}×{f}', 0):>10,}" for f in fams)
        out.append(f"{s:<{width}} {cells} {total:>8,}")
    out.append(f"{'total':<{width}} " + " ".join(f"{stats['by_family'][f]:>10,}" for f in fams) + f" {stats['n_certificates']:>8,}")
    for key, label in (("length", "length (bytes)"), ("steps", "steps (tactic lines)"), ("term_size", "term size (nodes)")):
        s = stats[key]
        out += ["", f"{label}: min {s['min']}, median {s['median']:.0f}, mean {s['mean']:.1f}, max {s['max']}"]
        out += _bar_rows(stats[f"{key}_hist"])
    mk = stats["markers"]
    out += ["", "markers: " + "  ".join(f"{k} {v:,}" for k, v in mk.items())]
    n_tac = max(1, sum(stats["tactics"].values()))
    out.append("tactics: " + "  ".join(f"{k} {v:,} ({v / n_tac:.1%})" for k, v in stats["tactics"].items()))
    out += ["", "top bytes:"]
    out += [f"  {b['char']:>6} {b['count']:>10,}  {b['frac']:6.2%}" for b in stats["byte_top"]]
    if "entropy_bound_bpb" in stats:
        out += ["", f"entropy bound (generator's choices): {stats['entropy_bound_bpb']:.4f} bits/byte"]
    return "\n".join(out)


def stats_main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="proofgpt data stats", description="Counts, histograms, markers and byte frequencies of a corpus.")
    parser.add_argument("file", help="a corpus file of certificates (its .meta.jsonl sidecar is used when present)")
    parser.add_argument("--top", type=int, default=16, help="how many of the most frequent bytes to list (default: %(default)s)")
    parser.add_argument("--json", action="store_true", help="print the stats as JSON instead of tables")
    args = parser.parse_args(argv)
    blocks = read_corpus(args.file)
    stats = corpus_stats(blocks, read_meta(args.file), top_bytes=args.top)
    if args.json:
        print(json.dumps(stats, ensure_ascii=False))
    else:
        print(format_stats(stats, title=args.file))
    return 0


# ---------------------------------------------------------------------------------------------
# `python -m proofgpt data prepare` (= `make data`): generate if absent or ours, check, split, pack


def _read_manifest(corpus: Path) -> dict | None:
    try:
        return json.loads(manifest_path(corpus).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def corpus_owner(corpus) -> str:
    """'absent', 'ours' (sha256 equals the generator's manifest) or 'user' (anything else)."""
    corpus = Path(corpus)
    if not corpus.exists():
        return "absent"
    manifest = _read_manifest(corpus)
    if manifest and manifest.get("generator") == "proofgpt" and manifest.get("sha256") == sha256_file(corpus):
        return "ours"
    return "user"


def prepare(seed: int = 0, n_chars: int = 3_680_000, ctx: int = 512, corpus=None, out_dir=None, progress: bool = True) -> dict:
    """Generate (when absent, or ours with another seed/size/generator version), check, split and pack; print and return the numbers.

    A data/training.txt the generator did not write is the user's: it is read, never touched.
    """
    from proofgpt import check, generate, pack, split

    corpus = Path(corpus or paths.CORPUS)
    out_dir = Path(out_dir or corpus.parent)
    result: dict = dict(corpus=str(corpus), seed=seed, ctx=ctx)
    owner = corpus_owner(corpus)
    manifest = _read_manifest(corpus)
    if owner == "user":
        print(f"using your {corpus} (not generated by proofgpt)")
    elif (owner == "absent" or manifest.get("seed") != seed or manifest.get("chars") != n_chars
          or manifest.get("version") != generate.GENERATOR_VERSION):
        if owner == "absent":
            why = "absent"
        elif manifest.get("version") != generate.GENERATOR_VERSION:
            why = f"ours, but written by generator version {manifest.get('version')}, now {generate.GENERATOR_VERSION}"
        else:
            why = f"ours, but seed/chars {manifest.get('seed')}/{manifest.get('chars')} != {seed}/{n_chars}"
        print(f"generating {corpus} ({why}): seed {seed}, {n_chars:,} chars")
        t0 = time.perf_counter()
        manifest = generate.write_corpus(corpus, seed=seed, n_chars=n_chars, progress=progress)
        result["generate_s"] = time.perf_counter() - t0
        result["generate_chars_per_s"] = n_chars / result["generate_s"]
        result["generated"] = True
    else:
        print(f"reusing {corpus} (generated by proofgpt, seed {seed}, {n_chars:,} chars; sha256 matches its manifest)")
        n_sample = min(n_chars, 200_000)  # time a sample so the speed is printed on every run
        t0 = time.perf_counter()
        generate.generate_corpus(seed=seed, n_chars=n_sample)
        result["generate_s"] = time.perf_counter() - t0
        result["generate_chars_per_s"] = n_sample / result["generate_s"]
        result["generated"] = False
    result["owner"] = "user" if owner == "user" else "ours"

    blocks = read_corpus(corpus)
    n_corpus_chars = sum(len(b.text) for b in blocks)
    t0 = time.perf_counter()
    report = check.check_corpus(blocks, progress=progress)
    result["check_s"] = time.perf_counter() - t0
    result["check_chars_per_s"] = n_corpus_chars / result["check_s"]
    result["n_certificates"] = len(blocks)
    result["verified_frac"] = report.verified_frac
    result["structural_frac"] = report.structural_frac
    if result["owner"] == "user":
        result["steps_verified_frac"] = check.check_corpus(blocks, trust_premises=True, progress=progress).verified_frac

    meta = read_meta(corpus)
    if result["owner"] == "ours" and meta is not None:
        result["entropy_bound_bpb"] = generate.entropy_bound_bpb(meta, corpus.stat().st_size)

    split_manifest = split.split_corpus(corpus, out_dir, seed=seed, blocks=blocks)
    result["split"] = {k: split_manifest[k] for k in ("n_certificates", "n_bytes", "val_frac_actual", "stratified_by")}

    train_texts = [b.text for b in read_corpus(out_dir / "train.txt")]
    result["packing"] = {}
    for c in sorted({512, 1024, ctx}):
        t0 = time.perf_counter()
        packed = pack.pack_proofs(train_texts, ctx=c)
        s = packed.stats
        result["packing"][c] = dict(efficiency=s["efficiency"], efficiency_bound=s["efficiency_bound"], n_rows=s["n_rows"],
                                    n_split=s["n_split"], pack_s=time.perf_counter() - t0)

    _print_prepare(result, report)
    atomic_write_json(out_dir / "prepare.json", result)
    return result


def _print_prepare(r: dict, report) -> None:
    pct = f"{r['verified_frac']:.2%}"
    print(f"\n{r['corpus']}: {r['n_certificates']:,} certificates ({r['owner']})")
    print(f"  verified           {pct}  ({report.counts.get('verified', 0):,} of {report.counts.get('total', r['n_certificates']):,}; structurally valid {r['structural_frac']:.2%})")
    if "steps_verified_frac" in r:
        print(f"  steps verified     {r['steps_verified_frac']:.2%}  (--trust-premises: every @P taken as given)")
    if r["owner"] == "ours" and r["verified_frac"] < 1.0:
        print("  WARNING: the generated corpus should verify 100 %; see `python -m proofgpt check data/training.txt`")
    if "entropy_bound_bpb" in r:
        print(f"  entropy bound      {r['entropy_bound_bpb']:.4f} bits/byte (the generator's choices: a perfect model's floor)")
    else:
        print("  entropy bound      n/a (no generator meta for this file)")
    sp = r["split"]
    print(f"  split              train {sp['n_certificates']['train']:,} / val {sp['n_certificates']['val']:,} certificates, "
          f"val {sp['val_frac_actual']:.3%} of chars (stratified by {sp['stratified_by']})")
    for c, p in r["packing"].items():
        print(f"  packing ctx {c:<5}  {p['efficiency']:.2%} of row tokens are real ({p['n_rows']:,} rows, {p['n_split']:,} certificates "
              f"split; no packing of these lengths beats {p['efficiency_bound']:.2%})")
    if r["owner"] == "user":
        gen = "generate: not run (your data)"
    else:
        how = "" if r["generated"] else " (timed on a 200k-char sample)"
        gen = f"generate {r['generate_chars_per_s']:,.0f} chars/s{how}"
    print(f"  speed              {gen}, check {r['check_chars_per_s']:,.0f} chars/s")


def prepare_main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="proofgpt data prepare", description="What `make data` runs: generate data/training.txt unless it is yours, check, split, report packing.")
    parser.add_argument("--seed", type=int, default=0, help="generator and split seed (default: %(default)s)")
    parser.add_argument("--chars", type=int, default=3_680_000, help="corpus size in characters when generating (default: %(default)s)")
    parser.add_argument("--ctx", type=int, default=512, help="context length to report packing for, besides 512 and 1024 (default: %(default)s)")
    parser.add_argument("--corpus", default=str(paths.CORPUS), help="the corpus file (default: %(default)s)")
    args = parser.parse_args(argv)
    prepare(seed=args.seed, n_chars=args.chars, ctx=args.ctx, corpus=args.corpus, progress=sys.stderr.isatty())
    return 0
