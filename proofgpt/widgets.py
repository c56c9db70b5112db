"""The interactive sampler: pick a val theorem, set the sampling knobs, press Generate.

`sampler(model, theorems)` returns a `Sampler`, an ipywidgets VBox whose parts are plain
attributes (`.theorem`, `.temperature`, `.top_p`, `.top_k`, `.max_tokens`, `.button`,
`.output`), so a test drives it without a browser:

    >>> s = sampler(model, val_certificates)
    >>> s.temperature.value = 0.5
    >>> s.button.click()
    >>> s.verdict.verified, "verified" in s.output.value

**Prove** runs the checker-guided search (`proofgpt.search.prove`) instead of one sample: on
the picked theorem with its premises, or, when `.theorem_text` holds a statement, on that
statement in the `.structure` picked (theorem mode: the certificate cites what it uses).
`.progress` counts expansions up to `.expansions`; the output shows the verified certificate,
or the best partial proof with the checker's verdict on it (closed by `rfl`, the verdict says
where it stops being a proof).

Each part also carries a stable CSS class (`proofgpt-generate`, `proofgpt-temperature`,
`proofgpt-output`, ...) for the JupyterLab browser test. Generation runs synchronously in
the click handler: simpler than a thread, at the price of a busy kernel while a larger model
samples. The knobs start at `config.SampleConfig`'s defaults.
"""

import html

import ipywidgets as W
from IPython.display import HTML

from proofgpt.algebra import STRUCTURES
from proofgpt.certificate import prompt_of
from proofgpt.check import check_certificate, verdict_text  # noqa: F401 (notebooks call widgets.verdict_text)
from proofgpt.config import SampleConfig
from proofgpt.errors import UserError
from proofgpt.sample import generate, sampling_threads
from proofgpt.search import DEFAULT_EXPANSIONS, prove, theorem_text
from proofgpt.workbook import verdict_html

DEFAULTS = SampleConfig()

CSS = {
    "theorem": "proofgpt-theorem",
    "temperature": "proofgpt-temperature",
    "top_p": "proofgpt-top-p",
    "top_k": "proofgpt-top-k",
    "max_tokens": "proofgpt-max-tokens",
    "seed": "proofgpt-seed",
    "button": "proofgpt-generate",
    "output": "proofgpt-output",
    "theorem_text": "proofgpt-theorem-text",
    "structure": "proofgpt-structure",
    "expansions": "proofgpt-expansions",
    "prove_button": "proofgpt-prove",
    "progress": "proofgpt-progress",
}


def _pre(title, text, extra=""):
    return (
        f'<div style="flex:1;min-width:0"><b>{title}</b>{extra}'
        f'<pre style="white-space:pre-wrap;font-size:12px;margin:4px 0">{html.escape(text)}</pre></div>'
    )


