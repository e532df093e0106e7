"""Captions of MNIST / Fashion-MNIST from labels and measured attributes (gankit.data.captions).

What is checked: each measurement on hand-made images against its formula; the written thresholds are the
tertiles of the training split at each resolution (recomputed from the data) and give each word to about a third
of the images; rows <-> text round-trips over every caption; parsing's one-line errors; the bag-of-words
embedding is the exact multi-hot vector and deterministic; captions of real images name their class.
"""
from __future__ import annotations

import itertools

import pytest
import torch

from gankit.data import load_dataset
from gankit.data.captions import ATTRIBUTES, TERTILES, WORDS, Captioner, fit_tertiles, measure
from gankit.errors import ConfigError

pytestmark = pytest.mark.usefixtures("one_thread")


def ink_image(m: torch.Tensor) -> torch.Tensor:
    """An ink map in [0, 1] (H, W) as one image in [-1, 1] (1, 1, H, W)."""
    return (m * 2 - 1)[None, None]


def test_thickness_is_area_over_half_perimeter():
    m = torch.zeros(28, 28)
    m[4:24, 10:13] = 1  # a bar 3 wide, 20 long: area 60, perimeter (L1 total variation) 2 * 20 + 2 * 3
    assert measure(ink_image(m), ["thickness"]).item() == pytest.approx(2 * 60 / 46, rel=1e-6)
    wide = torch.zeros(28, 28)
    wide[4:24, 10:16] = 1
    assert measure(ink_image(wide), ["thickness"]).item() == pytest.approx(2 * 120 / 52, rel=1e-6)


def test_slant_size_and_brightness_from_two_points():
    m = torch.zeros(28, 28)
    m[5, 8] = m[15, 12] = 0.5  # dy 10, dx 4: shear 0.4, half the distance sqrt(116) / 2, intensity 0.5
    v = measure(ink_image(m), ["slant", "size", "brightness"])[0]
    assert v[0].item() == pytest.approx(0.4, rel=1e-5)
    assert v[1].item() == pytest.approx(116 ** 0.5 / 2, rel=1e-5)
    assert v[2].item() == pytest.approx(0.5, rel=1e-6)
    mirrored = torch.flip(m, dims=[1])  # leaning the other way: the same slant magnitude
    assert measure(ink_image(mirrored), ["slant"]).item() == pytest.approx(0.4, rel=1e-5)


@pytest.mark.parametrize("dataset, resolution", [("mnist", 28), ("mnist", 32), ("fashion-mnist", 28),
                                                 ("fashion-mnist", 32)])
def test_thresholds_are_the_training_tertiles(mnist_root, dataset, resolution):
    x, y, _ = load_dataset(dataset, root=str(mnist_root), resolution=resolution)
    fitted = fit_tertiles(x, ATTRIBUTES[dataset])
    for name, (lo, hi) in TERTILES[dataset][resolution].items():
        assert fitted[name] == pytest.approx((lo, hi), abs=1e-4), name
    rows = Captioner(dataset, resolution).rows(x, y)
    assert torch.equal(rows[:, 0], y)
    for j in range(len(ATTRIBUTES[dataset])):
        share = torch.bincount(rows[:, 1 + j], minlength=3).double() / len(y)
        assert torch.allclose(share, torch.full((3,), 1 / 3, dtype=torch.float64), atol=0.002)


def test_captions_of_real_images_read_as_text(mnist_root):
    x, y, _ = load_dataset("mnist", root=str(mnist_root), size=8)
    cap = Captioner("mnist")
    texts = [cap.text(r) for r in cap.rows(x, y)]
    assert all(t.split()[-1] == cap.classes[int(k)] for t, k in zip(texts, y))
    assert all(t.startswith(("a ", "an ")) for t in texts)


