"""Text–image alignment: the offline stand-in for CLIP score (paper B), and proof that it tracks caption correctness.

- `score`: the cosine of L2-normalised CLIP image and caption embeddings, for any open_clip model
  (`PretrainedClipScore` wraps downloaded weights for real runs).
- `model`, `training`: a small CLIP trained with open_clip on held-out procedural image–caption pairs.
- `captions`, `evaluation`: captions with one attribute changed, and how well a score prefers the true caption.
"""
