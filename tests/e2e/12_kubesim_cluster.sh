#!/usr/bin/env bash
# kubesim's simulated cluster with the real kubectl: a Deployment rolls out, a Service gets
# endpoints from Ready pods, the /sim/v1 control API fails readiness (and the endpoints history
# shows it), crashes and OOM-kills containers, takes a node down; Jobs complete or fail by
# script; garbage collection (background, orphan, foreground); pod deletion; reset.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

require_kubesim "tests kubesim itself (its kubelet, controllers and control API)"
sim_start --pod-ready-delay-ms 20

ctl() { sim_control "$@"; }
# jq over a control API answer: ctl_jq FILTER ARGS...
ctl_jq() {
	local f=$1
	shift
	ctl "$@" | jq -r "$f"
}
ready_addrs() { k get endpoints "$1" -o 'jsonpath={.subsets[*].addresses[*].targetRef.name}'; }
count_words() { wc -w <<<"$1" | tr -d ' '; }

# --- Nodes --------------------------------------------------------------------------------------
expect_eq 3 "$(k get nodes --no-headers | grep -c ' Ready ')" "three Ready nodes"

# --- Deployment -> ReplicaSet -> pods, Service -> endpoints -----------------------------------
cat >"$E2E_TMP/web.yaml" <<'EOF'
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 3
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - name: nginx
        image: nginx:1.27
        ports: [{name: http, containerPort: 8080}]
        readinessProbe: {httpGet: {path: /healthz, port: http}}
---
apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  selector: {app: web}
  ports: [{name: http, port: 80, targetPort: http}]
EOF
k apply -f "$E2E_TMP/web.yaml" >/dev/null
timeout 30 kubectl --kubeconfig "$KUBECONFIG" rollout status deploy/web --timeout=20s >/dev/null ||
	fail "kubectl rollout status did not return"
expect_eq 3 "$(k get deploy web -o 'jsonpath={.status.availableReplicas}')" "available replicas"
expect_eq True "$(k get deploy web -o 'jsonpath={.status.conditions[?(@.type=="Available")].status}')" \
	"Deployment Available"
wait_for 10 "3 ready endpoints" bash -c "[ \$(kubectl --kubeconfig $KUBECONFIG get endpoints web -o 'jsonpath={.subsets[*].addresses[*].ip}' | wc -w) -eq 3 ]"
expect_eq 8080 "$(k get endpoints web -o 'jsonpath={.subsets[0].ports[0].port}')" "named targetPort resolved"
slice_eps=$(k get endpointslices -l kubernetes.io/service-name=web -o 'jsonpath={.items[0].endpoints[*].addresses[0]}')
expect_eq 3 "$(count_words "$slice_eps")" "EndpointSlice lists the three pods"
pods=($(k get pods -l app=web -o 'jsonpath={.items[*].metadata.name}'))
expect_eq 3 "${#pods[@]}" "three pods"
nodes=$(k get pods -l app=web -o 'jsonpath={.items[*].spec.nodeName}' | tr ' ' '\n' | sort -u | wc -l)
expect_eq 3 "$nodes" "pods of one owner spread over the three nodes"
pass "Deployment rolled out; Service has endpoints from its Ready pods"

# --- Readiness failure and the endpoints history ------------------------------------------------
p0=${pods[0]}
ctl -X POST "$SIM_URL/sim/v1/endpoints/default/web/history/reset" >/dev/null
ctl -X POST "$SIM_URL/sim/v1/pods/default/$p0/fail-readiness" >/dev/null
wait_for 5 "$p0 leaves the ready addresses" bash -c "! kubectl --kubeconfig $KUBECONFIG get endpoints web -o 'jsonpath={.subsets[*].addresses[*].targetRef.name}' | grep -q $p0"
expect_contains "$(k get endpoints web -o 'jsonpath={.subsets[*].notReadyAddresses[*].targetRef.name}')" "$p0" \
	"not-ready pod listed in notReadyAddresses"
