#!/usr/bin/env bash
# The learning ConfigMap (phoenix-build-learning, one per namespace), with scripted steps:
#  - a Build whose image step is OOM-killed once succeeds with twice the memory: the entry
#    <service>.<buildSystem> counts the OOM, keeps the memory factor that worked and the step
#    durations; the next Build of the service starts with that memory (status.retry.learnedFrom);
#  - a corrupt entry is ignored with a Warning Event (LearningCorrupt) and rewritten;
#  - a write refused with 409 Conflict (another Build wrote first) is re-read and retried: no
#    count is lost.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/phx_helpers.sh"
source "$(dirname "$0")/build_helpers.sh"

sim_start
build_install_crds
phx_start_controller ctl
learned() { k get cm phoenix-build-learning -o "jsonpath={.data.$1}"; }
test_ok="\"test\":{\"exitCode\":0,\"durationMs\":300,\"message\":\"{\\\"step\\\":\\\"test\\\",\\\"result\\\":\\\"Succeeded\\\",\\\"buildSystem\\\":\\\"make\\\"}\"}"

# --- OOM once, fixed by twice the memory
script "{\"namespace\":\"default\",\"selector\":\"phoenix.fpai.io/build=oom1\",\"containers\":{$test_ok,$image_ok}}"
script "{\"namespace\":\"default\",\"job\":\"oom1-1\",\"containers\":{$test_ok,\"image\":{\"exitCode\":137,\"reason\":\"OOMKilled\",\"durationMs\":50}}}"
BUILD_SVC=ledger apply_build oom1
build_wait_reason oom1 Succeeded 90
expect_eq "2" "$(k get build oom1 -o jsonpath='{.status.retry.memoryFactor}')" "the retry had twice the memory"
entry=$(learned ledger\\.make)
[ -n "$entry" ] || fail "no learning entry ledger.make: $(k get cm phoenix-build-learning -o yaml 2>&1)"
expect_eq "1 1 2 1" "$(jq -r '"\(.builds) \(.succeeded) \(.memoryFactor) \(.failures.OOMKilled)"' <<<"$entry")" "builds, succeeded, memory that worked, OOMs seen"
jq -e '.stepMs.test >= 0' <<<"$entry" >/dev/null || fail "no typical test duration: $entry"
pass "an OOM fixed by twice the memory is learned: $entry"

# --- the next Build of the service starts from it
script "{\"namespace\":\"default\",\"selector\":\"phoenix.fpai.io/build=oom2\",\"containers\":{$test_ok,$image_ok}}"
BUILD_SVC=ledger apply_build oom2
wait_for 30 "Job oom2-1" k get job oom2-1
expect_eq "2048Mi" "$(k get job oom2-1 -o jsonpath='{.spec.template.spec.containers[0].resources.limits.memory}')" "the first attempt starts with the memory that worked"
expect_contains "$(k get build oom2 -o jsonpath='{.status.retry.learnedFrom}')" "ledger.make" "status.retry.learnedFrom"
build_wait_reason oom2 Succeeded 90
expect_eq "2" "$(learned ledger\\.make | jq -r .builds)" "two Builds learned"
pass "the next Build of the service starts with memory x2 (2048Mi), learnedFrom says where from"

# --- a corrupt entry: ignored with a Warning Event, rewritten
k patch cm phoenix-build-learning --type merge -p '{"data":{"audit.make":"{not json"}}' >/dev/null
script "{\"namespace\":\"default\",\"selector\":\"phoenix.fpai.io/build=cor\",\"containers\":{$test_ok,$image_ok}}"
BUILD_SVC=audit apply_build cor
build_wait_reason cor Succeeded 90
expect_eq "1" "$(k get job cor-1 -o jsonpath='{.spec.template.spec.containers[0].resources.limits.memory}' | grep -c 1024Mi)" "a corrupt entry is not used"
wait_for 20 "a LearningCorrupt Warning" bash -c "kubectl --kubeconfig $KUBECONFIG get events --field-selector involvedObject.name=cor -o jsonpath='{.items[*].reason}' | grep -q LearningCorrupt"
expect_eq "1" "$(learned audit\\.make | jq -r .builds)" "the entry is rewritten"
pass "a corrupt learning entry is ignored with a Warning Event and rewritten"

# --- another Build wrote first: the write carries the resourceVersion it read, a 409 Conflict
# makes it re-read and fold in again (one 409 injected on the ConfigMap's PATCH)
sim_control -X POST "$SIM_URL/sim/v1/faults/errors" -d '{"method":"PATCH","path":"/api/v1/namespaces/default/configmaps/phoenix-build-learning","status":409,"count":1}' >/dev/null
script "{\"namespace\":\"default\",\"selector\":\"phoenix.fpai.io/build=race\",\"containers\":{$test_ok,$image_ok}}"
BUILD_SVC=ledger apply_build race
build_wait_reason race Succeeded 90
wait_for 20 "the third Build of ledger learned" bash -c "[ \"\$(kubectl --kubeconfig $KUBECONFIG get cm phoenix-build-learning -o jsonpath='{.data.ledger\\.make}' | jq -r .builds)\" = 3 ]"
expect_eq "0" "$(sim_control "$SIM_URL/sim/v1/faults" | jq '[.. | objects | select(.status? == 409)] | length')" "the injected 409 was used"
pass "a learning write refused with 409 Conflict is retried on a fresh read: no count lost"
