from __future__ import annotations

import json
import re

import pandas as pd
import pytest

from copyscope.prompt_sets import (PromptSet, load_membench, load_nemo, load_plain, load_prompt_set, load_wen,
                                        load_webster)
from copyscope.downloads import MissingWeights
from copyscope.errors import UserError

NEMO_HEADER = ";Caption;URL;type;mean_sscd;max_sscd;Index\n"


def write(path, text: str):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_wen_reads_captions_from_the_default_download_path_and_keeps_other_fields(monkeypatch, tmp_path):
    monkeypatch.setenv("COPYSCOPE_DOWNLOADS", str(tmp_path))
    rows = [{"caption": " Mothers influence on her young hippo ", "index": 964841345, "url": "https://a/1.jpg"},
            {"caption": "The Happy Scientist", "index": 1545085944, "url": "https://a/2.jpg"},
            {"caption": "The Happy Scientist", "index": 7, "url": "https://a/3.jpg"}]
    write(tmp_path / "prompts/wen/sdv1_500_memorized.jsonl", "\n".join(map(json.dumps, rows)) + "\n\n")
    prompts = load_wen()
    assert prompts.prompts == ["Mothers influence on her young hippo", "The Happy Scientist", "The Happy Scientist"]
    assert prompts.kinds == ["memorized"] * 3
    assert prompts.counts() == {"memorized": 3}
    assert prompts.memorized.tolist() == [True, True, True]
    assert prompts.extra[0] == {"index": 964841345, "url": "https://a/1.jpg"}
    assert prompts.source == f"wen:{tmp_path / 'prompts/wen/sdv1_500_memorized.jsonl'}"


def test_webster_parquet_keeps_each_prompts_overfit_type(tmp_path):
    pytest.importorskip("pyarrow")
    path = tmp_path / "gt.parquet"
    pd.DataFrame({"caption": ["Foyer painted in WHITE", "Insights with Laura Powers", "a ret", "plain one", "other"],
                  "overfit_type": ["TV", "MV", "RV", "N", "N"],
                  "url": ["u1", "u2", "u3", "u4", "u5"]}).to_parquet(path)
    prompts = load_webster(path)
    assert prompts.kinds == ["TV", "MV", "RV", "N", "N"]
    assert prompts.counts() == {"TV": 1, "MV": 1, "RV": 1, "N": 2}
    assert prompts.memorized.tolist() == [True, True, True, False, False]
    assert prompts.extra[1] == {"url": "u2"}
    assert len(prompts) == 5


def test_membench_csv_strips_prompts_and_drops_only_the_index_column(tmp_path):
    path = write(tmp_path / "SD1_final.csv",
                 ",prompt,urls\n0,  satisfied happy scientist ,['https://x/1.jpg']\n"
                 "1,\"fire us army garden flag, small\",\"['https://x/2.jpg', 'https://x/3']\"\n")
    prompts = load_membench(path)
    assert prompts.prompts == ["satisfied happy scientist", "fire us army garden flag, small"]
    assert prompts.kinds == ["memorized", "memorized"]
    assert prompts.extra == [{"urls": "['https://x/1.jpg']"}, {"urls": "['https://x/2.jpg', 'https://x/3']"}]


def test_nemo_semicolon_csv_labels_verbatim_and_template_prompts(tmp_path):
    path = write(tmp_path / "memorized_laion_prompts.csv",
                 NEMO_HEADER + "0;The No Limits Business Woman Podcast;https://a;VM;0.83;0.84;1030727993\n"
                               "1;\"Plymouth Curtain; Panel\";https://b;TM;0.48;0.57;756633928\n"
                               "2;NA;https://c;TM;;;1\n")
    prompts = load_nemo(path)
    assert prompts.prompts == ["The No Limits Business Woman Podcast", "Plymouth Curtain; Panel", "NA"]
    assert prompts.kinds == ["VM", "TM", "TM"]
    assert prompts.counts() == {"VM": 1, "TM": 2}
    assert prompts.memorized.all()
    assert prompts.extra[0] == {"URL": "https://a", "mean_sscd": "0.83", "max_sscd": "0.84", "Index": "1030727993"}


