#!/usr/bin/env bash
# The web dashboard's pipeline pages on kubesim (controller/dashboard/dash_pipeline.c):
#  1. the JSON API: /api/v1/pipeline (summary, active pipelines, the queue), /api/v1/approvals
#     (what waits, with governance results and the SPEC), /api/v1/builds/NS/NAME; a user sees
#     the namespaces where it may `get intents` / `get builds` only;
#  2. Approve / Deny: a POST without the CSRF token -> 403; a user without `create approvals`
#     -> 403 and no Approval is created, the Intent still waits; bad input -> 422;
#  3. in headless Chromium through `kubectl phoenix dashboard`: an authorized user approves an
#     Intent and it proceeds (Approved True, reason = that user's name from the TokenReview,
#     whatever the page sent); an unauthorized one sees the button refused (403) and nothing
#     changes; the SPEC is rendered as text (its markup never runs); the pipeline page shows
#     the queue in order; a Build's detail follows its steps and log live (no reload), the log
#     needing `get pods/log` (a rule for pods is not enough); the Approvals page is live (SSE).
# Screenshots in $PHX_E2E_ARTIFACTS/50_dashboard_approvals (default build/artifacts/...).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/phx_helpers.sh"
source "$(dirname "$0")/intent_helpers.sh"
source "$(dirname "$0")/dash_helpers.sh"
require_kubesim "service-account tokens from /sim/v1/tokens"

ART=${PHX_E2E_ARTIFACTS:-$PHX_BIN/../artifacts}/50_dashboard_approvals
mkdir -p "$ART"
ART=$(cd "$ART" && pwd)
# j EXPR JSON: EXPR over the JSON as b (a tuple prints space-separated).
j() { python3 -c "import json,sys; b=json.loads(sys.argv[1]); r=($1); print(*r) if isinstance(r, tuple) else print(r)" "$2"; }

# --run-pods: the Build's step container really runs (a shell loop), so its log can be followed.
sim_start --run-pods --run-pods-dir "$E2E_TMP/runpods"
intent_install_crds
intent_policy supervised "  maxConcurrentPipelines: 1"
k create namespace other >/dev/null
dport=$(free_port)
phx_start_controller ctl --dashboard-bind-address "127.0.0.1:$dport"
D="http://127.0.0.1:$dport"
wait_for 10 "dashboard up" bash -c "[ \"\$(curl -s -o /dev/null -w '%{http_code}' $D/)\" = 401 ]"

for n in a b c d; do intent_apply "$n" "svc-$n" 2 medium; done
intent_apply e svc-e 2 medium
k -n other apply -f - >/dev/null <<YAML
apiVersion: phoenix.fpai.io/v1alpha1
kind: Intent
metadata: {name: hidden}
spec: {serviceName: svc-h, serviceType: domain, tier: 2, priority: high, purpose: "$INTENT_PURPOSE", keyFeatures: ["$INTENT_F1", "$INTENT_F2"]}
YAML
for n in a b c d e; do intent_wait_cond "$n" Approved AwaitingApproval reason; done
# A SPEC to review, with markup that must stay text.
k create configmap d-spec --from-literal=SPEC.md="$(printf '# SPEC: svc-d\n\n## Purpose\nDaily revenue per **product line**.\n\n- Aggregate the ledger\n- Serve \x60/revenue\x60\n\n<script>alert(1)</script><img src=x onerror=alert(2)>\n')" >/dev/null

# Who is who: the approver may see and decide; the viewer may see only; nobody nothing.
approver=$(token_for default approver)
viewer=$(token_for default viewer)
nobody=$(token_for default nobody)
k apply -f - >/dev/null <<'YAML'
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: pipeline-viewer, namespace: default}
rules: [{apiGroups: [phoenix.fpai.io], resources: [intents, builds], verbs: [get, list, watch]}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: pipeline-approver, namespace: default}
rules: [{apiGroups: [phoenix.fpai.io], resources: [approvals], verbs: [create]}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: pipeline-viewer, namespace: default}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: pipeline-viewer}
subjects:
- {kind: ServiceAccount, name: viewer, namespace: default}
- {kind: ServiceAccount, name: approver, namespace: default}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: pipeline-approver, namespace: default}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: pipeline-approver}
subjects: [{kind: ServiceAccount, name: approver, namespace: default}]
---
# A step's live log is the step pod's pods/log: the viewer may read it; the approver holds
# `get pods` only, which (as in the API server) does not grant the subresource.
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: pod-log-reader, namespace: default}
rules: [{apiGroups: [""], resources: [pods/log], verbs: [get]}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: pod-reader, namespace: default}
rules: [{apiGroups: [""], resources: [pods], verbs: [get, list]}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: pod-log-reader, namespace: default}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: pod-log-reader}
subjects: [{kind: ServiceAccount, name: viewer, namespace: default}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: pod-reader, namespace: default}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: pod-reader}
subjects: [{kind: ServiceAccount, name: approver, namespace: default}]
YAML

