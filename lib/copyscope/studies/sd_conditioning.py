"""Paper B's conditioning study at the `sd` scale: not run. Its cells (caption kinds, duplication modes) each need a
model trained on one variant of the data; on Stable Diffusion that means fine-tuning it per cell on a LAION subset
(hours of GPU each), which the `sd` scale does not do. The notebook records that, so the pipeline's outputs exist
and say why; the study itself runs at the embedded scales (smoke, default, full, gpu).
"""
from __future__ import annotations

from copyscope.report import headline
from copyscope.studies.sd_session import SDStudy

REASON = ("paper B's cells need one model trained per caption and duplication variant; the sd scale fine-tunes "
          "nothing, so run this study at smoke, default, full or gpu")


def headline_metrics(study: SDStudy) -> dict:
    """The scale, the pipeline, and that the study did not run, with why."""
    return headline({"scale": study.params.scale, "pipeline": study.spec.pipeline, "run": False, "reason": REASON,
                     "seeds": 0, "summary": "not run at this scale"})


def conclusion(metrics: dict) -> str:
    return f"- **Not run at scale {metrics['scale']}.** {metrics['reason'].capitalize()}."
