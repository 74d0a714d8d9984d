#!/usr/bin/env bash
# The GPU check, run from the repository root on a machine with a CUDA GPU and CuPy (no network):
#   bash tools/gpu_check.sh            # logs also go to $OUT when it is set
# 1. installs the carried wheels in .whl/ (protobuf, ml_dtypes, pytest...) into /tmp/site when
#    the project does not import as it is; 2. prints versions and the GPU; 3. runs the GPU tests
#    (tests/gpu, marker "gpu"); 4. runs bench/gpu_vs_cpu.py. About 6 minutes at most; the exit
#    status is the tests' (0 when they pass).
set -u
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
SITE=${GPU_CHECK_SITE:-/tmp/site}        # where carried wheels go
WHEELS=${GPU_CHECK_WHEELS:-.whl}
OUT_DIR=${OUT:-}
LOG=/dev/null
if [ -n "$OUT_DIR" ]; then mkdir -p "$OUT_DIR"; LOG="$OUT_DIR/gpu_check.log"; : > "$LOG"; fi
say() { echo "$@" | tee -a "$LOG"; }

export PYTHONPATH="$SITE:$PWD${PYTHONPATH:+:$PYTHONPATH}"
export CUPY_CACHE_DIR=${CUPY_CACHE_DIR:-/tmp/cupy_kernel_cache}
export PYTHONDONTWRITEBYTECODE=1

if ! "$PY" -c "import google.protobuf, ml_dtypes, pytest, runtime, gcc_flow" >/dev/null 2>&1; then
  if ls "$WHEELS"/*.whl >/dev/null 2>&1; then
    say "== installing carried wheels into $SITE: $(ls "$WHEELS" | tr '\n' ' ')"
    "$PY" -m pip install --quiet --no-index --no-deps --disable-pip-version-check \
      --target "$SITE" "$WHEELS"/*.whl 2>&1 | tail -5 | tee -a "$LOG"
    if ! "$PY" -c "import google.protobuf, ml_dtypes, pytest" >/dev/null 2>&1; then
      say "== pip could not install them: unpacking the wheels into $SITE instead"
      "$PY" -c "import sys, zipfile; [zipfile.ZipFile(w).extractall(sys.argv[1])
                for w in sys.argv[2:]]" "$SITE" "$WHEELS"/*.whl 2>&1 | tee -a "$LOG"
    fi
  else
    say "== the project does not import and $WHEELS/ holds no wheels to install"
  fi
fi

say "== versions"
"$PY" - <<'PYEOF' 2>&1 | tee -a "$LOG"
import platform, sys
print("python", sys.version.split()[0], platform.platform())
for name in ("numpy", "google.protobuf", "ml_dtypes", "pytest", "cupy"):
    try:
        module = __import__(name, fromlist=["__version__"])
        print(f"{name} {getattr(module, '__version__', '?')}")
    except Exception as err:
        print(f"{name}: not importable ({type(err).__name__}: {err})")
try:
    import cupy
    props = cupy.cuda.runtime.getDeviceProperties(0)
    free, total = cupy.cuda.runtime.memGetInfo()
    print("gpu", props["name"].decode(), f"sm_{props['major']}{props['minor']}",
          f"{total / 2**30:.1f} GiB ({free / 2**30:.1f} free)",
          "cuda runtime", cupy.cuda.runtime.runtimeGetVersion(),
          "driver", cupy.cuda.runtime.driverGetVersion())
except Exception as err:
    print("gpu: none usable:", type(err).__name__, err)
from runtime.gpu import gpu_available
print("runtime.gpu.gpu_available():", gpu_available())
PYEOF
command -v nvidia-smi >/dev/null && nvidia-smi -L 2>&1 | tee -a "$LOG"

say "== GPU tests: pytest -m gpu tests/gpu"
JUNIT=()
[ -n "$OUT_DIR" ] && JUNIT=(--junitxml "$OUT_DIR/gpu_tests.xml")
timeout -s INT 270 "$PY" -m pytest -q -m gpu tests/gpu -p no:cacheprovider -rfEs --durations=8 \
  "${JUNIT[@]}" 2>&1 | tee -a "$LOG"
status=${PIPESTATUS[0]}
say "== pytest exit status: $status"

say "== bench/gpu_vs_cpu.py"
timeout -s INT 150 "$PY" bench/gpu_vs_cpu.py --repeat 3 --gpu-repeat 10 2>&1 | tee -a "$LOG"
say "== bench exit status: ${PIPESTATUS[0]}"
exit "$status"