# --- 1. the JSON API -------------------------------------------------------------------------
for p in /api/v1/pipeline /api/v1/pipeline/events /api/v1/approvals /api/v1/builds/default/x; do
	expect_eq 401 "$(code "$D$p")" "$p without a token"
done
all=$(curl -sf -H "Authorization: Bearer $SIM_TOKEN" "$D/api/v1/pipeline")
expect_eq "cluster 6 6" "$(j 'b["scope"], b["intents"]["today"], len(b["active"])' "$all")" "the admin's summary: six Intents today, all active"
mine=$(curl -sf -H "Authorization: Bearer $viewer" "$D/api/v1/pipeline")
expect_eq "namespaces 5 False" "$(j 'b["scope"], b["intents"]["today"], any(a["namespace"] == "other" for a in b["active"])' "$mine")" "a namespace viewer: its namespace only"
none=$(curl -sf -H "Authorization: Bearer $nobody" "$D/api/v1/pipeline")
expect_eq "0 0" "$(j 'b["intents"]["total"], len(b["active"])' "$none")" "a user without RBAC sees no Intent"
apv=$(curl -sf -H "Authorization: Bearer $viewer" "$D/api/v1/approvals")
expect_eq "a,b,c,d,e" "$(j '",".join(sorted(i["name"] for i in b["items"]))' "$apv")" "the viewer's waiting Intents"
expect_eq "Governance False True" "$(j '(lambda i: (i["gate"], i["mayDecide"], len(i["governance"]["results"]) > 0))([i for i in b["items"] if i["name"] == "a"][0])' "$apv")" "gate, may-decide and governance results"
expect_contains "$(j '[i for i in b["items"] if i["name"] == "d"][0]["spec"]' "$apv")" "<script>alert(1)</script>" "the SPEC text is carried as text"
expect_eq True "$(j '[i for i in b["items"] if i["name"] == "a"][0]["mayDecide"]' "$(curl -sf -H "Authorization: Bearer $approver" "$D/api/v1/approvals")")" "the approver may decide"
expect_eq 404 "$(code -H "Authorization: Bearer $viewer" "$D/api/v1/builds/default/nope")" "no such Build"
expect_eq 403 "$(code -H "Authorization: Bearer $nobody" "$D/api/v1/builds/default/nope")" "a Build's detail without get builds"
pass "JSON API: summary, active pipelines, waiting Intents with governance results and the SPEC, filtered by get intents per namespace"

