import json

import numpy as np
import pytest
import torch

from copyscope.data.training_set import TrainingSet
from copyscope.config import Training
from copyscope import config, paths
from copyscope.artifacts.models import RECORD, load_trained
from copyscope.errors import MissingOutput
from copyscope.stages import prepare
from copyscope.stages import train as train_stage
from copyscope.stages.train import parallel_workers
from copyscope.training import TrainingHooks, encode_unique, train
from tests.conftest import tiny_model

CONFIG = Training(steps=12, batch_size=4, lr=3e-3, warmup_steps=2, checkpoint_every=5)
SEED = 3


def _weights(model):
    return torch.cat([p.detach().flatten() for p in (*model.unet.parameters(), *model.text_encoder.parameters())])


def test_resumed_run_ends_with_the_same_weights_as_an_uninterrupted_one(tmp_path, shapes):
    data = TrainingSet(shapes, "instance")
    straight = tiny_model()
    train(straight, data, CONFIG, tmp_path / "a.pt", SEED, fingerprint="f")
    killed = tiny_model()
    result = train(killed, data, CONFIG, tmp_path / "b.pt", SEED, fingerprint="f", stop_after=7)
    assert result.steps == 7
    resumed = tiny_model()  # a fresh process: weights come from the checkpoint only
    train(resumed, data, CONFIG, tmp_path / "b.pt", SEED, fingerprint="f")
    assert torch.allclose(_weights(straight), _weights(resumed), atol=1e-6)


def test_checkpoint_of_another_configuration_is_ignored(tmp_path, shapes, capsys):
    data = TrainingSet(shapes, "instance")
    train(tiny_model(), data, CONFIG, tmp_path / "c.pt", SEED, fingerprint="old", stop_after=5)
    result = train(tiny_model(), data, CONFIG, tmp_path / "c.pt", SEED, fingerprint="new")
    assert "another configuration" in capsys.readouterr().out
    assert [r["step"] for r in result.log] == list(range(1, 13))


def test_loss_falls_when_fitting_a_few_images(tmp_path, shapes):
    data = TrainingSet(shapes.subset(range(4)), "instance")
    config = Training(steps=150, batch_size=8, lr=3e-3, warmup_steps=10, checkpoint_every=1000)
    log = train(tiny_model(), data, config, tmp_path / "d.pt").log
    assert np.mean([r["loss"] for r in log[-20:]]) < 0.6 * np.mean([r["loss"] for r in log[:20]])


def test_hooks_see_captions_embeddings_and_can_drop_samples(tmp_path, shapes):
    seen = {}

    def captions(batch, rng):
        seen["captions"] = list(batch)
        return ["x"] * len(batch)

    def embeddings(emb, generator):
        seen["embedding_shape"] = tuple(emb.shape)
        return emb

    def keep(model, x_t, t, eps_cond):
        seen["eps_shape"] = tuple(eps_cond.shape)
        return torch.arange(len(t)) % 2 == 0

    hooks = TrainingHooks(captions=captions, embeddings=embeddings, keep=keep)
    config = Training(steps=2, batch_size=4, lr=1e-3, warmup_steps=0, p_uncond=0.0)
    log = train(tiny_model(), TrainingSet(shapes, "instance"), config, tmp_path / "e.pt", hooks=hooks).log
    assert len(seen["captions"]) == 4 and seen["embedding_shape"] == (4, 16, 16)
    assert seen["eps_shape"] == (4, 3, 16, 16)
    assert all(r["kept"] == 0.5 for r in log)


def test_frozen_text_encoder_does_not_change(tmp_path, shapes):
    model = tiny_model()
    before = [p.clone() for p in model.text_encoder.parameters()]
    config = Training(steps=3, batch_size=4, lr=1e-2, warmup_steps=0, train_text_encoder=False)
    train(model, TrainingSet(shapes, "instance"), config, tmp_path / "f.pt")
    assert all(torch.equal(a, b) for a, b in zip(before, model.text_encoder.parameters()))


def test_encoding_each_distinct_caption_once_gives_the_same_embeddings_and_gradients():
    captions = ["a red circle", "", "a red circle", "a blue square", ""]
    grads = []
    for encode in (lambda m: m.encode(captions), lambda m: encode_unique(m, captions)):
        model = tiny_model()
        out = encode(model)
        (out * torch.linspace(-1, 1, out.numel()).view_as(out)).sum().backward()
        grads.append((out.detach(), _grads(model.text_encoder)))
    assert torch.allclose(grads[0][0], grads[1][0], atol=1e-6)
    assert torch.allclose(grads[0][1], grads[1][1], rtol=1e-5, atol=1e-4)  # summation order only


def _grads(module):
    return torch.cat([p.grad.flatten() for p in module.parameters() if p.grad is not None])


def test_trainings_run_side_by_side_on_the_cpu_only(monkeypatch):
    monkeypatch.setattr(torch, "get_num_threads", lambda: 2)
    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    assert parallel_workers(3, cpu) == 2 and parallel_workers(1, cpu) == 1
    assert parallel_workers(3, cuda) == 1


def test_short_trainings_stay_in_process_and_long_ones_go_to_workers_longest_first(monkeypatch):
    trained, submitted = [], []
    monkeypatch.setattr(train_stage, "_train_seed", lambda name, params, data, k, device: trained.append((name, k)))
    monkeypatch.setattr(train_stage, "training_steps", lambda spec, data: {"a": 20, "b": 150, "c": 400}[data])
    monkeypatch.setattr(train_stage, "parallel_workers", lambda n_jobs, device: 2)

    class Pool:
        def __init__(self, *args, **kwargs): pass
        def __enter__(self): return self
        def __exit__(self, *exc): return False
        def submit(self, fn, name, params, data, k, device):
            submitted.append((name, k))
            return type("Done", (), {"result": lambda self: None})()

    monkeypatch.setattr(train_stage, "ProcessPoolExecutor", Pool)
    params = type("P", (), {"models": {"a": None, "b": None, "c": None}})()
    train_stage.train_jobs(params, {"a": "a", "b": "b", "c": "c"}, [("a", 0), ("b", 0), ("c", 0), ("b", 1)])
    assert trained == [("a", 0)] and submitted == [("c", 0), ("b", 0), ("b", 1)]


