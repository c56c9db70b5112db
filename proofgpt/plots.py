"""Figures for the workbook: every function takes data and returns a matplotlib `Figure`.

Nothing here reads a file or touches pyplot's global state: figures are built with
`matplotlib.figure.Figure` directly, so a notebook shows one by returning it (after
`%matplotlib inline`), a script saves it with `fig.savefig(path)`, and a loop that draws
fifty figures leaks none of them. The trade-off: `plt.show()` does not know these figures;
in a notebook that is a feature (no figure is drawn twice). MPLBACKEND is left alone: under
papermill `MPLBACKEND=Agg` silently drops every figure from the executed report.

    >>> fig = bar_counts({"group": 3, "ring": 1}, title="by structure")
    >>> len(fig.axes)
    1
"""

import math

import numpy as np
from matplotlib.colors import ListedColormap
from matplotlib.figure import Figure

WIDTH = 9.0  # inches; one figure spans the notebook's width


def bar_counts(counts: dict, title: str = "", xlabel: str = "", ylabel: str = "count", horizontal=None) -> Figure:
    """Bar chart of {label: count}, largest first. {"a": 1, "b": 3} -> bars b, a."""
    items = sorted(counts.items(), key=lambda kv: (-kv[1], str(kv[0])))
    labels = [str(k) for k, _ in items]
    values = [v for _, v in items]
    horizontal = len(items) > 8 if horizontal is None else horizontal
    fig = Figure(figsize=(WIDTH, max(2.5, 0.28 * len(items)) if horizontal else 3.2), layout="constrained")
    ax = fig.add_subplot()
    if horizontal:
        ax.barh(labels[::-1], values[::-1], color="C0")
        ax.set_xlabel(ylabel)
        ax.set_ylabel(xlabel)
    else:
        ax.bar(labels, values, color="C0")
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
    ax.set_title(title)
    return fig


def _edges(v, bins, log_x):
    """Bin edges for values v: integer-aligned when v holds few distinct integers."""
    lo, hi = (float(v.min()), float(v.max())) if v.size else (0.0, 1.0)
    if log_x and lo > 0:
        return np.geomspace(lo, max(hi, lo * 1.01), bins + 1)
    if v.size and np.all(v == np.round(v)) and hi - lo + 1 <= bins:
        return np.arange(lo - 0.5, hi + 1.5)  # one bar per integer (steps, term sizes)
    return np.linspace(lo, hi if hi > lo else lo + 1, bins + 1)


def histograms(series: dict, title: str = "", xlabel: str = "", bins: int = 40, log_x: bool = False, share: bool = True) -> Figure:
    """One panel per named series, side by side.

    share=True: same bins and axes, densities, so {"train": [...], "val": [...]} compare
    directly; share=False: each panel its own range and counts (different quantities).
    """
    names = list(series)
    values = [np.asarray(series[n], dtype=float) for n in names]
    fig = Figure(figsize=(WIDTH, 3.0), layout="constrained")
    axes = fig.subplots(1, len(names), sharex=share, sharey=share, squeeze=False)[0]
    common = _edges(np.concatenate([v for v in values if v.size] or [np.zeros(1)]), bins, log_x)
    for i, (ax, name, v) in enumerate(zip(axes, names, values)):
        ax.hist(v, bins=common if share else _edges(v, bins, log_x), density=share and len(names) > 1, color=f"C{i}")
        if log_x:
            ax.set_xscale("log")
        mean = float(v.mean()) if v.size else float("nan")
        ax.set_title(f"{name}  (n={v.size}, mean={mean:.1f})")
        ax.set_xlabel(xlabel or name)
        ax.set_ylabel("density" if share and len(names) > 1 else "count")
    fig.suptitle(title)
    return fig


def _byte_label(b: int) -> str:
    if b == 10:
        return "\\n"
    if b == 32:
        return "SP"
    if 33 <= b < 127:
        return chr(b)
    return f"{b:02x}"


