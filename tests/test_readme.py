"""The README's results section is rendered from the committed metrics, and must agree with them."""
import json

import pytest

from copyscope import readme
from copyscope.config import STUDIES
from copyscope.errors import MissingOutput, UserError
from copyscope.paths import repo_root
from copyscope.report import is_flat

FLAT = {
    "replication": {"scale": "default", "extractor": "pixel", "extractor_map": 0.226, "threshold": 0.931,
                    "threshold_calibrated": True, "faces_replica_fraction_rho": -0.87,
                    "faces_replica_fraction_smallest_set": 0.047, "faces_replica_fraction_largest_set": 0.0,
                    "faces_similarity_p95_rho": -1.0, "faces_similarity_p95_smallest_set": 0.93,
                    "faces_similarity_p95_largest_set": 0.795, "seeds": 4,
                    "faces_similarity_p95_smallest_set_ci95": [0.9, 0.95],
                    "faces_similarity_p95_largest_set_ci95": [0.77, 0.82],
                    "faces_replica_fraction_smallest_set_ci95": [0.02, 0.07],
                    "faces_replica_fraction_largest_set_ci95": [0.0, 0.0],
                    "faces_size_difference": 0.135, "faces_size_difference_ci95": [0.1, 0.17],
                    "verdict_faces_size": "holds", "emoji_families_pixel_seeds": 1,
                    "emoji_families_pixel_difference": 0.01, "emoji_families_pixel_difference_ci95": [-0.02, 0.04],
                    "verdict_emoji_families_pixel": "not shown at this scale"},
    "conditioning": {"scale": "default", "instance_similarity_p95": 0.885, "unconditional_similarity_p95": 0.671,
                     "instance_replica_fraction": 0.0, "unconditional_replica_fraction": 0.0,
                     "instance_similarity_p95_ci95": [0.86, 0.9], "unconditional_similarity_p95_ci95": [0.65, 0.7],
                     "instance_replica_fraction_ci95": [0.0, 0.0], "unconditional_replica_fraction_ci95": [0.0, 0.0],
                     "captions_difference": 0.214, "captions_difference_ci95": [0.18, 0.25],
                     "verdict_captions": "holds", "seeds": 4, "alignment_auc": 0.71},
    "mitigation": {"scale": "default", "baseline_memorized_replica_rate": 0.8,
                   "baseline_memorized_replica_rate_ci95": [0.74, 0.85], "baseline_memorized_prompts": 60,
                   "baseline_prompts_verified": True, "training_baseline_replica_rate": 0.6,
                   "training_baseline_replica_rate_ci95": [0.4, 0.75], "training_baseline_prompts": 10,
                   "training_baseline_prompts_verified": True,
                   "mitigations_tested": 15, "mitigations_credited": 11, "best_training": "filter (training)",
                   "best_training_change_ci95": [-0.5, -0.2], "best_inference": None,
                   "best_inference_change_ci95": [None, None], "embedding_optimisation_iterations_mean": 4.5,
                   "seeds": 3},
    "detection": {"scale": "default", "labels_verified": True, "memorized_prompts": 70, "memorized_mv": 60,
                  "memorized_tv": 10, "memorized_unique": 0, "unverified_duplicated_prompts": 14,
                  "clean_prompts": 288, "replica_rate_mv": 0.8, "replica_rate_tv": 0.5, "replica_rate_unique": 0.0,
                  "wen_first_step_n1_auc": 0.955, "wen_first_step_n1_auc_ci95": [0.93, 0.97],
                  "wen_first_step_n1_tpr_at_1pct_fpr": 0.7, "wen_first_step_n1_tpr_at_1pct_fpr_ci95": [0.55, 0.8],
                  "wen_first_step_n1_auc_vs_unique_training": 0.95, "wen_first_step_n1_auc_vs_novel": 0.96,
                  "wen_first_step_n1_auc_vs_random_tokens": 0.97, "wen_first_step_n1_auc_untrained": 0.52,
                  "wen_t981_n1_auc": 0.95, "untrained_auc_min": 0.45, "untrained_auc_max": 0.58,
                  "best_peer": "Carlini et al. tiled l2", "best_peer_auc": 0.98, "best_peer_auc_ci95": [0.96, 0.99],
                  "token_edit_prompts": 60, "top_token_is_trigger_fraction": 0.6, "top_token_is_trigger_chance": 0.3,
                  "token_edit_magnitude_before": 1.1, "token_edit_magnitude_after": 0.6,
                  "token_edit_magnitude_change_ci95": [-0.6, -0.4], "token_edit_replica_rate_before": 0.9,
                  "token_edit_replica_rate_after": 0.2, "token_edit_replica_rate_change_ci95": [-0.8, -0.6]},
}
README = "# project\n\nintro\n\n## Results\n\n{start}\nold text\n{end}\n\n## After\n\nkept\n"


