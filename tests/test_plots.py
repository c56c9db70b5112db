"""proofgpt.plots: every function returns a drawable Figure from plain data, edge cases included.

    .venv/bin/python -m pytest -q tests/test_plots.py
"""

import io
import math

import numpy as np
import pytest
from matplotlib.figure import Figure

from proofgpt import plots


def render(fig) -> bytes:
    """Draw the figure to PNG bytes: catches errors that only show at draw time."""
    assert isinstance(fig, Figure)
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    data = buf.getvalue()
    assert data.startswith(b"\x89PNG")
    return data


def test_bar_counts_sorts_largest_first():
    fig = plots.bar_counts({"ring": 1, "group": 3, "monoid": 2}, title="by structure")
    render(fig)
    (ax,) = fig.axes
    labels = [t.get_text() for t in ax.get_xticklabels()]
    assert labels == ["group", "monoid", "ring"]
    assert [p.get_height() for p in ax.patches] == [3, 2, 1]


def test_bar_counts_many_labels_go_horizontal():
    fig = plots.bar_counts({f"s{i}": i for i in range(12)})
    render(fig)
    widths = [p.get_width() for p in fig.axes[0].patches]
    assert max(widths) == 11  # horizontal bars carry the count in their width


@pytest.mark.parametrize("series", [
    {"train": [1, 2, 3, 50], "val": [2, 3]},
    {"steps": [4]},
    {"term size": []},  # a user's corpus has no generator meta
])
def test_histograms_one_panel_per_series(series):
    fig = plots.histograms(series, title="t", xlabel="bytes")
    render(fig)
    assert len(fig.axes) == len(series)
    assert [ax.get_title().split("  ")[0] for ax in fig.axes] == list(series)


def test_byte_frequencies_labels_printable_and_hex():
    counts = np.zeros(256, dtype=int)
    counts[ord("a")] = 10
    counts[10] = 5
    counts[0xE2] = 3  # first byte of '→'
    fig = plots.byte_frequencies(counts, top=10)
    render(fig)
    labels = [t.get_text() for t in fig.axes[0].get_xticklabels()]
    assert labels == ["a", "\\n", "e2"]
    assert math.isclose(sum(p.get_height() for p in fig.axes[0].patches), 100.0)


def test_packed_rows_colours_certificates_and_leaves_padding_white():
    # two rows of 10 tokens: "ab\n\ncd\n\n" + 2 pad, "efg\n\n" + 5 pad
    tokens = np.zeros((2, 10), dtype=np.uint8)
    tokens[0, :8] = list(b"ab\n\ncd\n\n")
    tokens[1, :5] = list(b"efg\n\n")
    n_real = np.array([8, 5])
    fig = plots.packed_rows(tokens, n_real)
    render(fig)
    img = fig.axes[0].images[0].get_array()
    assert img.mask[0, 8:].all() and img.mask[1, 5:].all()  # padding masked (white)
    assert not img.mask[0, :8].any()
    assert img[0, 0] == img[0, 3] != img[0, 4]  # the second certificate starts after "\n\n"
    assert "65.0% real tokens" in fig.axes[0].get_title()


def metrics_rows():
    rows = []
    for step in range(1, 21):
        rows.append({"kind": "train", "step": step, "epoch": 0, "loss": 5.5 - 0.1 * step, "grad_norm": 1.0 / step,
                     "lr": 1e-3 * min(1, step / 5), "tokens": 1000 * step, "tokens_per_s": 1e4, "elapsed_s": step})
        if step % 10 == 0:
            rows.append({"kind": "eval", "step": step, "epoch": 0, "train_loss": 4.0, "val_loss": 4.2, "val_ppl": math.exp(4.2),
                         "val_bpb": 4.2 / math.log(2), "structural_pct": 10.0, "verified_pct": 0.0})
    rows.append({"kind": "stop", "step": 20, "epoch": 1, "reason": "epochs done"})
    return rows


def test_training_curves_six_panels_with_bound_and_stop():
    fig = plots.training_curves(metrics_rows(), entropy_bound_bpb=1.25)
    render(fig)
    assert len(fig.axes) == 6
    bpb = fig.axes[2]
    assert any("entropy bound 1.250" in t.get_text() for t in bpb.get_legend().get_texts())
    assert "epochs done" in fig._suptitle.get_text()


def test_training_curves_empty_metrics_still_draws():
    render(plots.training_curves([], None))


def test_sampling_sweep_one_line_per_top_p():
    rows = [{"temperature": t, "top_p": p, "verified_pct": 10 * t, "structural_pct": 50.0}
            for t in (0.5, 1.0) for p in (0.9, 1.0)]
    fig = plots.sampling_sweep(rows)
    render(fig)
    assert len(fig.axes[0].lines) == 2
    assert list(fig.axes[0].lines[0].get_xdata()) == [0.5, 1.0]


def test_pass_at_k_and_param_bars():
    render(plots.pass_at_k({1: 10.0, 2: 15.0, 4: 30.0}))
    fig = plots.param_bars([{"module": "attention", "params": 100}, {"module": "mlp", "params": 200}], total=300)
    render(fig)
    assert "0.00M" in fig.axes[0].get_title() and "10–12M" in fig.axes[0].get_title()


def test_sweep_curves_one_colour_per_point_and_the_bound():
    def evals(v):
        return [{"kind": "eval", "step": s, "val_loss": v / s, "train_loss": v / s - 0.1, "val_bpb": v / s / 0.69}
                for s in (1, 2, 3)]

    fig = plots.sweep_curves({"a": evals(2.0), "b": evals(3.0)}, entropy_bound_bpb=0.1)
    loss, bpb = fig.axes
    assert [t.get_text() for t in loss.get_legend().get_texts()] == ["a", "b"]
    assert len(loss.lines) == 4 and loss.lines[0].get_color() == loss.lines[1].get_color()  # val and dashed train
    assert "entropy bound 0.100" in [t.get_text() for t in bpb.get_legend().get_texts()]
    render(fig)


def test_verified_by_length_one_panel_per_mode_one_line_per_method():
    rows = {"1": {"pct": 50.0, "ci95": [20.0, 80.0]}, "2": {"pct": 0.0, "ci95": [0.0, 30.0]},
            "3": {"pct": 33.33, "ci95": [33.4, 60.0]}}  # an interval stored rounded past its estimate still draws
    fig = plots.verified_by_length({"premises": {"model": rows, "constant": {"1": rows["2"]}},
                                    "theorem": {"model": rows, "constant": rows}})
    assert len(fig.axes) == 2
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["1", "2", "3"]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["model", "constant"]


def test_budget_curve_one_panel_per_mode_one_line_per_method():
    points = [{"budget_tokens": b, "pct": p, "ci95": [max(0.0, p - 10), min(100.0, p + 10)]} for b, p in ((64, 10.0), (128, 30.0))]
    curve = {"search": points, "sampling_pass_at_k": points, "blind_equal_time": points[:1]}
    fig = plots.budget_curve({"premises": curve, "theorem": curve})
    assert len(fig.axes) == 2
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["search", "sampling_pass_at_k", "blind_equal_time"]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["64", "128"]
    render(fig)
