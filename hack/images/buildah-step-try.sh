#!/usr/bin/env bash
# A manual check (not a test; e2e/63_build_buildah.sh is the test): the buildah step image builds the
# generated service inside runc and pushes it; prints the --digestfile digest and skopeo inspect's.
# Shows which capabilities buildah needs beyond umoci's default (see docs/design-decisions.md).
set -e
cd "$(dirname "$0")/../.."
source hack/images/lib.sh
T=$(mktemp -d "${TMPDIR:-/tmp}/phx-buildah-try.XXXXXX"); rm -rf $T; mkdir -p $T
img_registry_start $T/reg
trap 'img_registry_stop; rm -rf "$T"' EXIT
hack/images/python-base.sh --push $IMG_REGISTRY
bimg=$(hack/images/buildah-step.sh --push $IMG_REGISTRY --alias python=$IMG_REGISTRY/python)
echo $bimg
mkdir -p $T/ws; printf '# SPEC: hello\n## Features\n- greet\n' > $T/spec.md
build/bin/phoenix-build generate --workspace $T/ws --spec $T/spec.md --termination-log $T/gen.t >/dev/null 2>&1 || { cat $T/gen.t; }
ls $T/ws
skopeo copy -q --src-tls-verify=false docker://${bimg%%@*} oci:$T/layout:img
umoci unpack --image $T/layout:img $T/bundle >/dev/null
jq --arg r $IMG_REGISTRY '.process.terminal=false | .process.args=["sh","-c","export _CONTAINERS_USERNS_CONFIGURED=done; buildah bud --storage-driver=vfs --isolation=chroot --tls-verify=false -t \($r)/default/hello:latest /workspace && buildah push --storage-driver=vfs --tls-verify=false --digestfile /tmp/digest \($r)/default/hello:latest && cat /tmp/digest"] | .mounts += [{"destination":"/workspace","type":"bind","source":"'$T/ws'","options":["rbind","rw"]}] | .process.capabilities |= with_entries(.value += ["CAP_SYS_ADMIN","CAP_SETUID","CAP_SETGID","CAP_CHOWN","CAP_DAC_OVERRIDE","CAP_FOWNER","CAP_MKNOD","CAP_SETFCAP","CAP_SYS_CHROOT","CAP_KILL"]) | .linux.namespaces |= map(select(.type!="network"))' $T/bundle/config.json > $T/c.json && mv $T/c.json $T/bundle/config.json
timeout 150 runc --root "$T/runc" run --bundle "$T/bundle" phx-buildah-try </dev/null >"$T/run.log" 2>&1 || { tail -n 15 "$T/run.log"; exit 1; }
pushed=$(tail -n 1 "$T/run.log")
reg=$(skopeo inspect --tls-verify=false docker://$IMG_REGISTRY/default/hello:latest | jq -r .Digest)
echo "digestfile $pushed registry $reg"
[ "$pushed" = "$reg" ]