def byte_frequencies(counts, top: int = 48, title: str = "byte frequencies") -> Figure:
    """Bar chart of the `top` most frequent byte values; counts is a length-256 array.

    Non-ASCII bytes show as hex: the UTF-8 pieces of → ⁻¹ ⊓ ⊔ (e2, 81, 86, ...).
    """
    counts = np.asarray(counts, dtype=float)
    order = np.argsort(-counts, kind="stable")[:top]
    order = order[counts[order] > 0]
    frac = counts[order] / max(counts.sum(), 1.0)
    fig = Figure(figsize=(WIDTH, 3.0), layout="constrained")
    ax = fig.add_subplot()
    ax.bar(range(len(order)), 100 * frac, color="C0")
    ax.set_xticks(range(len(order)), [_byte_label(int(b)) for b in order], fontsize=7)
    n_used = int((counts > 0).sum())
    ax.set_title(f"{title}: {n_used} distinct byte values, top {len(order)} shown")
    ax.set_ylabel("% of bytes")
    return fig


def packed_rows(tokens, n_real, n_rows: int = 32, title: str = "packed rows") -> Figure:
    """Picture of packed training rows: one colour per certificate, white for padding.

    tokens: (n_rows, ctx+1) uint8, n_real: (n_rows,) real tokens per row (a prefix).
    A certificate ends after its b"\\n\\n" separator, so colours change right after one.
    """
    n_total = len(n_real)
    pick = np.unique(np.linspace(0, n_total - 1, min(n_rows, n_total)).astype(int))  # spread over the pack:
    tokens = np.asarray(tokens)[pick]  # best-fit-decreasing puts the longest certificates first
    n_real = np.asarray(n_real)[pick]
    R, W = tokens.shape  # (rows, ctx+1)
    seg = np.full((R, W), np.nan)
    for r in range(R):
        row = tokens[r, : n_real[r]]
        # a new certificate starts after each "\n\n" (the second newline closes it)
        ends = (row[1:] == 10) & (row[:-1] == 10)  # ends[i]: row[i], row[i+1] are "\n\n"
        starts = np.concatenate([[0, 0], ends.astype(int)])[: len(row)].cumsum()  # next one at i+2
        seg[r, : n_real[r]] = (starts + 7 * r) % 10  # alternate colours across rows too
    fig = Figure(figsize=(WIDTH, max(2.0, 0.18 * R + 1)), layout="constrained")
    ax = fig.add_subplot()
    cmap = ListedColormap([f"C{i}" for i in range(10)]).with_extremes(bad="white")
    ax.imshow(np.ma.masked_invalid(seg), aspect="auto", interpolation="nearest", cmap=cmap, vmin=0, vmax=9)
    eff = n_real.sum() / max(R * W, 1)
    ax.set_title(f"{title}: {R} of {n_total} rows, evenly spaced; {100 * eff:.1f}% real tokens (white = padding)")
    ax.set_xlabel("position in row")
    ax.set_ylabel("row")
    ax.set_yticks(range(R), [str(i) for i in pick], fontsize=6)
    return fig


def _series(rows, key):
    pts = [(r["step"], r[key]) for r in rows if r.get(key) is not None]
    return [p[0] for p in pts], [p[1] for p in pts]


