#!/usr/bin/env bash
# The Build hand-off (the Intent/Build contract in docs/governance.md): without the
# Build CRD the Intent says so and waits; once it is installed the Intent creates ONE Build named
# after it, owned by it, with the contract's spec; it mirrors Succeeded into BuildSucceeded and
# Ready from the PhoenixService's Available; an edit patches the Build for the new generation; a
# Build of that name it does not own is not touched; cancel stops an unfinished Build; deleting
# with deletionPolicy Retain keeps the service, with Delete removes it. The missing CRD is logged
# once (no informer retrying it), and its installation noticed without a restart. The test plays
# the Build controller (status patches on a stand-in CRD); 42_intent_build_real.sh runs the same
# hand-off with the real Build CRD and build wing.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/phx_helpers.sh"
source "$(dirname "$0")/intent_helpers.sh"

sim_start --pod-ready-delay-ms 100
intent_install_crds
intent_policy aggressive
phx_start_controller ctl

img="  image: registry.local/app:1
  port: 8080"
intent_apply app app-svc 2 high "$img"
intent_wait_cond app BuildSucceeded BuildCRDMissing reason
expect_eq Unknown "$(intent_cond app BuildSucceeded)" "Unknown while the CRD is missing"
expect_eq 1 "$(grep -c 'intent "the API server does not serve builds' "$E2E_TMP/ctl.log" || true)" "the missing Build CRD logged once"
expect_eq 0 "$(grep 'list failed' "$E2E_TMP/ctl.log" | grep -c 'informer=intent-builds' || true)" "no Build informer retrying (and warning) every backoff"
pass "no Build CRD: BuildSucceeded Unknown/BuildCRDMissing, said once in the log, the operator keeps running"

k apply -f "$PHX_ROOT/tests/e2e/testdata/intent_build_crd.yaml" >/dev/null
wait_for 10 "Build API served" k get builds
wait_for 10 "Build app created" k get build app
wait_for 10 "the operator follows Builds now" grep -q 'serves builds.phoenix.fpai.io now' "$E2E_TMP/ctl.log"
b() { k get build "$1" -o "jsonpath=$2"; }
expect_eq Intent "$(b app '{.metadata.ownerReferences[0].kind}')" "owner kind"
expect_eq true "$(b app '{.metadata.ownerReferences[0].controller}')" "controller owner"
expect_eq app "$(b app '{.metadata.labels.phoenix\.fpai\.io/intent}')" "intent label"
expect_eq app-svc "$(b app '{.spec.serviceName}')" "serviceName"
expect_eq "app 1" "$(b app '{.spec.intentRef.name} {.spec.intentRef.generation}')" "intentRef"
expect_eq app-spec "$(b app '{.spec.specConfigMap.name}')" "specConfigMap"
expect_eq registry.local/app:1 "$(b app '{.spec.image.name}')" "image"
expect_eq "8080 2" "$(b app '{.spec.deploy.port} {.spec.deploy.tier}')" "deploy"
expect_eq final "$(b app '{.spec.approvalMode}')" "approvalMode"
intent_wait_cond app BuildSucceeded Pending reason
expect_eq app "$(intent_get app '{.status.buildRef.name}')" "buildRef"
expect_contains "$(intent_get app '{.metadata.finalizers}')" "phoenix.fpai.io/intent-cleanup" "finalizer once a Build exists"
intent_wait_phase app Building
pass "Build CRD installed: Build app created per the contract (owner, label, serviceName, intentRef, specConfigMap, image, deploy, approvalMode); phase Building"

# A generator Build for an Intent with neither source nor image, a source copied as is.
intent_apply gen gen-svc 2 medium
intent_apply src src-svc 2 medium "  source: {git: {url: 'https://example.com/src.git', revision: main}, contextDir: svc}"
wait_for 10 "Builds gen and src" k get build gen src
expect_eq "{}" "$(b gen '{.spec.generate}')" "generate {}"
expect_eq "https://example.com/src.git main svc" "$(b src '{.spec.source.git.url} {.spec.source.git.revision} {.spec.source.contextDir}')" "source"
pass "spec.generate {} without source or image; spec.source copied as is"

