"""matplotlib, which is not thread-safe (pyplot keeps one global current figure), drawing
figures in parallel nodes: each node runs in its own process, so the figures cannot corrupt
each other, and no node needs sequential=True.

    PYTHONPATH=build/python /usr/bin/python3 examples/python/figures.py [OUT_DIR] [N]

Draws N figures (default 6) into OUT_DIR (default ./figures), each a different curve and
title, then checks each one: the PNG exists, has the expected size in pixels, differs from
every other figure, and matches, pixel for pixel, the same figure drawn again afterwards in
this process alone. Exits 1 when a check fails.
"""
import hashlib
import os
import sys

import matplotlib

matplotlib.use("Agg")  # no display: render to files
import matplotlib.image  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402

from zdag import dag, xn  # noqa: E402

WIDTH, HEIGHT, DPI = 4, 3, 100  # inches, inches, dots per inch: 400 x 300 pixels


def draw(i, path):
    """Figure i: a sine of frequency i + 1 with phase i, titled with its number."""
    import numpy as np
    x = np.linspace(0, 2 * np.pi, 400)
    plt.figure(figsize=(WIDTH, HEIGHT), dpi=DPI)  # pyplot's global "current figure"
    plt.plot(x, np.sin((i + 1) * x + i), color=f"C{i % 10}")
    plt.title(f"figure {i}")
    plt.ylim(-1.1, 1.1)
    plt.savefig(path, dpi=DPI)
    plt.close()
    return path


@xn
def figure(i, out_dir):
    return draw(i, os.path.join(out_dir, f"figure-{i}.png")), os.getpid()


@xn
def gather(*drawn):
    return list(drawn)


@dag(max_concurrency=4, state_dir=".zdag-examples")
def figures(n, out_dir):
    return gather(*(figure(i, out_dir) for i in range(n)))


def pixels(path):
    return matplotlib.image.imread(path)


def check(drawn, out_dir):
    """The problems found with the drawn figures ([] when none)."""
    problems, digests = [], {}
    for i, (path, _pid) in enumerate(drawn):
        if not os.path.isfile(path):
            problems.append(f"{path}: missing")
            continue
        img = pixels(path)
        if img.shape[:2] != (HEIGHT * DPI, WIDTH * DPI):
            problems.append(f"{path}: {img.shape[1]}x{img.shape[0]} pixels, "
                            f"not {WIDTH * DPI}x{HEIGHT * DPI}")
        digest = hashlib.sha256(img.tobytes()).hexdigest()
        if digest in digests:
            problems.append(f"{path}: the same pixels as {digests[digest]}")
        digests[digest] = path
        again = draw(i, os.path.join(out_dir, f"check-{i}.png"))
        if hashlib.sha256(pixels(again).tobytes()).hexdigest() != digest:
            problems.append(f"{path}: differs from figure {i} drawn alone")
        os.unlink(again)
    return problems


if __name__ == "__main__":
    out_dir = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else "figures")
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 6
    os.makedirs(out_dir, exist_ok=True)
    drawn = figures(n, out_dir)
    for path, pid in drawn:
        print(f"{path} (drawn by process {pid})")
    problems = check(drawn, out_dir)
    for p in problems:
        print("error:", p, file=sys.stderr)
    print(f"{n} figures drawn in {len({pid for _, pid in drawn})} processes: "
          f"{'all checked' if not problems else f'{len(problems)} problems'}")
    sys.exit(1 if problems else 0)