expect_eq Running "$(k get pod "$p0" -o 'jsonpath={.status.phase}')" "phase stays Running"
expect_eq False "$(k get pod "$p0" -o 'jsonpath={.status.conditions[?(@.type=="Ready")].status}')" "Ready False"
hist=$(ctl "$SIM_URL/sim/v1/endpoints/default/web/history")
expect_eq 2 "$(jq -r '.entries[-1].count' <<<"$hist")" "history: last entry has 2 ready endpoints"
expect_eq false "$(jq -r --arg p "$p0" '.entries[-1].ready | index($p) != null' <<<"$hist")" "history: $p0 gone"
expect_eq 2 "$(jq -r '.stats.minReady' <<<"$hist")" "history: min ready since reset"
expect_eq 3 "$(jq -r '.stats.maxReady' <<<"$hist")" "history: max ready since reset"
expect_eq 0 "$(jq -r '.stats.zeroMoments' <<<"$hist")" "history: never zero endpoints"
ctl -X POST "$SIM_URL/sim/v1/pods/default/$p0/restore-readiness" >/dev/null
wait_for 5 "$p0 ready again" bash -c "kubectl --kubeconfig $KUBECONFIG get endpoints web -o 'jsonpath={.subsets[*].addresses[*].targetRef.name}' | grep -q $p0"
pass "failing readiness removed the endpoint, the history recorded it"

# --- Crash, OOM kill ------------------------------------------------------------------------------
p1=${pods[1]}
out=$(ctl -X POST "$SIM_URL/sim/v1/pods/default/$p1/crash" -d '{"restartDelayMs":100}')
expect_eq 1 "$(jq -r '.status.containerStatuses[0].restartCount' <<<"$out")" "crash bumps restartCount"
expect_eq Error "$(jq -r '.status.containerStatuses[0].lastState.terminated.reason' <<<"$out")" "lastState Error"
expect_eq 1 "$(jq -r '.status.containerStatuses[0].lastState.terminated.exitCode' <<<"$out")" "exit code 1"
expect_eq false "$(jq -r '.status.containerStatuses[0].ready' <<<"$out")" "briefly not ready"
wait_for 5 "$p1 running again" bash -c "[ \"\$(kubectl --kubeconfig $KUBECONFIG get pod $p1 -o 'jsonpath={.status.containerStatuses[0].ready}')\" = true ]"
expect_eq 1 "$(k get pod "$p1" -o 'jsonpath={.status.containerStatuses[0].restartCount}')" "restartCount kept"

out=$(ctl -X POST "$SIM_URL/sim/v1/pods/default/$p1/oom" -d '{"stay":true}')
expect_eq OOMKilled "$(jq -r '.status.containerStatuses[0].lastState.terminated.reason' <<<"$out")" "OOMKilled"
expect_eq 137 "$(jq -r '.status.containerStatuses[0].lastState.terminated.exitCode' <<<"$out")" "exit 137"
expect_eq 2 "$(k get pod "$p1" -o 'jsonpath={.status.containerStatuses[0].restartCount}')" "restartCount 2"
expect_eq CrashLoopBackOff "$(k get pod "$p1" -o 'jsonpath={.status.containerStatuses[0].state.waiting.reason}')" \
	"stays in CrashLoopBackOff"
ctl -X POST "$SIM_URL/sim/v1/pods/default/$p1/restore" >/dev/null
wait_for 5 "$p1 restored" bash -c "[ \"\$(kubectl --kubeconfig $KUBECONFIG get pod $p1 -o 'jsonpath={.status.containerStatuses[0].ready}')\" = true ]"
pass "crash and OOM kill show in containerStatuses"

# --- Node down / up -------------------------------------------------------------------------------
p2=${pods[2]}
node=$(k get pod "$p2" -o 'jsonpath={.spec.nodeName}')
ctl -X POST "$SIM_URL/sim/v1/nodes/$node/down" >/dev/null
expect_eq Unknown "$(k get node "$node" -o 'jsonpath={.status.conditions[?(@.type=="Ready")].status}')" "node Ready Unknown"
expect_eq False "$(k get pod "$p2" -o 'jsonpath={.status.conditions[?(@.type=="Ready")].status}')" "pod on the node not Ready"
expect_eq Unknown "$(k get pod "$p2" -o 'jsonpath={.status.phase}')" "pod on the node phase Unknown"
expect_eq false "$(k get pod "$p2" -o 'jsonpath={.status.containerStatuses[0].ready}')" "its container not ready"
ctl -X POST "$SIM_URL/sim/v1/nodes/$node/up" >/dev/null
expect_eq True "$(k get pod "$p2" -o 'jsonpath={.status.conditions[?(@.type=="Ready")].status}')" "pod Ready after node up"
pass "node down makes its pods not ready; up brings them back"

