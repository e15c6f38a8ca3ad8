"""Readers of what the pipeline's stages write: trained models, the extractor calibration, the alignment scorer.

One module per writer; each says which stage to run when its files are missing. Nothing here is imported by
`copyscope.artifacts` itself, so a study depends only on the readers it uses.
"""
