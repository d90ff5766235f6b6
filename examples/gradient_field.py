"""Figure 4-9: the negative gradient of f(x0, x1) = x0^2 + x1^2 on a grid,
each arrow from numerical_gradient."""

import numpy as np

import xpnet
from xpnet.plots import save_figure, subplots
from _figure_common import output_path


def function_2(x):
    return xpnet.namespace(x).sum(x ** 2)


def main():
    out = output_path("gradient_field.png", __doc__)
    xp = xpnet.get_namespace()
    x0 = np.arange(-2, 2.5, 0.25)
    x1 = np.arange(-2, 2.5, 0.25)
    X, Y = np.meshgrid(x0, x1)
    points = np.stack([X.ravel(), Y.ravel()], axis=1)
    grads = np.empty_like(points)
    for i, p in enumerate(points):
        grads[i] = xpnet.to_numpy(xpnet.numerical_gradient(function_2, xpnet.asarray(p, dtype="float64")))
    fig, ax = subplots(figsize=(5.6, 5.2))
    ax.quiver(points[:, 0], points[:, 1], -grads[:, 0], -grads[:, 1], angles="xy", color="#666666")
    ax.set_xlim(-2, 2)
    ax.set_ylim(-2, 2)
    ax.set_xlabel("x0")
    ax.set_ylabel("x1")
    ax.set_title("negative gradient of x0² + x1²")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    save_figure(fig, out)
    print(f"{len(points)} gradients on backend {xpnet.backend.backend_of(xp)}; wrote {out}")


if __name__ == "__main__":
    main()
