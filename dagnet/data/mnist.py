"""MNIST: finding, downloading and loading the four IDX files, and preprocessing them.

``load_mnist(data_dir)`` returns ``(train_images, train_labels, test_images,
test_labels)``: images uint8 ``(N, 28, 28)``, labels uint8 ``(N,)``.  The files
(raw or ``.gz``) are looked for, in order, in ``data_dir``, in
``$DAGNET_DATA_DIR``, and in the cache (``$XDG_CACHE_HOME/dagnet/mnist``, else
``~/.cache/dagnet/mnist``); the first folder that holds all four is used.
Otherwise they are downloaded into the cache from the public mirrors, each
checked against the SHA-256 of its decompressed content (the canonical files,
whose MD5s are the well-known ones) and written atomically.

Preprocessing follows the tutorial: ``Preprocessing.fit(train_images)``
learns the training mean, ``transform`` subtracts it and divides by 255;
``method="standardize"`` divides by each pixel's standard deviation instead and
``"whiten"`` projects on the principal components scaled to unit variance.
``to_model``/``from_model`` keep it with the model file so that prediction
applies the same transform.  ``one_hot`` encodes labels;
``dagnet.training.minibatches`` does the seeded shuffling and mini-batches.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dagnet.data.download import DownloadError, RemoteFile, cache_dir, fetch
from dagnet.data.idx import is_idx, read_idx
from dagnet.errors import DataError
from dagnet.files import open_regular_file
from dagnet.limits import DEFAULT_LIMITS, Limits

ENV_VARIABLE = "DAGNET_DATA_DIR"
IMAGE_SHAPE = (28, 28)
N_CLASSES = 10
MIRRORS = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
    "http://yann.lecun.com/exdb/mnist/",
)
# Name -> SHA-256 of the decompressed canonical file (its MD5 is the well-known one).
CHECKSUMS = {
    "train-images-idx3-ubyte":
        "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
    "train-labels-idx1-ubyte":
        "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
    "t10k-images-idx3-ubyte":
        "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
    "t10k-labels-idx1-ubyte":
        "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
}
FILE_NAMES = tuple(CHECKSUMS)  # train images, train labels, test images, test labels


def remote_files(mirrors: tuple[str, ...] | list[str] | None = None) -> list[RemoteFile]:
    """The four gzip files to download, in FILE_NAMES order, from ``mirrors`` (URL
    prefixes; default MIRRORS)."""
    mirrors = MIRRORS if mirrors is None else mirrors
    return [RemoteFile(f"{name}.gz",
                       tuple(m.rstrip("/") + f"/{name}.gz" for m in mirrors),
                       sha256, gunzip_checksum=True)
            for name, sha256 in CHECKSUMS.items()]


def _in_folder(folder: Path, name: str) -> Path | None:
    for candidate in (folder / name, folder / f"{name}.gz"):
        if candidate.is_file():
            return candidate
    return None


def search_folders(data_dir: str | os.PathLike | None = None) -> list[tuple[str, Path]]:
    """The folders searched, in order, each with how it was chosen."""
    folders = []
    # A folder may hold the files, or be a data root with them in mnist/ (like the cache).
    if data_dir is not None:
        folders += [("--data", Path(data_dir)), ("--data", Path(data_dir) / "mnist")]
    env = os.environ.get(ENV_VARIABLE)
    if env:
        folders += [(f"${ENV_VARIABLE}", Path(env) / "mnist"), (f"${ENV_VARIABLE}", Path(env))]
    folders.append(("cache", cache_dir("mnist")))
    return folders


def locate_mnist(data_dir: str | os.PathLike | None = None, *, download: bool = True,
                 progress: bool | None = None,
                 mirrors: tuple[str, ...] | list[str] | None = None) -> list[Path]:
    """The paths of the four files (FILE_NAMES order), downloading them if needed.

    Raises DataError with the files, the folders searched and what to do when
    they are nowhere and cannot be downloaded.
    """
    folders = search_folders(data_dir)
    for _, folder in folders:
        paths = [_in_folder(folder, name) for name in FILE_NAMES]
        if all(paths):
            return paths
    cache = cache_dir("mnist")
    reason = "downloading is off"
    if download:
        try:
            return [fetch(remote, cache, progress=progress) for remote in remote_files(mirrors)]
        except DownloadError as exc:
            reason = str(exc)
        except DataError as exc:  # e.g. the cache folder is not writable
            reason = str(exc)
    searched = "; ".join(f"{folder} ({how})" for how, folder in folders)
    if not os.environ.get(ENV_VARIABLE):
        searched += f"; ${ENV_VARIABLE} is not set"
    raise DataError(f"MNIST not found: need the four files {', '.join(FILE_NAMES)} (raw or "
                    f".gz) in one folder. Searched: {searched}. Download into the cache "
                    f"failed: {reason}. Put the files in a folder and pass --data DIR or "
                    f"set {ENV_VARIABLE}=DIR")


def load_mnist(data_dir: str | os.PathLike | None = None, *, download: bool = True,
               progress: bool | None = None,
               mirrors: tuple[str, ...] | list[str] | None = None
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``(train_images, train_labels, test_images, test_labels)``, located as
    ``locate_mnist`` does: images uint8 (N, 28, 28), labels uint8 (N,) in 0..9."""
    paths = locate_mnist(data_dir, download=download, progress=progress, mirrors=mirrors)
    train_images, test_images = (read_mnist_images(p) for p in paths[0::2])
    train_labels, test_labels = (read_mnist_labels(p) for p in paths[1::2])
    for images, labels, image_path, label_path in (
            (train_images, train_labels, paths[0], paths[1]),
            (test_images, test_labels, paths[2], paths[3])):
        if len(images) != len(labels):
            raise DataError(f"{image_path} holds {len(images)} images but {label_path} holds "
                            f"{len(labels)} labels")
    return train_images, train_labels, test_images, test_labels


