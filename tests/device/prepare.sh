#!/bin/bash
# Here, before a GPU machine call: fill .devcarry (git-ignored; name it in the call's carry) with
# what run_gpu_checks.sh needs there, where nothing can be downloaded. About 26 MB, which with
# the working tree (~30 MB) stays under the 64 MiB a call may take.
#   the llama-cpp-python sdist without .git, docs and vendor models  (llama_src.tgz, ~13 MB)
#   the pure-Python packages the GPU machine's image lacks            (whl/, for Python 3.12)
#   the skeletons of the test models and of a Qwen2.5 pair           (packs/, gguf_skeleton.py)
# Usage: tests/device/prepare.sh SDIST.tar.gz SMOLLM2.gguf GEMMA3.gguf [QWEN1.5B.gguf QWEN0.5B.gguf]
set -eu
sdist=$1; shift
grep -qx "/.devcarry/" .git/info/exclude 2>/dev/null || echo "/.devcarry/" >> .git/info/exclude
grep -qx "/.devbuild/" .git/info/exclude || echo "/.devbuild/" >> .git/info/exclude
rm -rf .devcarry && mkdir -p .devcarry/whl .devcarry/packs
work=$(mktemp -d)
tar xzf "$sdist" -C "$work"
src=$(ls -d "$work"/llama_cpp_python-*)
rm -rf "$src/.git" "$src/vendor/llama.cpp/models" "$src/vendor/llama.cpp/docs"
tar czf .devcarry/llama_src.tgz -C "$work" "$(basename "$src")"
rm -rf "$work"
python -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
  --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
  -d .devcarry/whl diskcache platformdirs psygnal "gguf==0.19.0"
names=(smollm2 gemma3 qwen15 qwen05)
i=0
for model in "$@"; do
  python tests/device/gguf_skeleton.py pack "$model" ".devcarry/packs/${names[$i]}"
  i=$((i + 1))
done
du -sh .devcarry
