#!/usr/bin/env bash
# phoenix-build, the Build Job's step program, run for real on tests/fixtures/build: detection
# for all seven systems; `test` for every toolchain this machine has (make, Python, npm, cargo;
# Maven/Gradle only detected: they need a network), failing suites, NoTestsDefined, the timeout,
# invalid input and no build system with their reserved exit codes; `fetch` from file:// git
# repositories at a sha, a branch and the default HEAD. Every step's termination message is
# checked as JSON (python3) and for its 4096-byte bound. No cluster needed.
set -euo pipefail
# rustup finds its toolchains under the real HOME, which lib.sh replaces.
export RUSTUP_HOME="${RUSTUP_HOME:-$HOME/.rustup}" CARGO_HOME="${CARGO_HOME:-$HOME/.cargo}"
source "$(dirname "$0")/lib.sh"
bin="$PHX_BIN/phoenix-build"
fixtures="$PHX_ROOT/tests/fixtures/build"
[ -x "$bin" ] || fail "$bin not built"
command -v python3 >/dev/null || fail "python3 is needed to read the termination messages"
ws="$E2E_TMP/ws"
tl="$E2E_TMP/termination-log"
log="$E2E_TMP/step.log"
on_failure 'echo "--- step log (tail):"; tail -n 30 "$log"; echo "--- termination message:"; cat "$tl"'

# step WANT_RC SUBCOMMAND ARGS...: runs the step, checks its exit code and its message's bound
# ($max: 1024 by default, --message-max changes it).
max=1024
step() {
	local want=$1 rc=0
	shift
	rm -f "$tl"
	"$bin" "$@" --termination-log "$tl" >"$log" 2>&1 || rc=$?
	[ "$rc" = "$want" ] || fail "phoenix-build $*: exit $rc, want $want"
	[ -s "$tl" ] || fail "phoenix-build $*: no termination message"
	[ "$(wc -c <"$tl")" -lt "$max" ] || fail "phoenix-build $*: message of $(wc -c <"$tl") bytes"
}
# field KEY: the termination message's KEY ("" when absent); fails when it is not one JSON object.
field() {
	python3 -c 'import json,sys
d = json.load(open(sys.argv[1], encoding="utf-8", errors="strict"))
assert isinstance(d, dict)
v = d.get(sys.argv[2], "")
print(v if not isinstance(v, bool) else str(v).lower())' "$tl" "$1" ||
		fail "termination message is not a JSON object: $(cat "$tl")"
}
# fresh FIXTURE: a private copy in $ws (build output never lands in the source tree).
fresh() {
	rm -rf "$ws"
	cp -r "$fixtures/$1" "$ws"
}

