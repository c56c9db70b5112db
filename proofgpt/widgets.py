"""The interactive sampler: pick a val theorem, set the sampling knobs, press Generate.

`sampler(model, theorems)` returns a `Sampler`, an ipywidgets VBox whose parts are plain
attributes (`.theorem`, `.temperature`, `.top_p`, `.top_k`, `.max_tokens`, `.button`,
`.output`), so a test drives it without a browser:

    >>> s = sampler(model, val_certificates)
    >>> s.temperature.value = 0.5
    >>> s.button.click()
    >>> s.verdict.verified, "verified" in s.output.value

Each part also carries a stable CSS class (`proofgpt-generate`, `proofgpt-temperature`,
`proofgpt-output`, ...) for the JupyterLab browser test. Generation runs synchronously in
the click handler: simpler than a thread, and a smoke model answers in well under a second;
the trade-off is a busy kernel for a cpu-profile model's ~256 tokens (about 1-2 s on 2 cores).
"""

import contextlib
import html

import ipywidgets as W

from proofgpt.check import verdict_text  # notebooks and the browser test call widgets.verdict_text

CSS = {
    "theorem": "proofgpt-theorem",
    "temperature": "proofgpt-temperature",
    "top_p": "proofgpt-top-p",
    "top_k": "proofgpt-top-k",
    "max_tokens": "proofgpt-max-tokens",
    "seed": "proofgpt-seed",
    "button": "proofgpt-generate",
    "output": "proofgpt-output",
}


@contextlib.contextmanager
def sampling_threads(n: int = 1):
    """Run torch on n CPU threads inside the block, then restore the old setting.

    Sampling a small model is latency-bound (one token at a time, batch <= 32): on the busy
    2-core box, 4 completions of 192 tokens by the cpu-profile model took 0.81 s on one
    thread and 67 s on two (the threads fight the box's other processes for the cores).
    """
    import torch

    old = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(old)


def theorem_name(cert: str) -> str:
    """'@T left_cancel : a * b = ...\\n...' -> 'left_cancel'."""
    first = cert.split("\n", 1)[0]
    return first[3:].split(":", 1)[0].strip() if first.startswith("@T") else first[:40]


def _get(v, key):
    """A Verdict's field, or the same key of a sample record dict (evaluate's samples)."""
    return v[key] if isinstance(v, dict) else getattr(v, key)


def verdict_html(v) -> str:
    """The verdict as a coloured span with a stable class (proofgpt-verdict-verified, ...)."""
    verified, structural = _get(v, "verified"), _get(v, "structural")
    colour = "#1a7f37" if verified else "#9a6700" if structural else "#cf222e"
    kind = "verified" if verified else "structural" if structural else "rejected"
    return (
        f'<span class="proofgpt-verdict proofgpt-verdict-{kind}" style="color:{colour};font-weight:bold">'
        f"{html.escape(verdict_text(v))}</span>"
    )


def _pre(title, text, extra=""):
    return (
        f'<div style="flex:1;min-width:0"><b>{title}</b>{extra}'
        f'<pre style="white-space:pre-wrap;font-size:12px;margin:4px 0">{html.escape(text)}</pre></div>'
    )


class Sampler(W.VBox):
    """The sampler widget. `generate()` does one sample; the button calls it."""

    def __init__(self, model, theorems, *, temperature=0.8, top_p=0.9, top_k=0, max_tokens=256, seed=0):
        from proofgpt.evaluate import prompt_of

        self.model = model
        self.theorems = list(theorems)
        self.prompts = [prompt_of(t) for t in self.theorems]
        ctx = getattr(getattr(model, "config", None), "ctx", 1024)
        style = {"description_width": "90px"}
        self.theorem = W.Dropdown(
            options=[(f"{i}: {theorem_name(t)}", i) for i, t in enumerate(self.theorems)],
            value=0 if self.theorems else None,
            description="theorem",
            style=style,
            layout=W.Layout(width="520px"),
        )
        self.temperature = W.FloatSlider(value=temperature, min=0.0, max=2.0, step=0.05, description="temperature", style=style)
        self.top_p = W.FloatSlider(value=top_p, min=0.05, max=1.0, step=0.05, description="top-p", style=style)
        self.top_k = W.IntText(value=top_k, description="top-k (0=off)", style=style, layout=W.Layout(width="200px"))
        self.max_tokens = W.IntText(value=min(max_tokens, ctx), description="max tokens", style=style, layout=W.Layout(width="200px"))
        self.seed = W.IntText(value=seed, description="seed", style=style, layout=W.Layout(width="200px"))
        self.button = W.Button(description="Generate", button_style="primary", icon="play")
        self.output = W.HTML(value="<i>press Generate</i>")
        for name, cls in CSS.items():
            getattr(self, name).add_class(cls)
        self.add_class("proofgpt-sampler")
        self.button.on_click(self._on_click)
        self.completion, self.verdict, self.error = None, None, None
        super().__init__(
            [
                self.theorem,
                W.HBox([self.temperature, self.top_p]),
                W.HBox([self.top_k, self.max_tokens, self.seed, self.button]),
                self.output,
            ]
        )

    def generate(self):
        """Sample a proof for the picked theorem with the current settings; returns (completion, verdict)."""
        from proofgpt.check import check_certificate
        from proofgpt.sample import generate

        from proofgpt.errors import UserError

        i = self.theorem.value
        prompt = self.prompts[i]
        ctx = self.model.config.ctx
        if not 1 <= self.max_tokens.value <= ctx:
            raise UserError(f"max tokens must be between 1 and the model's ctx {ctx}, got {self.max_tokens.value}")
        if self.top_k.value < 0:
            raise UserError(f"top-k must be >= 0 (0 = off), got {self.top_k.value}")
        top_k = self.top_k.value if self.top_k.value > 0 else None
        with sampling_threads(1):
            completion = self._generate(generate, prompt, top_k)
        # premises come from the prompt (ground truth), as in evaluate.complete_theorems
        return completion, check_certificate(prompt + completion, trust_premises=True)

    def _generate(self, generate, prompt, top_k):
        return generate(
            self.model,
            [prompt],
            max_new_tokens=self.max_tokens.value,
            temperature=self.temperature.value,
            top_k=top_k,
            top_p=self.top_p.value,
            seed=self.seed.value,
        )[0]

    def _on_click(self, _button=None):
        self.button.disabled = True
        self.output.value = "<i>generating…</i>"
        try:
            self.completion, self.verdict = self.generate()
            self.error = None
        except Exception as e:  # a bad setting (top-p, max tokens > ctx, ...) is shown, not raised
            self.completion, self.verdict, self.error = None, None, f"{type(e).__name__}: {e}"
            self.output.value = f'<span class="proofgpt-error" style="color:#cf222e">error: {html.escape(self.error)}</span>'
            return
        finally:
            self.button.disabled = False
        i = self.theorem.value
        self.output.value = (
            f"<div>verdict: {verdict_html(self.verdict)}</div>"
            '<div style="display:flex;gap:16px">'
            + _pre("sample", self.prompts[i] + self.completion)
            + _pre("ground truth", self.theorems[i])
            + "</div>"
        )


    def result(self):
        """The output area as a static IPython HTML object (what an executed report keeps)."""
        from IPython.display import HTML

        return HTML(self.output.value)


def sampler(model, theorems, **kwargs) -> Sampler:
    """The widget for `model` over `theorems` (certificate texts); see `Sampler` for kwargs."""
    return Sampler(model, theorems, **kwargs)
