"""MNIST: where the files come from, what loading checks, and the preprocessing."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

import dagnet
from dagnet.data.idx import write_idx
from dagnet.data.mnist import (
    ENV_VARIABLE,
    FILE_NAMES,
    Preprocessing,
    centre_digit,
    load_mnist,
    one_hot,
    read_digit_image,
)
from dagnet.errors import DataError
from tests.conftest import SHARED_DATA, require_data

MNIST = SHARED_DATA / "mnist"


def fake_mnist(folder, tag: int, n_train: int = 6, n_test: int = 4, gz: bool = True):
    """Four small MNIST-shaped files whose pixels all equal ``tag``."""
    suffix = ".gz" if gz else ""
    arrays = [np.full((n_train, 28, 28), tag, np.uint8), np.arange(n_train, dtype=np.uint8) % 10,
              np.full((n_test, 28, 28), tag, np.uint8), np.arange(n_test, dtype=np.uint8) % 10]
    for name, array in zip(FILE_NAMES, arrays):
        write_idx(folder / f"{name}{suffix}", array)
    return folder


@pytest.fixture
def no_places(monkeypatch, tmp_path):
    """An empty cache and no DAGNET_DATA_DIR."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.delenv(ENV_VARIABLE, raising=False)
    return tmp_path / "xdg" / "dagnet" / "mnist"


def test_the_canonical_files():
    train_x, train_y, test_x, test_y = load_mnist(require_data(MNIST), download=False)
    assert train_x.shape == (60000, 28, 28) and train_x.dtype == np.uint8
    assert test_x.shape == (10000, 28, 28) and test_y.dtype == np.uint8
    assert list(train_y[:10]) == [5, 0, 4, 1, 9, 2, 1, 3, 1, 4]
    assert list(test_y[:10]) == [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]
    assert list(np.bincount(train_y)) == [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265,
                                          5851, 5949]


def test_search_order_data_dir_then_variable_then_cache(no_places, monkeypatch, tmp_path):
    cache = fake_mnist(no_places, tag=3)
    env = fake_mnist(tmp_path / "env", tag=2, gz=False)
    given = fake_mnist(tmp_path / "given", tag=1)
    monkeypatch.setenv(ENV_VARIABLE, str(env))
    assert load_mnist(given, download=False)[0][0, 0, 0] == 1
    assert load_mnist(download=False)[0][0, 0, 0] == 2
    monkeypatch.delenv(ENV_VARIABLE)
    assert load_mnist(download=False)[0][0, 0, 0] == 3
    # A data root holding mnist/ works as well as the folder itself.
    root = tmp_path / "root"
    fake_mnist(root / "mnist", tag=4)
    assert load_mnist(root, download=False)[0][0, 0, 0] == 4
    monkeypatch.setenv(ENV_VARIABLE, str(root))
    assert load_mnist(download=False)[0][0, 0, 0] == 4
    monkeypatch.delenv(ENV_VARIABLE)
    # A folder with only some of the files is passed over for the next one.
    (given / f"{FILE_NAMES[3]}.gz").unlink()
    assert load_mnist(given, download=False)[0][0, 0, 0] == 3
    assert cache.is_dir()


def test_nothing_anywhere_and_no_network_is_one_clear_error(no_places, closed_port_url,
                                                            tmp_path):
    with pytest.raises(DataError) as info:
        load_mnist(tmp_path / "empty", mirrors=[closed_port_url], progress=False)
    message = str(info.value)
    for name in FILE_NAMES:
        assert name in message
    assert str(tmp_path / "empty") in message and str(no_places) in message
    assert ENV_VARIABLE in message and "--data" in message
    assert "refused" in message.lower()
    assert "\n" not in message


