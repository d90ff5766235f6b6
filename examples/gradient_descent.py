"""Figure 4-10: gradient descent on f(x0, x1) = x0^2 + x1^2 from (-3, 4),
lr = 0.1 for 100 steps; and the book's too-large (10) and too-small (1e-10)
learning rates."""


import xpnet
from xpnet.plots import save_figure, subplots
from _figure_common import output_path


def function_2(x):
    return x[0] ** 2 + x[1] ** 2


def main():
    out = output_path("gradient_descent.png", __doc__)
    init = xpnet.asarray([-3.0, 4.0], dtype="float64")
    fig, axes = subplots(1, 3, figsize=(13, 4.3))
    for ax, lr in zip(axes, (0.1, 10.0, 1e-10)):
        x, path = xpnet.gradient_descent(function_2, init, lr=lr, step_num=100, return_history=True)
        x, path = xpnet.to_numpy(x), xpnet.to_numpy(path)
        print(f"lr={lr:g}: final x = {x}")
        ax.plot([-5, 5], [0, 0], "--b", linewidth=0.8)
        ax.plot([0, 0], [-5, 5], "--b", linewidth=0.8)
        ax.plot(path[:, 0], path[:, 1], "o", markersize=4)
        ax.set_xlim(-3.5, 3.5)
        ax.set_ylim(-4.5, 4.5)
        ax.set_xlabel("x0")
        ax.set_ylabel("x1")
        ax.set_title(f"lr = {lr:g}: ends at ({x[0]:.3g}, {x[1]:.3g})")
    fig.tight_layout()
    save_figure(fig, out)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
