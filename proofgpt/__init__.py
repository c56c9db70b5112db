"""proofgpt: train byte-level GPTs on machine-checkable proof certificates.

The pipeline, one module per stage:
data → generate/check → split → pack → model → train → sample → evaluate → report.
"""

__version__ = "0.1.0"