def test_download_into_the_cache_checks_every_file(no_places, http_server):
    base, served, requests = http_server
    for name in FILE_NAMES:
        shutil.copy(require_data(MNIST / f"{name}.gz"), served)
    train_x, train_y, test_x, test_y = load_mnist(mirrors=[base + "/"], progress=False)
    assert sorted(p.name for p in no_places.iterdir()) == sorted(f"{n}.gz" for n in FILE_NAMES)
    assert len(requests) == 4 and list(test_y[:3]) == [7, 2, 1]
    # A corrupted mirror copy is refused before it reaches the cache.
    for path in no_places.iterdir():
        path.unlink()
    (served / f"{FILE_NAMES[1]}.gz").write_bytes(
        (served / f"{FILE_NAMES[3]}.gz").read_bytes())
    with pytest.raises(DataError, match=r"train-labels-idx1-ubyte.gz: wrong checksum"):
        load_mnist(mirrors=[base], progress=False)
    assert sorted(p.name for p in no_places.iterdir()) == [f"{FILE_NAMES[0]}.gz"]


def test_loading_checks_counts_labels_and_image_size(tmp_path):
    folder = fake_mnist(tmp_path, tag=0)
    write_idx(folder / f"{FILE_NAMES[1]}.gz", np.zeros(5, np.uint8))
    with pytest.raises(DataError, match=r"holds 6 images but .*train-labels.* holds 5 labels"):
        load_mnist(folder, download=False)
    write_idx(folder / f"{FILE_NAMES[1]}.gz", np.array([1, 2, 10, 3, 4, 5], np.uint8))
    with pytest.raises(DataError, match=r"label 10 at index 2 is not a digit"):
        load_mnist(folder, download=False)
    write_idx(folder / f"{FILE_NAMES[1]}.gz", np.zeros(6, np.uint8))
    write_idx(folder / f"{FILE_NAMES[2]}.gz", np.zeros((4, 27, 28), np.uint8))
    with pytest.raises(DataError, match=r"t10k-images.*27x28 pixels"):
        load_mnist(folder, download=False)
    write_idx(folder / f"{FILE_NAMES[2]}.gz", np.zeros(4, np.uint8))  # labels for images
    with pytest.raises(DataError, match=r"1-dimensional array, expected 3"):
        load_mnist(folder, download=False)


def test_one_hot():
    encoded = one_hot(np.array([3, 0, 9], np.uint8), dtype=np.float32)
    assert encoded.dtype == np.float32 and encoded.shape == (3, 10)
    assert list(encoded.argmax(axis=1)) == [3, 0, 9] and encoded.sum() == 3
    with pytest.raises(DataError, match=r"0..9"):
        one_hot(np.array([10]))


@pytest.fixture(scope="module")
def images():
    return np.random.default_rng(5).integers(0, 256, (300, 28, 28)).astype(np.uint8)


def test_tutorial_preprocessing_subtracts_the_training_mean_and_divides_by_255(images):
    prep = Preprocessing.fit(images)
    np.testing.assert_allclose(prep.mean, images.reshape(300, -1).mean(axis=0))
    x = prep.transform(images)
    np.testing.assert_allclose(x, (images.reshape(300, -1) - prep.mean) / 255)
    assert np.abs(x.mean(axis=0)).max() < 1e-12
    assert prep.transform(images[:5], np.float32).dtype == np.float32


@pytest.mark.parametrize("method", ["standardize", "whiten"])
def test_standardized_and_whitened_features(images, method):
    prep = Preprocessing.fit(images, method, epsilon=1e-6)
    x = prep.transform(images)
    if method == "standardize":
        np.testing.assert_allclose(x.std(axis=0), 1, atol=1e-4)
    else:
        # Whitened: uncorrelated unit-variance features (300 images span 299 of them).
        covariance = x.T @ x / len(x)
        top = covariance[:200, :200]
        np.testing.assert_allclose(top, np.eye(200), atol=1e-3)


@pytest.mark.parametrize("method", ["center", "standardize", "whiten"])
def test_pixel_weights_are_the_same_linear_map(images, rng, method):
    prep = Preprocessing.fit(images, method, n_components=50)
    weights = rng.standard_normal((prep.n_features, 7))
    centred = images.reshape(300, -1) - prep.mean
    np.testing.assert_allclose(prep.transform(images) @ weights,
                               centred @ prep.pixel_weights(weights), atol=1e-9)


