"""The `sd` scale end to end on stand-ins (no download): params and downloads checked first, then the Stable Diffusion
notebooks' code, cell by cell, on a tiny random-weight pipeline in the diffusers layout, a TorchScript stand-in for
SSCD, a tiny open_clip, prompt files in every format and img2dataset training shards. It checks the plumbing (VAE
latents, the fp16 setting on CPU, labels carried from the files to the metrics, resumable embedding), not the
science: the weights are random."""
import dataclasses
import json

import matplotlib
import pandas as pd
import pytest
import torch
import yaml

from copyscope import __main__ as cli
from copyscope.config import ConfigError
from copyscope.downloads import MissingWeights
from copyscope.paths import repo_root
from copyscope.report import is_flat
from copyscope.stages import notebook, params as params_stage
from copyscope.studies import sd_pipeline, sd_session
from copyscope.validation import load
from tests import sd_fakes

matplotlib.use("Agg")
NOTEBOOKS = repo_root() / "notebooks"


def tiny_sd_params(prompts: list[dict]) -> dict:
    """The repository's params.yaml with its `sd` scale shrunk to CPU size and pointed at the stand-ins."""
    raw = yaml.safe_load((repo_root() / "params.yaml").read_text())
    sd = raw["scales"]["sd"]
    sd["sampling"] = {"steps": 3, "guidance": 7.5, "batch_size": 8}
    sd["detection"] = {"generations": [1, 2], "first_steps": [1, 2], "control_share": 0.5, "batch_size": 8,
                       "explain": 2}
    sd["mitigation"]["per_item"] = 2
    sd["mitigation"]["inference"]["embedding_optimisation"] = {"target": [0.0]}  # every image descends
    sd["replication"] = {"n_generations": 2}
    sd["stable_diffusion"].update(prompts=prompts, clip_arch=sd_fakes.CLIP_ARCH, clip_tag=None,
                                  clip_checkpoint="clip/tiny.pt")
    return raw


@pytest.fixture(scope="module")
def downloads(tmp_path_factory):
    """Every download the `sd` scale lists, as stand-ins, under one downloads folder."""
    root = tmp_path_factory.mktemp("downloads")
    sd_fakes.save_tiny_pipeline(root / "sd-v1-4")
    sd_fakes.save_tiny_sscd(root / "sscd" / "sscd_disc_mixup.torchscript.pt")
    sd_fakes.save_tiny_clip(root / "clip" / "tiny.pt")
    sd_fakes.write_prompt_files(root)
    sd_fakes.write_training_images(root / "laion" / "memorized")
    return root


@pytest.fixture
def project(tmp_path, monkeypatch):
    """A repository root holding the shrunk params (scale sd), with downloads in a folder of its own."""
    def make(downloads_root, prompts=({"format": "webster"}, {"format": "plain"})):
        (tmp_path / "params.yaml").write_text(yaml.safe_dump(tiny_sd_params(list(prompts)) | {"scale": "sd"}))
        monkeypatch.setenv("COPYSCOPE_ROOT", str(tmp_path))
        monkeypatch.setenv("COPYSCOPE_DOWNLOADS", str(downloads_root))
        monkeypatch.setenv("COPYSCOPE_DEVICE", "cpu")
        return tmp_path
    return make


def run_notebook(name: str) -> dict:
    """Every code cell of notebooks/<name>.ipynb but the parameters cell, in one namespace, at scale sd."""
    cells = json.loads((NOTEBOOKS / f"{name}.ipynb").read_text())["cells"]
    namespace = {"scale": "sd"}
    for cell in cells:
        if cell["cell_type"] == "code" and "parameters" not in cell["metadata"].get("tags", []):
            exec(compile("".join(cell["source"]), f"{name}.ipynb", "exec"), namespace)
    matplotlib.pyplot.close("all")
    return namespace