# --- 2. Approve / Deny over HTTP ---------------------------------------------------------------
tok=0123456789abcdef0123456789abcdef
post() { # TOKEN BODY: the status of a POST /api/v1/approvals that passes CSRF
	code -X POST -H "Authorization: Bearer $1" -H "Cookie: phx_csrf=$tok" -H "X-Phoenix-CSRF: $tok" \
		-H "Origin: $D" -H 'Content-Type: application/json' -d "$2" "$D/api/v1/approvals"
}
body='{"kind":"Intent","namespace":"default","name":"b","decision":"Deny","reason":"duplicates svc-a"}'
expect_eq 403 "$(code -X POST -H "Authorization: Bearer $approver" -d "$body" "$D/api/v1/approvals")" "a POST without the CSRF token"
expect_eq 403 "$(post "$viewer" "$body")" "the viewer may not decide"
expect_eq 403 "$(post "$approver" '{"kind":"Intent","namespace":"other","name":"hidden","decision":"Approve","reason":"x"}')" "the approver may not decide in another namespace"
expect_eq 422 "$(post "$approver" '{"kind":"Intent","namespace":"default","name":"b","decision":"Maybe","reason":"x"}')" "a bad decision"
expect_eq 422 "$(post "$approver" '{"kind":"Intent","namespace":"default","name":"b","decision":"Deny"}')" "no reason"
expect_eq 422 "$(post "$approver" 'not json')" "not JSON"
expect_eq 404 "$(post "$approver" '{"kind":"Intent","namespace":"default","name":"ghost","decision":"Deny","reason":"x"}')" "an unknown Intent"
expect_eq 409 "$(post "$approver" '{"kind":"Intent","namespace":"default","name":"b","gate":"Spec","decision":"Deny","reason":"x"}')" "a gate it does not wait at"
expect_eq 0 "$(k get approvals -A -o name | wc -l)" "no Approval from any refused request"
expect_eq 201 "$(post "$approver" "$body")" "the approver denies b"
intent_wait_cond b Denied True
expect_eq system:serviceaccount:default:approver "$(intent_cond b Denied reason)" "Denied reason = the TokenReview'd user"
expect_eq "duplicates svc-a" "$(intent_cond b Denied message)" "Denied message = the reason"
# The approver is the caller, whatever the body claims.
expect_eq 201 "$(post "$approver" '{"kind":"Intent","namespace":"default","name":"c","decision":"Approve","reason":"fine","approver":"the-cfo"}')" "approve c"
intent_wait_cond c Approved True
expect_eq system:serviceaccount:default:approver "$(intent_cond c Approved reason)" "a claimed approver is ignored"
pass "Approve / Deny: CSRF, create approvals per namespace (403, nothing created), 422/404/409 on bad input; the Approval's approver is the TokenReview'd user"

# --- 3. the browser ----------------------------------------------------------------------------
browser_ready
kubeconfig_for "$E2E_TMP/approver.kubeconfig" "$approver"
kubeconfig_for "$E2E_TMP/viewer.kubeconfig" "$viewer"
start_proxy approver-proxy "$E2E_TMP/approver.kubeconfig"
approver_url=$PROXY_URL
start_proxy viewer-proxy "$E2E_TMP/viewer.kubeconfig"
viewer_url=$PROXY_URL
B="$PHX_ROOT/tests/browser/dashboard.js"

out=$(node "$B" refused "$viewer_url" Intent/default/a "looks fine to me")
echo "browser (viewer): $out"
expect_eq 403 "$(j 'b["status"]' "$out")" "the viewer's click is refused"
expect_contains "$out" "may not create approvals" "and the page says why"
expect_eq 0 "$(k get approvals -o json | python3 -c 'import json,sys; print(sum(1 for a in json.load(sys.stdin)["items"] if a["spec"]["targetRef"]["name"] == "a"))')" "no Approval for a"
expect_eq AwaitingApproval "$(intent_get a '{.status.phase}')" "a still waits"
pass "browser: an unauthorized user's Approve is refused (403, explained) and nothing changes"

out=$(node "$B" approve "$approver_url" Intent/default/a "reviewed the purpose with finance" Intent/default/d)
echo "browser (approver): $out"
expect_eq 201 "$(j 'b["status"]' "$out")" "the approver's click creates the Approval"
intent_wait_cond a Approved True
expect_eq system:serviceaccount:default:approver "$(intent_cond a Approved reason)" "Approved reason = the user"
expect_eq "reviewed the purpose with finance" "$(intent_cond a Approved message)" "message = the reason typed"
wait_for 10 "a proceeds past the approval" bash -c "[ \"\$(kubectl --kubeconfig $KUBECONFIG get intent a -o jsonpath='{.status.phase}')\" != AwaitingApproval ]"
expect_eq "0 SPEC: svc-d" "$(j 'b["spec"]["scripts"], b["spec"]["headings"][0]' "$out")" "the SPEC rendered: headings as headings, no element from its markup"
expect_contains "$(j 'b["spec"]["text"]' "$out")" "<script>alert(1)</script>" "the markup shown as text"
pass "browser: an authorized user approves Intent a and it proceeds ($(intent_get a '{.status.phase}')); the SPEC is rendered as text"

