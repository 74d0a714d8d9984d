#!/usr/bin/env bash
# The GPU check, run from the repository root on a machine with a CUDA GPU and CuPy (no network):
#
#   bash tools/gpu_check.sh                 # logs go to $OUT too when it is set
#   GPU_CHECK_FAKE=1 PYTHON=.venv/bin/python bash tools/gpu_check.sh    # dry run, no GPU
#
# 1. When .whl/ exists and the project's protobuf (>= 7.35.1: the generated *_pb2 modules need
#    it) or ml_dtypes do not import, installs the carried wheels into /tmp/site.
# 2. Prints the versions and the GPU.
# 3. Runs the GPU tests: pytest -m gpu tests/gpu -x           -> $OUT/gpu_tests.log
#    (GPU_CHECK_MAXFAIL=N for --maxfail=N instead of -x)
# 4. Runs bench/gpu_vs_cpu.py and, for a CPU figure of the same machine,
#    bench/executor_overhead.py                                -> $OUT/gpu_bench.log
# Under 5 minutes (each step has a time limit, see below). Exit status: the tests' (0 when they
# pass; 124 or 130 when they ran out of time); 3 when no GPU is usable or the project does not
# import. GPU_CHECK_FAKE=1 runs the same steps on the numpy stand-in (GCC_FLOW_FAKE_GPU=1).
set -u
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
SITE=${GPU_CHECK_SITE:-/tmp/site}
WHEELS=${GPU_CHECK_WHEELS:-.whl}
TESTS_S=${GPU_CHECK_TESTS_S:-200}       # time limits of the steps, in seconds
BENCH_S=${GPU_CHECK_BENCH_S:-60}
OVERHEAD_S=${GPU_CHECK_OVERHEAD_S:-20}
MAXFAIL=${GPU_CHECK_MAXFAIL:-1}         # pytest -x; more to see several failures in one run
OUT_DIR=${OUT:-}
FAKE=${GPU_CHECK_FAKE:-0}

if [ -n "$OUT_DIR" ]; then
  mkdir -p "$OUT_DIR"
  CHECK_LOG=$OUT_DIR/gpu_check.log TESTS_LOG=$OUT_DIR/gpu_tests.log BENCH_LOG=$OUT_DIR/gpu_bench.log
  : > "$CHECK_LOG"; : > "$TESTS_LOG"; : > "$BENCH_LOG"
else
  CHECK_LOG=/dev/null TESTS_LOG=/dev/null BENCH_LOG=/dev/null
fi
say() { echo "$@" | tee -a "$CHECK_LOG"; }

export PYTHONPATH="$SITE:$PWD${PYTHONPATH:+:$PYTHONPATH}"
export PYTHONDONTWRITEBYTECODE=1
export CUPY_CACHE_DIR=${CUPY_CACHE_DIR:-/tmp/cupy_kernel_cache}
# Carried pytest may sit beside the machine's own plugins (xdist, cov, timeout...): load none.
export PYTEST_DISABLE_PLUGIN_AUTOLOAD=1
# The fake GPU is numpy on this machine's cores: a small bench only checks that the path runs.
BENCH_ARGS=${GPU_CHECK_BENCH_ARGS:-}
if [ "$FAKE" != "0" ]; then
  export GCC_FLOW_FAKE_GPU=1
  BENCH_ARGS=${GPU_CHECK_BENCH_ARGS:---batch 4 --size 256 --repeat 2 --gpu-repeat 2}
fi
START=$SECONDS