class Sampler(W.VBox):
    """The sampler widget. `generate()` does one sample; the button calls it."""

    def __init__(self, model, theorems, *, temperature=DEFAULTS.temperature, top_p=DEFAULTS.top_p,
                 top_k=DEFAULTS.top_k or 0, max_tokens=DEFAULTS.max_new_tokens, seed=DEFAULTS.seed):
        self.model = model
        self.theorems = list(theorems)
        self.prompts = [prompt_of(t) for t in self.theorems]
        ctx = getattr(getattr(model, "config", None), "ctx", 1024)
        style = {"description_width": "90px"}
        self.theorem = W.Dropdown(
            options=[(f"{i}: {t.partition(chr(10))[0][3:80]}", i) for i, t in enumerate(self.theorems)],
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
        self.theorem_text = W.Text(value="", placeholder="or a theorem of your own: a * b⁻¹ * b = a",
                                   description="theorem", style=style, layout=W.Layout(width="520px"))
        self.structure = W.Dropdown(options=list(STRUCTURES), value="group", description="structure", style=style)
        self.expansions = W.IntText(value=DEFAULT_EXPANSIONS, description="expansions", style=style,
                                    layout=W.Layout(width="200px"))
        self.prove_button = W.Button(description="Prove", button_style="success", icon="search")
        self.progress = W.IntProgress(value=0, min=0, max=DEFAULT_EXPANSIONS, description="search")
        self.output = W.HTML(value="<i>press Generate or Prove</i>")
        for name, cls in CSS.items():
            getattr(self, name).add_class(cls)
        self.add_class("proofgpt-sampler")
        self.button.on_click(self._on_click)
        self.prove_button.on_click(self._on_prove)
        self.completion, self.verdict, self.error, self.search_result = None, None, None, None
        super().__init__(
            [
                self.theorem,
                W.HBox([self.temperature, self.top_p]),
                W.HBox([self.top_k, self.max_tokens, self.seed, self.button]),
                W.HBox([self.theorem_text, self.structure]),
                W.HBox([self.expansions, self.prove_button, self.progress]),
                self.output,
            ]
        )

    def generate(self):
        """Sample a proof for the picked theorem with the current settings; returns (completion, verdict)."""
        i = self.theorem.value
        prompt = self.prompts[i]
        ctx = self.model.config.ctx
        if not 1 <= self.max_tokens.value <= ctx:
            raise UserError(f"max tokens must be between 1 and the model's ctx {ctx}, got {self.max_tokens.value}")
        if self.top_k.value < 0:
            raise UserError(f"top-k must be >= 0 (0 = off), got {self.top_k.value}")
        top_k = self.top_k.value if self.top_k.value > 0 else None
        with sampling_threads(1):
            completion = self._generate(prompt, top_k)
        # premises come from the prompt (ground truth), as in evaluate.complete_theorems
        return completion, check_certificate(prompt + completion, trust_premises=True)

    def _generate(self, prompt, top_k):
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
            self.completion = None
            return self._show_error(e)
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

    def prove(self):
        """Search a proof of the free theorem (if any) or the picked one -> (SearchResult, verdict of
        the certificate or of the best partial proof closed by rfl)."""
        if self.expansions.value < 1:
            raise UserError(f"expansions must be >= 1, got {self.expansions.value}")
        if self.top_k.value < 0:
            raise UserError(f"top-k must be >= 0 (0 = off), got {self.top_k.value}")
        if self.theorem_text.value.strip():
            text, mode = theorem_text(self.theorem_text.value.strip(), self.structure.value), "theorem"
        else:
            text, mode = self.prompts[self.theorem.value], "premises"
        self.progress.max, self.progress.value = self.expansions.value, 0

        def step(stats):
            self.progress.value = stats["expansions"]

        with sampling_threads(1):
            r = prove(self.model, text, prompt_mode=mode, max_expansions=self.expansions.value,
                      temperature=self.temperature.value, top_p=self.top_p.value,
                      top_k=self.top_k.value if self.top_k.value > 0 else None, seed=self.seed.value, on_expand=step)
        verdict = r.verdict if r.found else check_certificate(r.best_partial + "rfl\nqed", trust_premises=mode == "premises")
        return r, verdict

    def _on_prove(self, _button=None):
        self.prove_button.disabled = True
        self.output.value = "<i>searching…</i>"
        try:
            self.search_result, self.verdict = self.prove()
            self.error = None
        except Exception as e:  # a statement that does not parse, a bad budget, ... is shown, not raised
            self.search_result = None
            return self._show_error(e)
        finally:
            self.prove_button.disabled = False
        r = self.search_result
        stats = (f"{r.expansions} expansions, {r.tokens:,} tokens, {r.elapsed_s:.1f} s, "
                 f"{r.valid} of {r.proposed} proposed steps valid")
        if r.found:
            head, body = f"proved in {r.steps} steps ({stats})", _pre("certificate", r.certificate)
        else:
            head = f"no proof within budget ({r.reason}; {stats})"
            body = _pre(f"best partial proof ({r.best_partial_steps} steps), closed by rfl", r.best_partial + "rfl\nqed")
        self.output.value = (f'<div class="proofgpt-search">{html.escape(head)}</div>'
                             f"<div>verdict: {verdict_html(self.verdict)}</div>"
                             f'<div style="display:flex;gap:16px">{body}</div>')

    def _show_error(self, e: Exception) -> None:
        """A failed Generate or Prove: no verdict, the error in one line in the output area."""
        self.verdict, self.error = None, f"{type(e).__name__}: {e}"
        self.output.value = f'<span class="proofgpt-error" style="color:#cf222e">error: {html.escape(self.error)}</span>'

    def result(self):
        """The output area as a static IPython HTML object (what an executed report keeps)."""
        return HTML(self.output.value)


def sampler(model, theorems, **kwargs) -> Sampler:
    """The widget for `model` over `theorems` (certificate texts); see `Sampler` for kwargs."""
    return Sampler(model, theorems, **kwargs)
