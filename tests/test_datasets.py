"""Data loading, all offline: small IDX files made here, a local HTTP server on 127.0.0.1."""

import gzip
import hashlib
import http.server
import os
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

import xpnet
from conftest import hostile_npy, replace_member
from xpnet import datasets
from xpnet.datasets import FILES, DatasetError
from xpnet.datasets.idx import read_idx, write_idx


def make_set(folder, n_train=30, n_test=12, seed=0, compress=False):
    """Write a small MNIST-shaped set; returns the arrays. Uncompressed by default: such files have
    no published checksum, so they are checked for structure (a .gz under MNIST's names must be
    the published file; see publish())."""
    rng = np.random.default_rng(seed)
    arrays = {
        "train_images": rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
        "train_labels": rng.integers(0, 10, n_train, dtype=np.uint8),
        "test_images": rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
        "test_labels": rng.integers(0, 10, n_test, dtype=np.uint8),
    }
    os.makedirs(folder, exist_ok=True)
    for key, name in FILES.items():
        write_idx(os.path.join(folder, name if compress else name[:-3]), arrays[key])
    return arrays


def publish(monkeypatch, folder, spec="MNIST"):
    """Make the .gz files in ``folder`` the 'published' ones of ``spec`` for this test."""
    import dataclasses

    old = getattr(datasets, spec)
    md5 = {k: hashlib.md5((folder / name).read_bytes()).hexdigest() for k, name in FILES.items()}
    monkeypatch.setattr(datasets, spec, dataclasses.replace(old, md5=md5))


def files_in(folder):
    return sorted(p for p in os.listdir(folder))


def test_idx_roundtrip(tmp_path):
    a = np.arange(2 * 28 * 28, dtype=np.uint8).reshape(2, 28, 28)
    write_idx(tmp_path / "x.gz", a)
    write_idx(tmp_path / "x", a)
    assert np.array_equal(read_idx(tmp_path / "x.gz"), a)
    assert np.array_equal(read_idx(tmp_path / "x"), a)


@pytest.mark.parametrize("compress", [True, False])
def test_load_forms_and_backend(tmp_path, backend, compress, monkeypatch):
    arrays = make_set(tmp_path / "mnist", compress=compress)
    if compress:
        publish(monkeypatch, tmp_path / "mnist")
    (x, t), (xt, tt) = datasets.load_mnist(data_dir=tmp_path, download=False)
    assert xpnet.backend.backend_of(xpnet.namespace(x)).name == backend
    x, t, xt = xpnet.to_numpy(x), xpnet.to_numpy(t), xpnet.to_numpy(xt)
    assert x.shape == (30, 784) and x.dtype == np.float32 and xt.shape == (12, 784)
    assert 0.0 <= x.min() and x.max() <= 1.0
    np.testing.assert_allclose(x, arrays["train_images"].reshape(30, 784) / 255.0, rtol=1e-6)
    assert t.dtype == np.int64 and np.array_equal(t, arrays["train_labels"])
    (x, t), _ = datasets.load_mnist(
        normalize=False, flatten=False, one_hot_label=True, data_dir=tmp_path, download=False
    )
    x, t = xpnet.to_numpy(x), xpnet.to_numpy(t)
    assert x.shape == (30, 1, 28, 28) and x.dtype == np.uint8
    assert np.array_equal(x[:, 0], arrays["train_images"])
    assert t.shape == (30, 10) and np.array_equal(np.argmax(t, axis=1), arrays["train_labels"])
    assert np.all(t.sum(axis=1) == 1)
    (x64, _), _ = datasets.load_mnist(dtype="float64", data_dir=tmp_path, download=False)
    assert xpnet.to_numpy(x64).dtype == np.float64


def test_files_in_bare_data_dir_and_env(tmp_path, monkeypatch):
    make_set(tmp_path)
    monkeypatch.setenv("XPNET_DATA_DIR", str(tmp_path))
    (x, _), _ = datasets.load_mnist(download=False)
    assert x.shape == (30, 784)


