"""Write ``examples/chapter4.ipynb`` (the chapter in the book's order) and run it in a Jupyter kernel, so
it is stored with its outputs and reads on a repository page:

    python examples/make_chapter4_notebook.py          # writes and executes examples/chapter4.ipynb

Each code cell that prints one of the book's values carries the tag ``book-value``; each cell that
draws a figure the tag ``figure``. ``tests/test_chapter4_notebook.py`` runs the notebook again in a
fresh kernel and checks both.
"""

from __future__ import annotations

import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))

CELLS = [
    ("markdown", None, """\
# Chapter 4, *Training neural networks*, with xpnet

The chapter of *Deep Learning from Scratch* in the book's order: loss functions, mini-batches,
numerical differentiation, gradients, gradient descent, `simpleNet`, `TwoLayerNet`, and training on
MNIST with the learning curves drawn as the net learns. Every number the book prints is printed again
here, by xpnet.

**On a GPU, unchanged**: start Jupyter with `XPNET_BACKEND=cupy jupyter lab` (or run
`xpnet.set_backend("cupy")` in the next cell). Every array below is then made on the GPU, and the same
cells run there."""),
    ("code", [], """\
import numpy as np
import xpnet
print("backend:", xpnet.get_backend(), "| device:", xpnet.device_name())"""),
    ("markdown", None, """\
## 4.2 Loss functions

The sum of squares error and the cross-entropy error for the book's example: the network's output `y`
gives 0.6 to the correct class "2" (first example) or 0.6 to class "7" (second)."""),
    ("code", ["book-value"], """\
t = [0, 0, 1, 0, 0, 0, 0, 0, 0, 0]
y = [0.1, 0.05, 0.6, 0.0, 0.05, 0.1, 0.0, 0.1, 0.0, 0.0]
y7 = [0.1, 0.05, 0.1, 0.0, 0.05, 0.1, 0.0, 0.6, 0.0, 0.0]
print(float(xpnet.sum_squares_error(np.array(y), np.array(t))))
print(float(xpnet.sum_squares_error(np.array(y7), np.array(t))))
print(float(xpnet.cross_entropy_error(np.array(y), np.array(t))))
print(float(xpnet.cross_entropy_error(np.array(y7), np.array(t))))"""),
    ("markdown", None, """\
### Mini-batches

MNIST's 10,000 test digits ship with xpnet, so this runs offline: 8,000 to train on, 2,000 to test
(`xpnet.load_mnist()` gives the full 60,000 once MNIST is downloaded: `xpnet fetch mnist`). A mini-batch
is ten images drawn at random, as the book draws them."""),
    ("code", ["book-value"], """\
from xpnet.datasets import load_mnist_t10k
(x_train, t_train), (x_test, t_test) = load_mnist_t10k(one_hot_label=True)
print(x_train.shape, t_train.shape)
np.random.seed(0)
batch_mask = np.random.choice(x_train.shape[0], 10)
x_batch, t_batch = x_train[batch_mask], t_train[batch_mask]
print(x_batch.shape, t_batch.shape)"""),
    ("markdown", None, """\
## 4.3 Numerical differentiation

The central difference `(f(x + h) - f(x - h)) / 2h` with `h = 1e-4`, for `y = 0.01x² + 0.1x` at 5 and 10
(the true slopes are 0.2 and 0.3), and the tangent lines of figure 4-7."""),
    ("code", ["book-value", "figure"], """\
from xpnet.plots import subplots

def function_1(x):
    return 0.01 * x ** 2 + 0.1 * x

print(xpnet.numerical_diff(function_1, 5.0))
print(xpnet.numerical_diff(function_1, 10.0))
x = np.arange(0.0, 20.0, 0.1)
fig, ax = subplots(figsize=(6.4, 4.0))
ax.plot(x, function_1(x), label="y = 0.01x² + 0.1x")
for x0 in (5.0, 10.0):
    slope = xpnet.numerical_diff(function_1, x0)
    ax.plot(x, slope * (x - x0) + function_1(x0), "--", label=f"tangent at {x0:g}")
ax.set_xlabel("x"); ax.set_ylabel("f(x)"); ax.set_title("Figure 4-7"); ax.legend()
fig"""),
    ("markdown", None, """\
## 4.4 Gradients

The gradient of `f(x0, x1) = x0² + x1²` at (3, 4), (0, 2) and (3, 0), then the field of figure 4-9:
the negative gradient points to the minimum from everywhere."""),
    ("code", ["book-value", "figure"], """\
def function_2(x):
    return xpnet.namespace(x).sum(x ** 2)

for point in ([3.0, 4.0], [0.0, 2.0], [3.0, 0.0]):
    print(xpnet.numerical_gradient(function_2, np.array(point)))
g = np.arange(-2, 2.5, 0.25)
X, Y = np.meshgrid(g, g)
points = np.stack([X.ravel(), Y.ravel()], axis=1)
grads = np.array([xpnet.numerical_gradient(function_2, p.copy()) for p in points])
fig, ax = subplots(figsize=(5.0, 4.8))
ax.quiver(points[:, 0], points[:, 1], -grads[:, 0], -grads[:, 1], angles="xy", color="#666666")
ax.set_xlabel("x0"); ax.set_ylabel("x1"); ax.set_title("Figure 4-9: the negative gradient")
fig"""),
    ("markdown", None, """\
### Gradient descent

From (-3, 4) with the learning rate 0.1 for 100 steps it reaches the minimum (figure 4-10); 10 is too
large (it diverges) and 1e-10 too small (it hardly moves)."""),
    ("code", ["book-value", "figure"], """\
init_x = np.array([-3.0, 4.0])
fig, axes = subplots(1, 3, figsize=(12, 4.0))
for ax, lr in zip(axes, (0.1, 10.0, 1e-10)):
    x, path = xpnet.gradient_descent(function_2, init_x, lr=lr, step_num=100, return_history=True)
    print(f"lr={lr:g}:", x)
    ax.plot(path[:, 0], path[:, 1], "o", markersize=3)
    ax.set_xlim(-3.5, 3.5); ax.set_ylim(-4.5, 4.5); ax.set_title(f"lr = {lr:g}")
axes[0].set_ylabel("x1")
fig"""),
    ("markdown", None, """\
### The gradient of a neural network: `simpleNet`

With the weights the book prints, its prediction for `x = [0.6, 0.9]`, the loss for the label "2",
and `dL/dW` by central differences. The book printed its weights rounded to eight digits and computed
with the unrounded ones, so the loss (0.92806853663411326 there) and `dW` agree with it to six or seven
digits."""),
    ("code", ["book-value"], """\
net = xpnet.SimpleNet(W=[[0.47355232, 0.9977393, 0.84668094], [0.85557411, 0.03563661, 0.69422093]])
x = np.array([0.6, 0.9])
p = net.predict(x)
print(p)
print(int(np.argmax(p)))
t = np.array([0, 0, 1])
print(float(net.loss(x, t)))
print(net.numerical_gradient(x, t))"""),
    ("markdown", None, """\
## 4.5 The learning algorithm: `TwoLayerNet`

The book's two-layer net (784-50-10). Its gradient by backpropagation (one straight pass) agrees with
the numerical one to rounding."""),
    ("code", ["book-value"], """\
net = xpnet.TwoLayerNet(input_size=784, hidden_size=50, output_size=10, seed=0)
print({k: v.shape for k, v in net.params.items()})
xb, tb = x_train[:3], t_train[:3]
numerical = net.numerical_gradient(xb, tb)
backprop = net.gradient(xb, tb)
for key in ("W1", "b1", "W2", "b2"):
    print(key, float(np.max(np.abs(numerical[key] - backprop[key]))) < 1e-8)"""),
    ("markdown", None, """\
### Training on MNIST, the curves drawn as the net learns

10,000 updates of mini-batches of 100 at the learning rate 0.1, accuracy on the training and test
digits every epoch (figures 4-11 and 4-12, filling in while it trains: `live=True`)."""),
    ("code", ["figure"], """\
net = xpnet.TwoLayerNet(784, 50, 10, seed=0)
history = xpnet.fit(net, x_train, t_train, x_test, t_test, iters=10_000, batch_size=100, lr=0.1, seed=0,
                    live=True)"""),
    ("code", ["book-value"], """\
print(f"train acc {history.final['train_acc']:.2f}, test acc {history.final['test_acc']:.2f}")
history"""),
    ("markdown", None, """\
### Your own digit

Draw a digit (in any paint program, or with a pen on paper and a phone's camera), save it as
`my_digit.png` beside this notebook, and run the cell: the picture is prepared as MNIST's digits were
(grayscale, light ink on black, cropped, scaled into 20x20, centred by its centre of mass in 28x28) and
read by the net just trained. Without a picture of yours, a stand-in is drawn: a test digit as a photo
of ink on paper would show it, dark on white, three times larger and off-centre. (`xpnet predict
RUN_DIR my_digit.png` does the same from a terminal.)"""),
    ("code", ["digit"], """\
import os
from PIL import Image

if os.path.exists("my_digit.png"):
    picture, drawn = np.asarray(Image.open("my_digit.png").convert("L")), "your digit"
else:
    picture = np.ones((120, 100))
    picture[10:94, 12:96] = 1 - np.kron(x_test[0].reshape(28, 28), np.ones((3, 3)))
    drawn = f"a {int(np.argmax(t_test[0]))}"
row = xpnet.prepare_digit(picture)
best, *others = xpnet.classify(net, row[None, :], top=3)[0]  # (digit, probability), the likeliest first
print(f"{drawn}: xpnet reads {best[0]} ({best[1]:.2f}); then " + ", ".join(f"{d} ({p:.2f})" for d, p in others))
fig, (left, right) = xpnet.plots.subplots(1, 2, figsize=(4.4, 2.2))
left.imshow(picture, cmap="gray", vmin=0, vmax=1 if picture.max() <= 1 else 255)
right.imshow(row.reshape(28, 28), cmap="gray", vmin=0, vmax=1)
left.set_title("the picture", fontsize=9)
right.set_title("as MNIST's digits", fontsize=9)
for ax in (left, right):
    ax.set_axis_off()
fig"""),
    ("markdown", None, """\
### The learning rate decides everything

Four rates, three seeds each, all twelve nets trained at once (`fit_many`); a rate whose seeds disagree
is drawn seed by seed."""),
    ("code", ["figure"], """\
rates = [0.01, 0.1, 1.0, 10.0]
nets = [xpnet.TwoLayerNet(784, 50, 10, seed=s) for r in rates for s in range(3)]
histories = xpnet.fit_many(nets, x_train, t_train, x_test, t_test, lr=[r for r in rates for s in range(3)],
                           seed=[s for r in rates for s in range(3)], iters=3000)
curves, final = xpnet.plots.plot_sweep([(h.config["lr"], h.config["seed"], h) for h in histories])
curves"""),
    ("code", ["figure"], "final"),
]


def build():
    import nbformat
    nb = nbformat.v4.new_notebook()
    from ipykernel.kernelspec import get_kernel_dict  # the kernelspec Jupyter writes: opening marks nothing modified
    spec = {"name": "python3", "display_name": get_kernel_dict()["display_name"], "language": "python"}
    nb.metadata.update({"kernelspec": spec, "language_info": {"name": "python"}})
    for kind, tags, source in CELLS:
        cell = nbformat.v4.new_markdown_cell(source) if kind == "markdown" else nbformat.v4.new_code_cell(source)
        if tags:
            cell.metadata["tags"] = tags
        nb.cells.append(cell)
    return nb


def execute(nb, cwd=HERE, timeout=900):
    from nbclient import NotebookClient
    NotebookClient(nb, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": cwd}}).execute()
    return nb


def main():
    import nbformat
    os.environ.pop("XPNET_BACKEND", None)
    os.environ["TQDM_DISABLE"] = "1"  # stored outputs without progress-bar frames
    nb = execute(build())
    for cell in nb.cells:  # stored outputs stay small: live figures are the last frame already
        cell.metadata.pop("execution", None)
    path = os.path.join(HERE, "chapter4.ipynb")
    nbformat.write(nb, path)
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
