import pytest
import torch

from copyscope.mitigation.magnitude_filter import MagnitudeFilter

LENGTH, WIDTH = 4, 3


def _hand_made(model, monkeypatch, magnitudes):
    """ε_∅ is zero and the training prediction ε_c spreads each given norm evenly over its sample."""
    size = model.latent_shape[0] * model.latent_shape[1] * model.latent_shape[2]

    def eps(x, t, embeddings):
        assert torch.is_tensor(t) and t.shape == (len(x),)  # each sample at its own timestep
        assert not embeddings.any()  # the one extra pass is on the empty prompt
        return torch.zeros_like(x)

    monkeypatch.setattr(model, "encode", lambda prompts: torch.zeros(len(prompts), LENGTH, WIDTH))
    monkeypatch.setattr(model, "eps", eps)
    n = len(magnitudes)
    x_t = torch.zeros(n, *model.latent_shape)
    eps_cond = torch.tensor(magnitudes).view(n, 1, 1, 1).expand_as(x_t) / size ** 0.5
    return x_t, torch.arange(n) * 100, eps_cond


def test_absolute_threshold_keeps_exactly_the_samples_below_it(model, monkeypatch):
    x_t, t, eps_cond = _hand_made(model, monkeypatch, [0.0, 0.5, 1.99, 2.0, 2.01, 7.0])
    keep = MagnitudeFilter(threshold=2.0)(model, x_t, t, eps_cond)
    assert keep.tolist() == [True, True, True, False, False, False]


def test_relative_threshold_uses_the_median_of_the_batch_and_its_history(model, monkeypatch):
    alone = MagnitudeFilter(threshold=2.5, relative=True, history=0)
    with_history = MagnitudeFilter(threshold=2.5, relative=True, history=100)
    x_t, t, eps_cond = _hand_made(model, monkeypatch, [1.0, 1.0, 1.0, 1.0])
    assert alone(model, x_t, t, eps_cond).all() and with_history(model, x_t, t, eps_cond).all()
    x_t, t, eps_cond = _hand_made(model, monkeypatch, [2.0, 2.4, 3.0, 10.0])
    # batch alone: (lower) median 2.4, limit 6; with the earlier four ones the median is 1, limit 2.5
    assert alone(model, x_t, t, eps_cond).tolist() == [True, True, True, False]
    assert with_history(model, x_t, t, eps_cond).tolist() == [True, True, False, False]
    assert len(with_history.recent) == 8 and len(alone.recent) == 0


def test_bad_threshold_is_refused():
    with pytest.raises(ValueError, match="threshold > 0"):
        MagnitudeFilter(threshold=0.0)