# --- detect: all seven systems, and none ---------------------------------------------------
for pair in cargo:cargo npm:npm npm-notest:npm python:python python-failing:python \
	maven:maven gradle:gradle make:make make-check:make dockerfile:dockerfile; do
	fx=${pair%%:*} sys=${pair#*:}
	fresh "$fx"
	step 0 detect --workspace "$ws"
	expect_eq "$sys" "$(field buildSystem)" "detect $fx"
	expect_eq Succeeded "$(field result)" "detect $fx result"
	expect_eq detect "$(field step)" "detect $fx step"
done
fresh maven; step 0 detect --workspace "$ws"; expect_eq "mvn -B test" "$(field testCommand)" "maven"
fresh gradle; step 0 detect --workspace "$ws"; expect_eq "gradle test" "$(field testCommand)" "gradle"
fresh npm-notest; step 0 detect --workspace "$ws"
expect_eq NoTestsDefined "$(field warning)" "npm default test script"
fresh empty
step 65 detect --workspace "$ws"
expect_eq NoBuildSystemDetected "$(field reason)" "empty source"
expect_eq Failed "$(field result)" "empty source result"
pass "detect: seven systems and none (exit 65)"

# --- test: passing suites, for real ---------------------------------------------------------
run_ok() { # FIXTURE COMMAND
	fresh "$1"
	step 0 test --workspace "$ws"
	expect_eq Succeeded "$(field result)" "test $1"
	expect_eq "$2" "$(field testCommand)" "test $1 command"
	expect_eq 0 "$(field exitCode)" "test $1 exit code"
	expect_eq "" "$(field warning)" "test $1 warning"
}
command -v make >/dev/null || fail "make is required"
run_ok make "make test"
grep -q "make fixture: 1 test passed" "$log" || fail "make's output was not streamed to stdout"
run_ok make-check "make check"
if python3 -c 'import pytest' 2>/dev/null; then
	run_ok python "python3 -m pytest"
	grep -q "1 passed" "$log" || fail "pytest's output was not streamed"
fi
# Without pytest (a pytest module that cannot be imported): unittest discovery.
mkdir -p "$E2E_TMP/nopytest"
echo 'raise ImportError("hidden by the test")' >"$E2E_TMP/nopytest/pytest.py"
fresh python
PYTHONPATH="$E2E_TMP/nopytest" step 0 test --workspace "$ws"
expect_eq "python3 -m unittest discover" "$(field testCommand)" "python without pytest"
expect_eq Succeeded "$(field result)" "unittest run"
grep -q "Ran 1 test" "$log" || fail "unittest did not run the fixture's test"
# A Python project without tests: NoTestsDefined, still Succeeded (pytest exit 5 / Ran 0).
rm -rf "$ws" && mkdir -p "$ws" && cp "$fixtures/python/pyproject.toml" "$ws/"
step 0 test --workspace "$ws"
expect_eq NoTestsDefined "$(field warning)" "python without tests"
PYTHONPATH="$E2E_TMP/nopytest" step 0 test --workspace "$ws"
expect_eq NoTestsDefined "$(field warning)" "python without tests (unittest)"
tested="make python"
if command -v npm >/dev/null; then
	run_ok npm "npm test"
	grep -q "npm fixture: 1 test passed" "$log" || fail "npm's output was not streamed"
	tested="$tested npm"
fi
if cargo --version >/dev/null 2>&1 && [ "${PHX_E2E_SKIP_CARGO:-0}" != 1 ]; then
	CARGO_NET_OFFLINE=true CARGO_TARGET_DIR="$E2E_TMP/cargo-target" run_ok cargo "cargo test"
	grep -q "test result: ok. 1 passed" "$log" || fail "cargo test did not run the test"
	tested="$tested cargo"
fi
pass "test: passing suites run for real ($tested)"

# --- NoTestsDefined: a warning, never a skipped-tests success in disguise -------------------
for fx in npm-notest dockerfile; do
	fresh "$fx"
	step 0 test --workspace "$ws"
	expect_eq NoTestsDefined "$(field warning)" "$fx warning"
	expect_eq Succeeded "$(field result)" "$fx result"
	expect_eq "" "$(field testCommand)" "$fx runs nothing"
done
fresh make && printf 'all:\n\t@true\n' >"$ws/Makefile"
step 0 test --workspace "$ws"
expect_eq NoTestsDefined "$(field warning)" "Makefile without test/check"
pass "NoTestsDefined for npm's default script, a Dockerfile only and a Makefile without targets"

# --- failing suites: exit 1, TestsFailed, the tail in the message ---------------------------
fresh make-failing
step 1 test --workspace "$ws"
expect_eq TestsFailed "$(field reason)" "make failing"
expect_eq Failed "$(field result)" "make failing result"
expect_eq 2 "$(field exitCode)" "make's exit code"
msg=$(field message)
expect_contains "$msg" '`make test` exited 2' "make failing message"
expect_contains "$msg" "FIXTURE-MAKE-FAILURE" "make failing tail"
expect_contains "$msg" "noise line 99" "make failing tail (last lines)"
case "$msg" in *"noise line 0"$'\n'*) fail "the message kept the head of the output" ;; esac
grep -q "noise line 0$" "$log" || fail "the whole output was not streamed to stdout"
small=$(wc -c <"$tl")
max=4096 step 1 test --workspace "$ws" --message-max 4096
[ "$(wc -c <"$tl")" -gt "$small" ] || fail "--message-max 4096 did not allow a longer message"
expect_contains "$(field message)" "noise line 99" "make failing tail, 4 KiB"
PHOENIX_MESSAGE_MAX=256 max=256 step 1 test --workspace "$ws"
expect_eq TestsFailed "$(field reason)" "make failing, 256 bytes"
max=256 step 64 test --workspace "$ws" --message-max 256 --context-dir "$(printf 'x%.0s' $(seq 300))"
expect_eq InvalidSpec "$(field reason)" "a long contextDir still leaves the reason"
fresh python-failing
step 1 test --workspace "$ws"
expect_eq TestsFailed "$(field reason)" "python failing"
expect_contains "$(field message)" "FIXTURE-PYTHON-FAILURE" "python failing tail"
if command -v npm >/dev/null; then
	fresh npm-failing
	step 1 test --workspace "$ws"
	expect_eq TestsFailed "$(field reason)" "npm failing"
	expect_contains "$(field message)" "FIXTURE-NPM-FAILURE" "npm failing tail"
fi
# Huge, hostile output (random bytes: NULs, broken UTF-8) still gives a valid message in
# strict UTF-8 under 4096 bytes, ending with the last line.
fresh make
for i in 1 2 3 4 5; do
	step 1 test --workspace "$ws" --command 'head -c 100000 /dev/urandom; echo; echo END-MARKER; exit 9'
	expect_eq 9 "$(field exitCode)" "override exit code"
	expect_contains "$(field message)" "END-MARKER" "binary tail"
done
pass "failing suites: exit 1, reason TestsFailed, exit code and last lines in the message"

