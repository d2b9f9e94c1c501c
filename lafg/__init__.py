"""LaFG Explorer: Language-driven Fine-grained Retrieval.

Stages, one folder each, data flowing one way: ``language`` (names → descriptions → vocabulary → prototypes),
``vision`` (images → backbone features), ``training`` (→ a model), ``retrieval`` (→ search, scores,
explanations); ``store`` keeps files; :mod:`lafg.pipeline` runs them for the CLI, the app and the benchmarks.
"""

__version__ = "0.1.0"
