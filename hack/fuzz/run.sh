#!/usr/bin/env bash
# Builds the libFuzzer harnesses in hack/fuzz (not part of the CMake build) with clang,
# AddressSanitizer and UndefinedBehaviorSanitizer, and runs each for FUZZ_SECONDS (default 60).
# Usage: hack/fuzz/run.sh [watch|yaml|selector|config ...]   Crashes land in $OUT/<name>/.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
out=${OUT:-$root/build-fuzz}
secs=${FUZZ_SECONDS:-60}
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(watch yaml selector config)
mkdir -p "$out"
cflags=(-g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined
	-D_GNU_SOURCE -std=gnu11 -I"$root/src")
libs=$(pkg-config --libs libcjson yaml-0.1 libmicrohttpd libcurl)
for t in "${targets[@]}"; do
	clang "${cflags[@]}" "$root/hack/fuzz/fuzz_$t.c" "$root"/src/*.c -o "$out/fuzz_$t" \
		$libs -lssl -lcrypto -lz -lpthread -lm
	mkdir -p "$out/$t/corpus"
	(cd "$out/$t" && "$out/fuzz_$t" -max_total_time="$secs" -max_len=8192 \
		-timeout=10 -rss_limit_mb=2048 corpus)
done
