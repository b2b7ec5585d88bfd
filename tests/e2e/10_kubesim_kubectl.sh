#!/usr/bin/env bash
# kubesim with the real kubectl: discovery, CRDs, apply, printer columns, status subresource,
# watches, wait, deletes, 409 on a stale write, 410 on an expired watch, 422 naming the field,
# protobuf creates, field/label selectors, namespace deletion, list paging (--chunk-size,
# continue tokens, 400/410), clean shutdown.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
td="$PHX_ROOT/tests/e2e/testdata"

require_kubesim "tests kubesim itself (its history and control API)"
sim_start --history 50

# --- discovery and version
out=$(k version -o json)
expect_contains "$out" '"gitVersion": "v1.32.0"' "server version"
out=$(k api-resources)
expect_contains "$out" "deployments" "api-resources lists apps/v1"
expect_contains "$out" "customresourcedefinitions" "api-resources lists CRDs"
pass "version and discovery"

# --- CRD established at once, custom resource applied twice
k apply -f "$td/crd.yaml" >/dev/null
k wait --for condition=established --timeout=10s crd/widgets.e2e.phoenix.test >/dev/null
out=$(k get crd widgets.e2e.phoenix.test -o jsonpath='{.status.conditions[?(@.type=="NamesAccepted")].reason}')
expect_eq "NoConflicts" "$out" "NamesAccepted reason"
out=$(k apply -f "$td/widget.yaml")
expect_contains "$out" "created" "first apply creates"
out=$(k apply -f "$td/widget.yaml")
expect_contains "$out" "unchanged" "second apply changes nothing"
pass "CRD established, apply twice (created, unchanged)"

# --- printer columns, -o wide, short name and category
out=$(k get widgets)
expect_contains "$out" "SIZE" "printer column header"
expect_contains "$(echo "$out" | grep w1)" "small" "printer column value"
case "$out" in *COLOR*) fail "priority-1 column shown without -o wide" ;; esac
out=$(k get wdg -o wide)
expect_contains "$out" "COLOR" "-o wide shows priority columns"
expect_contains "$out" "blue" "-o wide value"
out=$(k get e2etest)
expect_contains "$out" "w1" "category lists the resource"
pass "printer columns, -o wide, short name, category"

# --- status subresource leaves generation alone; spec change bumps it
gen0=$(k get wdg w1 -o jsonpath='{.metadata.generation}')
k patch wdg w1 --subresource=status --type=merge \
	-p '{"status":{"phase":"Ready","conditions":[{"type":"Ready","status":"True","reason":"Up","message":"ok","lastTransitionTime":"2026-01-01T00:00:00Z"}]}}' >/dev/null
gen1=$(k get wdg w1 -o jsonpath='{.metadata.generation}')
expect_eq "$gen0" "$gen1" "status patch keeps generation"
expect_eq "Ready" "$(k get wdg w1 -o jsonpath='{.status.phase}')" "status stored"
k wait --for=condition=Ready --timeout=10s wdg/w1 >/dev/null
k patch wdg w1 --type=merge -p '{"spec":{"size":"large"}}' >/dev/null
expect_eq "$((gen0 + 1))" "$(k get wdg w1 -o jsonpath='{.metadata.generation}')" "spec patch bumps generation"
expect_eq "Ready" "$(k get wdg w1 -o jsonpath='{.status.phase}')" "main-resource patch keeps status"
pass "status subresource, generation rules, kubectl wait"

# --- scale subresource
k scale wdg w1 --replicas=4 >/dev/null
expect_eq "4" "$(k get wdg w1 -o jsonpath='{.spec.replicas}')" "kubectl scale through /scale"
pass "scale subresource"

