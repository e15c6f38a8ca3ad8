"""Memorized or not is decided by generation only: replica hits against a prompt's own images."""
import numpy as np

from copyscope.data.training_set import MV, TV, UNIQUE
from copyscope.metrics.replication import Matches
from copyscope.studies import detection, verification
from tests import study_fakes
from tests.study_fakes import trained_on


def test_candidates_are_mv_prompts_with_their_image_and_tv_families_with_all_members(scenes):
    trained = trained_on(scenes, n=10, duplicated=(7,))
    candidates = verification.duplicated_candidates(trained)
    assert [(c.kind, c.images) for c in candidates] == [(MV, (7,)), (TV, (0, 1, 2)), (TV, (3, 4, 5))]
    assert candidates[1].prompt == trained.prompts[0]
    unique = verification.unique_candidates(trained, 2, np.random.default_rng(0))
    assert len(unique) == 2 and {c.images[0] for c in unique} <= {6, 8, 9} and unique[0].kind == UNIQUE


def test_a_hit_needs_the_prompts_own_images_above_the_threshold():
    matches = Matches(scores=np.array([0.95, 0.95, 0.5, 0.99]), indices=np.array([3, 4, 1, 2]))
    hits = verification.replica_hits(matches, [(3,), (1, 2)], generations=2, threshold=0.9)
    assert hits.tolist() == [[True, False], [False, True]]
    verified = verification.Verified([], np.array([0.5, 0.375, 1.0]), 8)
    assert verified.memorized.tolist() == [True, False, True]


def test_the_benchmark_labels_follow_verification_and_nothing_else(scenes, tmp_path, monkeypatch):
    params = study_fakes.smoke_params(detection={"n_prompts": 2, "verify_generations": 4})
    study = study_fakes.study("detection", tmp_path, params)
    trained = trained_on(scenes, n=12, duplicated=(6, 7))

    def fake_verify(trained, images, candidates, *args):
        rates = np.array([{MV: 0.75, TV: 0.25, UNIQUE: 0.5}[c.kind] for c in candidates])
        return verification.Verified(candidates, rates, 4)

    monkeypatch.setattr(detection, "verify", fake_verify)
    bench = detection.build_benchmark(study, trained, scenes.images[:12], scenes)
    groups = dict(zip(bench.kinds[:6], bench.groups[:6]))
    assert groups == {MV: detection.MEMORIZED, TV: detection.UNVERIFIED, UNIQUE: detection.MEMORIZED}
    assert bench.verified and (bench.groups == detection.UNVERIFIED).sum() == 2
