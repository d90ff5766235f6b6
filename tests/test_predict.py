"""``xpnet predict`` and ``xpnet.predict``: a trained net on digits the way users have them
(pictures of dark ink on paper, transparent canvases, IDX files, .npy stacks), through the real
command in a real process, with real files."""

import gzip
import os
import struct
import subprocess
import sys

import numpy as np
import pytest

import xpnet
from xpnet.predict import classify, classify_files, load_run, prepare_digit

PIL = pytest.importorskip("PIL.Image", reason="Pillow comes with matplotlib; it is not installed")


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A net trained on the bundled digits (91% on the held-out ones), saved as a run folder."""
    (x, t), (xt, tt) = xpnet.datasets.load_mnist_t10k(dtype="float64", backend="numpy")
    net = xpnet.TwoLayerNet(784, 50, 10, seed=0, backend="numpy")
    xpnet.fit(net, x, t, iters=1500, batch_size=100, lr=0.1, progress=False, seed=0)
    run = tmp_path_factory.mktemp("run")
    net.save(run / "params.npz")
    return run, net, xt[:40], tt[:40]


def _predict(*args):
    env = dict(os.environ, MPLBACKEND="Agg")
    env.pop("XPNET_BACKEND", None)
    return subprocess.run(
        [sys.executable, "-m", "xpnet", "predict", *map(str, args)],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )


def _digits_of(stdout):
    return [int(line.rsplit(": ", 1)[1].split(" ")[0]) for line in stdout.splitlines()]


def _on_paper(digit, scale=3, shift=(17, 5), size=(130, 110)):
    """An MNIST digit as a user's picture: dark ink on light grey paper, larger, off centre."""
    big = np.kron(digit.reshape(28, 28), np.ones((scale, scale)))
    paper = np.full(size, 230.0)
    paper[shift[0] : shift[0] + big.shape[0], shift[1] : shift[1] + big.shape[1]] -= 200 * big
    return paper.astype(np.uint8)


def test_an_mnist_digit_is_prepared_into_itself():
    """MNIST's digits already are what the recipe makes: preparing one again changes it by nothing."""
    _, (xt, _) = xpnet.datasets.load_mnist_t10k(dtype="float64", backend="numpy")
    for row in xt[:100]:
        again = prepare_digit(row.reshape(28, 28))
        assert again.shape == (784,) and 0.0 <= again.min() and again.max() <= 1.0
        assert np.corrcoef(again, row)[0, 1] > 0.999


def test_a_digit_on_paper_is_cropped_scaled_centred_and_inverted():
    _, (xt, _) = xpnet.datasets.load_mnist_t10k(dtype="float64", backend="numpy")
    close = [np.corrcoef(prepare_digit(_on_paper(row)), row)[0, 1] for row in xt[:60]]
    assert np.median(close) > 0.99 and np.mean(np.array(close) > 0.9) >= 0.9
    field = prepare_digit(_on_paper(xt[0], scale=4, shift=(2, 60), size=(200, 180))).reshape(28, 28)
    ys, xs = np.indices(field.shape)
    assert abs((ys * field).sum() / field.sum() - 14) <= 0.5 and abs((xs * field).sum() / field.sum() - 14) <= 0.5
    rows, cols = np.nonzero(field > 0.05)
    assert max(np.ptp(rows), np.ptp(cols)) + 1 in (19, 20, 21)  # the 20x20 box
    small = prepare_digit(_on_paper(xt[0]), side=8)
    assert small.shape == (64,) and small.max() == pytest.approx(1.0, abs=0.05)


def test_prepare_digit_refuses_a_blank_picture_and_odd_shapes():
    with pytest.raises(ValueError, match="holds no digit"):
        prepare_digit(np.full((30, 30), 200, np.uint8))
    with pytest.raises(ValueError, match=r"\(H, W\) gray or \(H, W, 3\|4\) colour"):
        prepare_digit(np.zeros((2, 3, 4, 5)))


def test_the_command_classifies_pictures_as_the_net_classifies_the_digits(trained, tmp_path):
    run, net, xt, _ = trained
    want = [d[0][0] for d in classify(net, xt[:12])]
    files = []
    for i, row in enumerate(xt[:12]):
        paper = _on_paper(row)
        if i % 3 == 0:  # a photo: JPEG, colour
            path = tmp_path / f"d{i}.jpg"
            PIL.fromarray(paper).convert("RGB").save(path, quality=90)
        elif i % 3 == 1:  # grey PNG
            path = tmp_path / f"d{i}.png"
            PIL.fromarray(paper).save(path)
        else:  # drawn on a transparent canvas: the ink is the alpha channel, whatever its colour
            canvas = np.zeros((*paper.shape, 4), np.uint8)
            canvas[..., 3] = 230 - paper
            path = tmp_path / f"d{i}.png"
            PIL.fromarray(canvas, "RGBA").save(path)
        files.append(path)
    out = _predict(run, *files)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert [line.split(": ")[0] for line in lines] == [str(f) for f in files]
    got = _digits_of(out.stdout)
    assert sum(g == w for g, w in zip(got, want)) >= 11, (got, want)


def test_an_idx_file_is_read_as_prepared_digits(trained, tmp_path):
    run, net, xt, _ = trained
    images = np.rint(xt[:25] * 255).astype(np.uint8).reshape(25, 28, 28)
    path = tmp_path / "mine-idx3-ubyte.gz"
    with gzip.open(path, "wb") as fh:
        fh.write(struct.pack(">IIII", 0x0803, 25, 28, 28) + images.tobytes())
    out = _predict(run / "params.npz", path)
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines()[3].startswith(f"{path}[3]: ")
    assert _digits_of(out.stdout) == [d[0][0] for d in classify(net, images.reshape(25, -1) / 255.0)]


