"""Shared, cached generated corpora for the proof-logic tests (not a conftest: other files own that).

    from tests._certs import small_corpus
    text, meta = small_corpus()   # ~100k chars, seed 0, generated once per test session
"""

import functools

from proofgpt.data import split_blocks
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
