#!/usr/bin/env bash
# kubesim --run-pods with the real kubectl: containers run as local processes. A pod's program
# answers on its pod IP with its env (downward API), ConfigMap and emptyDir volumes shared by
# its containers; a readiness probe fails and recovers for real (and through the control API's
# block-probes / freeze); exit codes, termination messages, OOMKilled, restarts and
# CrashLoopBackOff; kubectl logs (-f, --previous, --tail, -c, --timestamps); Jobs whose program succeeds or
# fails; an unmapped image goes ErrImagePull -> ImagePullBackOff; signals on real processes.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

# An image in the image store (DIR/<image with / and : as _>/manifest.json).
store="$E2E_TMP/images"
mkdir -p "$store/local_hello_1.0/bin"
cat >"$store/local_hello_1.0/manifest.json" <<'EOF'
{"entrypoint": ["bin/hello"], "cmd": ["default-arg"], "env": ["GREETING=hi from the store"]}
EOF
printf '#!/bin/sh\necho "$GREETING: $*"\n' >"$store/local_hello_1.0/bin/hello"
chmod +x "$store/local_hello_1.0/bin/hello"

RP="$E2E_TMP/runpods"
sim_start --run-pods --run-pods-dir "$RP" --image-map py=/usr/bin/python3 \
	--image-store "$store" --crashloop-backoff-scale 0.1

