"""Figure 4-7: y = 0.01x^2 + 0.1x and its tangent lines at x = 5 and x = 10,
with slopes from the central difference."""

import numpy as np

import xpnet
from xpnet.plots import save_figure, subplots
from _figure_common import output_path


def function_1(x):
    return 0.01 * x ** 2 + 0.1 * x


def main():
    out = output_path("numerical_diff.png", __doc__)
    x = np.arange(0.0, 20.0, 0.1)
    fig, ax = subplots(figsize=(6.4, 4.2))
    ax.plot(x, function_1(x), label="y = 0.01x² + 0.1x")
    for x0, color in ((5.0, "tab:orange"), (10.0, "tab:green")):
        slope = xpnet.numerical_diff(function_1, x0)
        ax.plot(x, slope * (x - x0) + function_1(x0), "--", color=color,
                label=f"tangent at x={x0:g} (slope {slope:.4f})")
        print(f"numerical_diff at x={x0:g}: {slope!r}")
    ax.set_xlabel("x")
    ax.set_ylabel("f(x)")
    ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    save_figure(fig, out)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
