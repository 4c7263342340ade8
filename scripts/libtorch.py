#!/usr/bin/env python3
"""Where a LibTorch other than Debian's is, for meson.build (option `torch`).

    libtorch.py DIR|python SHIM   prints the LibTorch's lib folder, and makes SHIM an include
                                  folder that links every header folder of the LibTorch except fmt;
                                  then a line `cuda` if the LibTorch has its CUDA libraries and
                                  everything they need is found here, else why not

DIR is a LibTorch download or an installed `torch` package (site-packages/torch); `python` asks
the python3 on PATH where its `torch` package is. A PyTorch wheel ships fmt headers newer than
Debian's libfmt, which cella links: with the wheel's include folder on the path, cella would
compile against one fmt and link another, so the shim leaves them out.
"""
import os
import shutil
import subprocess
import sys


def main():
    where, shim = sys.argv[1], sys.argv[2]
    if where == "python":
        where = subprocess.run([sys.executable, "-c", "import os, torch; print(os.path.dirname(torch.__file__))"],
                               capture_output=True, text=True).stdout.strip()
        if not where:
            sys.exit("-Dtorch=python: the python3 on PATH cannot import torch (pip install torch)")
    include, lib = os.path.join(where, "include"), os.path.join(where, "lib")
    for path in (os.path.join(include, "torch", "csrc", "api", "include"), os.path.join(lib, "libtorch_cpu.so")):
        if not os.path.exists(path):
            sys.exit(f"-Dtorch={sys.argv[1]}: {path} does not exist; give a LibTorch folder or site-packages/torch")
    shutil.rmtree(shim, ignore_errors=True)  # another LibTorch may have been configured before
    os.makedirs(shim)
    for name in os.listdir(include):
        if name != "fmt":
            os.symlink(os.path.join(include, name), os.path.join(shim, name))
    print(os.path.abspath(lib))
    print(cuda_status(lib))


def cuda_status(lib):
    """`cuda`, or why the CUDA libraries cannot be linked and loaded here."""
    names = ("libtorch_cuda.so", "libc10_cuda.so")
    absent = [n for n in names if not os.path.exists(os.path.join(lib, n))]
    if absent:
        return f"this LibTorch has no CUDA libraries ({', '.join(absent)} missing in {lib})"
    ldd = subprocess.run(["ldd", os.path.join(lib, "libtorch_cuda.so")], capture_output=True, text=True).stdout
    missing = sorted({line.split()[0] for line in ldd.splitlines() if "not found" in line})
    if missing:
        return (f"libtorch_cuda.so needs libraries this machine lacks: {', '.join(missing)} "
                "(a CUDA toolkit, or pip's nvidia-* packages; scripts/torch-wheel.sh fetches four)")
    # Found is not enough: a library of the right name may be too old for it (a CUDA toolkit's
    # NCCL); a trial link sees every symbol libtorch_cuda needs.
    link = subprocess.run(
        [os.environ.get("CXX", "c++"), "-x", "c++", "-", "-o", os.devnull, f"-L{lib}", f"-Wl,-rpath-link,{lib}",
         "-Wl,--no-as-needed", "-ltorch_cuda", "-lc10_cuda", "-ltorch_cpu", "-lc10"],
        input="int main() { return 0; }\n", capture_output=True, text=True)
    if link.returncode != 0:
        first = next((l for l in link.stderr.splitlines() if "undefined reference" in l or "error" in l),
                     link.stderr.strip()[:200])
        return f"libtorch_cuda.so does not link here: {first.strip()}"
    return "cuda"


if __name__ == "__main__":
    main()