# The Approvals page is live: a new Intent awaiting approval appears on the open page over the
# stream (no reload, no polling fetch).
cat >"$E2E_TMP/intent-f.yaml" <<YAML
apiVersion: phoenix.fpai.io/v1alpha1
kind: Intent
metadata: {name: f}
spec: {serviceName: svc-f, serviceType: domain, tier: 2, priority: medium, purpose: "$INTENT_PURPOSE", keyFeatures: ["$INTENT_F1", "$INTENT_F2", "$INTENT_F3"]}
YAML
out=$(node "$B" approvals-live "$viewer_url" "kubectl --kubeconfig '$KUBECONFIG' --cache-dir '$KUBECACHEDIR' apply -f '$E2E_TMP/intent-f.yaml' >/dev/null" Intent/default/f)
echo "browser (approvals live): $out"
expect_eq 0 "$(j 'b["fetches"]' "$out")" "no fetch of /api/v1/approvals: the page is fed by its stream"
expect_eq True "$(j 'b["after"] == b["cards"] + 1' "$out")" "one card more"
expect_eq AwaitingApproval "$(intent_get f '{.status.phase}')" "f waits"
pass "browser: the Approvals page is live: Intent f appeared $(j 'b["seenMs"]' "$out") ms after it was created, without a reload"

# The queue: the slot (maxConcurrentPipelines 1) went to c; a, d and e wait behind it.
for n in d e; do expect_eq 201 "$(post "$approver" "{\"kind\":\"Intent\",\"namespace\":\"default\",\"name\":\"$n\",\"decision\":\"Approve\",\"reason\":\"ok\"}")" "approve $n"; done
queue_settled() { [ "$(for n in c d e a; do [ "$(intent_get $n '{.status.phase}')" = Queued ] && echo $n; done | wc -l)" = 3 ]; }
wait_for 10 "three Intents queued behind the slot" queue_settled
want=$(for n in c d e a; do [ "$(intent_get $n '{.status.phase}')" = Queued ] && echo "$(intent_get $n '{.status.queue.position}')=default/$n"; done | sort | paste -sd,)
out=$(node "$B" pipeline "$approver_url")
echo "browser (pipeline): $out"
expect_eq "$want" "$(j '",".join(b["queue"])' "$out")" "the queue in order, with positions"
expect_eq "1 0%" "$(j 'b["tiles"]["p-failed"], b["tiles"]["p-rate"]' "$out")" "one failed (b denied), success rate"
pass "browser: the pipeline page shows the summary and the queue ($want)"

# A Build's detail, live: its steps and log follow its status.
k apply -f "$PHX_ROOT/manifests/crds/phoenix.fpai.io_builds.yaml" >/dev/null
wait_for 10 "Build API served" k get builds
k apply -f - >/dev/null <<'YAML'
apiVersion: phoenix.fpai.io/v1alpha1
kind: Build
metadata: {name: demo}
spec: {serviceName: svc-demo, source: {git: {url: "https://example.invalid/demo.git", revision: main}}}
YAML
# The test step's container: Job demo-1's pod, printing a line a second (with markup).
k apply -f - >/dev/null <<'YAML'
apiVersion: v1
kind: Pod
metadata: {name: demo-1-test, labels: {job-name: demo-1}}
spec:
  restartPolicy: Never
  containers:
  - name: test
    image: busybox
    command: ["sh", "-c", "for i in 1 2 3 4 5 6; do echo \"ctest line $i <img src=x onerror=alert(4)>\"; sleep 1; done"]
