"""proofgpt.widgets: the sampler driven without a browser (set values, press Generate, read output).

    .venv/bin/python -m pytest -q tests/test_widgets.py
"""

from unittest import mock

import pytest
import torch

from proofgpt import widgets
from proofgpt.model import GPT, GPTConfig

CERT = """@T mul_one_test : a * 1 = a
@C G : monoid
@C a : G
@P mul_one : x * 1 = x
@G a * 1 = a
rw [mul_one]
@G a = a
rfl
qed"""

CERT2 = """@T one_mul_test : 1 * b = b
@C G : monoid
@C b : G
@P one_mul : 1 * x = x
@G 1 * b = b
rw [one_mul]
@G b = b
rfl
qed"""


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return GPT(GPTConfig(ctx=256, d_model=32, n_layers=1, n_heads=2, d_mlp=64, dropout=0.0)).eval()


def test_parts_have_stable_css_classes(model):
    s = widgets.sampler(model, [CERT, CERT2])
    assert "proofgpt-generate" in s.button._dom_classes
    assert "proofgpt-temperature" in s.temperature._dom_classes
    assert "proofgpt-output" in s.output._dom_classes
    assert "proofgpt-sampler" in s._dom_classes
    assert [label for label, _ in s.theorem.options] == ["0: mul_one_test : a * 1 = a", "1: one_mul_test : 1 * b = b"]
    assert s.max_tokens.value <= model.config.ctx


def test_click_with_the_true_proof_shows_verified_and_ground_truth(model):
    """A generator that returns the real proof: the verdict is 'verified' and both texts show."""
    s = widgets.sampler(model, [CERT, CERT2])
    s.theorem.value = 1
    truth_tail = CERT2.split("@G 1 * b = b\n", 1)[1]
    with mock.patch("proofgpt.widgets.generate", return_value=[truth_tail + "\n\n"]) as gen:
        s.temperature.value = 0.35
        s.top_p.value = 0.5
        s.top_k.value = 7
        s.button.click()
    kwargs = gen.call_args.kwargs
    assert (kwargs["temperature"], kwargs["top_p"], kwargs["top_k"]) == (0.35, 0.5, 7)
    assert s.verdict.verified
    assert "proofgpt-verdict-verified" in s.output.value
    assert "ground truth" in s.output.value and "one_mul_test" in s.output.value
    assert not s.button.disabled


def test_click_with_a_broken_proof_names_the_line(model):
    s = widgets.sampler(model, [CERT])
    with mock.patch("proofgpt.widgets.generate", return_value=["rw [mul_one]\n@G a = a * a\nrfl\nqed"]):
        s.button.click()
    assert not s.verdict.verified
    assert s.verdict.line is not None
    assert f"line {s.verdict.line}" in s.output.value
    assert widgets.verdict_text(s.verdict).startswith(("rejected at line", "structural"))


def test_real_model_sample_gets_a_verdict(model):
    """The untrained tiny model writes noise; whatever it writes gets a checker verdict."""
    s = widgets.sampler(model, [CERT, CERT2], max_tokens=24, seed=3)
    s.temperature.value = 1.0
    s.button.click()
    assert s.error is None, s.error
    assert 0 < len(s.completion) <= 24  # at most max_tokens bytes (a cut character decodes to one U+FFFD)
    assert not s.verdict.verified and "verdict:" in s.output.value  # an untrained model writes noise
    first = s.completion
    s.button.click()  # same seed and settings: the same sample
    assert s.completion == first
    s.top_k.value = 0  # 0 means off
    s.button.click()
    assert s.error is None


def test_bad_setting_is_shown_not_raised(model):
    s = widgets.sampler(model, [CERT])
    s.max_tokens.value = model.config.ctx * 4  # longer than the context: the sampler refuses
    s.button.click()
    assert s.verdict is None and s.error
    assert "proofgpt-error" in s.output.value
    assert not s.button.disabled


def test_result_is_static_html(model):
    s = widgets.sampler(model, [CERT])
    with mock.patch("proofgpt.widgets.generate", return_value=["rfl\nqed"]):
        s.button.click()
    assert s.result().data == s.output.value


# ----------------------------------------------------------------------------- Prove

def test_prove_parts_have_stable_css_classes(model):
    s = widgets.sampler(model, [CERT])
    for part, cls in (("prove_button", "proofgpt-prove"), ("theorem_text", "proofgpt-theorem-text"),
                      ("structure", "proofgpt-structure"), ("progress", "proofgpt-progress")):
        assert cls in getattr(s, part)._dom_classes
    assert "boolean_algebra" in s.structure.options


def test_prove_with_the_untrained_model_shows_the_partial_proof_and_progress(model):
    """The real search on the picked theorem: no proof from noise, but the progress bar counts
    every expansion and the output shows the partial proof with the checker's verdict."""
    s = widgets.sampler(model, [CERT, CERT2], seed=1)
    s.expansions.value = 2
    s.prove_button.click()
    r = s.search_result
    assert s.error is None, s.error
    assert not r.found and r.expansions >= 1
    assert s.progress.value == r.expansions and s.progress.max == 2
    assert "no proof within budget" in s.output.value and "best partial proof" in s.output.value
    assert "rfl: the two sides of the goal differ" in s.output.value  # the checker's verdict on it
    assert not s.prove_button.disabled


def test_prove_a_free_theorem_in_the_picked_structure(model):
    """A statement in the text box goes to the search in theorem mode, in the structure picked;
    a found certificate is shown verified."""
    cert = "@T thm : a * 1 = a\n@C M : monoid\n@C a : M\n@P mul_one : x * 1 = x\n@G a * 1 = a\nrw [mul_one]\n@G a = a\nrfl\nqed"
    found = widgets.check_certificate(cert)
    result = mock.Mock(found=True, certificate=cert, verdict=found, steps=1, expansions=1, tokens=40,
                       elapsed_s=0.1, valid=1, proposed=8)
    s = widgets.sampler(model, [CERT2])
    s.theorem_text.value = "a * 1 = a"
    s.structure.value = "monoid"
    with mock.patch("proofgpt.widgets.prove", return_value=result) as search:
        s.prove_button.click()
    text = search.call_args.args[1]
    assert text.startswith("@T thm : a * 1 = a\n@C M : monoid") and search.call_args.kwargs["prompt_mode"] == "theorem"
    assert "proved in 1 steps" in s.output.value and "proofgpt-verdict-verified" in s.output.value


@pytest.mark.parametrize("statement,structure", [("a * = a", "group"), ("a ⊓ b = a", "group")])
def test_prove_a_bad_free_theorem_is_shown_not_raised(model, statement, structure):
    s = widgets.sampler(model, [CERT])
    s.theorem_text.value = statement
    s.structure.value = structure
    s.prove_button.click()
    assert s.search_result is None and s.error and "proofgpt-error" in s.output.value
    assert not s.prove_button.disabled
