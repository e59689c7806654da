"""MiniLM-L6 in numpy: tokenizer, fp32 forward pass, embedding properties, per-layer API."""

from types import MappingProxyType

import numpy as np
import pytest

from hwsim.accuracy import minilm
from hwsim.errors import HwsimError

pytestmark = pytest.mark.skipif(not minilm.available(), reason=f"MiniLM package absent: {minilm.INSTALL_HINT}")


def test_tokenizer_matches_bert_conventions():
    ids, mask = minilm.tokenize(["Hello world!", "a"])
    # [CLS]=101 … [SEP]=102, lower-cased WordPiece ids from vocab.txt, padding id 0 with mask 0
    vocab = (minilm.model_dir() / "vocab.txt").read_text(encoding="utf-8").split("\n")
    assert ids[0, 0] == 101 and ids[0, 4] == 102
    assert [vocab[i] for i in ids[0, 1:4]] == ["hello", "world", "!"]
    assert list(ids[1]) == [101, vocab.index("a"), 102, 0, 0] and list(mask[1]) == [1, 1, 1, 0, 0]


def test_fp32_embeddings_unit_norm_and_deterministic():
    e = minilm.embed()
    assert e.shape == (len(minilm.SENTENCES), 384) and e.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(e, axis=1), 1.0, atol=1e-5)
    assert e.tobytes() == minilm.embed().tobytes()
    assert minilm.cosine_vs_fp32() == pytest.approx(1.0, abs=1e-6)


def test_paraphrases_score_higher_than_unrelated():
    e = minilm.reference_embeddings().astype(np.float64)
    sim = e @ e.T
    for a, b in minilm.PARAPHRASE_PAIRS:
        others = np.delete(sim[a], [a, b])
        assert sim[a, b] > 0.5 and sim[a, b] > others.max() + 0.1


def test_padding_does_not_change_an_embedding():
    alone = minilm.embed(["Short one."])
    padded = minilm.embed(["Short one.", minilm.SENTENCES[-1]])[:1]  # padded to the longer sentence
    np.testing.assert_allclose(alone, padded, atol=2e-6)


def test_linear_layers_and_activation_samples():
    layers = minilm.linear_layers(max_tokens=64)
    assert [lyr.name for lyr in layers] == minilm.LINEAR_NAMES and len(layers) == 36
    shapes = {lyr.name.split(".")[-1]: lyr.weight.shape for lyr in layers[:6]}
    assert shapes == {
        "q_proj": (384, 384),
        "k_proj": (384, 384),
        "v_proj": (384, 384),
        "o_proj": (384, 384),
        "up_proj": (1536, 384),
        "down_proj": (384, 1536),
    }
    for lyr in layers:
        assert lyr.activations.shape == (64, lyr.weight.shape[1])
    assert sum(lyr.weight.size + lyr.bias.size for lyr in layers) == 6 * (
        4 * (384 * 384 + 384) + 2 * 384 * 1536 + 1536 + 384
    )
    # the captured input of up_proj reproduces (through the fp32 weights) a GELU input with
    # values of both signs; the down_proj input is a GELU output, bounded below by min GELU ≈ −0.17
    down = layers[5].activations
    assert down.min() >= -0.1701 and down.max() > 1.0


def test_unknown_layer_name_is_a_user_error():
    with pytest.raises(HwsimError, match="did you mean layers.0.q_proj"):
        minilm.embed(weight_formats={"layers.0.q_prj": None})


def test_embedding_tables_quantized_only_when_asked():
    s = minilm.SENTENCES[:6]
    ref = minilm.embed(s)
    # an "embeddings"-only dict quantizes the three tables and nothing else
    e_only = minilm.embed(s, {"embeddings": "int4_g128"})
    assert 0.9 < float(np.mean(np.sum(e_only * ref, 1))) < 0.9999
    same = minilm.embed(s, {"layers.0.q_proj": None})  # None leaves a layer in fp32
    assert same.tobytes() == ref.tobytes()


def test_any_mapping_of_formats_reads_as_a_dict():
    # the API takes a Mapping: a read-only one names layers (and opts the embedding tables in) as a dict does
    s = minilm.SENTENCES[:6]
    as_dict = minilm.embed(s, {"embeddings": "int4_g128"})
    assert minilm.embed(s, MappingProxyType({"embeddings": "int4_g128"})).tobytes() == as_dict.tobytes()
    assert as_dict.tobytes() != minilm.embed(s).tobytes()