def test_cache_is_used_and_refreshed(tmp_path):
    make_set(tmp_path / "mnist", seed=1)
    datasets.load_mnist(data_dir=tmp_path, download=False)
    cache = tmp_path / "mnist" / "mnist-all.cache" / "signature.json"
    assert cache.exists()
    # the cache answers without parsing the IDX files
    first = cache.stat().st_mtime_ns
    datasets.load_mnist(data_dir=tmp_path, download=False)
    assert cache.stat().st_mtime_ns == first
    time.sleep(0.01)
    new = make_set(tmp_path / "mnist", n_train=7, seed=2)  # files replaced: cache rebuilt
    (x, t), _ = datasets.load_mnist(data_dir=tmp_path, download=False, normalize=False)
    assert np.array_equal(xpnet.to_numpy(t), new["train_labels"])


def _corrupt(tmp_path, how):
    folder = tmp_path / "mnist"
    make_set(folder, compress=True)
    path = folder / FILES["train_images"]
    raw = gzip.decompress(path.read_bytes())
    if how == "truncated-gzip":
        path.write_bytes(path.read_bytes()[:200])
    elif how == "magic":
        path.write_bytes(gzip.compress(b"\x00\x00\x09\x07" + raw[4:]))
    elif how == "length":
        path.write_bytes(gzip.compress(raw[:-50]))
    elif how == "counts":
        write_idx(folder / FILES["train_labels"], np.zeros(29, dtype=np.uint8))
    elif how == "dims":
        write_idx(path, np.zeros((30, 20, 20), dtype=np.uint8))
    elif how == "labels-as-images":
        write_idx(path, np.zeros(30, dtype=np.uint8))
    return path


@pytest.mark.parametrize(
    "how,pattern",
    [
        ("truncated-gzip", "truncated or damaged"),
        ("magic", "IDX file has 7 dimensions|wrong magic"),
        ("length", r"header promises .* \(truncated\)"),
        ("counts", "holds 30 images but .* holds 29 labels"),
        ("dims", r"items of shape \(20, 20\), expected \(28, 28\)"),
        ("labels-as-images", "has 1 dimensions, expected 3"),
    ],
)
def test_bad_files(tmp_path, how, pattern):
    _corrupt(tmp_path, how)
    with pytest.raises(DatasetError, match=pattern) as info:
        datasets.load_mnist(data_dir=tmp_path, download=False)
    assert "train-" in str(info.value)  # names the file
    assert not (tmp_path / "mnist" / "mnist-all.cache").exists()  # nothing cached from a bad set


def test_wrong_magic_number(tmp_path):
    folder = tmp_path / "mnist"
    make_set(folder, compress=True)
    (folder / FILES["test_labels"]).write_bytes(gzip.compress(b"PK\x03\x04 not idx"))
    with pytest.raises(DatasetError, match="t10k-labels.*wrong magic number"):
        datasets.load_mnist(data_dir=tmp_path, download=False)


def test_missing_without_download(tmp_path):
    with pytest.raises(DatasetError, match="not found in .*To fix: run 'xpnet fetch mnist'"):
        datasets.load_mnist(data_dir=tmp_path, download=False)


# ------------------------------------------------------------------ downloads