@pytest.fixture
def root(tmp_path):
    for study, metrics in FLAT.items():
        (tmp_path / "figures" / study).mkdir(parents=True)
        (tmp_path / "figures" / study / "metrics.json").write_text(json.dumps(metrics))
    (tmp_path / "README.md").write_text(README.format(start=readme.START, end=readme.END))
    return tmp_path


def test_render_results_has_each_study_with_its_figure_caption_and_conclusion(root):
    text = readme.render_results(root)
    assert text.index("Replication vs training-set size") < text.index("Conditioning") < text.index(
        "Mitigations") < text.index("Detection")
    for study in STUDIES:
        assert f"](figures/{study}/" in text
    assert "![replication](figures/replication/size_curve.png)" in text and "scale `default`" in text
    assert "p95 0.885 [0.860, 0.900] vs 0.671 [0.650, 0.700]" in text and "mAP 0.226" in text
    assert "AUC 0.955 [0.930, 0.970]" in text and "| conditioning | instance captions copy more" in text
    rows = {line.split(" | ")[1]: line.rsplit(" | ", 1)[1] for line in text.splitlines() if line.startswith("| ")}
    assert rows["emoji with skin-tone variants copy more than emoji without (pixel)"] == "1 |"  # its own seeds
    assert rows["instance captions copy more than unconditional training (p95)"] == "4 |"  # the study's
    assert "11 of 15" in text and "No inference-time mitigation is shown to lower copying" in text


def test_update_replaces_only_the_section_and_check_agrees(root):
    path = root / "README.md"
    assert not readme.check_readme(path)
    assert readme.update_readme(path)
    text = path.read_text()
    assert text.startswith("# project\n\nintro\n\n## Results\n\n" + readme.START + "\n")
    assert text.endswith(readme.END + "\n\n## After\n\nkept\n") and "old text" not in text
    assert readme.check_readme(path) and not readme.update_readme(path)  # idempotent
    assert readme.results_section(path) == readme.render_results(root)
    metrics = dict(FLAT["detection"], wen_first_step_n1_auc=0.9)
    (root / "figures" / "detection" / "metrics.json").write_text(json.dumps(metrics))
    assert not readme.check_readme(path)


def test_a_readme_without_markers_or_with_old_metrics_is_refused(root):
    (root / "figures" / "mitigation" / "metrics.json").write_text(json.dumps({"scale": "x", "baseline": {"a": 1}}))
    with pytest.raises(UserError, match="mitigation.*rerun"):
        readme.render_results(root)
    (root / "figures" / "mitigation" / "metrics.json").unlink()
    with pytest.raises(MissingOutput, match="dvc repro mitigation"):
        readme.render_results(root)
    (root / "README.md").write_text("# project\n")
    with pytest.raises(ValueError, match="markers"):
        readme.update_readme(root / "README.md")


def test_the_repositorys_readme_agrees_with_its_committed_metrics():
    """Once every study's metrics are flat (the pipeline reran), the README's section must be exactly what they
    render (run `python -m copyscope report`); until then the old nested metrics are still there."""
    root = repo_root()
    metrics = [readme.read_metrics(root, study) for study in STUDIES]
    readme.split_readme((root / "README.md").read_text())  # the markers are in place
    if all(is_flat(m) for m in metrics):
        assert readme.check_readme(root / "README.md"), "README results are stale: run `python -m copyscope report`"
    else:
        assert any(isinstance(v, dict) for m in metrics for v in m.values())
