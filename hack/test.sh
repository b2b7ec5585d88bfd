#!/usr/bin/env bash
# Installs what is missing, builds, runs every test (unit + e2e), then the tests again with
# everything built under AddressSanitizer + UndefinedBehaviorSanitizer, and once more under
# ThreadSanitizer: the unit tests, and the e2e tests that drive our C binaries (kubesim, the
# operator, the plugin) hard. Prints a summary; exits non-zero on any failure.
#   PHX_TEST_FILTER=regex   run only matching tests (ctest -R)
#   PHX_SKIP_SANITIZERS=1   skip both sanitizer passes
#   PHX_SKIP_TSAN=1         skip the ThreadSanitizer pass only
#   PHX_SKIP_BUILD_TYPES=1  skip the compile-only Release and MinSizeRel builds
#   PHX_SKIP_REAL_LANE=1    skip the real lane (upstream kube-apiserver; needs Go)
#   PHX_SKIP_IMAGES=1       do not install the image tools (buildah, runc, ...); image tests skip
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
jobs=$(nproc 2>/dev/null || echo 2)

"$root/hack/install-deps.sh" || { echo "test.sh: dependency installation failed" >&2; exit 1; }
# The image tools (docs/images.md) only when an image test is selected; PHX_SKIP_IMAGES=1 skips
# them (the image tests then print SKIP).
if [ "${PHX_SKIP_IMAGES:-0}" != 1 ] && { [ -z "${PHX_TEST_FILTER:-}" ] || grep -qE "$PHX_TEST_FILTER" <<<"e2e/60_operator_image
e2e/61_kubesim_image_pods
e2e/62_helm_operator_image
e2e/63_build_buildah"; }; then
  "$root/hack/install-deps.sh" --images --no-helm || echo "test.sh: image tools not installed; the image tests will skip" >&2
fi
export PATH="$root/.tools/bin:$root/build/bin:$PATH"

step() { printf '\n==> %s\n' "$*"; }
fail=0
results=()
npassed=0
nfailed=0
# Runs ctest in build dir $1 with the remaining args, adds its counts to the totals.
run_ctest() {
  local dir=$1 log rc
  shift
  log=$(mktemp)
  (cd "$dir" && ctest --output-on-failure -j"$jobs" "$@") 2>&1 | tee "$log"
  rc=${PIPESTATUS[0]}
  local line total bad
  line=$(grep -E 'tests passed, [0-9]+ tests? failed out of [0-9]+' "$log" | tail -n 1)
  total=$(sed -E 's/.* out of ([0-9]+).*/\1/' <<<"$line")
  bad=$(sed -E 's/.*passed, ([0-9]+) tests? failed.*/\1/' <<<"$line")
  if [ -n "$line" ]; then
    npassed=$((npassed + total - bad)); nfailed=$((nfailed + bad))
  elif [ "$rc" -ne 0 ]; then
    nfailed=$((nfailed + 1))
  fi
  rm -f "$log"
  return "$rc"
}

step "build (release)"
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null &&
  cmake --build build -j"$jobs" >build.log 2>&1 || { cat build.log; echo "test.sh: build failed"; exit 1; }

# Every standard build type must compile: warnings are errors, and -O2/-Os find warnings the
# other levels do not (-Wformat-truncation once broke Release). Compile only, no tests:
# RelWithDebInfo is built above, Debug by the ASan pass (here too when the sanitizers are
# skipped). Each costs about 25 s of CPU (15-75 s wall on 2 cores, by load); PHX_SKIP_BUILD_TYPES=1
# skips them.
if [ "${PHX_SKIP_BUILD_TYPES:-0}" != 1 ]; then
  bt_types="Release MinSizeRel"
  [ "${PHX_SKIP_SANITIZERS:-0}" = 1 ] && bt_types="$bt_types Debug"
  for bt in $bt_types; do
    bt_dir="build-$(tr '[:upper:]' '[:lower:]' <<<"$bt")"
    step "build ($bt, compile only)"
    if cmake -S . -B "$bt_dir" -DCMAKE_BUILD_TYPE="$bt" >/dev/null &&
      cmake --build "$bt_dir" -j"$jobs" >"$bt_dir/compile.log" 2>&1; then
      results+=("build $bt: passed")
    else
      tail -n 40 "$bt_dir/compile.log"; results+=("build $bt: FAILED"); fail=1
    fi
  done
fi

step "tests (unit + e2e)"
if run_ctest build ${PHX_TEST_FILTER:+-R "$PHX_TEST_FILTER"}; then
  results+=("tests: passed")
else
  results+=("tests: FAILED"); fail=1
fi

# Real lane: the operator's main e2e tests on the upstream kube-apiserver, etcd, controller-
# manager, scheduler and kwok nodes (hack/k8s/lane.sh; the first run builds them from their Go
# modules, with progress, into ~/.cache/phoenix). Runs where Go is; PHX_SKIP_REAL_LANE=1 skips it.
if [ "${PHX_SKIP_REAL_LANE:-0}" != 1 ] && command -v go >/dev/null; then
  step "real lane (upstream Kubernetes, hack/k8s/lane.sh)"
  real_log=$(mktemp)
  PHX_BIN="$root/build/bin" "$root/hack/k8s/lane.sh" ${PHX_TEST_FILTER:+"$PHX_TEST_FILTER"} 2>&1 | tee "$real_log"
  real_rc=${PIPESTATUS[0]}
  real_line=$(grep -E '^real lane: [0-9]+ passed' "$real_log" | tail -n 1)
  if [ -n "$real_line" ]; then
    npassed=$((npassed + $(sed -E 's/^real lane: ([0-9]+) passed.*/\1/' <<<"$real_line")))
    nfailed=$((nfailed + $(sed -E 's/.* ([0-9]+) failed.*/\1/' <<<"$real_line")))
  elif [ "$real_rc" -ne 0 ]; then
    nfailed=$((nfailed + 1))
  fi
  rm -f "$real_log"
  if [ "$real_rc" -eq 0 ]; then results+=("real lane: passed (${real_line#real lane: })"); else results+=("real lane: FAILED"); fail=1; fi
fi

# sanitizer_pass LABEL DIR "OPTION_VARS" CMAKE_ARGS...: builds DIR, then runs the unit tests and
# the e2e tests that drive our C binaries (32_manifests and 33_demo mostly exercise scripts, helm
# and kubectl; the plain pass covers them). Each *_OPTIONS variable named gets a log_path in
# DIR/san-reports, and any report there fails the pass: the e2e tests stop kubesim and the
# operator with signals, so a process's own exit status is not always looked at.
sanitizer_pass() {
  local label=$1 dir=$2 vars=$3 v rc
  shift 3
  step "build ($label)"
  if ! { cmake -S . -B "$dir" "$@" >/dev/null && cmake --build "$dir" -j"$jobs" >"$dir.log" 2>&1; }; then
    cat "$dir.log"; results+=("$label: BUILD FAILED"); fail=1; return
  fi
  step "unit + e2e tests under $label"
  local reports="$root/$dir/san-reports"
  rm -rf "$reports" && mkdir -p "$reports"
  for v in $vars; do local -x "$v=${!v}:log_path=$reports/${v%_OPTIONS}"; done
  run_ctest "$dir" -E 'e2e/3[23]_' ${PHX_TEST_FILTER:+-R "$PHX_TEST_FILTER"}
  rc=$?
  if [ -n "$(ls -A "$reports")" ]; then
    echo "$label reports:"; head -n 60 "$reports"/*; rc=1
  fi
  if [ "$rc" -eq 0 ]; then
    results+=("$label: passed")
  else
    results+=("$label: FAILED"); fail=1
  fi
}

if [ "${PHX_SKIP_SANITIZERS:-0}" != 1 ]; then
  export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
  export TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1
  sanitizer_pass "ASan + UBSan" build-asan "ASAN_OPTIONS UBSAN_OPTIONS" -DCMAKE_BUILD_TYPE=Debug -DPHX_SANITIZE=ON
  [ "${PHX_SKIP_TSAN:-0}" = 1 ] ||
    sanitizer_pass ThreadSanitizer build-tsan TSAN_OPTIONS -DCMAKE_BUILD_TYPE=RelWithDebInfo -DPHX_TSAN=ON
fi

step "summary"
printf '  %s\n' "${results[@]}"
echo "total: $npassed passed, $nfailed failed"
exit $fail
