"""Does a CLIP score track caption correctness? True captions against the same captions with one attribute changed."""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from sklearn.metrics import roc_auc_score

from copyscope.alignment.captions import ATTRIBUTES, corrupt
from copyscope.alignment.score import ClipScorer
from copyscope.data.dataset import ImageCaptionSet


def caption_correctness(model: ClipScorer, data: ImageCaptionSet, seed: int,
                        attributes: Sequence[str] = ATTRIBUTES) -> dict:
    """Score every image with its full caption (`captions[i][0]`) and with one corruption per attribute.

    Returns the ROC AUC of true vs corrupted scores over all pairs (`auc`) and per attribute (`auc_per_attribute`),
    the retrieval accuracy `retrieval_top1` (the true caption scores strictly highest among itself and the image's
    k = len(attributes) corruptions; chance is `chance_top1`), and the mean true and corrupted scores. Pass images
    the scorer was not trained on.
    """
    if not attributes:
        raise ValueError("name at least one attribute to corrupt")
    rng = np.random.default_rng(seed)
    true = [caps[0] for caps in data.captions]
    candidates = [[caption, *(corrupt(caption, a, rng) for a in attributes)] for caption in true]
    images = model.embed_images(data.images)
    captions = model.embed_captions([c for row in candidates for c in row]).reshape(len(true), len(candidates[0]), -1)
    scores = np.einsum("nd,nkd->nk", images, captions)
    right, wrong = scores[:, 0], scores[:, 1:]

    def auc(corrupted: np.ndarray) -> float:
        labels = np.r_[np.ones(len(right)), np.zeros(corrupted.size)]
        return float(roc_auc_score(labels, np.r_[right, corrupted.ravel()]))

    return {
        "auc": auc(wrong),
        "auc_per_attribute": {a: auc(wrong[:, j]) for j, a in enumerate(attributes)},
        "retrieval_top1": float((right > wrong.max(axis=1)).mean()),
        "chance_top1": 1 / (len(attributes) + 1),
        "mean_true_score": float(right.mean()),
        "mean_corrupted_score": float(wrong.mean()),
        "n_images": len(true),
    }