def test_downloads_lists_everything_missing_and_exits_2(project, tmp_path, capsys):
    project(tmp_path / "empty")
    assert cli.main(["downloads", "--scale", "sd"]) == 2
    out = capsys.readouterr().out
    for what in ("Stable Diffusion sd-v1-4", "copy descriptor sscd_disc_mixup", "CLIP", "prompts: webster",
                 "prompts: plain", "training images laion/memorized"):
        assert f"MISSING  {what}" in out, what
    assert "6 required download(s) missing" in out and "hf download CompVis/stable-diffusion-v1-4" in out


def test_the_embedded_scales_list_downloaded_extractors_as_optional(project, tmp_path, capsys):
    project(tmp_path / "empty")
    assert cli.main(["downloads", "--scale", "default"]) == 0
    out = capsys.readouterr().out
    assert "optional extractor sscd_disc_mixup" in out and "every required download is present" in out
    with pytest.raises(SystemExit) as stop:
        cli.main(["downloads", "sd"])
    assert stop.value.code == 2 and "downloads takes no name" in capsys.readouterr().err


def test_the_params_stage_stops_with_the_listing_before_writing(project, tmp_path):
    root = project(tmp_path / "empty")
    with pytest.raises(MissingWeights, match="required download"):
        params_stage.run(load("sd"))
    assert not (root / "data" / "stage_params.yaml").exists()


def test_with_every_download_present_the_listing_passes(project, downloads, capsys):
    project(downloads)
    assert cli.main(["downloads"]) == 0
    assert "every required download is present" in capsys.readouterr().out
    assert notebook.source_notebook("detection", load("sd")).name == "sd_detection.ipynb"
    values = params_stage.stage_params(load("sd"))
    for study in ("replication", "conditioning", "mitigation", "detection"):  # a change to it reruns the studies
        assert values[study]["stable_diffusion"]["pipeline"] == "sd-v1-4" and values[study]["models"] == {}
    assert params_stage.stage_params(load("smoke"))["detection"]["stable_diffusion"] is None


def test_every_format_labels_its_prompts(project, downloads):
    project(downloads, [{"format": f} for f in ("wen", "membench", "nemo", "webster", "plain")])
    bench = sd_pipeline.prompt_benchmark(sd_session.open_study("sd_detection", "sd"))
    kinds = dict(zip(*__import__("numpy").unique(bench.kinds, return_counts=True)))
    assert kinds == {"memorized": 6, "VM": 1, "TM": 1, "MV": 2, "TV": 1, "RV": 1, "N": 2, "clean": 4}
    assert bench.memorized.sum() == 12 and bench.clean.sum() == 6


def test_the_sd_notebooks_refuse_a_scale_without_stable_diffusion(project, downloads):
    project(downloads)
    with pytest.raises(ConfigError, match="choose a scale with a stable_diffusion section"):
        sd_session.open_study("sd_detection", "smoke")


def test_a_benchmark_without_clean_prompts_is_refused(project, downloads):
    project(downloads, [{"format": "wen"}])
    with pytest.raises(ConfigError, match="both memorized and non-memorized"):
        sd_pipeline.prompt_benchmark(sd_session.open_study("sd_detection", "sd"))


def test_fp16_is_a_gpu_setting_the_cpu_reads_in_float32(project, downloads):
    project(downloads)
    study = sd_session.open_study("sd_detection", "sd")
    assert study.spec.precision == "fp16" and study.precision == torch.float16
    model = sd_pipeline.load_model(study)
    assert model.unet.dtype == torch.float32 and model.vae is not None and model.latent_shape == (4, 8, 8)


