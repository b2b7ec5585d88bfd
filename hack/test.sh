#!/usr/bin/env bash
# Installs what is missing, builds, runs every test (unit + e2e), then the unit tests again under
# AddressSanitizer + UndefinedBehaviorSanitizer. Prints a summary; exits non-zero on any failure.
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
jobs=$(nproc 2>/dev/null || echo 2)

"$root/hack/install-deps.sh" || { echo "test.sh: dependency installation failed" >&2; exit 1; }
export PATH="$root/.tools/bin:$root/build/bin:$PATH"

step() { printf '\n==> %s\n' "$*"; }
fail=0
results=()

step "build (release)"
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null &&
  cmake --build build -j"$jobs" >build.log 2>&1 || { cat build.log; echo "test.sh: build failed"; exit 1; }

step "tests (unit + e2e)"
if (cd build && ctest --output-on-failure -j"$jobs" ${PHX_TEST_FILTER:+-R "$PHX_TEST_FILTER"}); then
  results+=("tests: passed")
else
  results+=("tests: FAILED"); fail=1
fi

if [ "${PHX_SKIP_SANITIZERS:-0}" != 1 ]; then
  step "build (ASan + UBSan)"
  if cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DPHX_SANITIZE=ON >/dev/null &&
     cmake --build build-asan -j"$jobs" >build-asan.log 2>&1; then
    step "unit tests under ASan + UBSan"
    if (cd build-asan && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
        UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
        ctest --output-on-failure -j"$jobs" -L unit); then
      results+=("sanitizers: passed")
    else
      results+=("sanitizers: FAILED"); fail=1
    fi
  else
    cat build-asan.log; results+=("sanitizers: BUILD FAILED"); fail=1
  fi
fi

step "summary"
printf '  %s\n' "${results[@]}"
exit $fail