def test_top_k_lists_the_most_probable_digits_in_order(trained, tmp_path):
    run, net, xt, _ = trained
    np.save(tmp_path / "two.npy", np.rint(xt[:2] * 255).astype(np.uint8).reshape(2, 28, 28))
    out = _predict(run, tmp_path / "two.npy", "--top", "3")
    assert out.returncode == 0, out.stderr
    for line in out.stdout.splitlines():
        pairs = [p.split(" (") for p in line.split(": ", 1)[1].split(", ")]
        probs = [float(p.rstrip(")")) for _, p in pairs]
        assert len(pairs) == 3 and probs == sorted(probs, reverse=True) and sum(probs) <= 1.001
        assert len({d for d, _ in pairs}) == 3


def test_a_bad_file_gets_one_line_and_the_others_are_still_classified(trained, tmp_path):
    run, _, xt, _ = trained
    good = tmp_path / "good.png"
    PIL.fromarray(_on_paper(xt[0])).save(good)
    blank = tmp_path / "blank.png"
    PIL.fromarray(np.full((40, 40), 128, np.uint8)).save(blank)
    text = tmp_path / "notes.txt"
    text.write_text("not a picture")
    out = _predict(run, blank, good, text, tmp_path / "missing.png")
    assert out.returncode == 1 and "Traceback" not in out.stderr
    assert out.stdout.splitlines()[0].startswith(f"{good}: ")
    assert out.stderr.splitlines() == [
        f"python -m xpnet predict: error: {blank}: the image holds no digit (it is one flat colour)",
        f"python -m xpnet predict: error: {text}: not an image xpnet can read (PNG, JPEG, IDX or .npy)",
        f"python -m xpnet predict: error: No such file or directory ({tmp_path / 'missing.png'})",
    ]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ("{empty}", "x.png"),
            "{empty} holds no params.npz: give a run folder written by xpnet train, or its params.npz",
        ),
        (("{run}", "x.png", "--top", "11"), "--top must be at most 10 (the net's classes), got 11"),
        (("{run}", "x.png", "--top", "0"), "argument --top: must be a positive whole number, got '0'"),
        (("{run}",), "the following arguments are required: IMAGE"),
    ],
)
def test_bad_arguments_get_one_line_and_exit_2(trained, tmp_path, args, message):
    run = trained[0]
    names = {"empty": tmp_path, "run": run}
    out = _predict(*(a.format(**names) for a in args))
    assert out.returncode == 2 and out.stdout == ""
    assert out.stderr.strip().splitlines()[-1] == f"python -m xpnet predict: error: {message.format(**names)}"


def test_the_library_form(trained, tmp_path):
    run, net, xt, _ = trained
    np.save(tmp_path / "one.npy", np.rint(xt[5] * 255).astype(np.uint8).reshape(28, 28))
    loaded = load_run(run)
    (name, result), (bad, error) = classify_files(loaded, [tmp_path / "one.npy", tmp_path / "none.png"], top=2)
    assert name == str(tmp_path / "one.npy") and len(result) == 2 and result[0][1] >= result[1][1]
    assert result[0][0] == classify(net, prepare_digit(xt[5].reshape(28, 28))[None])[0][0][0]
    assert bad == str(tmp_path / "none.png") and isinstance(error, FileNotFoundError)
    with pytest.raises(ValueError, match="top must be a whole number from 1 to 10, got 0"):
        classify(net, xt[:1], top=0)


def test_hostile_and_wrong_data_files_get_one_line_each_and_the_rest_still_runs(trained, tmp_path):
    """An IDX file of labels (not images) and a .npy whose header claims 8 PiB: one line each naming the
    file, nothing allocated, and the good file after them still classified."""
    run, _, xt, _ = trained
    labels = tmp_path / "labels-idx1-ubyte"
    labels.write_bytes(struct.pack(">II", 0x0801, 3) + bytes([1, 2, 3]))
    huge = tmp_path / "huge.npy"
    header = "{'descr': '|u1', 'fortran_order': False, 'shape': (1048576, 1048576, 8192), }"
    header += " " * (-(len(header) + 11) % 64) + "\n"
    huge.write_bytes(b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode() + bytes(784))
    good = tmp_path / "good.png"
    PIL.fromarray(_on_paper(xt[0])).save(good)
    out = _predict(run, labels, huge, good)
    assert out.returncode == 1 and "Traceback" not in out.stderr and "MemoryError" not in out.stderr
    assert [line.split(": ")[0] for line in out.stdout.splitlines()] == [str(good)]
    errors = out.stderr.splitlines()
    assert len(errors) == 2
    assert errors[0] == (
        f"python -m xpnet predict: error: {labels}: an IDX file of images has 3 dimensions (N, H, W), this one (3,)"
    )
    assert errors[1].startswith(f"python -m xpnet predict: error: {huge}: not a usable .npy array file (its header")


def test_the_library_checks_top_before_reading_any_file(trained, tmp_path):
    net = trained[1]
    with pytest.raises(ValueError, match="top must be a whole number from 1 to 10, got 11"):
        classify_files(net, [tmp_path / "missing.png"], top=11)


def test_a_picture_claiming_too_many_pixels_is_refused_not_decoded(trained, tmp_path, monkeypatch):
    net = trained[1]
    path = tmp_path / "bomb.png"
    PIL.fromarray(np.zeros((30, 30), np.uint8)).save(path)
    monkeypatch.setattr(PIL, "MAX_IMAGE_PIXELS", 100)  # 900 pixels is over twice the limit: Pillow's bomb error
    [(name, error)] = classify_files(net, [path])
    assert name == str(path) and isinstance(error, ValueError) and str(error).startswith(f"{path}: Image size (900")
