"""Corpus statistics: counts, distributions, markers and bytes of a certificate corpus.

One function, `corpus_stats`, serves `python -m proofgpt data stats FILE` (as tables and ASCII
histograms, or JSON) and notebook 01 (as plots): counts by structure x family, per-certificate
length, steps and term size with their summaries and histograms, distinct statement classes,
marker and tactic counts, the byte distribution and the entropy figures; and, where the meta
sidecar has `shortest` (val and the test sets after `make data`), the blind search baseline's
shortest proofs and its solve rate by proof length. Its byte part, `byte_stats`, takes any byte
string (notebook 01 shows it for a data.format=text run too). Also the text similarity that retrieval and
the memorization check share: character n-gram sets, Jaccard, nearest neighbour, distinct-n.

    python -m proofgpt data stats data/training.txt [--json]
"""

import argparse
import json
import re
import warnings
from collections import Counter

import numpy as np

from proofgpt.certificate import Block, read_corpus, read_meta, statement_class_of, statement_of, structure_of
from proofgpt.generate import entropy_bound_bpb

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


def statement_class_key(text: str):
    """certificate.statement_class_of, or the statement text when it does not parse."""
    try:
        return statement_class_of(text)
    except ValueError:
        return statement_of(text)


def baseline_by_steps(meta) -> dict:
    """The baseline's solve rate by proof length from meta `shortest` (None: not found):
    [{'steps': 3, 'shortest': 2}, {'steps': 3, 'shortest': None}] -> {3: {'total': 2, 'found': 1}}"""
    out = {}
    for m in sorted(meta, key=lambda m: m["steps"]):
        row = out.setdefault(m["steps"], {"total": 0, "found": 0})
        row["total"] += 1
        row["found"] += m["shortest"] is not None
    return out


def byte_stats(data: bytes, top_bytes: int = 16) -> dict:
    """What any byte string holds, certificates or not: size, lines, the byte histogram, distinct
    bytes, the unigram entropy and the most frequent bytes.

    byte_stats(b"aab\n")["unigram_bpb"] -> 1.5 (p = 1/2, 1/4, 1/4); ["n_distinct_bytes"] -> 3; ["n_lines"] -> 1
    """
    freq = np.bincount(np.frombuffer(data, dtype=np.uint8), minlength=256)
    p = freq[freq > 0] / max(1, len(data))
    top = np.argsort(-freq, kind="stable")[:top_bytes]
    return dict(
        n_file_bytes=len(data),
        n_lines=data.count(b"\n"),
        byte_counts=freq.tolist(),
        n_distinct_bytes=int((freq > 0).sum()),
        unigram_bpb=float(-(p * np.log2(p)).sum()),
        byte_top=[dict(byte=int(b), char=repr(chr(b)) if b < 128 else f"0x{b:02x}", count=int(freq[b]),
                       frac=float(freq[b] / max(1, len(data)))) for b in top if freq[b]],
    )


