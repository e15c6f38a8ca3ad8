from open_clip.tokenizer import SimpleTokenizer

from copyscope.models.tokenizer import build_clip_tokenizer, word_tokens


def test_ids_equal_open_clip_and_openai_clip():
    ours = build_clip_tokenizer(77)
    theirs = SimpleTokenizer()
    for text in ["a large red striped circle at the top left, titled zorvekka", "Mona Lisa by Leonardo da Vinci!"]:
        ids = ours(text).input_ids
        assert ids == [49406, *theirs.encode(text), 49407]


def test_padding_and_truncation_to_max_length():
    tok = build_clip_tokenizer(8)
    ids = tok(["a", "one two three four five six seven eight nine"], padding="max_length", truncation=True).input_ids
    assert [len(i) for i in ids] == [8, 8]
    assert ids[0][:3] == [49406, 320, 49407] and ids[1][-1] == 49407


def test_random_token_pool_has_no_special_tokens():
    pool = word_tokens()
    assert len(pool) > 30000
    assert all(t.isascii() and t.isalnum() for t in pool)
    assert "startoftext" not in " ".join(pool[:10]) and "circle" in pool