class _Handler(http.server.BaseHTTPRequestHandler):
    routes = {}

    def log_message(self, *args):
        pass

    def do_GET(self):
        mode, body = self.routes.get(self.path, ("404", b""))
        if mode == "404":
            self.send_error(404)
        elif mode == "500":
            self.send_error(500)
        elif mode == "slow":
            time.sleep(1.5)
            self.send_error(500)
        elif mode == "chunked-cut":  # a chunked body cut in the middle of a chunk
            self.send_response(200)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            self.wfile.write(b"%x\r\n" % len(body) + body[: len(body) // 2])
            self.wfile.flush()
            self.connection.shutdown(2)
        elif mode == "not-http":  # a reply that is not HTTP at all
            self.wfile.write(b"SSH-2.0-OpenSSH_9.6\r\n")
            self.wfile.flush()
            self.connection.shutdown(2)
        elif mode == "trickle":  # a byte at a time, slowly
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            for i in range(len(body)):
                self.wfile.write(body[i : i + 1])
                self.wfile.flush()
                time.sleep(0.05)
        elif mode == "endless":  # streams without end, no length announced
            self.send_response(200)
            self.end_headers()
            try:
                for _ in range(10_000):
                    self.wfile.write(b"\0" * 65536)
            except (BrokenPipeError, ConnectionResetError):
                pass
        elif mode == "truncate":
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
            self.connection.shutdown(2)
        else:
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)


@pytest.fixture
def server():
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    _Handler.routes = {}
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", _Handler.routes
    finally:
        httpd.shutdown()
        httpd.server_close()


def _spec_for(tmp_path, base_urls, arrays_dir):
    """A Spec whose checksums are those of files made here."""
    md5 = {k: hashlib.md5((arrays_dir / name).read_bytes()).hexdigest() for k, name in FILES.items()}
    return datasets.Spec(
        name="TEST", folder="test-set", md5=md5, mirrors=tuple(base_urls), mirror_env="XPNET_TEST_MIRROR"
    )


@pytest.mark.parametrize("first", ["404", "500", "slow"])
def test_mirror_order(tmp_path, server, first):
    url, routes = server
    src = tmp_path / "src"
    make_set(src, compress=True)
    for name in FILES.values():
        routes[f"/bad/{name}"] = (first, b"")
        routes[f"/good/{name}"] = ("ok", (src / name).read_bytes())
    spec = _spec_for(tmp_path, [f"{url}/bad/", f"{url}/good/"], src)
    root = tmp_path / "root"
    raw = datasets.load_raw(spec, root, progress=False) if first != "slow" else None
    if first == "slow":
        from xpnet.datasets import fetch

        paths = fetch(spec, root, progress=False, timeout=0.5)
        assert set(paths) == set(FILES)
        raw = datasets.load_raw(spec, root, download=False, progress=False)
    assert raw["train_images"].shape == (30, 28, 28)
    assert sorted(files_in(root / "test-set")) == sorted(list(FILES.values()) + ["test-set-all.cache"])
    assert sorted(files_in(root / "test-set" / "test-set-all.cache")) == sorted(
        [f"{k}.npy" for k in FILES] + ["signature.json"]
    )


def test_env_mirror_goes_first(tmp_path, server, monkeypatch):
    url, routes = server
    src = tmp_path / "src"
    make_set(src, compress=True)
    for name in FILES.values():
        routes[f"/mine/{name}"] = ("ok", (src / name).read_bytes())
    spec = _spec_for(tmp_path, [f"{url}/nothing-here/"], src)
    monkeypatch.setenv("XPNET_TEST_MIRROR", f"{url}/mine")
    raw = datasets.load_raw(spec, tmp_path / "root", progress=False)
    assert raw["test_labels"].shape == (12,)


def test_checksum_mismatch_keeps_nothing(tmp_path, server):
    url, routes = server
    src = tmp_path / "src"
    make_set(src, compress=True)
    for name in FILES.values():
        routes[f"/m/{name}"] = ("ok", (src / name).read_bytes() + b"tampered")
    spec = _spec_for(tmp_path, [f"{url}/m/"], src)
    with pytest.raises(DatasetError, match="checksum mismatch"):
        datasets.load_raw(spec, tmp_path / "root", progress=False)
    assert files_in(tmp_path / "root" / "test-set") == []


@pytest.mark.parametrize("mode", ["truncate"])
def test_interrupted_download_leaves_no_file(tmp_path, server, mode):
    url, routes = server
    src = tmp_path / "src"
    make_set(src, compress=True)
    for name in FILES.values():
        routes[f"/m/{name}"] = (mode, (src / name).read_bytes())
    spec = _spec_for(tmp_path, [f"{url}/m/"], src)
    with pytest.raises(DatasetError):
        datasets.load_raw(spec, tmp_path / "root", progress=False)
    assert files_in(tmp_path / "root" / "test-set") == []
    # an interrupted transfer, then a good mirror: a clean, valid cache
    for name in FILES.values():
        routes[f"/ok/{name}"] = ("ok", (src / name).read_bytes())
    spec2 = _spec_for(tmp_path, [f"{url}/m/", f"{url}/ok/"], src)
    raw = datasets.load_raw(spec2, tmp_path / "root", progress=False)
    assert raw["train_labels"].shape == (30,)


def test_all_mirrors_fail_message(tmp_path, server):
    url, _ = server
    src = tmp_path / "src"
    make_set(src, compress=True)
    spec = _spec_for(tmp_path, [f"{url}/a/", f"{url}/b/"], src)
    with pytest.raises(DatasetError, match=r"download failed: .*/a/.*HTTP 404.*/b/.*HTTP 404"):
        datasets.load_raw(spec, tmp_path / "root", progress=False)


# ------------------------------------------------------------------ other sets


def test_digits_option(backend):
    pytest.importorskip("sklearn", reason="the 8x8 digits need scikit-learn: pip install '.[digits]'")
    (x, t), (xt, tt) = datasets.load_digits()
    assert tuple(x.shape) == (1437, 64) and tuple(xt.shape) == (360, 64)
    h = xpnet.to_numpy(x)
    assert h.dtype == np.float32 and h.max() == 1.0 and h.min() == 0.0
    assert set(np.unique(xpnet.to_numpy(t))) == set(range(10))
    (x, t), _ = datasets.load_digits(flatten=False, one_hot_label=True, normalize=False)
    assert tuple(x.shape) == (1437, 1, 8, 8) and tuple(t.shape) == (1437, 10)


def test_digits_without_scikit_learn_is_one_clear_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "sklearn", None)
    monkeypatch.setitem(sys.modules, "sklearn.datasets", None)
    with pytest.raises(DatasetError, match=r"scikit-learn, which is not installed: pip install scikit-learn"):
        datasets.load_digits()


