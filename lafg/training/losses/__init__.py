"""Loss functions, one per file: L_aux (:mod:`.aux`), the L_ali readings (:mod:`.alignment`, :mod:`.relational`,
:mod:`.attribute`) and the label-only baseline (:mod:`.onehot`). Equations: ``docs/METHOD.md``."""

from lafg.training.losses.alignment import MeanProjectorKLLoss, SymmetricKLLoss, symmetric_kl
from lafg.training.losses.attribute import AttributeDistributionLoss
from lafg.training.losses.aux import PairwiseCrossEntropyLoss
from lafg.training.losses.onehot import NormalizedSoftmaxLoss
from lafg.training.losses.relational import RelationalKLLoss

__all__ = [
    "AttributeDistributionLoss",
    "MeanProjectorKLLoss",
    "NormalizedSoftmaxLoss",
    "PairwiseCrossEntropyLoss",
    "RelationalKLLoss",
    "SymmetricKLLoss",
    "symmetric_kl",
]