def read_mnist_images(path: str | os.PathLike) -> np.ndarray:
    """uint8 images (N, 28, 28) from an IDX file; DataError if it holds anything else."""
    images = read_idx(path, dtype=np.uint8, ndim=3)
    if images.shape[1:] != IMAGE_SHAPE:
        raise DataError(f"{path}: holds images of {images.shape[1]}x{images.shape[2]} pixels, "
                        "MNIST images are 28x28")
    return images


def read_mnist_labels(path: str | os.PathLike) -> np.ndarray:
    """uint8 labels (N,) in 0..9 from an IDX file; DataError naming a bad label."""
    labels = read_idx(path, dtype=np.uint8, ndim=1)
    bad = np.flatnonzero(labels >= N_CLASSES)
    if bad.size:
        raise DataError(f"{path}: label {int(labels[bad[0]])} at index {int(bad[0])} is not a "
                        f"digit ({bad.size} labels outside 0..9)")
    return labels


def one_hot(labels: np.ndarray, n_classes: int = N_CLASSES, dtype=np.float64) -> np.ndarray:
    """(N, n_classes) rows with a 1 in column ``labels[i]``."""
    labels = np.asarray(labels)
    if labels.size and (labels.min() < 0 or labels.max() >= n_classes):
        raise DataError(f"labels must lie in 0..{n_classes - 1}, got {labels.min()}.."
                        f"{labels.max()}")
    encoded = np.zeros((labels.size, n_classes), dtype=dtype)
    encoded[np.arange(labels.size), labels.ravel()] = 1
    return encoded


PREPROCESSING_METHODS = ("center", "standardize", "whiten")