def test_the_detection_and_mitigation_notebooks_run_on_the_stand_in(project, downloads):
    root = project(downloads)
    detection = run_notebook("sd_detection")
    folder = root / "figures" / "detection"
    assert {"leaderboard.csv", "jeon_table.csv", "roc.csv", "roc.png", "magnitude_per_step.csv", "explanations.csv",
            "magnitude_per_step.png", "token_significance.png", "metrics.json", "timing.json"} <= {
        p.name for p in folder.iterdir()}
    metrics = json.loads((folder / "metrics.json").read_text())
    assert is_flat(metrics) and metrics["scale"] == "sd" and metrics["pipeline"] == "sd-v1-4"
    assert (metrics["memorized_MV"], metrics["memorized_TV"], metrics["memorized_RV"]) == (2, 1, 1)
    assert metrics["memorized_prompts"] == 4 and metrics["clean_prompts"] == 6
    assert {"auc_MV_vs_clean", "auc_TV_vs_clean", "auc_RV_vs_clean"} <= set(detection["board"].columns)
    jeon = detection["jeon"]
    assert {"auc_n1", "tpr@1%fpr_n1", "published_auc_n1", "published_tpr@1%fpr_n4"} <= set(jeon.columns)
    assert jeon["published_auc_n1"].notna().any()

    mitigation = run_notebook("sd_mitigation")
    table = mitigation["table"]
    assert len(table) == 1 + len(load("sd").mitigation.inference_points())
    assert table["alignment"].notna().all() and table["replica_rate"].between(0, 1).all()
    assert (table["prompts"] == 4).all() and (table["generations"] == 8).all()
    assert table.loc[table["mitigation"] == "embedding_optimisation", "descent_iterations_mean"].iloc[0] >= 1
    assert json.loads((root / "figures" / "mitigation" / "metrics.json").read_text())["pipeline"] == "sd-v1-4"


def test_the_replication_search_embeds_once_and_resumes(project, downloads):
    root = project(downloads)
    first = run_notebook("sd_replication")
    metrics = json.loads((root / "figures" / "replication" / "metrics.json").read_text())
    assert metrics["training_images"] == 12 and metrics["generations_per_prompt"] == 2
    assert set(first["table"]["kind"]) == {"MV", "TV", "RV", "N", "clean"}
    assert "verdict_memorized_replicate_more" in metrics
    again = sd_pipeline.training_database(sd_session.open_study("sd_replication", "sd"))
    assert len(again) == 12  # the finished shards were kept, not embedded again
    embeddings = root / "data" / "sd" / "embeddings" / "sscd_disc_mixup"
    assert (embeddings / "manifest.json").is_file()

    conditioning = run_notebook("sd_conditioning")
    assert conditioning["metrics"]["run"] is False


def test_an_approximate_index_is_built_once_and_rebuilt_for_another_factory(project, downloads, monkeypatch):
    from copyscope.ann_index import ApproximateIndex

    root = project(downloads)
    study = sd_session.open_study("sd_replication", "sd")
    exact = sd_pipeline.training_database(study)
    queries = exact.embeddings.shard(0)[:3]
    built = []
    build = ApproximateIndex.build.__func__
    monkeypatch.setattr(ApproximateIndex, "build", classmethod(lambda cls, *a, **k: built.append(a[1]) or build(
        cls, *a, **k)))
    for factory in ("Flat", "Flat", "IVF1,Flat"):
        spec = study.spec.model_copy(update={"index": factory})
        indexed = dataclasses.replace(study, params=study.params.model_copy(update={"stable_diffusion": spec}))
        database = sd_pipeline.training_database(indexed)
        assert not database.exact and (database.top1(queries).indices == exact.top1(queries).indices).all()
    assert built == ["Flat", "IVF1,Flat"]
    assert (root / "data" / "sd" / "embeddings" / "sscd_disc_mixup-index").is_dir()


def test_the_readme_lists_the_published_numbers_the_leaderboard_carries():
    from copyscope.studies.sd_detection import PUBLISHED

    readme = (repo_root() / "README.md").read_text()

    def pair(row, n):
        auc, tpr = row[f"auc_n{n}"], row[f"tpr@1%fpr_n{n}"]
        return "–" if pd.isna(auc) else f"{auc:.3f} / {tpr:.3f}"

    for _, row in PUBLISHED.iterrows():
        line = f"| {row['method']} ({row['steps']}) | {pair(row, 1)} | {pair(row, 4)} |"
        assert line in readme, line
