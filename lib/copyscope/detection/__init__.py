"""Memorization detectors (paper C and peers), token attribution, and their evaluation.

Every detector takes a `TextToImage` and a list of prompts and returns a `DetectorScores`: one score per prompt,
higher = more likely memorized, with the UNet evaluations and seconds it cost. Generation g of prompt p starts from
the same x_T as image p * generations + g of `copyscope.sampling.generate` with the same seed, so detectors and
generations can be compared sample by sample.
"""