@dataclass
class Preprocessing:
    """x ↦ ((x - mean) ⊙ scale)·components: images (N, 28, 28) uint8 -> (N, features).

    ``center`` (the tutorial's): scale = 1/255, no components.  ``standardize``:
    scale = 1/(255·√(σ² + ε)), σ² the pixel's variance on the [0, 1] scale.
    ``whiten``: scale = 1/255, components = U/√(λ + ε), the principal axes U of
    the training images scaled to unit variance (the first ``n_components``).
    ε keeps rarely-lit pixels and tiny components from being blown up.
    """

    method: str
    mean: np.ndarray  # (784,) float64, in pixel units
    scale: np.ndarray  # (784,) float64
    components: np.ndarray | None = None  # (784, k) float64
    epsilon: float = 0.0

    @classmethod
    def fit(cls, images: np.ndarray, method: str = "center", epsilon: float = 0.01,
            n_components: int | None = None) -> Preprocessing:
        """Learn the transform from training images (N, 28, 28) or (N, 784)."""
        if method not in PREPROCESSING_METHODS:
            raise ValueError(f"unknown preprocessing {method!r}; choose from "
                             f"{', '.join(PREPROCESSING_METHODS)}")
        x = np.asarray(images).reshape(len(images), -1)
        mean = x.mean(axis=0, dtype=np.float64)
        scale = np.full(x.shape[1], 1 / 255)
        components = None
        if method == "standardize":
            variance = x.var(axis=0, dtype=np.float64) / 255**2
            scale = 1 / (255 * np.sqrt(variance + epsilon))
        elif method == "whiten":
            centred = (x - mean) / 255
            covariance = centred.T @ centred / len(x)
            eigenvalues, vectors = np.linalg.eigh(covariance)
            order = np.argsort(eigenvalues)[::-1][:n_components]
            eigenvalues = np.clip(eigenvalues[order], 0, None)
            # Fix each axis's sign (the largest entry positive) so fits are reproducible.
            vectors = vectors[:, order]
            vectors *= np.sign(vectors[np.abs(vectors).argmax(axis=0), range(len(order))])
            components = vectors / np.sqrt(eigenvalues + epsilon)
        return cls(method, mean, scale, components, float(epsilon))

    @property
    def n_features(self) -> int:
        return len(self.mean) if self.components is None else self.components.shape[1]

    def transform(self, images: np.ndarray, dtype=np.float64) -> np.ndarray:
        """Preprocessed rows (N, n_features) of ``dtype`` from images (N, 28, 28) or (N, 784)."""
        x = np.asarray(images).reshape(len(images), -1)
        if x.shape[1] != len(self.mean):
            raise DataError(f"images of {x.shape[1]} pixels, the preprocessing expects "
                            f"{len(self.mean)}")
        out = x.astype(dtype)
        out -= self.mean.astype(dtype)
        out *= self.scale.astype(dtype)
        if self.components is not None:
            out = out @ self.components.astype(dtype)
        return out

    def pixel_weights(self, weights: np.ndarray) -> np.ndarray:
        """The first layer's weights (n_features, units) as weights on the raw pixels
        (784, units): what each neuron multiplies the image (minus the mean) by."""
        if self.components is not None:
            weights = self.components @ weights
        return weights * self.scale[:, None]

    def to_model(self) -> tuple[dict, dict[str, np.ndarray]]:
        """The metadata and tensors that ``dagnet.save`` keeps with the model."""
        tensors = {"preprocessing/mean": self.mean, "preprocessing/scale": self.scale}
        if self.components is not None:
            tensors["preprocessing/components"] = self.components
        return {"method": self.method, "epsilon": self.epsilon}, tensors

    @classmethod
    def from_model(cls, metadata: dict, tensors: dict[str, np.ndarray],
                   source: str = "the model") -> Preprocessing:
        """The inverse of ``to_model``; DataError if ``source`` lacks what it needs."""
        try:
            method = metadata["method"]
            mean = np.asarray(tensors["preprocessing/mean"], dtype=np.float64)
            scale = np.asarray(tensors["preprocessing/scale"], dtype=np.float64)
        except (KeyError, TypeError):
            raise DataError(f"{source} has no MNIST preprocessing (mean and scale): was it "
                            "trained by `dagnet mnist`?") from None
        components = tensors.get("preprocessing/components")
        if method not in PREPROCESSING_METHODS or mean.shape != scale.shape or (
                (components is None) != (method != "whiten")):
            raise DataError(f"{source}: inconsistent MNIST preprocessing ({method!r})")
        return cls(method, mean, scale,
                   None if components is None else np.asarray(components, np.float64),
                   float(metadata.get("epsilon", 0.0)))


# -- digits from ordinary images --------------------------------------------------------

_BOX = 20  # MNIST digits fit in a 20x20 box...
_CENTRE = 14.0  # ...placed so their centre of mass is at pixel (14, 14) of the 28x28 field


def read_digit_image(path: str | os.PathLike, limits: Limits | None = None) -> np.ndarray:
    """A PNG, JPEG (or any image Pillow reads) of one digit as a 28x28 uint8 MNIST digit.

    Colour and transparency are flattened to grayscale, an image whose longer side
    exceeds 1024 pixels is first box-reduced by a whole factor to at most 1024,
    then ``centre_digit`` does what was done to the MNIST digits.  DataError names
    the file if it cannot be read or holds no digit, if it is not a regular file,
    or if its header declares more than ``limits.max_image_pixels`` pixels
    (checked before the pixels are decoded).
    """
    path = Path(path)
    image = _open_image(path, DEFAULT_LIMITS if limits is None else limits)
    transparent = image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info
    image = _working_size(image.convert("RGBA" if transparent else "L"))
    if transparent:
        rgba = np.asarray(image, dtype=np.float64)
        alpha = rgba[..., 3] / 255
        gray = rgba[..., :3] @ np.array([0.299, 0.587, 0.114])
        if alpha.min() < 1:
            # Lay the drawing on a background that contrasts with its opaque strokes,
            # so a dark digit on a transparent canvas and a light one both survive.
            ink = (gray * alpha).sum() / max(alpha.sum(), 1e-9)
            background = 255.0 if ink < 128 else 0.0
            gray = gray * alpha + background * (1 - alpha)
    else:
        gray = np.asarray(image, dtype=np.float64)
    try:
        return centre_digit(gray)
    except DataError as exc:
        raise DataError(f"{path}: {exc}") from None


