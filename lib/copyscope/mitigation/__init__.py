"""Memorization mitigations at training time (caption, embedding and loss hooks) and at inference time (prompt
rewriting, embedding or starting-noise optimisation, guidance schedules); build them by name with the factories."""
from copyscope.mitigation.factory import (InferenceMitigation, inference_mitigation, training_hooks,
                                          training_set_options)

__all__ = ["InferenceMitigation", "inference_mitigation", "training_hooks", "training_set_options"]