def test_bundled_test_digits_are_the_published_files(tmp_path):
    import hashlib

    files = {
        "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
        "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
    }
    for name, md5 in files.items():
        assert hashlib.md5((datasets.BUNDLED_DIR / name).read_bytes()).hexdigest() == md5
    assert "Creative Commons Attribution-Share Alike 3.0" in (datasets.BUNDLED_DIR / "NOTICE").read_text()
    (x, t), (xt, tt) = datasets.load_mnist_t10k(data_dir=tmp_path / "empty", backend="numpy")
    assert x.shape == (8000, 784) and xt.shape == (2000, 784) and x.dtype == np.float32
    assert np.bincount(t, minlength=10).min() > 600  # real digits: every class present


def test_auto_falls_back_with_notice(tmp_path, monkeypatch):
    monkeypatch.setenv("XPNET_MNIST_MIRROR", "http://127.0.0.1:9/")  # nothing listens on port 9
    monkeypatch.setattr(datasets, "MNIST", datasets.MNIST.__class__(**{**datasets.MNIST.__dict__, "mirrors": ()}))
    lines = []
    name, ((x, _), _) = datasets.load_dataset("auto", data_dir=tmp_path, notice=lines.append, progress=False)
    assert name == "mnist-t10k" and tuple(x.shape) == (8000, 784)
    assert len(lines) == 1 and "MNIST's training images are not available" in lines[0]
    assert "the 10,000 test digits that ship with xpnet" in lines[0] and "xpnet fetch mnist" in lines[0]
    assert len(lines[0]) < 160  # one short line; why, with verbose=True (or xpnet info)
    lines.clear()
    datasets.load_dataset("auto", data_dir=tmp_path, notice=lines.append, progress=False, verbose=True)
    assert len(lines) == 2 and lines[1].startswith("notice: why: MNIST: train-images-idx3-ubyte.gz")
    with pytest.raises(DatasetError):  # asking for MNIST explicitly never falls back
        datasets.load_dataset("mnist", data_dir=tmp_path, progress=False)
    with pytest.raises(ValueError, match="valid names are auto, mnist, mnist-t10k, fashion-mnist, digits"):
        datasets.load_dataset("cifar")


