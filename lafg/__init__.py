"""LaFG Explorer: Language-driven Fine-grained Retrieval.

Stages (one module each, data flows one way): ``categories`` → ``describe`` → ``encode`` → ``vocabulary`` →
``prototypes`` → ``train`` → ``metrics`` / ``index`` → ``explain``.
"""

__version__ = "0.1.0"