def _open_image(path: Path, limits: Limits):
    """The decoded image in ``path`` (a regular file), its pixel count checked first."""
    from PIL import Image, ImageOps, UnidentifiedImageError

    f, _ = open_regular_file(path, DataError, "image")
    try:
        with f, warnings.catch_warnings():
            # Pillow warns from 89 million pixels; the size is checked here, with the name.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(f) as opened:
                _check_pixels(path, opened.size, limits)
                image = ImageOps.exif_transpose(opened)
                image.load()
    except Image.DecompressionBombError as exc:
        raise DataError(f"{path}: too many pixels ({exc}); dagnet reads images of up to "
                        f"Limits.max_image_pixels = {limits.max_image_pixels} pixels") from None
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise DataError(f"{path}: not an image Pillow can read ({exc})") from None
    return image


# The float work on an image costs about 32 bytes a pixel; a digit needs far fewer pixels.
_WORKING_SIDE = 1024


def _working_size(image):
    """``image`` box-reduced by a whole factor so that its longer side is at most 1024."""
    factor = -(-max(image.size) // _WORKING_SIDE)
    return image.reduce(factor) if factor > 1 else image


def _check_pixels(path: Path, size: tuple[int, int], limits: Limits) -> None:
    width, height = size
    if width * height > limits.max_image_pixels:
        raise DataError(f"{path}: an image of {width}x{height} pixels ({width * height}), more "
                        f"than Limits.max_image_pixels = {limits.max_image_pixels}; a digit "
                        "needs no more than a few hundred pixels a side, shrink the image")


def centre_digit(gray: np.ndarray) -> np.ndarray:
    """A grayscale image (H, W) of one digit, any size, as a 28x28 uint8 MNIST digit.

    As for MNIST: light ink on black (a dark-on-light image, judged by its
    border, is inverted), the background level removed, the digit's bounding
    box scaled to fit a 20x20 box with its aspect ratio kept (anti-aliased), and
    placed in the 28x28 field with its centre of mass at the centre.
    """
    from PIL import Image

    gray = np.asarray(gray, dtype=np.float64)
    if gray.ndim != 2 or min(gray.shape) < 1:
        raise DataError(f"expected a 2-D grayscale image, got shape {gray.shape}")
    border = np.concatenate([gray[0], gray[-1], gray[:, 0], gray[:, -1]])
    if np.median(border) > 127:
        gray = 255 - gray
        border = 255 - border
    ink = np.clip(gray - np.median(border), 0, None)
    peak = ink.max()
    if peak < 16:  # nothing stands out from the background by more than 6% of the range
        raise DataError("no digit found: the image has no stroke that stands out from its "
                        "background")
    ink *= 255 / peak
    strokes = ink > 0.2 * 255  # faint noise does not stretch the bounding box
    rows = np.flatnonzero(strokes.any(axis=1))
    cols = np.flatnonzero(strokes.any(axis=0))
    ink = ink[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]
    height, width = ink.shape
    factor = _BOX / max(height, width)
    size = (max(1, round(width * factor)), max(1, round(height * factor)))
    resized = Image.fromarray(ink.astype(np.float32), mode="F").resize(
        size, Image.Resampling.LANCZOS, reducing_gap=None)
    box = np.clip(np.asarray(resized, dtype=np.float64), 0, 255)
    total = box.sum()
    if total <= 0:
        raise DataError("no digit found after resizing")
    cy = (box.sum(axis=1) @ np.arange(box.shape[0])) / total
    cx = (box.sum(axis=0) @ np.arange(box.shape[1])) / total
    top = int(np.clip(round(_CENTRE - cy), 0, 28 - box.shape[0]))
    left = int(np.clip(round(_CENTRE - cx), 0, 28 - box.shape[1]))
    digit = np.zeros((28, 28), dtype=np.float64)
    digit[top:top + box.shape[0], left:left + box.shape[1]] = box
    return np.round(digit).astype(np.uint8)


def read_digits(files: Sequence[Path]) -> tuple[np.ndarray, list[tuple[str, int | None]]]:
    """uint8 digits (N, 28, 28) from images and IDX files, with (file, index in an IDX
    file or None) for each; DataError naming a file that is missing or not digits."""
    digits, sources = [], []
    for path in map(Path, files):
        if not path.is_file():
            what = "a folder, not a file" if path.is_dir() else "no such file"
            raise DataError(f"{path}: {what}")
        if is_idx(path):
            array = read_idx(path, dtype=np.uint8)
            if array.shape[-2:] != (28, 28) or array.ndim not in (2, 3):
                raise DataError(f"{path}: an IDX file of shape {array.shape}; predict reads "
                                "28x28 uint8 images, (N, 28, 28) or (28, 28)")
            if array.size == 0:
                raise DataError(f"{path}: an IDX file with no image in it")
            array = array.reshape(-1, 28, 28)
            digits.append(array)
            sources += [(str(path), k) for k in range(len(array))]
        else:
            digits.append(read_digit_image(path)[None])
            sources.append((str(path), None))
    return np.concatenate(digits), sources
