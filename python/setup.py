"""Builds and installs the zdag Python module against an installed libzdag, offline:

    pip install --no-build-isolation ./python      (Debian's python3-setuptools)

libzdag is found with pkg-config (`zdag.pc`; PKG_CONFIG_PATH for a staging prefix), and its
library directory is written into the extension's run path.
"""
import glob
import os
import subprocess

from setuptools import Extension, setup

HERE = os.path.dirname(os.path.abspath(__file__))


def pkg_config(*args):
    try:
        out = subprocess.run(["pkg-config", *args, "zdag"], check=True, capture_output=True,
                             text=True).stdout
    except (OSError, subprocess.CalledProcessError) as e:
        raise SystemExit(f"zdag: libzdag not found by pkg-config ({e}): install it first "
                         "(make && cmake --install build), or set PKG_CONFIG_PATH") from e
    return out.split()


libdir = pkg_config("--variable=libdir")[0]
extension = Extension(
    "zdag._zdag",
    sources=sorted(os.path.relpath(p, HERE) for p in glob.glob(os.path.join(HERE, "src", "*.c"))),
    extra_compile_args=pkg_config("--cflags") + ["-std=c11", "-D_GNU_SOURCE"],
    extra_link_args=pkg_config("--libs") + [f"-Wl,-rpath,{libdir}"],
)

setup(
    name="zdag",
    version=pkg_config("--modversion")[0],
    description="zdag's Python module: functions as DAG nodes in separate processes",
    packages=["zdag"],
    ext_modules=[extension],
    python_requires=">=3.9",
)
