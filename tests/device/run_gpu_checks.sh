#!/bin/bash
# The GPU machine's whole check, in one call (it starts bare, with no network): build the
# product's CUDA variant of llama-cpp-python (installers/build_llama_wheels.py's flags, for this
# GPU's architecture only, to fit the time), rebuild the model skeletons, run check_gpu.py.
#   carry: .devcarry (made by tests/device/prepare.sh) = llama_src.tgz (the sdist without .git, docs, vendor models),
#          whl/ (pure-Python packages the image lacks), packs/ (gguf_skeleton.py pack ...)
# Limits: the build (~4-5 min with one CPU library, 16 cores) and the checks (~2-3 min) fit one
# 10-minute call: run with timeout_s 600. A build cut off by its limit goes on where it stopped
# in the next call made while the machine is warm (its folder, .devbuild/, is kept there).
set -u
OUT=${OUT:-/tmp/gpu-out}; CARRY=${CARRY:-.devcarry}; ARCH=${ARCH:-90-real}
mkdir -p "$OUT" /tmp/src /tmp/models /tmp/site /tmp/gpu-run
stamp() { echo "== $(date +%T) $*"; }
stamp start
# --upgrade: with --target, pip skips a folder that exists (bin/, where the wheel's CPU variants
# go, once gguf's scripts made it): the first try ran with no CPU backend at all.
python3 -m pip install -q --no-index --no-deps --no-compile --upgrade --target /tmp/site "$CARRY"/whl/*.whl || exit 1
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1 CMAKE_BUILD_PARALLEL_LEVEL=$(nproc)
if ! python3 -c "import llama_cpp" 2>/dev/null; then
  tar xzf "$CARRY/llama_src.tgz" -C /tmp/src
  flags=$(python3 -c "import sys; sys.path.insert(0, 'installers'); import build_llama_wheels as b; \
print(' '.join(a for a in b.FLAGS['cuda'] if 'CUDA_ARCHITECTURES' not in a))")
  # One CPU library instead of ~14 variants unless VARIANTS=1: the build took 6 min with them
  # (16 cores), most of a 10-minute call; the variants and their check are CI's to test.
  if [ "${VARIANTS:-0}" != 1 ]; then
    flags="${flags/-DGGML_CPU_ALL_VARIANTS=ON/} -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON"
  fi
  stamp "build: $flags -DCMAKE_CUDA_ARCHITECTURES=$ARCH"
  # The image's default compiler (CC/CXX=/opt/gcc) links libstdc++ statically into each of
  # libggml and libllama: two copies of iostream's state, and llama.cpp's print_info dies with
  # SIGSEGV at every model load (seen 2026-12-04, backtrace in _M_insert<long>). Ubuntu's own
  # GCC links the one shared libstdc++ and loads fine (checked there with a CPU build).
  export CC=/usr/bin/gcc CXX=/usr/bin/g++
  CMAKE_ARGS="$flags -DCMAKE_CUDA_ARCHITECTURES=$ARCH -DCMAKE_CUDA_HOST_COMPILER=/usr/bin/g++" timeout "${BUILD_LIMIT:-330}" \
    python3 -m pip wheel -q --no-deps --no-build-isolation -C build-dir=.devbuild/cmake -w /tmp/wheel \
    /tmp/src/llama_cpp_python-* > "$OUT/build.log" 2>&1 || { tail -40 "$OUT/build.log"; stamp "build failed"; exit 1; }
  python3 -m pip install -q --no-index --no-deps --upgrade --target /tmp/site /tmp/wheel/*.whl || exit 1
  rm -f "$OUT/build.log"
fi
stamp built
# Smoke first: one plain model load. (Before CC/CXX were set, every load died here.)
SMOKE="import sys; sys.path.insert(0, '.'); from app.core.engine.backends import check_main; \
sys.exit(check_main(['$(ls /tmp/site/bin/libggml-cpu-x64.so /tmp/site/bin/libggml-cpu.so /tmp/site/llama_cpp/lib/libggml-cpu.so 2>/dev/null | head -1)', \
'resources/models/all-MiniLM-L6-v2-Q8_0.gguf']))"
if ! timeout 60 python3 -X faulthandler -c "$SMOKE" > "$OUT/smoke.log" 2>&1; then
  stamp "smoke died: a native backtrace in diag.log (cuda-gdb debugs host code too)"
  timeout 120 cuda-gdb -batch -ex run -ex bt --args python3 -c "$SMOKE" > "$OUT/diag.log" 2>&1
  exit 1
fi
for pack in "$CARRY"/packs/*/; do python3 tests/device/gguf_skeleton.py unpack "$pack" "/tmp/models/$(basename "$pack").gguf"; done
nvidia-smi --query-gpu=name,memory.total,memory.used,driver_version --format=csv
stamp checks
timeout "${CHECK_LIMIT:-220}" python3 tests/device/check_gpu.py /tmp/models /tmp/gpu-run
cp /tmp/gpu-run/results.json "$OUT/" 2>/dev/null
for f in qwen15 squeezed draft; do tail -c 200000 "/tmp/gpu-run/logs/$f.log" > "$OUT/$f.log" 2>/dev/null; done
stamp done