# --- kubectl delete pod returns; the ReplicaSet replaces it -----------------------------------
timeout 20 kubectl --kubeconfig "$KUBECONFIG" delete pod "$p0" >/dev/null || fail "kubectl delete pod did not return"
expect_fail "deleted pod is gone" k get pod "$p0"
wait_for 10 "replacement pod Ready" bash -c "[ \"\$(kubectl --kubeconfig $KUBECONFIG get deploy web -o 'jsonpath={.status.readyReplicas}')\" = 3 ]"
pass "kubectl delete pod returned and the ReplicaSet replaced the pod"

# --- Jobs ----------------------------------------------------------------------------------------
ctl -X POST "$SIM_URL/sim/v1/jobs/script" \
	-d '{"namespace":"default","job":"bad","containers":{"main":{"exitCode":3,"message":"migration failed","durationMs":30}}}' >/dev/null
cat >"$E2E_TMP/jobs.yaml" <<'EOF'
apiVersion: batch/v1
kind: Job
metadata: {name: good}
spec:
  template:
    spec:
      restartPolicy: Never
      initContainers: [{name: prepare, image: busybox}]
      containers: [{name: main, image: busybox}]
---
apiVersion: batch/v1
kind: Job
metadata: {name: bad}
spec:
  backoffLimit: 1
  template:
    spec:
      restartPolicy: Never
      containers: [{name: main, image: busybox}]
EOF
k apply -f "$E2E_TMP/jobs.yaml" >/dev/null
timeout 20 kubectl --kubeconfig "$KUBECONFIG" wait --for=condition=complete job/good --timeout=15s >/dev/null ||
	fail "job good did not complete"
expect_eq 1 "$(k get job good -o 'jsonpath={.status.succeeded}')" "good: succeeded 1"
expect_eq CompletionsReached "$(k get job good -o 'jsonpath={.status.conditions[?(@.type=="Complete")].reason}')" "good: reason"
[ -n "$(k get job good -o 'jsonpath={.status.completionTime}')" ] || fail "good: completionTime set"
gp=$(k get pods -l batch.kubernetes.io/job-name=good -o 'jsonpath={.items[0].metadata.name}')
expect_eq Succeeded "$(k get pod "$gp" -o 'jsonpath={.status.phase}')" "good: pod Succeeded"
expect_eq Completed "$(k get pod "$gp" -o 'jsonpath={.status.initContainerStatuses[0].state.terminated.reason}')" "init container ran"
timeout 20 kubectl --kubeconfig "$KUBECONFIG" wait --for=condition=failed job/bad --timeout=15s >/dev/null ||
	fail "job bad did not fail"
expect_eq BackoffLimitExceeded "$(k get job bad -o 'jsonpath={.status.conditions[?(@.type=="Failed")].reason}')" "bad: reason"
expect_eq True "$(k get job bad -o 'jsonpath={.status.conditions[?(@.type=="FailureTarget")].status}')" "bad: FailureTarget first"
expect_eq 2 "$(k get job bad -o 'jsonpath={.status.failed}')" "bad: backoffLimit 1 = two attempts"
msg=$(k get pods -l job-name=bad -o 'jsonpath={.items[0].status.containerStatuses[0].state.terminated.message}')
expect_eq "migration failed" "$msg" "termination message from the script"
ctl -X POST "$SIM_URL/sim/v1/jobs/script" -d '{"namespace":"default","job":"slow","default":{"durationMs":60000}}' >/dev/null
cat >"$E2E_TMP/slow.yaml" <<'EOF'
apiVersion: batch/v1
kind: Job
metadata: {name: slow}
spec:
  template:
    spec:
      restartPolicy: Never
      containers: [{name: main, image: busybox}]
EOF
k apply -f "$E2E_TMP/slow.yaml" >/dev/null
wait_for 5 "slow job active and ready" bash -c "[ \"\$(kubectl --kubeconfig $KUBECONFIG get job slow -o 'jsonpath={.status.active}/{.status.ready}')\" = 1/1 ]"
# The deadline is set only once the pod is seen Ready: a deadline in the manifest could expire
# before a loaded box polls the Ready state. activeDeadlineSeconds is mutable, as upstream.
k patch job slow --type=merge -p '{"spec":{"activeDeadlineSeconds":1}}' >/dev/null
timeout 20 kubectl --kubeconfig "$KUBECONFIG" wait --for=condition=failed job/slow --timeout=15s >/dev/null ||
	fail "job slow did not fail at its deadline"