# --- schema: prune, default, 422 naming each field; SMP on a CR is 415
printf 'apiVersion: e2e.phoenix.test/v1\nkind: Widget\nmetadata: {name: w2}\nspec: {size: medium, junk: 1}\n' >"$E2E_TMP/w2.yaml"
# kubectl's default is fieldValidation=Strict: an unknown field is refused, as the apiserver does.
if out=$(k apply -f "$E2E_TMP/w2.yaml" 2>&1); then fail "unknown field accepted under Strict"; fi
expect_contains "$out" 'strict decoding error: unknown field "spec.junk"' "Strict names the field"
out=$(k apply --validate=warn -f "$E2E_TMP/w2.yaml" 2>&1)
expect_contains "$out" 'Warning: unknown field "spec.junk"' "Warn warns"
k delete wdg w2 >/dev/null
printf 'apiVersion: e2e.phoenix.test/v1\nkind: Widget\nmetadata: {name: w3, colour: red}\nspec: {size: small}\n' >"$E2E_TMP/w3.yaml"
if out=$(k apply -f "$E2E_TMP/w3.yaml" 2>&1); then fail "unknown metadata field accepted under Strict"; fi
expect_contains "$out" 'unknown field "metadata.colour"' "Strict names an unknown metadata field"
k apply --validate=false -f "$E2E_TMP/w2.yaml" >/dev/null
expect_eq "" "$(k get wdg w2 -o jsonpath='{.spec.junk}')" "unknown field pruned"
expect_eq "1" "$(k get wdg w2 -o jsonpath='{.spec.replicas}')" "default applied"
printf 'apiVersion: e2e.phoenix.test/v1\nkind: Widget\nmetadata: {name: bad}\nspec: {size: huge, replicas: 99, color: "RED"}\n' >"$E2E_TMP/bad.yaml"
if out=$(k apply -f "$E2E_TMP/bad.yaml" 2>&1); then fail "invalid widget accepted"; fi
expect_contains "$out" "spec.size" "422 names spec.size"
expect_contains "$out" "spec.replicas" "422 names spec.replicas"
expect_contains "$out" "spec.color" "422 names spec.color"
expect_contains "$out" "is invalid" "422 message"
if out=$(k patch wdg w1 --type=strategic -p '{"spec":{"size":"small"}}' 2>&1); then fail "SMP on a CR accepted"; fi
expect_contains "$out" "not supported" "SMP on a custom resource is 415"
pass "schema pruning, defaulting, 422 causes, 415 for SMP on a CR"

# --- kubectl get -w sees a change (Table watch events)
k get wdg -w >"$E2E_TMP/watch.out" 2>&1 &
wpid=$!
on_exit "kill $wpid"
wait_for 10 "get -w printed the list" grep -q w1 "$E2E_TMP/watch.out"
k patch wdg w2 --type=merge -p '{"spec":{"size":"large"}}' >/dev/null
wait_for 10 "get -w shows the change" sh -c "grep w2 '$E2E_TMP/watch.out' | grep -q large"
kill "$wpid" 2>/dev/null || true
pass "kubectl get -w sees a change"

# --- 409 on a stale update
k get wdg w1 -o json >"$E2E_TMP/w1-old.json"
k patch wdg w1 --type=merge -p '{"spec":{"color":"green"}}' >/dev/null
if out=$(k replace -f "$E2E_TMP/w1-old.json" 2>&1); then fail "stale replace accepted"; fi
expect_contains "$out" "the object has been modified" "409 Conflict message"
code=$(sim_curl -o /dev/null -w '%{http_code}' -X PUT -H 'Content-Type: application/json' \
	--data-binary @"$E2E_TMP/w1-old.json" "$SIM_URL/apis/e2e.phoenix.test/v1/namespaces/default/widgets/w1")
expect_eq "409" "$code" "stale PUT status code"
pass "409 Conflict on a stale update"

# --- 410 on an expired watch (history is 50 events: push it past the old rv)
old_rv=$(k get wdg w1 -o jsonpath='{.metadata.resourceVersion}')
for i in $(seq 1 60); do echo "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"cm$i\"}}"; done >"$E2E_TMP/cms.json"
k apply -f "$E2E_TMP/cms.json" >/dev/null
out=$(sim_curl "$SIM_URL/apis/e2e.phoenix.test/v1/namespaces/default/widgets?watch=1&resourceVersion=$old_rv&timeoutSeconds=5")
expect_contains "$out" '"type":"ERROR"' "expired watch gets an ERROR event"
expect_contains "$out" '"code":410' "expired watch is 410"
expect_contains "$out" '"reason":"Expired"' "expired watch reason"
pass "410 Expired on a watch from a compacted resourceVersion"