def training_curves(metrics: list, entropy_bound_bpb: float | None = None) -> Figure:
    """Six panels from metrics.jsonl rows: loss, perplexity, bits/byte, grad norm, lr, validity %.

    Train rows ({"kind": "train", step, loss, grad_norm, lr}) and eval rows ({"kind": "eval",
    step, train_loss, val_loss, val_ppl, val_bpb, structural_pct, verified_pct}).
    """
    train = [r for r in metrics if r.get("kind") == "train"]
    evals = [r for r in metrics if r.get("kind") == "eval"]
    stops = [r for r in metrics if r.get("kind") == "stop"]
    fig = Figure(figsize=(WIDTH + 3, 6.0), layout="constrained")
    axes = fig.subplots(2, 3)
    ax = axes[0, 0]
    ax.plot(*_series(train, "loss"), color="C0", alpha=0.35, lw=0.8, label="train (step)")
    ax.plot(*_series(evals, "train_loss"), "o-", color="C0", ms=3, label="train (eval)")
    ax.plot(*_series(evals, "val_loss"), "o-", color="C1", ms=3, label="val")
    ax.axhline(math.log(256), color="grey", ls=":", lw=1, label="ln 256 (uniform)")
    ax.set_title("loss (nats/byte)")
    ax.legend(fontsize=7)
    ax = axes[0, 1]
    ax.plot(*_series(evals, "val_ppl"), "o-", color="C1", ms=3)
    ax.set_title("val perplexity")
    ax = axes[0, 2]
    ax.plot(*_series(evals, "val_bpb"), "o-", color="C1", ms=3, label="val bits/byte")
    if entropy_bound_bpb is not None:
        ax.axhline(entropy_bound_bpb, color="k", ls="--", lw=1, label=f"entropy bound {entropy_bound_bpb:.3f}")
    ax.set_title("bits per byte")
    ax.legend(fontsize=7)
    ax = axes[1, 0]
    ax.plot(*_series(train, "grad_norm"), color="C2", lw=0.8)
    ax.set_title("grad norm (before clipping)")
    ax = axes[1, 1]
    ax.plot(*_series(train, "lr"), color="C3", lw=1)
    ax.set_title("learning rate")
    ax = axes[1, 2]
    ax.plot(*_series(evals, "structural_pct"), "o-", ms=3, color="C4", label="structural %")
    ax.plot(*_series(evals, "verified_pct"), "o-", ms=3, color="C5", label="verified %")
    ax.set_ylim(-2, 102)
    if not any(r.get("verified_pct") is not None for r in evals):
        ax.text(0.5, 0.5, "no validity monitor in this run", ha="center", va="center", transform=ax.transAxes, color="grey")
    ax.set_title("validity of samples")
    ax.legend(fontsize=7)
    for ax in axes.flat:
        ax.set_xlabel("step")
        for s in stops:
            ax.axvline(s["step"], color="red", lw=0.8, alpha=0.6)
    if stops:
        fig.suptitle(f"stopped at step {stops[-1]['step']}: {stops[-1].get('reason', '')}", fontsize=9)
    return fig


def sweep_curves(curves: dict, entropy_bound_bpb: float | None = None) -> Figure:
    """A sweep's points overlaid: val loss (train loss dashed) and val bits/byte against the step.

    curves: {point name: metrics.jsonl rows}; one colour per point.
    """
    fig = Figure(figsize=(WIDTH + 3, 3.6), layout="constrained")
    ax_loss, ax_bpb = fig.subplots(1, 2)
    for i, (name, metrics) in enumerate(curves.items()):
        evals = [r for r in metrics if r.get("kind") == "eval"]
        ax_loss.plot(*_series(evals, "val_loss"), "o-", color=f"C{i % 10}", ms=3, label=name)
        ax_loss.plot(*_series(evals, "train_loss"), "--", color=f"C{i % 10}", lw=0.8, alpha=0.7)
        ax_bpb.plot(*_series(evals, "val_bpb"), "o-", color=f"C{i % 10}", ms=3, label=name)
    if entropy_bound_bpb is not None:
        ax_bpb.axhline(entropy_bound_bpb, color="k", ls="--", lw=1, label=f"entropy bound {entropy_bound_bpb:.3f}")
    ax_loss.set_title("val loss (train loss dashed), nats/byte")
    ax_bpb.set_title("val bits per byte")
    for ax in (ax_loss, ax_bpb):
        ax.set_xlabel("step")
        ax.legend(fontsize=7)
    return fig


def sampling_sweep(rows: list, metric: str = "verified_pct") -> Figure:
    """Verified % against temperature, one line per top-p.

    rows: [{"temperature": 0.8, "top_p": 0.9, "verified_pct": 41.0, "structural_pct": ...}, ...]
    """
    fig = Figure(figsize=(WIDTH, 3.2), layout="constrained")
    axes = fig.subplots(1, 2)
    for ax, key in zip(axes, (metric, "structural_pct")):
        for i, p in enumerate(sorted({r["top_p"] for r in rows})):
            pts = sorted((r["temperature"], r[key]) for r in rows if r["top_p"] == p and key in r)
            ax.plot([t for t, _ in pts], [v for _, v in pts], "o-", color=f"C{i}", label=f"top-p {p:g}")
        ax.set_xlabel("temperature")
        ax.set_ylabel(key.replace("_pct", " %"))
        ax.set_ylim(-2, 102)
        ax.legend(fontsize=7)
    fig.suptitle("completions of val theorems against sampling settings")
    return fig


