#!/usr/bin/env bash
# A source Build on kubesim whose steps are scripted (the Job controller's container outcomes):
#  - its tests fail in the first attempt's Job: the controller retries once, the second Job
#    created no earlier than the 10 s backoff after the failure (checked against the timestamps
#    in status and on the Jobs, never a sleep), then deploys the image the image step reported
#    (by digest) and succeeds;
#  - invalid input (exit 64) fails fast: one Job, reason InvalidSpec, the message ending with
#    the kubectl logs command;
#  - state: Cancelled deletes the running Job and ends with reason Cancelled;
#  - the operator SIGKILLed mid-build and started again resumes: no second Job for the attempt.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/phx_helpers.sh"
source "$(dirname "$0")/build_helpers.sh"

sim_start
build_install_crds
phx_start_controller ctl
ctl1=$PHX_CTL_PID

ts() { python3 -c 'import sys,datetime; print(int(datetime.datetime.strptime(sys.argv[1], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.timezone.utc).timestamp()))' "$1"; }

# --- TestsFailed once, then success
script "{\"namespace\":\"default\",\"selector\":\"phoenix.fpai.io/build=retry\",\"containers\":{$image_ok}}"
script "{\"namespace\":\"default\",\"job\":\"retry-1\",\"containers\":{\"test\":{\"exitCode\":1,\"reason\":\"Error\",\"durationMs\":100,\"message\":$(report test TestsFailed '2 of 5 tests failed')}}}"
apply_build retry
wait_for 60 "the second attempt's Job" k get job retry-2
build_wait_reason retry Succeeded 90
expect_eq "TestsFailed RetryOnce Retried" "$(k get build retry -o jsonpath='{.status.history[0].class} {.status.history[0].remediation} {.status.history[0].outcome}')" "history: the failed attempt"
expect_eq "2 3 10 retry-3" "$(k get build retry -o jsonpath='{.status.attempt} {.status.run} {.status.retry.delaySeconds} {.status.verify.job}')" "attempt 2, two attempt Jobs and the verify Job, a 10 s backoff"
failed_at=$(ts "$(k get build retry -o jsonpath='{.status.history[0].finishedAt}')")
next_at=$(ts "$(k get build retry -o jsonpath='{.status.retry.nextAttemptAt}')")
created=$(ts "$(k get job retry-2 -o jsonpath='{.metadata.creationTimestamp}')")
expect_eq 10 $((next_at - failed_at)) "nextAttemptAt = the failure + 10 s"
# creationTimestamp is kubesim's clock, the status the operator's: 1 s apart at most (each
# truncated to the second).
[ "$created" -ge $((next_at - 1)) ] || fail "Job retry-2 created at $created, before nextAttemptAt $next_at"
[ $((created - failed_at)) -le $((10 + 5 * ${PHX_E2E_WAIT_SCALE:-1})) ] || fail "Job retry-2 created $((created - failed_at)) s after the failure (requeue_after, not polling, should be ~10 s)"
expect_eq "registry.local/team/retry@$DIGEST" "$(phx_get retry '{.spec.template.spec.containers[0].image}')" "deployed by the digest the image step reported"
expect_eq "$DIGEST" "$(k get build retry -o jsonpath='{.status.output.digest}')" "status.output.digest"
expect_eq "Succeeded Succeeded Succeeded" "$(k get build retry -o jsonpath='{.status.steps[*].phase}')" "steps[] of the last attempt"
expect_contains "$(k get events --field-selector involvedObject.name=retry -o jsonpath='{.items[*].reason}')" "Retrying" "a Retrying Event"
pass "TestsFailed is retried once after 10 s (timestamps in status), then the build deploys by digest"

# --- invalid input fails fast
script "{\"namespace\":\"default\",\"job\":\"ff-1\",\"containers\":{\"fetch\":{\"exitCode\":64,\"reason\":\"Error\",\"durationMs\":50,\"message\":$(report fetch InvalidSpec 'revision starts with -')}}}"
apply_build ff
build_wait_reason ff InvalidSpec 60
expect_eq "Failed 1" "$(k get build ff -o jsonpath='{.status.phase} {.status.run}')" "one attempt only"
msg=$(build_cond ff Succeeded message)
case "$msg" in *"kubectl logs -n default job/ff-1 -c fetch") ;; *) fail "message does not end with the logs command: $msg" ;; esac
expect_eq "ff-1" "$(k get jobs -l 'phoenix.fpai.io/build=ff,!phoenix.fpai.io/build-step' -o jsonpath='{.items[*].metadata.name}')" "no second Job"
pass "exit 64 (invalid input) fails fast with InvalidSpec and the kubectl logs command"

# --- cancel a running Build
script "{\"namespace\":\"default\",\"job\":\"cx-1\",\"containers\":{\"fetch\":{\"exitCode\":0,\"durationMs\":600000}}}"
apply_build cx
wait_for 30 "cx-1 running" bash -c "[ \"\$(kubectl --kubeconfig $KUBECONFIG get build cx -o jsonpath='{.status.steps[0].phase}')\" = Running ]"
k patch build cx --type merge -p '{"spec":{"state":"Cancelled"}}' >/dev/null
build_wait_reason cx Cancelled 30
wait_for 30 "Job cx-1 deleted" expect_fail "cx-1 still there" k get job cx-1
expect_eq "Cancelled" "$(k get build cx -o jsonpath='{.status.phase}')" "phase Cancelled"
pass "state: Cancelled deletes the running Job and ends with reason Cancelled"

# --- the operator killed mid-build: resumes, no duplicate Job
script "{\"namespace\":\"default\",\"job\":\"rs-1\",\"containers\":{\"test\":{\"exitCode\":0,\"durationMs\":$((3000 * ${PHX_E2E_WAIT_SCALE:-1}))}}}"
apply_build rs
wait_for 30 "rs-1 testing" bash -c "[ \"\$(kubectl --kubeconfig $KUBECONFIG get build rs -o jsonpath='{.status.step}')\" = test ]"
kill -KILL "$ctl1"
phx_start_controller ctl2
build_wait_reason rs Succeeded 90
expect_eq "rs-1" "$(k get jobs -l 'phoenix.fpai.io/build=rs,!phoenix.fpai.io/build-step' -o jsonpath='{.items[*].metadata.name}')" "one Job for the attempt"
expect_eq "1 2 rs-2" "$(k get build rs -o jsonpath='{.status.attempt} {.status.run} {.status.verify.job}')" "attempt 1, one attempt Job and the verify Job"
pass "the operator SIGKILLed mid-build resumes without a second Job"