# --- faults injected through the control API are seen by kubectl
sim_control -X POST "$SIM_URL/sim/v1/faults/errors" \
	-d '{"method":"GET","path":"/api/v1/namespaces/default/configmaps/cm3","status":500,"count":20}' >/dev/null
if out=$(k get cm cm3 2>&1); then fail "injected 500 not seen"; fi
expect_contains "$out" "injected fault" "kubectl shows the injected error"
sim_control -X DELETE "$SIM_URL/sim/v1/faults" >/dev/null
k get cm cm3 >/dev/null || fail "request still failing after the faults were cleared"
rv_now=$(k get cm cm3 -o jsonpath='{.metadata.resourceVersion}')
sim_control -X POST "$SIM_URL/sim/v1/faults/compact" >/dev/null
out=$(sim_curl "$SIM_URL/api/v1/namespaces/default/configmaps?watch=1&resourceVersion=$((rv_now - 1))&timeoutSeconds=5")
expect_contains "$out" '"code":410' "compact through the control API expires old watches"
pass "faults through the control API (injected error seen by kubectl, compaction)"

# --- selectors
k label cm cm1 tier=web >/dev/null
expect_eq "cm1" "$(k get cm -l tier=web -o jsonpath='{.items[*].metadata.name}')" "label selector"
expect_eq "cm2" "$(k get cm --field-selector metadata.name=cm2 -o jsonpath='{.items[*].metadata.name}')" "field selector"
pass "label and field selectors"

# --- pods: create, delete returns; protobuf creates (kubectl create ...)
k run p1 --image=registry.example/app:1 --restart=Never >/dev/null
k delete pod p1 --timeout=20s >/dev/null
expect_fail "pod gone after delete" k get pod p1
k create namespace team-a >/dev/null
k create configmap c1 -n team-a --from-literal=k=v >/dev/null
k create secret generic s1 -n team-a --from-literal=pw=x >/dev/null
expect_eq "v" "$(k get cm c1 -n team-a -o jsonpath='{.data.k}')" "protobuf ConfigMap decoded"
expect_eq "Opaque" "$(k get secret s1 -n team-a -o jsonpath='{.type}')" "protobuf Secret defaulted"
if out=$(k create configmap c1 -n team-a --from-literal=k=v 2>&1); then fail "duplicate create accepted"; fi
expect_contains "$out" "already exists" "AlreadyExists"
if out=$(k create configmap c9 -n nope --from-literal=k=v 2>&1); then fail "create in a missing namespace accepted"; fi
expect_contains "$out" 'namespaces "nope" not found' "missing namespace is 404"
k delete namespace team-a --timeout=20s >/dev/null
expect_fail "namespace gone" k get namespace team-a
pass "pods delete, protobuf creates, AlreadyExists, namespace lifecycle"

# --- finalizers: delete marks, removing the last finalizer removes
k patch wdg w2 --type=merge -p '{"metadata":{"finalizers":["e2e.phoenix.test/hold"]}}' >/dev/null
k delete wdg w2 --wait=false >/dev/null
[ -n "$(k get wdg w2 -o jsonpath='{.metadata.deletionTimestamp}')" ] || fail "deletionTimestamp not set"
k patch wdg w2 --type=merge -p '{"metadata":{"finalizers":null}}' >/dev/null
expect_fail "object removed with its last finalizer" k get wdg w2
pass "finalizers and deletionTimestamp"

# --- deleting the CRD removes its objects and its discovery entry
k delete crd widgets.e2e.phoenix.test >/dev/null
wait_for 10 "widgets gone from discovery" sh -c "! kubectl --kubeconfig '$KUBECONFIG' --cache-dir '$E2E_TMP/c2' api-resources 2>/dev/null | grep -q widgets"
pass "CRD deletion"