def test_plain_text_skips_blank_lines_and_keeps_duplicates(tmp_path):
    path = write(tmp_path / "clean.txt", "a red bus\n\n   \n  two zebras in a field  \na red bus\n")
    prompts = load_plain(path)
    assert prompts.prompts == ["a red bus", "two zebras in a field", "a red bus"]
    assert prompts.counts() == {"clean": 3}
    assert prompts.memorized.tolist() == [False, False, False]
    assert prompts.extra == [{}, {}, {}]


def test_plain_csv_finds_the_caption_column_in_any_case(tmp_path):
    path = write(tmp_path / "coco.csv", ";Caption;URL;Index\n0;a person standing close to an elephant;;0000\n"
                                        "1;A double decker transit bus is in the city.;;0002\n")
    prompts = load_plain(path)
    assert prompts.prompts == ["a person standing close to an elephant", "A double decker transit bus is in the city."]
    assert prompts.kinds == ["clean", "clean"]
    assert prompts.extra[1] == {"URL": "", "Index": "0002"}


def test_load_prompt_set_dispatches_by_format_name(tmp_path):
    path = write(tmp_path / "m.csv", NEMO_HEADER + "0;Foyer painted in KHAKI;https://a;TM;0.6;0.67;683552591\n")
    assert load_prompt_set("nemo", path) == load_nemo(path) == PromptSet(
        ["Foyer painted in KHAKI"], ["TM"], f"nemo:{path}",
        [{"URL": "https://a", "mean_sscd": "0.6", "max_sscd": "0.67", "Index": "683552591"}])
    with pytest.raises(UserError, match="unknown prompt-set format 'laion'; choose one of wen, webster"):
        load_prompt_set("laion", path)


@pytest.mark.parametrize("kind, source, target", [
    ("wen", "github.com/YuxinWenRick/diffusion_memorization", "prompts/wen/sdv1_500_memorized.jsonl"),
    ("webster", "huggingface.co/datasets/fraisdufour/templates-verbs",
     "prompts/webster/sdv1_bb_edge_groundtruth.parquet"),
    ("membench", "github.com/chunsanHong/MemBench_code", "prompts/membench/SD1_final.csv"),
    ("nemo", "github.com/ml-research/localizing_memorization_in_diffusion_models",
     "prompts/nemo/memorized_laion_prompts.csv"),
    ("plain", "github.com/ml-research/localizing_memorization_in_diffusion_models",
     "prompts/clean/coco2014_val_10000.csv"),
])
def test_missing_file_says_what_to_download_from_where_and_where_to_put_it(monkeypatch, tmp_path, kind, source,
                                                                            target):
    monkeypatch.setenv("COPYSCOPE_DOWNLOADS", str(tmp_path))
    with pytest.raises(MissingWeights) as caught:
        load_prompt_set(kind)
    message = str(caught.value)
    assert source in message
    assert f"put it at {tmp_path / target}" in message
    assert "\n" not in message


@pytest.mark.parametrize("name, text, loader, error", [
    ("n.csv", ";Caption;URL\n0;a;b\n", load_nemo,
     "has no label column (expected one of type); columns found: Unnamed: 0, Caption, URL"),
    ("n.csv", NEMO_HEADER + "0;a;u;VM;0;0;1\n1;b;u;XM;0;0;2\n", load_nemo,
     "unknown type value(s) 'XM'; expected one of VM, TM"),
    ("m.csv", ",text_prompt,urls\n0,a,b\n", load_membench,
     "has no caption column (expected one of caption, prompt, text); columns found: Unnamed: 0, text_prompt, urls"),
    ("m.csv", ",prompt,urls\n0,a,b\n1,  ,c\n", load_membench, "prompt 2 is missing or empty"),
    ("w.jsonl", '{"caption": "a"}\n{"text": "b"}\n', load_wen, "prompt 2 is missing or empty"),
    ("w.jsonl", '{"prompt": "a", "index": 1}\n', load_wen, 'has no "caption" key; keys found: index, prompt'),
    ("w.jsonl", '{"caption": "a"}\nnot json\n', load_wen, "line 2 is not JSON"),
    ("p.txt", "\n  \n", load_plain, "holds no prompts"),
])
def test_malformed_files_raise_one_clear_user_error(tmp_path, name, text, loader, error):
    path = write(tmp_path / name, text)
    with pytest.raises(UserError, match=re.escape(error)) as caught:
        loader(path)
    assert not isinstance(caught.value, MissingWeights)
    assert str(path) in str(caught.value)