# -- 1. dependencies ---------------------------------------------------------------------------
deps_ok() {
  "$PY" - <<'PYEOF' >/dev/null 2>&1
import re, sys
import google.protobuf, ml_dtypes
version = tuple(int(x) for x in re.findall(r"\d+", google.protobuf.__version__)[:3])
sys.exit(0 if version >= (7, 35, 1) else 1)
PYEOF
}
if [ -d "$WHEELS" ] && ! deps_ok; then
  say "== installing the carried wheels into $SITE: $(cd "$WHEELS" && ls -- *.whl | tr '\n' ' ')"
  "$PY" -m pip install -q --no-index --no-deps --disable-pip-version-check --upgrade \
    --target "$SITE" "$WHEELS"/*.whl 2>&1 | tail -5 | tee -a "$CHECK_LOG"
fi
if ! deps_ok; then
  say "== protobuf >= 7.35.1 and ml_dtypes do not import with $PY (PYTHONPATH=$PYTHONPATH):"
  say "   carry their wheels in $WHEELS/"
  exit 3
fi
if ! problem=$("$PY" -c "import google.protobuf, ml_dtypes, pytest, runtime, gcc_flow" 2>&1); then
  say "$(echo "$problem" | tail -3)"
  say "== the project does not import with $PY (see above): stopping"; exit 3
fi

# -- 2. versions and the GPU -------------------------------------------------------------------
say "== versions"
"$PY" - "$FAKE" <<'PYEOF' 2>&1 | tee -a "$CHECK_LOG"
import platform, sys
fake = sys.argv[1] != "0"
print("python", sys.version.split()[0], platform.platform())
names = ["numpy", "google.protobuf", "ml_dtypes", "pytest"] + ([] if fake else ["cupy"])
for name in names:
    try:
        module = __import__(name, fromlist=["__version__"])
        print(f"{name} {getattr(module, '__version__', '?')} ({module.__file__})")
    except Exception as err:
        print(f"{name}: not importable ({type(err).__name__}: {err})")
if not fake:
    try:
        import cupy
        props = cupy.cuda.runtime.getDeviceProperties(0)
        free, total = cupy.cuda.runtime.memGetInfo()
        print("gpu", props["name"].decode(), f"sm_{props['major']}{props['minor']}",
              f"{total / 2**30:.1f} GiB ({free / 2**30:.1f} free)", "cuda runtime",
              cupy.cuda.runtime.runtimeGetVersion(), "driver", cupy.cuda.runtime.driverGetVersion())
    except Exception as err:
        print("gpu: none usable:", type(err).__name__, err)
from runtime.gpu import GpuBackend, gpu_available
print("runtime.gpu.gpu_available():", gpu_available(),
      "->", GpuBackend.default().name if gpu_available() else "no GPU")
sys.exit(0 if gpu_available() else 3)
PYEOF
if [ "${PIPESTATUS[0]}" != 0 ]; then
  say "== no usable GPU: the tests would all be skipped; stopping"; exit 3
fi
if [ "$FAKE" = "0" ] && command -v nvidia-smi >/dev/null; then
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>&1 \
    | tee -a "$CHECK_LOG"
fi

# -- 3. the GPU tests --------------------------------------------------------------------------
say "== GPU tests: pytest -m gpu tests/gpu --maxfail=$MAXFAIL (limit ${TESTS_S}s)"
timeout -s INT -k 15 "$TESTS_S" "$PY" -m pytest -q -m gpu tests/gpu -p no:cacheprovider \
  --maxfail="$MAXFAIL" \
  -rfEs --durations=10 2>&1 | tee "$TESTS_LOG" | tee -a "$CHECK_LOG"
status=${PIPESTATUS[0]}
say "== pytest exit status: $status ($((SECONDS - START))s so far)"

# -- 4. benchmarks -----------------------------------------------------------------------------
say "== bench/gpu_vs_cpu.py $BENCH_ARGS (limit ${BENCH_S}s)"
# shellcheck disable=SC2086  # BENCH_ARGS is a list of words
timeout -s INT -k 10 "$BENCH_S" "$PY" bench/gpu_vs_cpu.py $BENCH_ARGS 2>&1 | tee "$BENCH_LOG" \
  | tee -a "$CHECK_LOG"
say "== gpu_vs_cpu exit status: ${PIPESTATUS[0]}"
say "== bench/executor_overhead.py, CPU (limit ${OVERHEAD_S}s)"
timeout -s INT -k 10 "$OVERHEAD_S" "$PY" bench/executor_overhead.py 2>&1 | tee -a "$BENCH_LOG" \
  | tee -a "$CHECK_LOG"
say "== executor_overhead exit status: ${PIPESTATUS[0]}"
say "== done in $((SECONDS - START))s; exit status $status (the tests')"
exit "$status"
