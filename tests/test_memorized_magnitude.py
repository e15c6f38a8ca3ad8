"""On Stable Diffusion's schedule, a model that has memorized an image shows it in the first-step magnitude of its
caption (paper C's signal), where captions of images it saw only a few times, and unseen captions, do not."""
import numpy as np

from copyscope.config import Duplication, Training
from copyscope.data.sources import scenes_set
from copyscope.data.training_set import TrainingSet
from copyscope.detection.magnitude import wen_magnitude
from copyscope.models.text_to_image import build_pixel_model
from copyscope.training import train


def test_first_step_magnitude_rises_for_a_memorized_caption(tmp_path):
    """100 scenes, one drawn 30x as often as the others (about 5000 draws against 190): about a minute on 2 cores."""
    data = scenes_set(108, 16, seed=3, max_objects=3, n_captions=1, families=0, family_size=3, n_titles=8)
    training = TrainingSet(data.subset(np.arange(100)), "instance", Duplication(fraction=0.01, factor=30), seed=0)
    model = build_pixel_model(16, [16, 32], attention_head_dim=8, text_width=32, text_layers=1, text_heads=4,
                              max_length=24, seed=0)
    train(model, training, Training(steps=600, batch_size=32, lr=2e-3, warmup_steps=10, checkpoint_every=1000),
          tmp_path / "ckpt.pt", seed=0)

    def first_step(prompts):
        return wen_magnitude(model, prompts, steps=10, generations=4, guidance=2.0, progress=False).scores

    memorized = first_step([training.prompt(int(np.flatnonzero(training.duplicated)[0]))])[0]
    unique = first_step([training.prompt(int(i)) for i in np.flatnonzero(~training.duplicated)[:8]])
    novel = first_step([c[0] for c in data.captions[100:]])
    assert memorized > unique.max() and memorized > 1.5 * unique.mean() and memorized > 1.5 * novel.mean()