@pytest.mark.parametrize("dataset", sorted(ATTRIBUTES))
def test_every_caption_round_trips(dataset):
    cap = Captioner(dataset)
    A = len(cap.attributes)
    rows = [[k, *codes] for k in range(10) for codes in itertools.product(range(3), repeat=A)]
    texts = {cap.text(r) for r in rows}
    assert len(texts) == len(rows) == 10 * 3 ** A  # one text per caption
    for r in rows:
        assert cap.parse(cap.text(r)) == r
    assert cap.text([7, 2, 2, 2] if dataset == "mnist" else [5, 1, 1]) == \
        ("a large thick slanted seven" if dataset == "mnist" else "a small dark sandal")
    assert cap.text([1, 0, 1, 1] if dataset == "mnist" else [8, 0, 2]) == \
        ("a thin upright one" if dataset == "mnist" else "a bright bag")
    assert cap.text([8] + [0] * A) == ("an eight" if dataset == "mnist" else "a bag")


def test_parsing_is_forgiving_of_case_and_articles_and_strict_about_words():
    cap = Captioner("mnist")
    assert cap.parse("A Thin, UPRIGHT one.") == [1, 0, 1, 1] == cap.parse("one upright thin")
    for text, match in [("a furry seven", "unknown word 'furry'"), ("thick", "names no class"),
                        ("a one seven", "two classes"), ("a thick thin seven", "two words for the thickness"),
                        ("a dark seven", "unknown word 'dark'")]:
        with pytest.raises(ValueError, match=match) as e:
            cap.parse(text)
        assert "\n" not in str(e.value)
    with pytest.raises(ValueError, match="codes in 0, 1, 2"):
        cap.text([1, 3, 0, 0])


def test_bag_of_words_embedding_is_the_multi_hot_vector_and_deterministic():
    cap = Captioner("mnist")
    assert cap.vocabulary == ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine",
                              "small", "large", "thin", "thick", "upright", "slanted"]
    rows = torch.tensor([cap.parse("a large thin seven"), cap.parse("a one")])
    e = cap.embed(rows)
    expected = torch.zeros(2, 16)
    expected[0, [7, 11, 12]] = 1
    expected[1, 1] = 1
    assert torch.equal(e, expected)
    assert torch.equal(cap.embed(torch.tensor([cap.parse("seven thin large")])), e[:1])  # same caption, same vector
    assert cap.embed_dim == len(cap.vocabulary) == 16


def test_codes_and_random_rows():
    cap = Captioner("fashion-mnist")
    (lo_s, hi_s), (lo_b, hi_b) = TERTILES["fashion-mnist"][28]["size"], TERTILES["fashion-mnist"][28]["brightness"]
    values = torch.tensor([[lo_s - 0.1, hi_b + 0.1], [(lo_s + hi_s) / 2, lo_b - 0.01], [hi_s + 1, (lo_b + hi_b) / 2]])
    assert cap.codes(values).tolist() == [[1, 2], [0, 1], [2, 0]]
    assert cap.codes_of(values[:, 1], "brightness").tolist() == [2, 1, 0]
    rows = cap.random_rows(torch.arange(30000) % 10, torch.Generator().manual_seed(0))
    assert torch.equal(rows[:, 0], torch.arange(30000) % 10)
    share = torch.bincount(rows[:, 1:].flatten(), minlength=3).double() / rows[:, 1:].numel()
    assert torch.allclose(share, torch.full((3,), 1 / 3, dtype=torch.float64), atol=0.01)
    again = cap.random_rows(torch.arange(30000) % 10, torch.Generator().manual_seed(0))
    assert torch.equal(rows, again)


def test_only_the_captioned_datasets_and_resolutions():
    with pytest.raises(ConfigError, match="captions are made for mnist and fashion-mnist"):
        Captioner("imagefolder")
    with pytest.raises(ConfigError, match="fitted at resolutions 28, 32, 64"):
        Captioner("mnist", 48)
    assert set(WORDS) >= {a for attrs in ATTRIBUTES.values() for a in attrs}
