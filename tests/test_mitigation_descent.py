import pytest
import torch

from copyscope.mitigation.descent import Descent, descend_per_sample


def _norm(rows, index):
    return rows.flatten(1).norm(dim=1)


def _start():
    torch.manual_seed(0)
    rows = torch.randn(3, 4, 5)
    return rows / rows.flatten(1).norm(dim=1)[:, None, None] * torch.tensor([0.5, 3.0, 10.0])[:, None, None]


def test_rows_below_target_stop_at_once_and_the_others_run_to_max_iters():
    start = _start()
    result, evaluations = descend_per_sample(start, _norm, Descent(target=1.0, lr=0.1, max_iters=5))
    assert evaluations.tolist() == [1, 5, 5]
    assert torch.equal(result[0], start[0])
    assert (_norm(result, None)[1:] < _norm(start, None)[1:]).all()


def test_each_row_stops_once_below_target():
    start = _start()[1:2]
    result, evaluations = descend_per_sample(start, _norm, Descent(target=2.5, lr=0.1, max_iters=100))
    k = evaluations.item()
    assert 2 < k < 100 and _norm(result, None).item() < 2.5
    # k - 2 evaluations take k - 2 steps, one fewer than the result: the loop stopped at the first value below target
    before, _ = descend_per_sample(start, _norm, Descent(target=0.0, lr=0.1, max_iters=k - 2))
    assert _norm(before, None).item() >= 2.5


def test_a_row_does_not_depend_on_the_rest_of_its_batch():
    start = _start()
    settings = Descent(target=2.0, lr=0.2, max_iters=6)
    together, evaluations = descend_per_sample(start, _norm, settings)
    for i in range(3):
        alone, count = descend_per_sample(start[i:i + 1], _norm, settings)
        assert torch.allclose(alone[0], together[i], atol=1e-6) and count.item() == evaluations[i].item()


def test_only_trainable_elements_change_and_the_magnitude_sees_the_active_rows():
    start = _start()
    seen = []

    def magnitude(rows, index):
        seen.append(index.tolist())
        return _norm(rows, index)

    trainable = torch.ones(4, 5, dtype=torch.bool)
    trainable[0] = False
    result, _ = descend_per_sample(start, magnitude, Descent(target=1.0, lr=0.1, max_iters=3), trainable)
    assert torch.equal(result[:, 0], start[:, 0]) and not torch.equal(result[1:, 1:], start[1:, 1:])
    assert seen == [[0, 1, 2], [1, 2], [1, 2]]


def test_bad_settings_are_refused():
    with pytest.raises(ValueError, match="max_iters >= 1"):
        Descent(target=1.0, lr=0.1, max_iters=0)
    with pytest.raises(ValueError, match="lr > 0"):
        Descent(target=1.0, lr=-0.1, max_iters=3)


def test_half_precision_rows_are_descended_in_float32_and_returned_in_their_dtype():
    seen = []

    def magnitude(rows, index):
        seen.append(rows.dtype)
        return rows.float().flatten(1).norm(dim=1)

    start = _start().to(torch.bfloat16)
    result, _ = descend_per_sample(start, magnitude, Descent(target=0.0, lr=0.05, max_iters=3))
    assert result.dtype == torch.bfloat16 and set(seen) == {torch.bfloat16}
    assert (_norm(result.float(), None) < _norm(start.float(), None)).all()
