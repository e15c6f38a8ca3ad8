import torch

from copyscope.mitigation.guidance_transition import DynamicTransition, StaticTransition
from copyscope.sampling import denoise, initial_noise


def _predictions(magnitudes):
    """ε_u = 0 and ε_c with the given per-sample norms, for a batch of 8-element samples."""
    eps_c = torch.zeros(len(magnitudes), 2, 2, 2)
    eps_c[:, 0, 0, 0] = torch.as_tensor(magnitudes)
    return torch.zeros_like(eps_c), eps_c


def test_static_transition_withholds_guidance_until_the_transition_timestep():
    guidance = StaticTransition(transition_t=500).schedule(7.5)
    eps_u, eps_c = _predictions([1.0])
    scales = [guidance(i, t, eps_u, eps_c) for i, t in enumerate([999, 700, 501, 500, 499, 0])]
    assert scales == [0.0, 0.0, 0.0, 7.5, 7.5, 7.5]
    opposite = StaticTransition(transition_t=800, scale_before=-2.0).schedule(3.0)
    assert [opposite(0, t, eps_u, eps_c) for t in (900, 800)] == [-2.0, 3.0]


def test_dynamic_transition_switches_per_sample_after_the_first_local_minimum():
    trajectories = torch.tensor([
        [5.0, 4.0, 3.0, 3.5, 2.0, 1.0],  # minimum at step 2: guidance from step 3 on, and it stays
        [5.0, 4.0, 3.0, 2.0, 1.0, 0.5],  # falls throughout: never guided
        [1.0, 2.0, 1.5, 1.6, 1.7, 1.8],  # a rise first is no minimum; minimum at step 2
        [3.0, 3.0, 3.0, 3.0, 3.0, 3.0],  # flat: no strict minimum
    ])
    guidance = DynamicTransition().schedule(7.5)
    scales = torch.stack([guidance(i, 999 - i, *_predictions(trajectories[:, i])) for i in range(6)], dim=1)
    guided = [7.5] * 3
    assert scales.tolist() == [[0.0] * 3 + guided, [0.0] * 6, [0.0] * 3 + guided, [0.0] * 6]
    restarted = [guidance(i, 999 - i, *_predictions(trajectories[:1, i])) for i in range(3)]
    assert [s.tolist() for s in restarted] == [[0.0]] * 3  # a new chain (step 0) starts unswitched


def test_schedules_with_one_scale_throughout_equal_plain_guidance(model):
    x = initial_noise(model, 2, seed=0)
    cond, uncond = model.encode(["a red circle", "a blue square"]), model.encode(["", ""])
    plain = denoise(model, x, cond, uncond, steps=4, guidance=2.0)
    for schedule in StaticTransition(scale_before=2.0), DynamicTransition(scale_before=2.0):
        assert torch.allclose(denoise(model, x, cond, uncond, steps=4, guidance=schedule.schedule(2.0)), plain)
    withheld = denoise(model, x, cond, uncond, steps=4, guidance=StaticTransition().schedule(2.0))
    assert not torch.allclose(withheld, plain)