def test_fashion_mnist_from_folder(tmp_path):
    arrays = make_set(tmp_path / "fashion-mnist", seed=4)
    (x, t), _ = datasets.load_fashion_mnist(data_dir=tmp_path, download=False, normalize=False)
    assert np.array_equal(xpnet.to_numpy(t), arrays["train_labels"])


@pytest.mark.skipif(
    not os.path.exists("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz"),
    reason="Debian's dataset-fashion-mnist is not installed",
)
def test_fashion_mnist_debian(tmp_path):
    (x, t), (xt, tt) = datasets.load_fashion_mnist(data_dir=tmp_path, download=False)
    assert tuple(x.shape) == (60000, 784) and tuple(xt.shape) == (10000, 784)


def test_cli_check(tmp_path):
    make_set(tmp_path / "mnist")
    run = subprocess.run(
        [sys.executable, "-m", "xpnet.datasets", "mnist", "--data-dir", str(tmp_path), "--no-download"],
        capture_output=True,
        text=True,
    )
    assert run.returncode == 0, run.stderr
    assert "valid: 30 training and 12 test images" in run.stdout
    assert run.stdout.count("md5 ") == 4
    bad = subprocess.run([sys.executable, "-m", "xpnet.datasets", "cifar"], capture_output=True, text=True)
    assert bad.returncode == 2 and "Traceback" not in bad.stderr and len(bad.stderr.strip().splitlines()) == 1
    missing = subprocess.run(
        [sys.executable, "-m", "xpnet.datasets", "mnist", "--data-dir", str(tmp_path / "none"), "--no-download"],
        capture_output=True,
        text=True,
    )
    assert missing.returncode == 1 and "not found" in missing.stderr


def test_real_mnist_test_digits(shared_mnist, tmp_path):
    """The official test files (byte-identical to the published ones) load and checksum."""
    import shutil

    for name in (FILES["test_images"], FILES["test_labels"]):
        shutil.copy(shared_mnist / name, tmp_path / name)
        assert hashlib.md5((tmp_path / name).read_bytes()).hexdigest() in datasets.MNIST.md5.values()
    (x, t), (xt, tt) = datasets.load_mnist_t10k(data_dir=tmp_path)
    assert tuple(x.shape) == (8000, 784) and tuple(xt.shape) == (2000, 784)
    assert xpnet.to_numpy(t)[:10].tolist() == [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]  # MNIST's first test labels


def test_real_digits_train_to_90_percent(shared_mnist):
    """TwoLayerNet(784, 50, 10) by backprop with the book's hyper-parameters (batch 100,
    lr 0.1) on the first 8,000 real test digits; the last 2,000 are held out."""
    from xpnet.train import fit

    (x, t), (xt, tt) = datasets.load_mnist_t10k(data_dir=shared_mnist.parent, dtype="float64")
    net = xpnet.TwoLayerNet(784, 50, 10, seed=0)
    h = fit(net, x, t, xt, tt, iters=2400, batch_size=100, lr=0.1, seed=0, progress=False)
    assert h.final["test_acc"] >= 0.90, h.final
    assert net.accuracy(xt, tt) == h.final["test_acc"]