def train_in_workers(params, seeds) -> None:
    data = {"cond-instance": train_stage.training_set("cond-instance", params)}
    train_stage.train_jobs(params, data, [("cond-instance", k) for k in seeds])


def test_a_models_seeds_train_in_worker_processes_and_differ(tmp_path, monkeypatch):
    params = config.load("smoke")
    monkeypatch.setenv("COPYSCOPE_ROOT", str(tmp_path))  # the workers are told it
    monkeypatch.setattr(train_stage, "MIN_STEPS_PER_WORKER", 0)  # smoke's 12 steps would stay in process
    monkeypatch.setattr(train_stage, "parallel_workers", lambda n_jobs, device: 2)
    prepare.run("shapes", params)
    train_in_workers(params, [0, 1])
    records = [json.loads((paths.model_dir("cond-instance", k) / RECORD).read_text()) for k in (0, 1)]
    assert [r["seed"] for r in records] == [params.seed, params.seed + 1]
    models = [load_trained("cond-instance", seed=k).model for k in (0, 1)]
    assert not torch.allclose(_weights(models[0]), _weights(models[1]))
    monkeypatch.setenv("COPYSCOPE_ROOT", str(tmp_path / "in-process"))  # the same seed, trained in this process
    monkeypatch.setattr(train_stage, "parallel_workers", lambda n_jobs, device: 1)
    prepare.run("shapes", params)
    train_in_workers(params, [1])
    torch.testing.assert_close(_weights(load_trained("cond-instance", seed=1).model), _weights(models[1]),
                               rtol=1e-4, atol=1e-5)  # thread counts differ: float sums in another order
    monkeypatch.setenv("COPYSCOPE_ROOT", str(tmp_path / "again"))  # workers again, now in another repository
    monkeypatch.setattr(train_stage, "parallel_workers", lambda n_jobs, device: 2)
    prepare.run("shapes", params)
    train_in_workers(params, [0])
    torch.testing.assert_close(_weights(load_trained("cond-instance", seed=0).model), _weights(models[0]))


def test_a_rerun_keeps_unchanged_models_and_retrains_changed_values_or_code(tmp_path, monkeypatch):
    params = config.load("smoke")
    monkeypatch.setenv("COPYSCOPE_ROOT", str(tmp_path))
    prepare.run("shapes", params)
    names = ["cond-none", "cond-class"]
    records = lambda: {n: (paths.model_dir(n, 0) / RECORD).stat().st_mtime_ns for n in names}
    train_stage.run(names, params)
    first = records()
    spec = params.models["cond-class"]
    spec = spec.model_copy(update={"training": spec.training.model_copy(update={"steps": spec.training.steps + 1})})
    changed = params.model_copy(update={"models": {**params.models, "cond-class": spec}})
    train_stage.run(names, changed)
    second = records()
    assert second["cond-none"] == first["cond-none"] and second["cond-class"] != first["cond-class"]
    monkeypatch.setattr(train_stage, "library_digest", lambda: "other code")
    train_stage.run(names, changed)
    assert all(records()[n] != second[n] for n in names)


def test_a_fine_tune_starts_from_its_base_on_images_the_base_never_saw_and_follows_its_retraining(tmp_path,
                                                                                                  monkeypatch):
    params = config.load("smoke")
    monkeypatch.setenv("COPYSCOPE_ROOT", str(tmp_path))
    prepare.run("scenes", params)
    with pytest.raises(MissingOutput, match="fine-tunes 'detect', whose seed 0 is not trained yet"):
        train_stage.run(["mit-base"], params)
    assert not paths.model_dir("mit-base", 0).exists()  # refused before any training
    train_stage.run(["detect"], params)
    base = load_trained("detect").record
    twin = params.models["mit-base"]
    origin = train_stage.base_seed(params, "mit-base", 1)
    assert origin == {"model": "detect", "seed": 0, "fingerprint": base["fingerprint"]}  # seed 1 of 1 base seed
    starting = train_stage.starting_model(params, "mit-base", 1, origin, torch.device("cpu"))
    torch.testing.assert_close(_weights(starting), _weights(load_trained("detect").model))
    train_stage.run(["mit-base"], params)
    records = [json.loads((paths.model_dir("mit-base", k) / RECORD).read_text()) for k in range(twin.seeds)]
    assert len(records[0]["ids"]) == twin.n_train and not set(records[0]["ids"]) & set(base["ids"])
    assert records[0]["ids"] == records[1]["ids"] and records[0]["finetuned_from"]["model"] == "detect"
    first = (paths.model_dir("mit-base", 0) / RECORD).stat().st_mtime_ns
    train_stage.run(["mit-base"], params)
    assert (paths.model_dir("mit-base", 0) / RECORD).stat().st_mtime_ns == first  # unchanged: kept
    (paths.model_dir("detect", 0) / RECORD).write_text(json.dumps({**base, "fingerprint": "retrained"}))
    train_stage.run(["mit-base"], params)
    assert (paths.model_dir("mit-base", 0) / RECORD).stat().st_mtime_ns != first  # the base changed: fine-tuned again