# --- command override, timeout --------------------------------------------------------------
fresh empty
step 0 test --workspace "$ws" --command 'echo custom-ran'
grep -q custom-ran "$log" || fail "the override command did not run"
expect_eq "echo custom-ran" "$(field testCommand)" "override command"
PHOENIX_TEST_COMMAND='exit 0' step 0 test --workspace "$ws"
expect_eq "exit 0" "$(field testCommand)" "PHOENIX_TEST_COMMAND"
start=$SECONDS
step 124 test --workspace "$ws" --command 'echo before-timeout; sleep 120' --timeout 1
[ $((SECONDS - start)) -lt 60 ] || fail "the timeout did not stop the command"
expect_eq TestsTimedOut "$(field reason)" "timeout reason"
expect_contains "$(field message)" "before-timeout" "timeout tail"
pass "test --command and PHOENIX_TEST_COMMAND override detection; --timeout kills (exit 124)"

# --- invalid input: exit 64, reason InvalidSpec, a message naming what is wrong ------------
fresh make
for args in "--context-dir ../etc" "--context-dir /etc" "--context-dir missing" \
	"--timeout abc" "--bogus 1" "--context-dir" "--message-max 100" "--message-max 5000"; do
	# shellcheck disable=SC2086
	step 64 test --workspace "$ws" $args
	expect_eq InvalidSpec "$(field reason)" "invalid: $args"
	[ -n "$(field message)" ] || fail "invalid: $args: no message"
done
step 64 test --workspace "$E2E_TMP/no-such-workspace"
step 64 frobnicate --workspace "$ws"
PHOENIX_TERMINATION_LOG="$E2E_TMP/env-tl" "$bin" detect --workspace "$ws" >/dev/null 2>&1 ||
	fail "detect with PHOENIX_TERMINATION_LOG"
grep -q '"buildSystem":"make"' "$E2E_TMP/env-tl" || fail "PHOENIX_TERMINATION_LOG not honoured"
mkdir -p "$ws/sub/svc" && cp "$fixtures/npm-notest/package.json" "$ws/sub/svc/"
step 0 detect --workspace "$ws" --context-dir sub/svc
expect_eq npm "$(field buildSystem)" "contextDir detection"
expect_eq sub/svc "$(field contextDir)" "contextDir reported"
pass "invalid input exits 64 with InvalidSpec; contextDir and PHOENIX_TERMINATION_LOG honoured"

# --- fetch: file:// repositories ------------------------------------------------------------
repo="$E2E_TMP/repo"
g() { git -C "$repo" -c user.name=t -c user.email=t@example.com "$@" >/dev/null; }
mkdir -p "$repo/svc" && cp "$fixtures/make/Makefile" "$repo/svc/"
git init -q -b main "$repo"
g add -A && g commit -qm one
sha1=$(git -C "$repo" rev-parse HEAD)
cp "$fixtures/make-failing/Makefile" "$repo/svc/Makefile"
g commit -qam two
sha2=$(git -C "$repo" rev-parse HEAD)
g checkout -qb feature && echo x >"$repo/svc/extra" && g add -A && g commit -qm three
sha3=$(git -C "$repo" rev-parse HEAD)
g checkout -q main
rm -rf "$ws"
step 0 fetch --workspace "$ws" --url "file://$repo" --revision "$sha1" --context-dir svc
expect_eq "$sha1" "$(field commitSha)" "fetch at a sha"
expect_eq fetch "$(field step)" "fetch step"
step 0 test --workspace "$ws" --context-dir svc
rm -rf "$ws"
step 0 fetch --workspace "$ws" --url "file://$repo"
expect_eq "$sha2" "$(field commitSha)" "fetch of the default branch"
step 1 test --workspace "$ws" --context-dir svc
rm -rf "$ws"
PHOENIX_GIT_URL="file://$repo" PHOENIX_GIT_REVISION=feature step 0 fetch --workspace "$ws"
expect_eq "$sha3" "$(field commitSha)" "fetch of a branch"
[ -f "$ws/svc/extra" ] || fail "the branch's files are not checked out"
rm -rf "$ws"
step 1 fetch --workspace "$ws" --url "file://$repo" --revision no-such-rev
expect_eq SourceFetchFailed "$(field reason)" "unknown revision"
rm -rf "$ws"
step 1 fetch --workspace "$ws" --url "file://$E2E_TMP/nothing-here"
expect_eq SourceFetchFailed "$(field reason)" "missing repository"
rm -rf "$ws"
step 64 fetch --workspace "$ws" --url "--upload-pack=touch $E2E_TMP/pwned"
PHOENIX_GIT_URL="-uhttp://x" step 64 fetch --workspace "$ws"
expect_contains "$(field message)" "source.git.url" "a URL that is an option"
PHOENIX_GIT_REVISION="-b" step 64 fetch --workspace "$ws" --url "file://$repo"
expect_contains "$(field message)" "source.git.revision" "a revision that is an option"
[ ! -e "$E2E_TMP/pwned" ] || fail "a URL was taken as a git option"
step 64 fetch --workspace "$ws" --url "file://$repo" --revision "--orphan"
step 64 fetch --workspace "$ws"
rm -rf "$ws"
step 64 fetch --workspace "$ws" --url "file://$repo" --context-dir nope
expect_eq InvalidSpec "$(field reason)" "fetch with a missing contextDir"
pass "fetch: file:// at a sha, the default branch and a branch, with commitSha; bad sources"
