"""Shared test data: the format's example certificate and cached generated corpora.

    from tests._certs import small_corpus
    text, meta = small_corpus()   # ~100k chars, seed 0, generated once per test session
"""

import functools

from proofgpt.certificate import split_blocks
from proofgpt.generate import generate_corpus


@functools.lru_cache(maxsize=4)
def small_corpus(seed: int = 0, n_chars: int = 100_000):
    return generate_corpus(seed=seed, n_chars=n_chars)


@functools.lru_cache(maxsize=4)
def small_blocks(seed: int = 0, n_chars: int = 100_000):
    return tuple(split_blocks(small_corpus(seed, n_chars)[0]))


@functools.lru_cache(maxsize=4)
def standalone_texts(seed: int = 0, n_chars: int = 100_000):
    """Certificates that verify on their own (not citing an earlier certificate of the file)."""
    from proofgpt.check import check_certificate
    return tuple(b.text for b in small_blocks(seed, n_chars) if check_certificate(b.text).verified)


# The certificate format's own example (README.md, "Certificate format"): a group proof with a hypothesis.
LEFT_CANCEL = """@T left_cancel : a * b = a * c → b = c
@C G : group
@C a b c : G
@P mul_assoc : x * y * z = x * (y * z)
@P one_mul : 1 * x = x
@P inv_mul : x⁻¹ * x = 1
@P h1 : a * b = a * c
@G b = c
rw [← one_mul b]
@G 1 * b = c
rw [← inv_mul a]
@G a⁻¹ * a * b = c
rw [mul_assoc]
@G a⁻¹ * (a * b) = c
rw [h1]
@G a⁻¹ * (a * c) = c
rw [← mul_assoc]
@G a⁻¹ * a * c = c
rw [inv_mul]
@G 1 * c = c
rw [one_mul]
@G c = c
rfl
qed"""

# A one-step Boolean-algebra proof with a premise the package does not know (a user's own axiom).
COMPL = """@T compl_compl : aᶜᶜ = a
@C B : boolean_algebra
@C a : B
@P compl_involutive : xᶜᶜ = x
@G aᶜᶜ = a
rw [compl_involutive]
@G a = a
rfl
qed"""


# a * (a⁻¹ * b) = b needs exactly three rewrites: ← mul_assoc, then mul_inv, then one_mul (or,
# meeting in the middle, ← one_mul and ← mul_inv a on the right side).
THREE_STEPS = """@T t : a * (a⁻¹ * b) = b
@C G : group
@C a b : G
@P mul_assoc : x * y * z = x * (y * z)
@P mul_inv : x * x⁻¹ = 1
@P one_mul : 1 * x = x
@G a * (a⁻¹ * b) = b"""
