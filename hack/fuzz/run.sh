#!/usr/bin/env bash
# Builds the libFuzzer harnesses in hack/fuzz (not part of the CMake build) with clang,
# AddressSanitizer and UndefinedBehaviorSanitizer, and runs each for FUZZ_SECONDS (default 60).
# Usage: hack/fuzz/run.sh [watch|yaml|selector|config|exec|sim_continue ...]
# Crashes land in $OUT/<name>/. sim_* harnesses also link kubesim's core (tests/kubesim).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
out=${OUT:-$root/build-fuzz}
secs=${FUZZ_SECONDS:-60}
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(watch yaml selector config exec sim_continue)
mkdir -p "$out"
cflags=(-g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined
	-D_GNU_SOURCE -std=gnu11 -I"$root/src")
libs=$(pkg-config --libs libcjson yaml-0.1 libmicrohttpd libcurl)
sim_srcs=()
for f in "$root"/tests/kubesim/*.c; do [ "$(basename "$f")" = main.c ] || sim_srcs+=("$f"); done
for t in "${targets[@]}"; do
	extra=()
	case $t in sim_*) extra=(-I"$root/tests/kubesim" "${sim_srcs[@]}") ;; esac
	clang "${cflags[@]}" "$root/hack/fuzz/fuzz_$t.c" "${extra[@]}" "$root"/src/*.c \
		-o "$out/fuzz_$t" $libs -lssl -lcrypto -lz -lpthread -lm
	mkdir -p "$out/$t/corpus"
	(cd "$out/$t" && "$out/fuzz_$t" -max_total_time="$secs" -max_len=8192 \
		-timeout=10 -rss_limit_mb=2048 corpus)
done