# ------------------------------------------------------------------ where other libraries keep MNIST


def test_mnist_found_in_torchvisions_layout(tmp_path, monkeypatch):
    """torchvision keeps MNIST in <root>/MNIST/raw/ (uncompressed IDX files)."""
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "no-keras"))
    arrays = make_set(tmp_path / "root" / "MNIST" / "raw", seed=7, compress=False)
    (x, t), (xt, tt) = datasets.load_mnist(data_dir=tmp_path / "root", normalize=False, download=False, backend="numpy")
    assert np.array_equal(x.reshape(-1, 28, 28), arrays["train_images"])
    assert np.array_equal(tt, arrays["test_labels"].astype(np.int64))


def _keras_npz(path, arrays):
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(
        path,
        x_train=arrays["train_images"],
        y_train=arrays["train_labels"],
        x_test=arrays["test_images"],
        y_test=arrays["test_labels"],
    )


def _full_size(seed=0):
    rng = np.random.default_rng(seed)
    return {
        "train_images": rng.integers(0, 256, (60000, 28, 28), dtype=np.uint8),
        "train_labels": rng.integers(0, 10, 60000, dtype=np.uint8),
        "test_images": rng.integers(0, 256, (10000, 28, 28), dtype=np.uint8),
        "test_labels": rng.integers(0, 10, 10000, dtype=np.uint8),
    }


def test_mnist_found_where_keras_keeps_it(tmp_path, monkeypatch):
    arrays = _full_size()
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    _keras_npz(tmp_path / "keras" / "datasets" / "mnist.npz", arrays)
    (x, t), (xt, tt) = datasets.load_mnist(
        data_dir=tmp_path / "empty", normalize=False, download=False, backend="numpy"
    )
    assert np.array_equal(x.reshape(-1, 28, 28), arrays["train_images"]) and xt.shape == (10000, 784)
    assert not (tmp_path / "empty").exists()  # nothing downloaded, nothing written


@pytest.mark.parametrize(
    "damage,pattern",
    [
        ("labels", r"train_labels holds labels up to 12, expected 0-9"),
        ("shape", r"test_images is uint8 of shape \(10, 28, 28\), expected uint8 \(10000, 28, 28\)"),
        ("not npz", r"not a readable Keras MNIST file"),
        ("huge header", r"not a readable Keras MNIST file \(its header claims uint8 of shape \(1125899906842624,\)"),
    ],
)
def test_keras_file_is_checked_like_a_placed_file(tmp_path, monkeypatch, damage, pattern):
    arrays = _full_size(1)
    path = tmp_path / "keras" / "datasets" / "mnist.npz"
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    if damage == "labels":
        arrays["train_labels"][5] = 12
    if damage == "shape":
        arrays["test_images"] = arrays["test_images"][:10]
    _keras_npz(path, arrays)
    if damage == "not npz":
        path.write_bytes(b"not a zip file")
    if damage == "huge header":  # y_test.npy's header claims 2**50 labels: refused, never allocated
        replace_member(path, "y_test.npy", hostile_npy("|u1"))
    with pytest.raises(DatasetError, match=pattern) as info:
        datasets.load_mnist(data_dir=tmp_path / "empty", download=False)
    assert str(path) in str(info.value)


# ------------------------------------------------------------------ issue 11: downloads and caches at the edges


