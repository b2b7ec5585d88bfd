#!/usr/bin/env bash
# A stand-in spec.generator image for tests/e2e/42_intent_generator.sh (kubesim --run-pods maps
# the generator image to a wrapper that runs this script with a MODE and an optional GO file).
# The operator gives it PHOENIX_INTENT, PHOENIX_SPEC, PHOENIX_FINDINGS (files of its input
# ConfigMap), PHOENIX_CANDIDATE (0..parallelism-1), PHOENIX_ATTEMPT and the two marker lines.
#   best:   candidate 0 prints a thin SPEC, candidate 1 the operator's draft plus what the
#           findings asked for: different quality, the better one must win
#   broken: attempt 1 and 3 print garbage and exit 0, attempt 2 and 4 fail (exit 3)
#   hold:   waits forever (for the cancel test)
# With GO set, waits until that file exists first (so a test can restart the operator while
# the Jobs run).
set -euo pipefail
mode=$1
go=${2:-}
if [ -n "$go" ]; then
	while [ ! -e "$go" ]; do sleep 0.1; done
fi
for f in "$PHOENIX_INTENT" "$PHOENIX_SPEC" "$PHOENIX_FINDINGS"; do
	[ -s "$f" ] || { echo "missing input file $f" >&2; exit 2; }
done
service=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["spec"]["serviceName"])' "$PHOENIX_INTENT")
case "$mode" in
best)
	echo "generator candidate $PHOENIX_CANDIDATE for $service: thinking"
	echo "$PHOENIX_SPEC_BEGIN"
	if [ "$PHOENIX_CANDIDATE" = 0 ]; then
		printf '# %s\n\n## Purpose\n\nA service. (candidate 0)\n' "$service"
	else
		cat "$PHOENIX_SPEC"
		printf '\n<!-- candidate 1 for %s; findings read: %s -->\n' "$service" \
			"$(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))["findings"]))' "$PHOENIX_FINDINGS")"
	fi
	echo "$PHOENIX_SPEC_END"
	echo "done"
	;;
broken)
	if [ $((PHOENIX_ATTEMPT % 2)) = 1 ]; then
		echo "<html><body>I am not a SPEC</body></html>"
		exit 0
	fi
	echo "generator crashed" >&2
	exit 3
	;;
hold)
	while :; do sleep 1; done
	;;
*)
	echo "unknown mode $mode" >&2
	exit 2
	;;
esac