# --- paging: limit/continue on lists, JSON and Table (kubectl get --chunk-size)
k create namespace paging >/dev/null
for i in 3 7 1 5 2 6 4; do k create configmap "pg$i" -n paging --from-literal=k=v >/dev/null; done
want=$(printf 'configmap/pg%s\n' 1 2 3 4 5 6 7)
expect_eq "$want" "$(k get configmaps -n paging --chunk-size=2 -o name)" "--chunk-size=2 -o name lists all 7 in order"
expect_eq 7 "$(k get configmaps -n paging --chunk-size=2 --no-headers | wc -l | tr -d ' ')" "--chunk-size=2 Table rows"
# kubectl really paged: 4 requests (2+2+2+1), the last 3 with a continue token
expect_eq 3 "$(k get configmaps -n paging --chunk-size=2 -v=6 2>&1 >/dev/null | grep -c 'configmaps?continue=')" "kubectl followed 3 continue tokens"
page=$(k get --raw '/api/v1/namespaces/paging/configmaps?limit=2')
tok=$(jq -r '.metadata.continue' <<<"$page")
[ -n "$tok" ] && [ "$tok" != null ] || fail "no continue token in a limit=2 list: $page"
expect_eq "pg1 pg2" "$(jq -r '[.items[].metadata.name] | join(" ")' <<<"$page")" "first page"
expect_eq 5 "$(jq -r '.metadata.remainingItemCount' <<<"$page")" "remainingItemCount"
rv1=$(jq -r '.metadata.resourceVersion' <<<"$page")
k create configmap pg0 -n paging --from-literal=k=v >/dev/null
page=$(k get --raw "/api/v1/namespaces/paging/configmaps?limit=2&continue=$tok")
expect_eq "pg3 pg4" "$(jq -r '[.items[].metadata.name] | join(" ")' <<<"$page")" "second page"
expect_eq "$rv1" "$(jq -r '.metadata.resourceVersion' <<<"$page")" "later pages keep the first page's resourceVersion"
expect_eq null "$(jq -r '.metadata.remainingItemCount' <<<"$(k get --raw '/api/v1/namespaces/paging/configmaps?limit=2&labelSelector=x!=y')")" "no remainingItemCount with a selector"
table=$(sim_curl -H 'Accept: application/json;as=Table;v=v1;g=meta.k8s.io' "$SIM_URL/api/v1/namespaces/paging/configmaps?limit=2")
expect_eq 2 "$(jq -r '.rows | length' <<<"$table")" "Table page size"
[ "$(jq -r '.metadata.continue // ""' <<<"$table")" != "" ] || fail "Table page without metadata.continue: $table"
if out=$(k get --raw '/api/v1/namespaces/paging/configmaps?limit=2&continue=garbage' 2>&1); then fail "bad continue token accepted"; fi
expect_contains "$out" "invalid continue token" "bad continue token is 400"
if out=$(k get --raw "/api/v1/namespaces/paging/configmaps?limit=2&continue=$tok&resourceVersion=1" 2>&1); then fail "continue with resourceVersion accepted"; fi
expect_contains "$out" "specifying resource version is not allowed when using continue" "continue + resourceVersion is 400"
sim_control -X POST "$SIM_URL/sim/v1/faults/compact" >/dev/null
if out=$(k get --raw "/api/v1/namespaces/paging/configmaps?limit=2&continue=$tok" 2>&1); then fail "continue after compaction accepted"; fi
expect_contains "$out" "too old to display a consistent list result" "continue after compaction is 410 Expired"
expect_eq 8 "$(k get configmaps -n paging --chunk-size=3 -o name | wc -l | tr -d ' ')" "a new paged list after compaction"
k delete namespace paging --timeout=20s >/dev/null
pass "list paging: --chunk-size, continue tokens, remainingItemCount, Tables, 400/410"

sim_stop
pass "kubesim exits cleanly on SIGTERM"
