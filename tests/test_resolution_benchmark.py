from copyscope import config, resolution_benchmark


def test_every_offline_extractor_is_ranked_on_both_benchmarks_at_each_resolution_with_its_cost(capsys):
    params = config.load("smoke")
    ranking, costs = resolution_benchmark.measure(params, [8, 12])
    assert len(ranking) == 2 * 2 * 2  # resolutions x benchmarks x extractors
    assert set(ranking["benchmark"]) == {"procedural (held out)", "emoji (held out)"}
    assert set(ranking["name"]) == {"pixel", "efficientnet_lite0"}
    assert ranking["mAP"].between(0, 1).all() and ranking["R@1"].between(0, 1).all()
    assert costs["resolution"].tolist() == [8, 12]
    assert (costs["train_step_seconds"] > 0).all() and (costs["generation_seconds_per_image"] > 0).all()
