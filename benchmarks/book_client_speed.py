"""The book's ``ch04/train_neuralnet.py``, whole script, with the book's ``common/`` functions and with
xpnet's in their place, side by side in one run (issue 19).

Each run is a fresh process that loads the data, builds the book's ``TwoLayerNet`` (ch04/two_layer_net.py)
on one set of functions, and runs the book's loop: a mini-batch by ``np.random.choice``, the gradient,
the update, the loss, and train and test accuracy every epoch. The two are interleaved (book, xpnet,
xpnet, book, ...) and the median of the runs' wall times is compared; both print the same accuracies.

    python benchmarks/book_client_speed.py                 # 10,000 iterations, 5 runs each
    python benchmarks/book_client_speed.py --iters 2000 --repeats 3
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))

SCRIPT = r'''
import sys, time
t_start = time.perf_counter()
sys.path.insert(0, {here!r}); sys.path.insert(0, {src!r})
import numpy as np
import book_reference as book
if {which!r} == "xpnet":
    import xpnet as functions
else:
    functions = book
t_imported = time.perf_counter()
data = np.load({data!r})
x_train, t_train, x_test, t_test = data["x"], data["t"], data["xt"], data["tt"]
np.random.seed(0)
network = book.two_layer_net_class(functions)(input_size=784, hidden_size=50, output_size=10, seed=0)
iters_num, train_size, batch_size, learning_rate = {iters}, x_train.shape[0], 100, 0.1
train_loss_list, train_acc_list, test_acc_list = [], [], []
iter_per_epoch = max(train_size / batch_size, 1)
for i in range(iters_num):
    batch_mask = np.random.choice(train_size, batch_size)
    x_batch, t_batch = x_train[batch_mask], t_train[batch_mask]
    grad = network.gradient(x_batch, t_batch)
    for key in ("W1", "b1", "W2", "b2"):
        network.params[key] -= learning_rate * grad[key]
    train_loss_list.append(network.loss(x_batch, t_batch))
    if i % iter_per_epoch == 0:
        train_acc = network.accuracy(x_train, t_train)
        test_acc = network.accuracy(x_test, t_test)
        train_acc_list.append(train_acc)
        test_acc_list.append(test_acc)
print(time.perf_counter() - t_start, t_imported - t_start, train_acc_list[-1], test_acc_list[-1],
      float(train_loss_list[-1]))
'''


def _data(path):
    import numpy as np
    sys.path.insert(0, os.path.join(HERE, "..", "src"))
    from xpnet.datasets import load_mnist_t10k
    (x, t), (xt, tt) = load_mnist_t10k(one_hot_label=True, dtype="float64", backend="numpy", progress=False)
    np.savez(path, x=np.asarray(x), t=np.asarray(t), xt=np.asarray(xt), tt=np.asarray(tt))


def run(which, iters, data):
    code = SCRIPT.format(here=HERE, src=os.path.join(HERE, "..", "src"), which=which, data=data, iters=iters)
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1"}  # the book's size: one thread, as xpnet's fit uses
    t0 = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env)
    wall = time.perf_counter() - t0
    seconds, imports, train_acc, test_acc, loss = out.stdout.split()
    return {"wall": wall, "script": float(seconds), "imports": float(imports), "train_acc": float(train_acc),
            "test_acc": float(test_acc), "loss": float(loss)}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--iters", type=int, default=10_000)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--json", help="write the numbers here")
    args = ap.parse_args(argv)
    import tempfile
    with tempfile.TemporaryDirectory() as tmp:
        data = os.path.join(tmp, "mnist_t10k.npz")
        _data(data)
        runs = {"book": [], "xpnet": []}
        for r in range(args.repeats):
            for which in (("book", "xpnet") if r % 2 == 0 else ("xpnet", "book")):
                runs[which].append(run(which, args.iters, data))
    book, xp = (statistics.median(r["script"] for r in runs[k]) for k in ("book", "xpnet"))
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores; ch04/train_neuralnet.py, "
          f"{args.iters} iterations on MNIST's test digits (8,000 train / 2,000 test); median of {args.repeats} "
          f"interleaved runs, whole script (data loaded from one file, evaluation included)")
    print(f"{'common/ functions':<20} {'seconds':>9} {'of it imports':>14} {'final train acc':>16} {'test acc':>9}")
    for k, v in (("book's", book), ("xpnet's", xp)):
        rs = runs["book" if k == "book's" else "xpnet"]
        imports = statistics.median(r["imports"] for r in rs)
        print(f"{k:<20} {v:9.2f} {imports:14.2f} {rs[0]['train_acc']:16.4f} {rs[0]['test_acc']:9.4f}")
    print(f"xpnet / book: {xp / book:.3f}x (target: at most 1.03x)")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"runs": runs, "ratio": xp / book, "iters": args.iters}, fh, indent=1)


if __name__ == "__main__":
    main()