expect_eq DeadlineExceeded "$(k get job slow -o 'jsonpath={.status.conditions[?(@.type=="Failed")].reason}')" "slow: reason"
expect_eq 0 "$(k get job slow -o 'jsonpath={.status.active}')" "slow: no active pod left"
pass "Jobs: default success, scripted failure with BackoffLimitExceeded, activeDeadlineSeconds"

# --- Garbage collection -------------------------------------------------------------------------
timeout 20 kubectl --kubeconfig "$KUBECONFIG" delete job good bad slow >/dev/null
wait_for 10 "job pods collected" bash -c "[ -z \"\$(kubectl --kubeconfig $KUBECONFIG get pods -l job-name -o name)\" ]"
timeout 20 kubectl --kubeconfig "$KUBECONFIG" delete deploy web >/dev/null
wait_for 10 "replicaset collected" bash -c "[ -z \"\$(kubectl --kubeconfig $KUBECONFIG get rs -o name)\" ]"
wait_for 10 "pods collected" bash -c "[ -z \"\$(kubectl --kubeconfig $KUBECONFIG get pods -l app=web -o name)\" ]"
pass "background deletion collected ReplicaSet and pods"

k apply -f "$E2E_TMP/web.yaml" >/dev/null
timeout 30 kubectl --kubeconfig "$KUBECONFIG" rollout status deploy/web --timeout=20s >/dev/null
timeout 20 kubectl --kubeconfig "$KUBECONFIG" delete deploy web --cascade=orphan >/dev/null
wait_for 10 "deployment gone" bash -c "! kubectl --kubeconfig $KUBECONFIG get deploy web >/dev/null 2>&1"
expect_eq 1 "$(k get rs -o name | wc -l | tr -d ' ')" "orphan: ReplicaSet kept"
expect_eq "" "$(k get rs -o 'jsonpath={.items[0].metadata.ownerReferences}')" "orphan: ownerReferences removed"
expect_eq 3 "$(k get pods -l app=web --no-headers | wc -l | tr -d ' ')" "orphan: pods kept"
pass "orphan deletion kept the dependents"

rs=$(k get rs -o 'jsonpath={.items[0].metadata.name}')
timeout 20 kubectl --kubeconfig "$KUBECONFIG" delete rs "$rs" --cascade=foreground >/dev/null ||
	fail "foreground delete did not return"
expect_eq 0 "$(k get pods -l app=web --no-headers 2>/dev/null | wc -l | tr -d ' ')" "foreground: pods gone before the owner"
pass "foreground deletion removed dependents first"

cat >"$E2E_TMP/dangling.yaml" <<'EOF'
apiVersion: v1
kind: ConfigMap
metadata:
  name: dangling
  ownerReferences: [{apiVersion: apps/v1, kind: Deployment, name: gone, uid: 00000000-0000-0000-0000-000000000000}]
data: {a: b}
EOF
k apply -f "$E2E_TMP/dangling.yaml" >/dev/null
wait_for 10 "object with a dangling owner collected" bash -c "! kubectl --kubeconfig $KUBECONFIG get configmap dangling >/dev/null 2>&1"
pass "an object whose owner does not exist is collected"

timeout 20 kubectl --kubeconfig "$KUBECONFIG" delete svc web >/dev/null
wait_for 10 "Endpoints and EndpointSlice go with the Service" bash -c "[ -z \"\$(kubectl --kubeconfig $KUBECONFIG get endpoints,endpointslices -o name)\" ]"
expect_eq false "$(ctl_jq .exists "$SIM_URL/sim/v1/endpoints/default/web/history")" "history kept, service gone"
pass "deleting a Service removes its Endpoints and EndpointSlice"

# --- Faults through the control API are seen by kubectl ----------------------------------------
ctl -X POST "$SIM_URL/sim/v1/faults/errors" -d '{"method":"GET","path":"/api/v1/namespaces/default/configmaps","status":503,"count":1}' >/dev/null
expect_fail "first GET fails with the injected 503" k get configmaps --request-timeout=5s
k get configmaps >/dev/null 2>&1 || fail "second GET succeeds"
pass "injected fault seen by kubectl"

# --- Reset ---------------------------------------------------------------------------------------
k create configmap leftover --from-literal=a=b >/dev/null
ctl -X POST "$SIM_URL/sim/v1/reset" >/dev/null
expect_fail "reset removed objects" k get configmap leftover
expect_eq 3 "$(k get nodes --no-headers | grep -c ' Ready ')" "nodes back after reset"
pass "reset gives a clean cluster"

sim_stop
pass "kubesim cluster behaviour"
