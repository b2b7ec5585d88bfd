#!/usr/bin/env bash
# spec.generator on kubesim --run-pods: the generator image (mapped to
# testdata/intent_generator.sh) runs as Jobs that get the Intent, the draft SPEC and its findings
# as files and print a SPEC between markers, read back through pods/log.
#  - best-of-N: parallelism 2, the two candidates print SPECs of different quality, the better
#    verified one is written; the Jobs have no service-account token and the restricted security
#    context; an operator restarted while they run makes no second set (deterministic names);
#  - a broken generator (garbage, then a failing Job, ...) is retried after 10 s, 30 s, 60 s (the
#    times are checked in status.generator.retries and against the Jobs' creation times), then
#    falls back to human review (SpecReady False GeneratorFailed, a Warning Event) and an
#    Approval at gate Spec moves it on;
#  - spec.state Cancelled deletes a running generator Job.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/phx_helpers.sh"
source "$(dirname "$0")/intent_helpers.sh"

GEN="$PHX_ROOT/tests/e2e/testdata/intent_generator.sh"
GO="$E2E_TMP/go"
for m in best broken hold; do
	printf '#!/usr/bin/env bash\nexec %q %s %q\n' "$GEN" "$m" "$([ $m = best ] && echo "$GO")" >"$E2E_TMP/gen-$m"
	chmod +x "$E2E_TMP/gen-$m"
done
RP="$E2E_TMP/runpods"
mkdir -p "$RP"
sim_start --run-pods --run-pods-dir "$RP" --image-map "gen.local/best:1=$E2E_TMP/gen-best" \
	--image-map "gen.local/broken:1=$E2E_TMP/gen-broken" --image-map "gen.local/hold:1=$E2E_TMP/gen-hold"
intent_install_crds
intent_policy aggressive "  rejectBelow: 0
  specGate: {minScore: 40, maxPasses: 3}"
phx_start_controller ctl

gen_extra() { printf '  autoBuild: false\n  port: %s\n  dependencies: [billing-ledger]\n  generator: {image: %s, parallelism: %s}\n' "$1" "$2" "$3"; }
jobs_of() { k get jobs -l "phoenix.fpai.io/intent=$1" -o jsonpath='{range .items[*]}{.metadata.name}{"\n"}{end}' | sort; }
ts() { python3 -c 'import sys, datetime; print(int(datetime.datetime.strptime(sys.argv[1], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.timezone.utc).timestamp()))' "$1"; }

# The broken one first: its retries take 100 s, the rest runs meanwhile.
intent_apply broken svc-broken 2 high "$(gen_extra 8081 gen.local/broken:1 1)"
intent_apply best revenue-analytics 2 high "$(gen_extra 8080 gen.local/best:1 2)"

# --- best-of-N, and a restart while the Jobs run
wait_for 20 "two generator Jobs for best" bash -c "[ \$(kubectl --kubeconfig $KUBECONFIG get jobs -l phoenix.fpai.io/intent=best -o name | wc -l) = 2 ]"
jobs_before=$(jobs_of best)
expect_eq Generating "$(intent_cond best SpecReady reason)" "SpecReady reason while the Jobs run"
expect_eq "$(echo "$jobs_before" | tr '\n' ' ' | sed 's/ $//')" "$(intent_get best '{.status.generator.jobs[*]}')" "status.generator.jobs"
j0=$(echo "$jobs_before" | sed -n 1p); j1=$(echo "$jobs_before" | sed -n 2p)
case "$j1" in best-gen-????????-1-1) ;; *) fail "job name $j1 is not <intent>-gen-<hash>-<attempt>-<index>" ;; esac
expect_eq "false" "$(k get job "$j0" -o jsonpath='{.spec.template.spec.automountServiceAccountToken}')" "no service-account token"
expect_eq "true RuntimeDefault false ALL" "$(k get job "$j0" -o jsonpath='{.spec.template.spec.securityContext.runAsNonRoot} {.spec.template.spec.securityContext.seccompProfile.type} {.spec.template.spec.containers[0].securityContext.allowPrivilegeEscalation} {.spec.template.spec.containers[0].securityContext.capabilities.drop[0]}')" "restricted security context"
expect_eq "Intent best" "$(k get job "$j0" -o jsonpath='{.metadata.ownerReferences[0].kind} {.metadata.ownerReferences[0].name}')" "Job owned by the Intent"
expect_eq "findings.json intent.json SPEC.md" "$(k get cm best-generator -o json | python3 -c 'import json,sys; print(" ".join(sorted(json.load(sys.stdin)["data"], key=str.lower)))')" "input ConfigMap keys"
intent_stop_check ctl
phx_start_controller ctl2
touch "$GO"
wait_for 30 "best: SpecReady decided" bash -c "kubectl --kubeconfig $KUBECONFIG get intent best -o jsonpath='{.status.conditions[?(@.type==\"SpecReady\")].status}' | grep -qE 'True|False'"
expect_eq True "$(intent_cond best SpecReady)" "SpecReady (message: $(intent_cond best SpecReady message))"
expect_eq "$jobs_before" "$(jobs_of best)" "the restarted operator made no second set of Jobs"
expect_eq "$j1" "$(intent_get best '{.status.generator.best}')" "the better candidate wins"
s0=$(intent_get best "{.status.generator.candidates[?(@.job==\"$j0\")].score}")
s1=$(intent_get best "{.status.generator.candidates[?(@.job==\"$j1\")].score}")
[ "$s1" -gt "$s0" ] || fail "candidate scores: $j0 $s0, $j1 $s1"
expect_eq "$s1" "$(intent_get best '{.status.spec.score}')" "status.spec.score is the winner's"
md=$(k get cm best-spec -o jsonpath='{.data.SPEC\.md}')
expect_contains "$md" "candidate 1 for revenue-analytics; findings read:" "the winner's SPEC, written from the input files"
case "$md" in *PHOENIX\ SPEC*|*thinking*) fail "the markers or the chatter around them leaked into SPEC.md" ;; esac
expect_eq Succeeded "$(intent_get best '{.status.generator.phase}')" "generator phase"
pass "best-of-2: $j1 ($s1) beat $j0 ($s0); no token, restricted, owned; a restart mid-run made no duplicate Jobs"