jp() { k get pod "$1" -o "jsonpath=$2"; }
# The pod's dir: RUNPODS_DIR/<instance>/pods/<uid> (docs/kubesim.md).
pod_dir() { echo "$RP"/*/pods/"$(jp "$1" '{.metadata.uid}')"; }
ready_is() { [ "$(jp "$1" '{.status.conditions[?(@.type=="Ready")].status}')" = "$2" ]; }
# jp_is POD JSONPATH WANT: the value is WANT; jp_ge POD JSONPATH N: the number is >= N.
jp_is() { [ "$(jp "$1" "$2")" = "$3" ]; }
jp_ge() { [ "$(jp "$1" "$2")" -ge "$3" ] 2>/dev/null; }

# --- A pod's program answers on its IP; env, downward API, ConfigMap and emptyDir volumes ----
cat >"$E2E_TMP/web.yaml" <<'EOF'
apiVersion: v1
kind: ConfigMap
metadata: {name: web-cfg}
data: {greeting: "hello from the configmap\n"}
---
apiVersion: v1
kind: Secret
metadata: {name: web-secret}
data: {token: c2VjcmV0LXRva2Vu}
---
apiVersion: v1
kind: Pod
metadata: {name: web, labels: {app: web}}
spec:
  volumes:
  - {name: data, emptyDir: {}}
  - {name: cfg, configMap: {name: web-cfg}}
  - {name: sec, secret: {secretName: web-secret}}
  initContainers:
  - name: init
    image: busybox
    command: ["sh", "-c", "echo $MY_NAME/$MY_NS/$MY_NODE/$POD_IP > /data/who.txt; cp /etc/cfg/greeting /etc/sec/token /data/"]
    env:
    - {name: MY_NAME, valueFrom: {fieldRef: {fieldPath: metadata.name}}}
    - {name: MY_NS, valueFrom: {fieldRef: {fieldPath: metadata.namespace}}}
    - {name: MY_NODE, valueFrom: {fieldRef: {fieldPath: spec.nodeName}}}
    volumeMounts:
    - {name: data, mountPath: /data}
    - {name: cfg, mountPath: /etc/cfg}
    - {name: sec, mountPath: /etc/sec}
  containers:
  - name: server
    image: py
    args: ["-m", "http.server", "--bind", "$(POD_IP)", "--directory", "/data", "8080"]
    ports: [{name: http, containerPort: 8080}]
    readinessProbe: {httpGet: {path: /ready.txt, port: http}, periodSeconds: 1, failureThreshold: 1}
    volumeMounts: [{name: data, mountPath: /data}]
  - name: writer
    image: busybox
    command: ["sh", "-c", "echo written-by-writer > /data/writer.txt; exec sleep 3600"]
    volumeMounts: [{name: data, mountPath: /data}]
EOF
k apply -f "$E2E_TMP/web.yaml" >/dev/null
wait_for 20 "web running" jp_is web '{.status.phase}' Running
ip=$(jp web '{.status.podIP}')
case "$ip" in 127.1.*) ;; *) fail "pod IP $ip is not in 127.1.0.0/16" ;; esac
node=$(jp web '{.spec.nodeName}')
wait_for 20 "the server answers on $ip" curl -sf "http://$ip:8080/who.txt"
expect_eq "web/default/$node/$ip" "$(curl -sf "http://$ip:8080/who.txt")" "downward API env and POD_IP"
expect_eq "hello from the configmap" "$(curl -sf "http://$ip:8080/greeting")" "ConfigMap volume"
expect_eq secret-token "$(curl -sf "http://$ip:8080/token")" "Secret volume (data decoded)"
wait_for 10 "writer's file" curl -sf "http://$ip:8080/writer.txt"
expect_eq written-by-writer "$(curl -sf "http://$ip:8080/writer.txt")" "emptyDir shared by containers"
expect_fail "nothing on the address next door" curl -sf --max-time 2 "http://127.1.250.250:8080/who.txt"

# --- Readiness fails and recovers for real ------------------------------------------------------
ready_is web False || fail "web Ready before its readiness path exists"
data="$(pod_dir web)/volumes/data"
[ -d "$data" ] || fail "no emptyDir at $data"
touch "$data/ready.txt"
wait_for 15 "web Ready once /ready.txt answers" ready_is web True
rm "$data/ready.txt"
wait_for 15 "web not Ready once /ready.txt is 404" ready_is web False
touch "$data/ready.txt"
wait_for 15 "web Ready again" ready_is web True
sim_control -X POST "$SIM_URL/sim/v1/pods/default/web/block-probes" -d '{}' >/dev/null
wait_for 15 "web not Ready while its probes are blocked" ready_is web False
sim_control -X POST "$SIM_URL/sim/v1/pods/default/web/unblock-probes" -d '{}' >/dev/null
wait_for 15 "web Ready after unblock" ready_is web True
sim_control -X POST "$SIM_URL/sim/v1/pods/default/web/freeze" -d '{}' >/dev/null
expect_fail "a frozen server does not answer" curl -sf --max-time 2 "http://$ip:8080/who.txt"
wait_for 15 "a frozen pod goes unready (its probes time out)" ready_is web False
sim_control -X POST "$SIM_URL/sim/v1/pods/default/web/thaw" -d '{}' >/dev/null
wait_for 15 "thawed: Ready again" ready_is web True
curl -sf "http://$ip:8080/who.txt" >/dev/null || fail "thawed server does not answer"

# --- Signals on real processes: SIGKILL -> exit 137, restart -------------------------------------
sim_control -X POST "$SIM_URL/sim/v1/pods/default/web/signal" \
	-d '{"container":"writer","signal":"KILL"}' >/dev/null
wait_for 15 "writer restarted after SIGKILL" jp_ge web '{.status.containerStatuses[?(@.name=="writer")].restartCount}' 1
expect_eq 137 "$(jp web '{.status.containerStatuses[?(@.name=="writer")].lastState.terminated.exitCode}')" \
	"exit code of a SIGKILLed process"

# --- A node down freezes its pods' processes (SIGSTOP); up thaws them ----------------------------
sim_control -X POST "$SIM_URL/sim/v1/nodes/$node/down" >/dev/null
expect_fail "a pod on a down node does not answer" curl -sf --max-time 2 "http://$ip:8080/who.txt"
ready_is web False || fail "web Ready on a down node"
sim_control -X POST "$SIM_URL/sim/v1/nodes/$node/up" >/dev/null
wait_for 15 "the pod answers again once its node is up" curl -sf --max-time 2 "http://$ip:8080/who.txt"
wait_for 15 "web Ready once its node is up" ready_is web True
pass "a pod's processes serve on its IP, share volumes, probe for real and take signals"


# --- A Deployment behind a Service: the endpoints are the ready pods' real addresses -------------
cat >"$E2E_TMP/deploy.yaml" <<'EOF'
apiVersion: apps/v1
kind: Deployment
metadata: {name: echo}
spec:
  replicas: 2
  selector: {matchLabels: {app: echo}}
  template:
    metadata: {labels: {app: echo}}
    spec:
      containers:
      - name: c
        image: py
        args: ["-c", "import http.server, os\nclass H(http.server.BaseHTTPRequestHandler):\n  def do_GET(self):\n    b = os.environ['HOSTNAME'].encode()\n    self.send_response(200); self.send_header('Content-Length', str(len(b))); self.end_headers(); self.wfile.write(b)\nhttp.server.HTTPServer((os.environ['POD_IP'], 9000), H).serve_forever()"]
        ports: [{name: http, containerPort: 9000}]
        readinessProbe: {httpGet: {path: /, port: http}, periodSeconds: 1}
---
apiVersion: v1
kind: Service
metadata: {name: echo}
spec:
  selector: {app: echo}
  ports: [{port: 80, targetPort: http}]
EOF
k apply -f "$E2E_TMP/deploy.yaml" >/dev/null
timeout 120 kubectl --kubeconfig "$KUBECONFIG" --cache-dir "$KUBECACHEDIR" rollout status deploy/echo --timeout=100s >/dev/null ||
	fail "the Deployment did not roll out"
two_endpoints() { [ "$(k get endpoints echo -o 'jsonpath={.subsets[*].addresses[*].ip}' | wc -w)" -eq 2 ]; }
wait_for 20 "two ready endpoints" two_endpoints
for a in $(k get endpoints echo -o 'jsonpath={range .subsets[*].addresses[*]}{.ip}={.targetRef.name}{" "}{end}'); do
	expect_eq "${a#*=}" "$(curl -sf --max-time 5 "http://${a%=*}:9000/")" "endpoint ${a%=*} is its pod's process"
done
k delete deploy echo --wait=true >/dev/null
k delete svc echo >/dev/null
pass "a Deployment's endpoints are the real addresses of its ready processes"

# --- Startup, liveness (exec) and readiness (tcpSocket) probes ------------------------------------
cat >"$E2E_TMP/live.yaml" <<'EOF'
apiVersion: v1
kind: Pod
metadata: {name: live}
spec:
  terminationGracePeriodSeconds: 2
  volumes: [{name: data, emptyDir: {}}]
  containers:
  - name: c
    image: busybox
    command: ["sh", "-c", "touch /data/alive; sleep 1; touch /data/started; exec python3 -m http.server --bind $POD_IP 8081"]
    startupProbe: {exec: {command: ["test", "-f", "/data/started"]}, periodSeconds: 1, failureThreshold: 30}
    livenessProbe: {exec: {command: ["test", "-f", "/data/alive"]}, periodSeconds: 1, failureThreshold: 2}
    readinessProbe: {tcpSocket: {port: 8081}, periodSeconds: 1}
    volumeMounts: [{name: data, mountPath: /data}]
EOF
k apply -f "$E2E_TMP/live.yaml" >/dev/null
wait_for 20 "live running" jp_is live '{.status.phase}' Running
wait_for 20 "live started (startup probe passed)" jp_is live '{.status.containerStatuses[0].started}' true
wait_for 20 "live Ready (tcpSocket)" ready_is live True
expect_eq 0 "$(jp live '{.status.containerStatuses[0].restartCount}')" "no restart while alive"
rm "$(pod_dir live)/volumes/data/alive"
wait_for 30 "the liveness failure restarts the container" jp_ge live '{.status.containerStatuses[0].restartCount}' 1
wait_for 30 "live Ready again after its restart" ready_is live True
expect_eq 1 "$(jp live '{.status.containerStatuses[0].restartCount}')" "one restart: the new run is alive"
pass "startup, liveness and readiness probes run for real"

# --- Exit codes, termination messages, OOMKilled, CrashLoopBackOff --------------------------------
cat >"$E2E_TMP/ends.yaml" <<'EOF'
apiVersion: v1
kind: Pod
metadata: {name: ends}
spec:
  restartPolicy: Never
  containers:
  - name: msg
    image: busybox
    command: ["sh", "-c", "echo one; echo 'custom message' > /dev/termination-log; exit 4"]
  - name: logs
    image: busybox
    terminationMessagePolicy: FallbackToLogsOnError
    command: ["sh", "-c", "echo first; echo last words; exit 5"]
---
apiVersion: v1
kind: Pod
metadata: {name: ok}
spec:
  restartPolicy: Never
  containers:
  - {name: c, image: busybox, command: ["sh", "-c", "echo done"]}
---
apiVersion: v1
kind: Pod
metadata: {name: oom}
spec:
  restartPolicy: Never
  containers:
  - name: c
    image: py
    args: ["-c", "import time\nx = b'x' * (200 * 1024 * 1024)\ntime.sleep(60)"]
    resources: {limits: {memory: 50Mi}}
---
apiVersion: v1
kind: Pod
metadata: {name: stored}
spec:
  restartPolicy: Never
  containers:
  - {name: cmd, image: "local/hello:1.0"}
  - {name: args, image: "local/hello:1.0", args: ["given", "args"]}
---
apiVersion: v1
kind: Pod
metadata: {name: crash}
spec:
  containers:
  - name: c
    image: busybox
    command: ["sh", "-c", "echo run $(date +%s%N); exit 3"]
EOF
k apply -f "$E2E_TMP/ends.yaml" >/dev/null
wait_for 20 "ends Failed" jp_is ends '{.status.phase}' Failed
expect_eq 4 "$(jp ends '{.status.containerStatuses[?(@.name=="msg")].state.terminated.exitCode}')" "exit code 4"
expect_eq Error "$(jp ends '{.status.containerStatuses[?(@.name=="msg")].state.terminated.reason}')" "reason Error"
expect_eq "custom message" "$(jp ends '{.status.containerStatuses[?(@.name=="msg")].state.terminated.message}')" \
	"termination message from terminationMessagePath"
expect_eq "first
last words" "$(jp ends '{.status.containerStatuses[?(@.name=="logs")].state.terminated.message}')" \
	"FallbackToLogsOnError takes the log"
wait_for 20 "ok Succeeded" jp_is ok '{.status.phase}' Succeeded
expect_eq Completed "$(jp ok '{.status.containerStatuses[0].state.terminated.reason}')" "reason Completed"
wait_for 20 "stored Succeeded" jp_is stored '{.status.phase}' Succeeded
expect_eq "hi from the store: default-arg" "$(k logs stored -c cmd)" "the store's entrypoint, cmd and env"
expect_eq "hi from the store: given args" "$(k logs stored -c args)" "args replace the image's cmd"
wait_for 20 "oom Failed" jp_is oom '{.status.phase}' Failed
expect_eq OOMKilled "$(jp oom '{.status.containerStatuses[0].state.terminated.reason}')" "OOMKilled"
expect_eq 137 "$(jp oom '{.status.containerStatuses[0].state.terminated.exitCode}')" "OOMKilled exit code"
wait_for 20 "crash restarted twice" jp_ge crash '{.status.containerStatuses[0].restartCount}' 2
wait_for 20 "crash in CrashLoopBackOff" jp_is crash '{.status.containerStatuses[0].state.waiting.reason}' CrashLoopBackOff
expect_eq 3 "$(jp crash '{.status.containerStatuses[0].lastState.terminated.exitCode}')" "lastState exit code"
expect_eq Running "$(jp crash '{.status.phase}')" "a crash-looping pod stays Running"
pass "exit codes, termination messages, OOMKilled and CrashLoopBackOff come from the processes"

# --- kubectl logs: -c, --tail, --previous, -f ---------------------------------------------------
expect_eq one "$(k logs ends -c msg)" "logs -c"
expect_eq "last words" "$(k logs ends -c logs --tail=1)" "logs --tail=1"
# Two runs' lines, each "run <ns timestamp>": the current run (it may just have restarted and
# written nothing yet, hence the wait) and the one before.
two_runs() {
	cur=$(k logs crash) && prev=$(k logs crash --previous) &&
		[[ "$cur" == "run "* ]] && [[ "$prev" == "run "* ]] && [ "$cur" != "$prev" ]
}
wait_for 20 "logs and logs --previous show two different runs" two_runs
expect_fail "--previous of a container that never restarted" k logs ok --previous
cat >"$E2E_TMP/ticker.yaml" <<'EOF'
apiVersion: v1
kind: Pod
metadata: {name: ticker}
spec:
  restartPolicy: Never
  containers:
  - name: c
    image: busybox
    command: ["sh", "-c", "for i in 1 2 3; do echo tick $i; sleep 0.5; done"]
EOF
k apply -f "$E2E_TMP/ticker.yaml" >/dev/null
wait_for 20 "ticker started" k logs ticker
followed=$(timeout 60 kubectl --kubeconfig "$KUBECONFIG" --cache-dir "$KUBECACHEDIR" logs -f ticker) ||
	fail "logs -f did not end with the container"
expect_eq "tick 1
tick 2
tick 3" "$followed" "logs -f streams until the process exits"
stamped=$(k logs ticker --timestamps)
expect_eq 3 "$(grep -cE '^20[0-9]{2}-[0-9]{2}-[0-9]{2}T[0-9:]{8}\.[0-9]{9}Z tick [123]$' <<<"$stamped")" \
	"logs --timestamps prefixes every line: $stamped"
first=$(date -d "$(head -n1 <<<"$stamped" | cut -d' ' -f1)" +%s%N)
last=$(date -d "$(tail -n1 <<<"$stamped" | cut -d' ' -f1)" +%s%N)
[ $(((last - first) / 1000000)) -ge 400 ] || fail "ticks 0.5 s apart stamped $(((last - first) / 1000000)) ms apart"
expect_eq "tick 3" "$(k logs ticker --timestamps --tail=1 | cut -d' ' -f2-)" "--timestamps with --tail"
pass "kubectl logs returns what the processes wrote (-c, --tail, --previous, -f, --timestamps)"

# --- Jobs run their pods: the program's exit code decides ----------------------------------------
cat >"$E2E_TMP/jobs.yaml" <<'EOF'
apiVersion: batch/v1
kind: Job
metadata: {name: good}
spec:
  template:
    spec:
      restartPolicy: Never
      containers: [{name: c, image: busybox, command: ["sh", "-c", "echo working; exit 0"]}]
---
apiVersion: batch/v1
kind: Job
metadata: {name: bad}
spec:
  backoffLimit: 1
  template:
    spec:
      restartPolicy: Never
      containers: [{name: c, image: busybox, command: ["sh", "-c", "echo failing; exit 2"]}]
EOF
k apply -f "$E2E_TMP/jobs.yaml" >/dev/null
wait_for 30 "job good Complete" k wait --for=condition=Complete job/good --timeout=2s
wait_for 30 "job bad Failed" k wait --for=condition=Failed job/bad --timeout=2s
expect_eq 2 "$(k get job bad -o 'jsonpath={.status.failed}')" "bad ran 1 + backoffLimit pods"
badpod=$(k get pods -l job-name=bad -o 'jsonpath={.items[0].metadata.name}')
expect_eq 2 "$(jp "$badpod" '{.status.containerStatuses[0].state.terminated.exitCode}')" "the job pod's exit code"
pass "a Job's outcome is its program's exit code"

# --- An image nobody maps fails like a pull ------------------------------------------------------
cat >"$E2E_TMP/nopull.yaml" <<'EOF'
apiVersion: v1
kind: Pod
metadata: {name: nopull}
spec:
  containers: [{name: c, image: example.com/nothing:1.0}]
EOF
k apply -f "$E2E_TMP/nopull.yaml" >/dev/null
wait_for 20 "ErrImagePull" jp_is nopull '{.status.containerStatuses[0].state.waiting.reason}' ErrImagePull
wait_for 20 "ImagePullBackOff" jp_is nopull '{.status.containerStatuses[0].state.waiting.reason}' ImagePullBackOff
# As a kubelet, each new attempt fails with ErrImagePull again, then backs off again.
wait_for 30 "ErrImagePull at the next attempt" jp_is nopull '{.status.containerStatuses[0].state.waiting.reason}' ErrImagePull
expect_eq Pending "$(jp nopull '{.status.phase}')" "a pod whose image cannot be pulled stays Pending"
# A container name that is no DNS label (one that would leave the pod dir) never reaches the
# kubelet: the API refuses it, as the real server does (sim_validate).
cat >"$E2E_TMP/badname.yaml" <<'EOF'
apiVersion: v1
kind: Pod
metadata: {name: badname}
spec:
  containers: [{name: "../escape", image: busybox, command: ["true"]}]
EOF
out=$(k apply -f "$E2E_TMP/badname.yaml" 2>&1) && fail "a container named ../escape was accepted"
expect_contains "$out" 'spec.containers[0].name: Invalid value: "../escape"' "the refusal names the field"

# --- Graceful deletion: SIGTERM reaches the program ----------------------------------------------
cat >"$E2E_TMP/term.yaml" <<'EOF'
apiVersion: v1
kind: Pod
metadata: {name: term}
spec:
  terminationGracePeriodSeconds: 20
  volumes: [{name: out, hostPath: {path: HOSTDIR}}]
  containers:
  - name: c
    image: busybox
    command: ["sh", "-c", "trap 'echo got-term > /out/term.txt; sleep 5; exit 0' TERM; while true; do sleep 0.1; done"]
    volumeMounts: [{name: out, mountPath: /out}]
EOF
mkdir -p "$E2E_TMP/hostdir"
sed -i "s|HOSTDIR|$E2E_TMP/hostdir|" "$E2E_TMP/term.yaml"
k apply -f "$E2E_TMP/term.yaml" >/dev/null
wait_for 20 "term running" jp_is term '{.status.containerStatuses[0].started}' true
k delete pod term --wait=false >/dev/null
# A write during the grace period must not remove the pod (upstream's ShouldDeleteDuringUpdate:
# only an object with no grace period left goes on an update that leaves no finalizers).
k label pod term touched=yes >/dev/null
k get pod term >/dev/null || fail "a write to a terminating pod removed it before its grace period ended"
wait_for 60 "the terminating pod goes once its program exits" sh -c '! kubectl get pod term >/dev/null 2>&1'
expect_eq got-term "$(cat "$E2E_TMP/hostdir/term.txt" 2>/dev/null)" "the program saw SIGTERM before it went"

# A program that ignores SIGTERM gets SIGKILL once the grace period is over.
k apply -f - >/dev/null <<'EOF'
apiVersion: v1
kind: Pod
metadata: {name: stubborn}
spec:
  terminationGracePeriodSeconds: 2
  containers:
  - {name: c, image: busybox, command: ["sh", "-c", "trap '' TERM; while true; do sleep 0.1; done"]}
EOF
wait_for 20 "stubborn running" jp_is stubborn '{.status.containerStatuses[0].started}' true
k delete pod stubborn --wait=false >/dev/null
t0=$SECONDS
wait_for 30 "the pod ignoring SIGTERM goes after its 2 s grace period (SIGKILL)" sh -c '! kubectl get pod stubborn >/dev/null 2>&1'
[ $((SECONDS - t0)) -ge 1 ] || fail "stubborn went before its grace period"
pass "unmapped images fail like pulls, bad container names never run; deletion sends SIGTERM, then SIGKILL after the grace period"
