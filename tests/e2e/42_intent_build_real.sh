#!/usr/bin/env bash
# The whole Intent pipeline on kubesim with the real Build CRD and the real build wing (no
# stand-in, no test playing the Build controller): an Intent with autoBuild, a prebuilt image
# and approvalMode auto, approved by the policy, gets its SPEC, creates its Build; the build
# wing deploys the image as a PhoenixService (no build Job for a prebuilt image, only the verify Job), which becomes
# Available; the Build ends Succeeded and the Intent BuildSucceeded True, then Ready True
# (phase Ready), and the time from submission to deployed is observed once in
# phoenix_intent_time_to_deployed_seconds. The operator runs with the Build CRD from the start,
# so it follows Builds at once and never says it is missing.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/phx_helpers.sh"
source "$(dirname "$0")/intent_helpers.sh"
source "$(dirname "$0")/build_helpers.sh"

sim_start
intent_install_crds
build_install_crds
intent_policy aggressive
mport=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
phx_start_controller ctl --metrics-bind-address "127.0.0.1:$mport"
wait_for 10 "metrics up" curl -sf "http://127.0.0.1:$mport/metrics"

IMG=registry.local/team/ledger@sha256:$(printf 'b%.0s' $(seq 64))
intent_apply ledger ledger-svc 2 high "  image: '$IMG'
  port: 8080
  approvalMode: auto"
intent_wait_cond ledger Approved True
expect_eq AutoApproved "$(intent_cond ledger Approved reason)" "approved by the policy"
wait_for 30 "Build ledger created by the Intent" k get build ledger
b() { k get build ledger -o "jsonpath=$1"; }
expect_eq "Intent ledger true" "$(b '{.metadata.ownerReferences[0].kind} {.metadata.ownerReferences[0].name} {.metadata.ownerReferences[0].controller}')" "the Build is owned by the Intent"
expect_eq "$IMG auto 8080" "$(b '{.spec.image.name} {.spec.approvalMode} {.spec.deploy.port}')" "image, approvalMode, port handed to the Build"
expect_eq ledger-spec "$(b '{.spec.specConfigMap.name}')" "the SPEC handed to the Build"
pass "Intent (autoBuild, prebuilt image, approvalMode auto) -> auto-approved, SPEC, Build owned by it"

build_wait_reason ledger Succeeded 60
expect_eq True "$(build_cond ledger Succeeded status)" "the real build wing: Build Succeeded"
expect_eq "" "$(k get jobs -l 'phoenix.fpai.io/build=ledger,!phoenix.fpai.io/build-step' -o name)" "no build Job for a prebuilt image"
expect_eq "ledger-1" "$(b '{.status.verify.job}')" "only the verify Job"
expect_eq True "$(phx_get ledger-svc '{.status.conditions[?(@.type=="Available")].status}')" "PhoenixService Available"
expect_eq "$IMG" "$(phx_get ledger-svc '{.spec.template.spec.containers[0].image}')" "the image deployed"
pass "the build wing deployed the image: PhoenixService ledger-svc Available, Build Succeeded"

intent_wait_cond ledger BuildSucceeded True
intent_wait_cond ledger Ready True
intent_wait_phase ledger Ready
expect_eq Available "$(intent_cond ledger Ready reason)" "Ready because the service is Available"
expect_eq "ledger ledger-svc" "$(intent_get ledger '{.status.buildRef.name} {.status.serviceRef.name}')" "buildRef and serviceRef"
pass "Intent BuildSucceeded True, Ready True (phase Ready), buildRef and serviceRef"

metrics=$(curl -sf "http://127.0.0.1:$mport/metrics")
expect_contains "$metrics" "phoenix_intent_time_to_deployed_seconds_count 1" "one submission-to-deployed observation"
grep -q 'intent "the API server does not serve builds' "$E2E_TMP/ctl.log" && fail "the operator said the Build CRD is missing"
pass "phoenix_intent_time_to_deployed_seconds observed once; no Build-CRD warning"
intent_stop_check ctl