@pytest.mark.parametrize(
    "mode,pattern",
    [
        ("chunked-cut", r"IncompleteRead|cut short"),
        ("not-http", r"BadStatusLine|RemoteDisconnected|not HTTP"),
        ("trickle", r"too slow"),
        ("endless", r"sent more than the published file's"),
    ],
)
def test_every_network_failure_is_a_dataset_error_and_the_next_mirror_is_tried(
    tmp_path, server, monkeypatch, mode, pattern
):
    import dataclasses

    from xpnet.datasets import download

    monkeypatch.setattr(download, "GRACE", 0.3)
    url, routes = server
    src = tmp_path / "src"
    make_set(src, compress=True)
    for name in FILES.values():
        routes[f"/bad/{name}"] = (mode, (src / name).read_bytes())
        routes[f"/good/{name}"] = ("ok", (src / name).read_bytes())
    spec = _spec_for(tmp_path, [f"{url}/bad/", f"{url}/good/"], src)
    spec = dataclasses.replace(spec, sizes={k: (src / n).stat().st_size for k, n in FILES.items()})
    raw = datasets.load_raw(spec, tmp_path / "root", progress=False)  # the second mirror served it
    assert raw["train_images"].shape == (30, 28, 28)
    only_bad = dataclasses.replace(spec, mirrors=(f"{url}/bad/",))
    with pytest.raises(DatasetError, match=pattern) as info:
        datasets.load_raw(only_bad, tmp_path / "root2", progress=False)
    assert f"{url}/bad/" in str(info.value)
    assert not [p for p in files_in(tmp_path / "root2" / "test-set") if p.endswith(".part")]


def test_auto_falls_back_when_the_mirror_breaks_mid_body(tmp_path, server, monkeypatch):
    url, routes = server
    body = gzip.compress(b"x" * 100_000)
    for name in FILES.values():
        routes[f"/m/{name}"] = ("chunked-cut", body)
    monkeypatch.setattr(
        datasets, "MNIST", datasets.MNIST.__class__(**{**datasets.MNIST.__dict__, "mirrors": (f"{url}/m/",)})
    )
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "no-keras"))
    lines = []
    name, ((x, _), _) = datasets.load_dataset("auto", data_dir=tmp_path, notice=lines.append, progress=False)
    assert name == "mnist-t10k" and x.shape == (8000, 784) and len(lines) == 1


@pytest.mark.parametrize("tamper", ["swap", "labels", "header", "empty"])
def test_a_tampered_cache_is_rebuilt_not_served(tmp_path, tamper):
    arrays = make_set(tmp_path / "mnist", seed=3)
    datasets.load_mnist(data_dir=tmp_path, download=False)
    cache = tmp_path / "mnist" / "mnist-all.cache"
    if tamper == "swap":
        (cache / "train_labels.npy").rename(cache / "tmp.npy")
        (cache / "test_labels.npy").rename(cache / "train_labels.npy")
        (cache / "tmp.npy").rename(cache / "test_labels.npy")
    elif tamper == "labels":
        labels = np.load(cache / "train_labels.npy")
        labels[:20] = (labels[:20] + 1) % 10
        np.save(cache / "train_labels.npy", labels)
    elif tamper == "header":
        raw = (cache / "train_images.npy").read_bytes()
        (cache / "train_images.npy").write_bytes(raw.replace(b"(30, 28, 28)", b"(28, 30, 28)"))
    elif tamper == "empty":
        (cache / "test_images.npy").write_bytes(b"")
    (x, t), (xt, tt) = datasets.load_mnist(data_dir=tmp_path, download=False, normalize=False)
    assert np.array_equal(xpnet.to_numpy(t), arrays["train_labels"])
    assert np.array_equal(xpnet.to_numpy(tt), arrays["test_labels"])
    assert np.array_equal(xpnet.to_numpy(xt).reshape(-1, 28, 28), arrays["test_images"])


def test_another_data_sets_gz_under_mnists_names_is_refused(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "no-keras"))
    make_set(tmp_path / "mnist", compress=True)  # well-formed, but not the published files
    with pytest.raises(DatasetError, match=r"not the published train-images-idx3-ubyte.gz of MNIST \(MD5 "):
        datasets.load_mnist(data_dir=tmp_path, download=False)
    assert not (tmp_path / "mnist" / "mnist-all.cache").exists()