def pass_at_k(values: dict, title: str = "pass@k (verified)") -> Figure:
    """Line of pass@k in % against k. {1: 20.0, 4: 45.0} -> two points."""
    ks = sorted(int(k) for k in values)
    fig = Figure(figsize=(WIDTH / 2, 3.0), layout="constrained")
    ax = fig.add_subplot()
    ax.plot(ks, [values[k] if k in values else values[str(k)] for k in ks], "o-")
    ax.set_xscale("log", base=2)
    ax.set_xticks(ks, [str(k) for k in ks])
    ax.set_ylim(-2, 102)
    ax.set_xlabel("k")
    ax.set_ylabel("%")
    ax.set_title(title)
    return fig


def _verified_panels(by_mode: dict, title: str, highlight: str, draw) -> Figure:
    """One panel per prompt mode, one line per method of verified % with its 95 % interval.
    draw(ax, methods) -> [(method, xs, points)] places each method's points and sets the x axis;
    points are dicts with "pct" and "ci95". The `highlight` method's line is drawn bold."""
    fig = Figure(figsize=(WIDTH, 3.4), layout="constrained")
    axes = fig.subplots(1, len(by_mode), squeeze=False)[0]
    for ax, (mode, methods) in zip(axes, by_mode.items()):
        for i, (method, xs, points) in enumerate(draw(ax, methods)):
            pct = np.array([p["pct"] for p in points])
            lo, hi = (np.array([p["ci95"][j] for p in points]) for j in (0, 1))
            # intervals are stored rounded: clip so a bar never points the wrong way
            ax.errorbar(xs, pct, yerr=[np.clip(pct - lo, 0, None), np.clip(hi - pct, 0, None)], fmt="o-", color=f"C{i}",
                        capsize=2, ms=4, lw=2.5 if method == highlight else 1, label=method)
        ax.set_ylabel("verified %")
        ax.set_ylim(-2, 102)
        ax.set_title(f"{mode} mode", fontsize=10)
        ax.legend(fontsize=7)
    fig.suptitle(title)
    return fig


def verified_by_length(by_mode: dict, title: str = "verified % by proof length") -> Figure:
    """One panel per prompt mode, one line per method: verified % with its 95 % interval against
    the proof-length bucket (points dodged sideways so the bars do not overlap).

    by_mode: {"premises": {"model": {"1": {"pct": 40.0, "ci95": [20.0, 60.0], ...}, ...}, ...}, ...}
    """
    def draw(ax, methods):
        buckets = list(dict.fromkeys(b for rows in methods.values() for b in rows))
        ax.set_xticks(range(len(buckets)), buckets)
        ax.set_xlabel("proof length (tactic lines of the ground truth)")
        return [(method, [buckets.index(b) + 0.08 * (i - (len(methods) - 1) / 2) for b in rows], list(rows.values()))
                for i, (method, rows) in enumerate(methods.items())]

    return _verified_panels(by_mode, title, "model", draw)


def budget_curve(by_mode: dict, title: str = "verified % against the token budget") -> Figure:
    """One panel per prompt mode, one line per method: verified % with its 95 % interval against
    the budget in generated tokens (blind search: at the search's wall time for that budget).

    by_mode: {"premises": {"search": [{"budget_tokens": 256, "pct": 40.0, "ci95": [20.0, 60.0]}, ...], ...}, ...}
    """
    def draw(ax, methods):
        budgets = sorted({p["budget_tokens"] for points in methods.values() for p in points})
        ax.set_xscale("log", base=2)
        ax.set_xticks(budgets, [str(b) for b in budgets])
        ax.minorticks_off()
        ax.set_xlabel("budget per theorem (generated tokens)")
        return [(method, [p["budget_tokens"] * (1 + 0.02 * (i - (len(methods) - 1) / 2)) for p in points], points)  # dodged
                for i, (method, points) in enumerate(methods.items())]

    return _verified_panels(by_mode, title, "search", draw)


def param_bars(table: list, total: int, plan=(10e6, 12e6)) -> Figure:
    """Parameters by module as horizontal bars, with the total against the plan's range.

    table: [{"module": "blocks.0.attn", "params": 409600}, ...]
    """
    fig = Figure(figsize=(WIDTH, max(2.5, 0.25 * len(table) + 1)), layout="constrained")
    ax = fig.add_subplot()
    names = [r["module"] for r in table][::-1]
    ax.barh(names, [r["params"] for r in table][::-1], color="C0")
    ax.set_xlabel("parameters")
    ax.set_title(f"total {total / 1e6:.2f}M (plan: {plan[0] / 1e6:.0f}–{plan[1] / 1e6:.0f}M)")
    return fig
