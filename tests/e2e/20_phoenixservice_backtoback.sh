#!/usr/bin/env bash
# Back-to-back failovers (the failover bench's loop: readiness failure, delete, crash, OOM in
# turn, the next failure injected as soon as the previous failover has settled) are counted
# exactly. With 30 s grace periods, dozens of failed ex-primaries are still terminating (and
# still labelled primary) when the next one fails; each must be counted once, however many fail
# meanwhile (it was counted again once it fell out of a 16-entry memory: 11 extra in 40).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
require_kubesim "the bench injects failures through kubesim's control API (/sim/v1)"
n=${PHX_BACKTOBACK_FAILOVERS:-40}
out="$E2E_TMP/bench.out"
PHX_ROOT="$PHX_ROOT" PHX_BIN="$PHX_BIN" bash "$PHX_ROOT/bench/phx_failover_bench.sh" "$n" >"$out" 2>&1 ||
	{ cat "$out"; fail "the failover bench failed"; }
line=$(grep -m1 '^failovers: ' "$out") || { cat "$out"; fail "no failovers line in the bench output"; }
echo "$line"
expect_contains "$line" "failovers: $n " "failovers injected"
case "$line" in
*extra*) cat "$out"; fail "failovers over-counted: $line" ;;
esac
pass "$n back-to-back failovers with many ex-primaries terminating: counted exactly"