def test_float_or_signed_idx_elements_are_refused(tmp_path):
    import struct

    make_set(tmp_path / "mnist")
    labels = np.arange(30, dtype=">f4") % 10
    (tmp_path / "mnist" / "train-labels-idx1-ubyte").write_bytes(
        bytes([0, 0, 0x0D, 1]) + struct.pack(">I", 30) + labels.tobytes()
    )
    with pytest.raises(
        DatasetError,
        match=r"train-labels-idx1-ubyte: elements of type float32 \(IDX code 0x0d\), "
        r"expected uint8",
    ):
        datasets.load_mnist(data_dir=tmp_path, download=False)


def test_fetch_does_not_call_a_truncated_file_checked(tmp_path):
    folder = tmp_path / "mnist"
    make_set(folder)
    path = folder / "train-images-idx3-ubyte"
    path.write_bytes(path.read_bytes()[:-100])
    run = subprocess.run(
        [sys.executable, "-m", "xpnet", "fetch", "mnist", "--data-dir", str(tmp_path), "--no-download"],
        capture_output=True,
        text=True,
    )
    assert run.returncode == 1 and "Traceback" not in run.stderr
    assert run.stdout == "" and "truncated" in run.stderr and len(run.stderr.strip().splitlines()) == 1
    path.unlink()
    make_set(folder)
    ok = subprocess.run(
        [sys.executable, "-m", "xpnet", "fetch", "mnist", "--data-dir", str(tmp_path), "--no-download"],
        capture_output=True,
        text=True,
    )
    assert ok.returncode == 0 and ok.stdout.count("structure checked only (an uncompressed file") == 4


@pytest.mark.parametrize("where", ["a file", "unwritable"])
def test_an_unusable_data_dir_falls_back_or_says_so(tmp_path, monkeypatch, where):
    if where == "a file":
        (tmp_path / "f").write_text("not a folder")
        root = tmp_path / "f"
    else:
        root = "/proc/xpnet-data"  # cannot be created, not even by root
    monkeypatch.setenv("XPNET_DATA_DIR", str(root))
    monkeypatch.setenv("XPNET_MNIST_MIRROR", "http://127.0.0.1:9/")
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "no-keras"))
    monkeypatch.setattr(datasets, "MNIST", datasets.MNIST.__class__(**{**datasets.MNIST.__dict__, "mirrors": ()}))
    with pytest.raises(DatasetError, match="cannot save into"):
        datasets.load_mnist(progress=False)
    lines = []
    name, ((x, _), _) = datasets.load_dataset("auto", notice=lines.append, progress=False)
    assert name == "mnist-t10k" and x.shape == (8000, 784) and len(lines) == 1


def test_stale_part_files_are_removed(tmp_path, server):
    url, routes = server
    src = tmp_path / "src"
    make_set(src, compress=True)
    for name in FILES.values():
        routes[f"/ok/{name}"] = ("ok", (src / name).read_bytes())
    folder = tmp_path / "root" / "test-set"
    folder.mkdir(parents=True)
    stale = folder / ".train-images-idx3-ubyte.gz.abc123.part"
    fresh = folder / ".t10k-labels-idx1-ubyte.gz.def456.part"
    stale.write_bytes(b"half a download")
    fresh.write_bytes(b"another process, now")
    old = time.time() - 7200
    os.utime(stale, (old, old))
    datasets.load_raw(_spec_for(tmp_path, [f"{url}/ok/"], src), tmp_path / "root", progress=False)
    assert not stale.exists() and fresh.exists()


@pytest.mark.parametrize("n_train", [8000.5, "8000", 0, 10_000, True])
def test_n_train_is_a_whole_number_inside_the_set(n_train):
    with pytest.raises(ValueError, match=r"n_train must be a whole number from 1 to 9999, got "):
        datasets.load_mnist_t10k(n_train=n_train)
    assert datasets.load_mnist_t10k(n_train=np.int64(9000))[0][0].shape[0] == 9000