@pytest.mark.parametrize("method", ["center", "standardize", "whiten"])
def test_preprocessing_travels_with_the_model(images, tmp_path, method):
    prep = Preprocessing.fit(images, method, n_components=20)
    graph = dagnet.fully_connected([10], prep.n_features, output_activation="softmax")
    metadata, tensors = prep.to_model()
    dagnet.save(graph, tmp_path / "m.safetensors", metadata={"preprocessing": metadata},
                extra_tensors=tensors)
    loaded = dagnet.load(tmp_path / "m.safetensors")
    back = Preprocessing.from_model(loaded.metadata["preprocessing"], loaded.extra_tensors)
    np.testing.assert_array_equal(back.transform(images), prep.transform(images))
    with pytest.raises(DataError, match=r"no MNIST preprocessing"):
        Preprocessing.from_model({}, {}, "x.safetensors")


def test_unknown_method():
    with pytest.raises(ValueError, match=r"choose from center, standardize, whiten"):
        Preprocessing.fit(np.zeros((2, 28, 28), np.uint8), "zca")


# -- digits from ordinary images ---------------------------------------------------------

def centre_of_mass(image: np.ndarray) -> tuple[float, float]:
    total = image.sum()
    rows, cols = np.indices(image.shape)
    return (rows * image).sum() / total, (cols * image).sum() / total


def test_centre_digit_fits_20x20_keeps_aspect_and_centres_the_mass():
    canvas = np.zeros((400, 300))
    canvas[30:130, 200:240] = 255  # a 100x40 bar, far off-centre
    digit = centre_digit(canvas)
    assert digit.shape == (28, 28) and digit.dtype == np.uint8
    rows = np.flatnonzero(digit.max(axis=1) > 127)
    cols = np.flatnonzero(digit.max(axis=0) > 127)
    assert len(rows) == 20 and len(cols) == 8  # 100x40 scaled by 20/100
    cy, cx = centre_of_mass(digit.astype(float))
    assert abs(cy - 14) <= 0.5 and abs(cx - 14) <= 0.5


def test_centre_digit_inverts_dark_ink_on_light_paper_and_drops_the_background():
    light = np.zeros((90, 90))
    light[20:70, 40:50] = 200
    light[20:30, 30:60] = 200
    paper = 240 - light  # dark strokes on grey-white paper
    np.testing.assert_array_equal(centre_digit(paper), centre_digit(light))
    assert centre_digit(paper).max() == 255 and centre_digit(paper)[0].max() == 0


def test_mnist_digits_survive_a_round_trip_through_a_picture():
    _, _, test_images, _ = load_mnist(require_data(MNIST), download=False)
    for digit in test_images[:20]:
        picture = np.kron(255 - digit.astype(float), np.ones((4, 4)))  # 112x112, inverted
        back = centre_digit(picture).astype(float)
        assert np.abs(back - digit).mean() < 12
        cy, cx = centre_of_mass(back)
        assert abs(cy - 14) <= 0.5 and abs(cx - 14) <= 0.5


def test_read_digit_image_flattens_transparency_either_way(tmp_path):
    from PIL import Image

    strokes = np.zeros((60, 60), dtype=np.uint8)
    strokes[10:50, 25:35] = 255
    expected = centre_digit(strokes)
    for ink in (0, 255):  # black or white ink on a transparent canvas
        rgba = np.zeros((60, 60, 4), dtype=np.uint8)
        rgba[..., :3] = ink
        rgba[..., 3] = strokes
        Image.fromarray(rgba, "RGBA").save(tmp_path / f"ink{ink}.png")
        np.testing.assert_array_equal(read_digit_image(tmp_path / f"ink{ink}.png"), expected)


def test_pictures_without_a_digit_are_refused(tmp_path):
    from PIL import Image

    Image.fromarray(np.full((40, 40), 128, np.uint8)).save(tmp_path / "grey.png")
    with pytest.raises(DataError, match=r"grey.png: no digit found"):
        read_digit_image(tmp_path / "grey.png")
    (tmp_path / "fake.png").write_bytes(b"not a png")
    with pytest.raises(DataError, match=r"fake.png: not an image Pillow can read"):
        read_digit_image(tmp_path / "fake.png")
