import numpy as np
import pytest

from jaxrnn.data import Tokenizer, load_sentiment, pad_sequences, text_to_words

STUDY_INDEX = {
    "not": 1,
    "i": 2,
    "this": 3,
    "good": 4,
    "bad": 5,
    "am": 6,
    "happy": 7,
    "very": 8,
    "is": 9,
    "sad": 10,
    "was": 11,
    "earlier": 12,
    "right": 13,
    "now": 14,
    "at": 15,
    "all": 16,
    "and": 17,
    "or": 18,
}


def test_bundled_data_counts(sentiment):
    assert len(sentiment.train.texts) == 58 and len(sentiment.test.texts) == 20
    assert sum(sentiment.train.labels) == 26 and sum(sentiment.test.labels) == 10
    assert set(sentiment.train.labels) == {0, 1}
    assert not set(sentiment.train.texts) & set(sentiment.test.texts)


def test_index_on_bundled_data_is_the_studys(sentiment):
    tok = Tokenizer(num_words=25).fit(sentiment.train.texts)
    assert tok.word_index == STUDY_INDEX
    assert tok.vocab_size == 19  # 18 words + padding


def test_keras_text_splitting():
    assert text_to_words("I am NOT happy, really.") == ["i", "am", "not", "happy", "really"]
    assert text_to_words("a\tb\nc--d") == ["a", "b", "c", "d"]
    assert text_to_words("") == []
    # apostrophes are not in Keras' filters: "don't" stays one word
    assert text_to_words("Don't!") == ["don't"]
    # Keras: no normalisation, only the filter characters and " " separate words
    assert text_to_words("ｇｏｏｄ…“bad”") == ["ｇｏｏｄ…“bad”"]
    assert text_to_words("so good😀 😀, ok\u3000now\r") == ["so", "good😀", "😀", "ok\u3000now\r"]
    assert text_to_words("bad\ud800word") == ["bad", "word"]  # the one deviation from Keras


def test_unicode_filter_mode_is_the_old_rule():
    assert text_to_words("ｇｏｏｄ…“bad”", filter_mode="unicode") == ["good", "bad"]
    words = text_to_words("so good😀 ok\u3000now", filter_mode="unicode")
    assert words == ["so", "good", "ok", "now"]
    with pytest.raises(ValueError, match="filter_mode"):
        text_to_words("a", filter_mode="nfkc")
    with pytest.raises(ValueError, match="filter_mode"):
        Tokenizer(filter_mode="nfkc")


def test_old_checkpoint_tokenizer_keeps_its_rule():
    # The dict a tokenizer wrote before filter_mode existed.
    old = {
        "num_words": 25,
        "oov_token": None,
        "max_len": 15,
        "lower": True,
        "filters": '!"#$%&()*+,-./:;<=>?@[\\]^_`{|}~\t\n',
        "word_index": STUDY_INDEX,
    }
    tok = Tokenizer.from_dict(old)
    assert tok.filter_mode == "unicode"
    assert tok.texts_to_sequences(["ｇｏｏｄ… 😀 not“bad”"]) == [[4, 1, 5]]
    assert tok.to_dict()["filter_mode"] == "unicode"
    assert Tokenizer.from_dict(tok.to_dict()).filter_mode == "unicode"
    new = Tokenizer(num_words=25).fit(load_sentiment().train.texts)
    assert new.filter_mode == "keras" and new.to_dict()["filter_mode"] == "keras"
    assert Tokenizer.from_dict(new.to_dict()).filter_mode == "keras"
    assert new.texts_to_sequences(["ｇｏｏｄ… 😀 not“bad”"]) == [[]]
    assert new.texts_to_sequences(["good! not, bad"]) == [[4, 1, 5]]


def test_known_tokens():
    tok = Tokenizer(num_words=3).fit(["b a", "c a", "d b"])  # b=1 a=2 c=3 d=4; keeps 1, 2
    assert tok.known_tokens(["a b c d e", "", "zz b b"]) == [2, 0, 2]
    tok = Tokenizer(oov_token="<oov>", max_len=1).fit(["b a", "c a"])
    assert tok.known_tokens(["a zzz c <oov>", "good😀"]) == [2, 0]
    with pytest.raises(ValueError, match="not fitted"):
        Tokenizer().known_tokens(["a"])
    with pytest.raises(TypeError, match="expected"):
        tok.known_tokens("a b")


def test_frequency_order_ties_first_seen_and_num_words():
    tok = Tokenizer().fit(["b a", "c a", "d b"])  # a:2 b:2 (b first seen), c:1, d:1
    assert tok.word_index == {"b": 1, "a": 2, "c": 3, "d": 4}
    tok = Tokenizer(num_words=3).fit(["b a", "c a", "d b"])  # keeps ids 1, 2
    assert tok.texts_to_sequences(["a b c d e"]) == [[2, 1]]
    assert tok.vocab_size == 3


def test_oov_token_takes_index_one():
    tok = Tokenizer(oov_token="<oov>").fit(["b a", "c a"])
    assert tok.word_index == {"<oov>": 1, "a": 2, "b": 3, "c": 4}
    assert tok.texts_to_sequences(["a zzz c"]) == [[2, 1, 4]]
    tok = Tokenizer(num_words=3, oov_token="<oov>").fit(["b a", "c a"])
    assert tok.texts_to_sequences(["a b c"]) == [[2, 1, 1]]


def test_encode_post_pads_and_post_truncates():
    tok = Tokenizer().fit(["a b c d e"])
    ids, lengths = tok.encode(["a b", "a b c d e", ""], max_len=4)
    assert ids.dtype == np.int32 and lengths.dtype == np.int32
    np.testing.assert_array_equal(ids, [[1, 2, 0, 0], [1, 2, 3, 4], [0, 0, 0, 0]])
    np.testing.assert_array_equal(lengths, [2, 4, 0])
    ids, lengths = pad_sequences([[5], [1, 2, 3]])
    np.testing.assert_array_equal(ids, [[5, 0, 0], [1, 2, 3]])


def test_unfitted_tokenizer_and_roundtrip():
    with pytest.raises(ValueError, match="not fitted"):
        Tokenizer().texts_to_sequences(["a"])
    tok = Tokenizer(num_words=25, max_len=15).fit(load_sentiment().train.texts)
    again = Tokenizer.from_dict(tok.to_dict())
    assert again.word_index == tok.word_index and again.max_len == 15