# --- cancel stops a running generator Job
intent_apply held svc-held 2 high "$(gen_extra 8082 gen.local/hold:1 1)"
wait_for 20 "held: generator Job" bash -c "[ -n \"\$(kubectl --kubeconfig $KUBECONFIG get jobs -l phoenix.fpai.io/intent=held -o name)\" ]"
k patch intent held --type merge -p '{"spec":{"state":"Cancelled"}}' >/dev/null
wait_for 20 "held: generator Job deleted" bash -c "[ -z \"\$(kubectl --kubeconfig $KUBECONFIG get jobs -l phoenix.fpai.io/intent=held -o name)\" ]"
pass "spec.state Cancelled deletes the running generator Job"

# --- the broken generator: 4 attempts, backoff 10 s / 30 s / 60 s, then human review
wait_for 40 "broken: generator gave up" bash -c "[ \"\$(kubectl --kubeconfig $KUBECONFIG get intent broken -o jsonpath='{.status.generator.phase}')\" = Failed ]"
intent_wait_cond broken SpecReady GeneratorFailed reason
expect_eq False "$(intent_cond broken SpecReady)" "SpecReady False"
msg=$(intent_cond broken SpecReady message)
expect_contains "$msg" "the generator produced no SPEC in 4 attempts" "why"
expect_contains "$msg" "Waiting for a human" "what next"
expect_eq "10 30 60" "$(intent_get broken '{.status.generator.retries[*].delaySeconds}')" "backoff in status"
expect_eq "1 2 3" "$(intent_get broken '{.status.generator.retries[*].attempt}')" "retried attempts"
expect_contains "$(intent_get broken '{.status.generator.retries[0].reason}')" "printed no line" "attempt 1: garbage"
expect_contains "$(intent_get broken '{.status.generator.retries[1].reason}')" "Job failed" "attempt 2: the Job failed"
for i in 0 1 2; do
	failed=$(ts "$(intent_get broken "{.status.generator.retries[$i].failedAt}")")
	due=$(ts "$(intent_get broken "{.status.generator.retries[$i].retryAt}")")
	delay=$(intent_get broken "{.status.generator.retries[$i].delaySeconds}")
	expect_eq "$delay" "$((due - failed))" "retry $i: retryAt - failedAt"
	job=$(k get jobs -l "phoenix.fpai.io/intent=broken,phoenix.fpai.io/generator-attempt=$((i + 2))" -o jsonpath='{.items[0].metadata.name} {.items[0].metadata.creationTimestamp}')
	created=$(ts "${job#* }")
	# creationTimestamp has second resolution and kubesim stamps it with time(2) (the coarse
	# clock, a few ms behind at a second boundary, where the retry falls): 1 s of slack.
	[ "$created" -ge $((due - 1)) ] || { intent_get broken '{.status.generator}'; echo; k get jobs -l phoenix.fpai.io/intent=broken -o custom-columns=N:.metadata.name,C:.metadata.creationTimestamp; grep -E 'broken' "$E2E_TMP"/ctl*.log | tail -20; false; } || fail "attempt $((i + 2)) Job ${job% *} created at $created, before its retry time $due"
done
expect_eq 4 "$(jobs_of broken | wc -l | tr -d ' ')" "one Job per attempt"
expect_eq "" "$(intent_get broken '{.status.generator.nextRetryAt}')" "no nextRetryAt once given up"
wait_for 5 "GeneratorRetry Events" intent_events_at_least broken GeneratorRetry Intent 3
intent_wait_event broken GeneratorFailed
pass "broken generator: garbage and failed Jobs retried after 10/30/60 s (status and Job times agree), then human review with a reason and an Event"
intent_approval ok-broken broken Spec Approve "reviewed the built-in SPEC" alice >/dev/null
intent_wait_cond broken SpecApproved True
pass "an Approval at gate Spec takes the Intent past the failed generator"
intent_stop_check ctl2