# Play the Build controller: running, then succeeded with a PhoenixService.
k patch build app --subresource=status --type=merge -p '{"status":{"phase":"Running","conditions":[{"type":"Succeeded","status":"Unknown","reason":"Testing","message":"step test"}]}}' >/dev/null
intent_wait_cond app BuildSucceeded Testing reason
sed 's/name: hello$/name: app-svc/' "$PHX_ROOT/manifests/samples/minimal.yaml" | k apply -f - >/dev/null
uid=$(b app '{.metadata.uid}')
k patch phx app-svc --type=merge -p "{\"metadata\":{\"ownerReferences\":[{\"apiVersion\":\"phoenix.fpai.io/v1alpha1\",\"kind\":\"Build\",\"name\":\"app\",\"uid\":\"$uid\",\"controller\":true}]}}" >/dev/null
k patch build app --subresource=status --type=merge -p '{"status":{"phase":"Succeeded","serviceRef":{"name":"app-svc"},"conditions":[{"type":"Succeeded","status":"True","reason":"Deployed","message":"app-svc deployed"}]}}' >/dev/null
intent_wait_cond app BuildSucceeded True
expect_eq Deployed "$(intent_cond app BuildSucceeded reason)" "mirrored reason"
expect_eq app-svc "$(intent_get app '{.status.serviceRef.name}')" "serviceRef"
intent_wait_cond app Ready True
expect_eq Available "$(intent_cond app Ready reason)" "Ready reason"
intent_wait_phase app Ready
intent_wait_event app Ready
pass "BuildSucceeded mirrors the Build's Succeeded (Testing, then Deployed); Ready True once PhoenixService app-svc is Available; phase Ready"

# An edit after the Build exists patches it for the new generation.
k patch intent app --type=merge -p '{"spec":{"port":8081}}' >/dev/null
wait_for 10 "Build app at generation 2" bash -c "[ \"\$(kubectl --kubeconfig $KUBECONFIG get build app -o jsonpath='{.spec.intentRef.generation} {.spec.deploy.port}')\" = '2 8081' ]"
expect_eq 2 "$(intent_get app '{.status.observedGeneration}')" "re-evaluated"
pass "an edit of the Intent patches Build app (intentRef.generation 2, port 8081)"

# A Build of that name the Intent does not own is not touched.
k apply -f - >/dev/null <<'YAML'
apiVersion: phoenix.fpai.io/v1alpha1
kind: Build
metadata: {name: taken}
spec: {serviceName: someone-else}
YAML
intent_apply taken taken-svc 2 medium "$img"
intent_wait_cond taken BuildSucceeded BuildNameTaken reason
expect_eq False "$(intent_cond taken BuildSucceeded)" "False"
expect_eq someone-else "$(b taken '{.spec.serviceName}')" "not overwritten"
intent_wait_event taken BuildSucceeded
pass "a Build named like the Intent but not owned by it: BuildSucceeded False/BuildNameTaken + Event, not overwritten"

# Cancel stops an unfinished Build.
k patch intent gen --type=merge -p '{"spec":{"state":"Cancelled"}}' >/dev/null
intent_wait_phase gen Cancelled
wait_for 10 "Build gen deleted" expect_fail "Build gen still there" k get build gen
intent_wait_event gen Cancelled
pass "state Cancelled: phase Cancelled, the unfinished Build deleted, an Event"

# Delete, deletionPolicy Retain (default): the Build goes, the PhoenixService it made stays.
k delete intent app --wait=false >/dev/null
wait_for 10 "Intent app gone" expect_fail "Intent app still there" k get intent app
wait_for 10 "Build app gone" expect_fail "Build app still there" k get build app
k get phx app-svc >/dev/null || fail "Retain deleted the PhoenixService"
expect_eq "" "$(k get phx app-svc -o jsonpath='{.metadata.ownerReferences}')" "orphaned"
pass "delete with deletionPolicy Retain: Build deleted (orphaning), PhoenixService app-svc kept"

# Delete, deletionPolicy Delete: the PhoenixService goes too.
intent_apply del del-svc 2 high "$img
  deletionPolicy: Delete"
wait_for 10 "Build del created" k get build del
sed 's/name: hello$/name: del-svc/' "$PHX_ROOT/manifests/samples/minimal.yaml" | k apply -f - >/dev/null
k patch build del --subresource=status --type=merge -p '{"status":{"serviceRef":{"name":"del-svc"},"conditions":[{"type":"Succeeded","status":"True","reason":"Deployed","message":"ok"}]}}' >/dev/null
wait_for 10 "del serviceRef" bash -c "[ \"\$(kubectl --kubeconfig $KUBECONFIG get intent del -o jsonpath='{.status.serviceRef.name}')\" = del-svc ]"
k delete intent del --wait=false >/dev/null
wait_for 10 "Intent del gone" expect_fail "Intent del still there" k get intent del
wait_for 10 "PhoenixService del-svc deleted" expect_fail "del-svc still there" k get phx del-svc
pass "delete with deletionPolicy Delete: the PhoenixService del-svc is deleted too"
intent_stop_check ctl