def corpus_stats(blocks, meta=None, top_bytes: int = 16) -> dict:
    """Counts, distributions, markers and byte frequencies of a corpus (Blocks or strings).

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
        structures.append(m.get("structure") or structure_of(text))
        families.append(m.get("family", "unknown"))

    n_bytes = [len(t.encode("utf-8")) for t in texts]
    file_bytes = ("\n\n".join(texts) + "\n").encode("utf-8")  # the canonical file these blocks make
    n_chars = sum(len(t) for t in texts)
    stats = dict(
        n_certificates=len(texts),
        n_classes=len({statement_class_key(t) for t in texts}),
        n_chars=n_chars,
        n_bytes=sum(n_bytes),
        bytes_per_char=sum(n_bytes) / max(1, n_chars),
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
        **byte_stats(file_bytes, top_bytes),
    )
    if meta is not None and all("log2p" in m for m in meta):
        stats["entropy_bound_bpb"] = entropy_bound_bpb(meta, len(file_bytes))
    if meta is not None and all("shortest" in m for m in meta):
        found = [m["shortest"] for m in meta if m["shortest"] is not None]
        stats["cert_shortest"] = [m["shortest"] for m in meta]
        stats["shortest_hist"] = histogram(found)
        stats["baseline_found_frac"] = len(found) / max(1, len(meta))
        stats["baseline_by_steps"] = baseline_by_steps(meta)
    return stats


# --------------------------------------------------------------------------------------------
# text similarity (retrieval and memorization)


def shingles(text: str, n: int = 5) -> set:
    """Character n-grams: shingles("abcdef", 5) -> {"abcde", "bcdef"}; shorter text -> {text}."""
    if len(text) <= n:
        return {text}
    return {text[i:i + n] for i in range(len(text) - n + 1)}


def jaccard(a: set, b: set) -> float:
    """|a & b| / |a | b|: jaccard({1, 2}, {2, 3}) = 1/3."""
    inter = len(a & b)
    return inter / (len(a) + len(b) - inter) if (a or b) else 1.0


def nearest(sh: set, candidates: list) -> tuple[float, int | None]:
    """(similarity, index) of the candidate shingle set most similar to sh; the first one on ties."""
    best, best_i = 0.0, None
    for i, c in enumerate(candidates):
        s = jaccard(sh, c)
        if s > best:
            best, best_i = s, i
    return best, best_i


def distinct_n(texts, n: int) -> float:
    """Unique word n-grams / all word n-grams over all texts (Li et al. 2016): 1.0 = no repeats.

    distinct_n(["a b a b"], 2) = 2/3 ("a b", "b a", "a b").
    """
    grams = []
    for t in texts:
        words = t.split()
        grams += [tuple(words[i:i + n]) for i in range(len(words) - n + 1)]
    return len(set(grams)) / len(grams) if grams else 0.0


def _bar_rows(hist, width: int = 40) -> list[str]:
    peak = max((c for _, _, c in hist), default=1) or 1
    label = lambda lo, hi: f"{lo}" if lo == hi else f"{lo}-{hi}"  # noqa: E731
    return [f"  {label(lo, hi):>11} | {'#' * round(width * c / peak):<{width}} {c:,}" for lo, hi, c in hist]


def format_stats(stats: dict, title: str = "corpus") -> str:
    """The stats dict as readable tables and ASCII histograms."""
    out = [
        f"{title}: {stats['n_certificates']:,} certificates, {stats['n_chars']:,} chars, "
        f"{stats['n_file_bytes']:,} bytes (structure/family from {stats['labels_from']})",
        f"distinct statement classes: {stats['n_classes']:,} (same structure, statement up to renaming and swapped sides)",
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
    if "baseline_by_steps" in stats:
        out += ["", f"blind search baseline (BFS, goals budget only): found a proof for {stats['baseline_found_frac']:.1%}; "
                "shortest proof found (rewrites):"]
        out += _bar_rows(stats["shortest_hist"])
        out += ["by proof length (tactic lines, rfl included): found / total"]
        out += [f"  {k:>11} | {v['found']:,} / {v['total']:,} ({v['found'] / v['total']:.0%})"
                for k, v in stats["baseline_by_steps"].items()]
    mk = stats["markers"]
    out += ["", "markers: " + "  ".join(f"{k} {v:,}" for k, v in mk.items())]
    n_tac = max(1, sum(stats["tactics"].values()))
    out.append("tactics: " + "  ".join(f"{k} {v:,} ({v / n_tac:.1%})" for k, v in stats["tactics"].items()))
    out += ["", "top bytes:"]
    out += [f"  {b['char']:>6} {b['count']:>10,}  {b['frac']:6.2%}" for b in stats["byte_top"]]
    out += ["", f"unigram entropy: {stats['unigram_bpb']:.4f} bits/byte"]
    if "entropy_bound_bpb" in stats:
        out.append(f"entropy bound (generator's choices): {stats['entropy_bound_bpb']:.4f} bits/byte, an upper bound on "
                   "the generator's per-byte entropy (not a floor no model can beat)")
    return "\n".join(out)


def main(argv=None) -> int:
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