YAML
now=$(date -u +%Y-%m-%dT%H:%M:%SZ)
k patch build demo --subresource=status --type=merge -p "{\"status\":{\"phase\":\"Running\",\"step\":\"test\",\"attempt\":1,\"startTime\":\"$now\",\"steps\":[{\"name\":\"fetch\",\"phase\":\"Succeeded\",\"startTime\":\"$now\",\"completionTime\":\"$now\",\"exitCode\":0,\"logTail\":\"cloned main at 3f2c1a\"},{\"name\":\"test\",\"phase\":\"Running\",\"job\":\"demo-1\",\"container\":\"test\",\"startTime\":\"$now\",\"logTail\":\"ctest: 12 tests <script>alert(3)</script>\"}]}}" >/dev/null
wait_for 20 "the dashboard sees Build demo" bash -c "[ \"\$(curl -s -o /dev/null -w '%{http_code}' -H 'Authorization: Bearer $viewer' $D/api/v1/builds/default/demo)\" = 200 ]"
trigger="kubectl --kubeconfig '$KUBECONFIG' --cache-dir '$KUBECACHEDIR' patch build demo --subresource=status --type=json -p '[{\"op\":\"replace\",\"path\":\"/status/steps/1/phase\",\"value\":\"Succeeded\"},{\"op\":\"replace\",\"path\":\"/status/steps/1/logTail\",\"value\":\"ctest: 12 tests <script>alert(3)</script>\\n100% tests passed, 0 tests failed out of 12\"}]' >/dev/null"
out=$(node "$B" build "$viewer_url" default/demo "$trigger" "100% tests passed" "ctest line 3 <img src=x onerror=alert(4)>")
echo "browser (build): $out"
expect_eq "fetch:Succeeded,test:Running" "$(j '",".join(b["before"])' "$out")" "the steps before"
expect_eq "fetch:Succeeded,test:Succeeded" "$(j '",".join(b["after"])' "$out")" "the steps after, live"
expect_eq 0 "$(j 'b["injected"]' "$out")" "log text never becomes markup"
expect_contains "$(j 'b["live"]' "$out")" "ctest line 1 <img" "the step container's log, followed (pods/log?follow)"
expect_eq 403 "$(code -H "Authorization: Bearer $nobody" "$D/api/v1/builds/default/demo/log")" "the log without get builds"
expect_eq 200 "$(code -H "Authorization: Bearer $approver" "$D/api/v1/builds/default/demo")" "the approver may get the Build"
expect_eq 403 "$(code --max-time 10 -H "Authorization: Bearer $approver" "$D/api/v1/builds/default/demo/log?step=test")" "its log without get pods/log (get pods does not grant it)"
expect_contains "$(curl -s --max-time 10 -H "Authorization: Bearer $approver" "$D/api/v1/builds/default/demo/log?step=test")" "pods/log" "and the refusal says why"
expect_eq 200 "$(code --max-time 3 -H "Authorization: Bearer $viewer" "$D/api/v1/builds/default/demo/log?step=test" || true)" "with get pods/log: 200"
expect_eq 404 "$(code -H "Authorization: Bearer $viewer" "$D/api/v1/builds/default/demo/log?step=fetch")" "a step without a pod"
sse=$(curl -sN --max-time 20 -H "Authorization: Bearer $viewer" "$D/api/v1/builds/default/demo/log?step=test")
expect_contains "$sse" 'event: end' "the follow ends with the container"
[ "$(grep -c '^event: log' <<<"$sse")" -ge 1 ] || fail "no log event: $sse"
expect_contains "$sse" 'ctest line 6' "every line"
pass "browser: a Build's detail follows its steps and its step container's log live without a reload; log text stays text; the log needs get pods/log (403 without, get pods is not enough)"

# A Build at the Deploy gate is on the approvals page too, and its Approve names the user.
k apply -f - >/dev/null <<'YAML'
apiVersion: phoenix.fpai.io/v1alpha1
kind: Build
metadata: {name: gated}
spec: {serviceName: svc-gated, approvalMode: final, source: {git: {url: "https://example.invalid/gated.git"}}}
YAML
k patch build gated --subresource=status --type=merge -p '{"status":{"phase":"AwaitingApproval","step":"approve","output":{"image":"registry.local/svc-gated@sha256:0123"}}}' >/dev/null
gated_listed() { curl -sf -H "Authorization: Bearer $viewer" "$D/api/v1/approvals" | grep -q '"name":"gated"'; }
wait_for 10 "Build gated on the approvals page" gated_listed
expect_eq "Deploy registry.local/svc-gated@sha256:0123" "$(j '(lambda i: (i["gate"], i["image"]))([i for i in b["items"] if i["name"] == "gated"][0])' "$(curl -sf -H "Authorization: Bearer $viewer" "$D/api/v1/approvals")")" "the Deploy gate and the image"
expect_eq 201 "$(post "$approver" '{"kind":"Build","namespace":"default","name":"gated","decision":"Approve","reason":"ship it"}')" "approve the Build"
expect_eq "Build gated Deploy system:serviceaccount:default:approver" "$(k get approvals -o json | python3 -c 'import json,sys; a=[x["spec"] for x in json.load(sys.stdin)["items"] if x["spec"]["targetRef"]["kind"] == "Build"][0]; print(a["targetRef"]["kind"], a["targetRef"]["name"], a["gate"], a["approver"])')" "the Build's Approval"
pass "a Build at the Deploy gate: listed with its image; Approve creates the Approval (gate Deploy, approver = the user)"

for f in approvals.png approvals-spec.png approvals-approved.png approvals-refused.png approvals-live.png pipeline.png build-detail.png; do
	[ -s "$ART/$f" ] || fail "no screenshot $f"
done
pass "screenshots in $ART"
