#!/bin/bash
# deploy/k8s, offline (no cluster is reachable from these machines):
#   1. k8s_check.py: the pieces fit (probes, drain vs grace period, security context,
#      selectors, ports, PrometheusRule = dashboards/alerts.yaml, ringway --check on configs);
#   2. every manifest validated against the Kubernetes API schemas and the Prometheus
#      Operator CRDs (k8s-validate/validate.mjs: npm packages kubernetes-models, typescript);
#   3. the same manifests with one deliberate mistake each must fail that validation;
#   4. with kubectl present, both kustomizations render, and what they render validates.
# Skips 2-4 (exit 0, "SKIP") when the npm packages cannot be installed (no registry).
# Usage: tests/deploy/k8s_test.sh [BUILD_DIR]   (default build; ringway must be built there)
set -uo pipefail
cd "$(dirname "$0")/../.."
BUILD=${1:-build}
RINGWAY=$BUILD/ringway
VALIDATOR=$BUILD/k8s-validate   # npm packages are installed here, not in the source tree
passed=0
failed=0
skipped=0
say() { echo "[k8s] $*"; }
pass() { say "ok: $*"; passed=$((passed + 1)); }
fail() { say "FAIL: $*"; failed=$((failed + 1)); }
finish() {
  echo "k8s: $passed passed, $failed failed, $skipped skipped"
  ((failed == 0))
  exit
}

[[ -x $RINGWAY ]] || { fail "$RINGWAY is not built"; finish; }
if python3 tests/deploy/k8s_check.py "$RINGWAY"; then pass "k8s_check.py"; else fail "k8s_check.py"; fi

manifests=()
while IFS= read -r f; do manifests+=("$f"); done < <(
  find deploy/k8s -name '*.yaml' ! -name kustomization.yaml | sort)

# --- the validator ------------------------------------------------------------------------
src=tests/deploy/k8s-validate
mkdir -p "$VALIDATOR"
cp "$src/package.json" "$src/package-lock.json" "$src/validate.mjs" "$VALIDATOR/"
if ! cmp -s "$src/package-lock.json" "$VALIDATOR/node_modules/.ringway-lock" 2> /dev/null; then
  if ! command -v npm > /dev/null ||
    ! (cd "$VALIDATOR" && npm ci --no-audit --no-fund --loglevel=error > npm.log 2>&1); then
    [[ -f $VALIDATOR/npm.log ]] && tail -n 5 "$VALIDATOR/npm.log"
    say "SKIP: schema validation: cannot install the npm packages (npm or its registry missing)"
    skipped=$((skipped + 1))
    finish
  fi
  cp "$src/package-lock.json" "$VALIDATOR/node_modules/.ringway-lock"
fi
validate() { node "$VALIDATOR/validate.mjs" "$@"; }

if validate "${manifests[@]}"; then
  pass "${#manifests[@]} manifests valid against the Kubernetes API schemas"
else
  fail "manifests do not validate"
fi

# --- deliberate mistakes must be caught ---------------------------------------------------
# FILE | what is replaced | by what | what the validator must say
mutations=(
  "deployment/deployment.yaml|  replicas: 2|  replicas: two|spec/replicas must be integer"
  "deployment/deployment.yaml|        - name: ringway|        - nam: ringway|must have required property name"
  "deployment/deployment.yaml|          readinessProbe:|          readinesProbe:|'\"readinesProbe\"' does not exist in type"
  "deployment/deployment.yaml|              memory: 256Mi|              memory: 256 MB|must match format \"quantity\""
  "daemonset/daemonset.yaml|        runAsNonRoot: true|        runAsNonRoot: \"yes\"|runAsNonRoot must be boolean"
  "deployment/horizontalpodautoscaler.yaml|          type: Utilization|          typ: Utilization|must have required property type"
  "common/servicemonitor.yaml|      path: /metrics|      pathh: /metrics|'\"pathh\"' does not exist in type"
  "common/service.yaml|kind: Service|kind: Servce|no schema for v1 Servce"
)
work=$(mktemp -d "${TMPDIR:-/tmp}/ringway-k8s.XXXXXX")
trap 'rm -rf "$work"' EXIT
broken=()
for i in "${!mutations[@]}"; do
  IFS='|' read -r file from to expect <<< "${mutations[$i]}"
  broken+=("$work/broken-$i-$(basename "$file")")
  python3 - "deploy/k8s/$file" "$from" "$to" "${broken[$i]}" <<'PY'
import sys
src, old, new, dst = sys.argv[1:]
text = open(src).read()
assert text.count(old) >= 1, f"{src}: '{old}' not found"
open(dst, "w").write(text.replace(old, new, 1))
PY
done
# One validator run for all of them (tsc starts once); each file's report is its own block.
validate "${broken[@]}" > "$work/broken.out"
for i in "${!mutations[@]}"; do
  IFS='|' read -r file from to expect <<< "${mutations[$i]}"
  report=$(awk -v f="${broken[$i]}#" '/^(ok  |FAIL) / { on = index($2, f) == 1 } on' "$work/broken.out")
  if [[ $report == *"FAIL "* && $report == *"$expect"* ]]; then
    pass "broken $file ('$to') rejected: $(grep -m1 -F -- "$expect" <<< "$report" | sed 's/^ *//')"
  else
    echo "$report"
    fail "broken $file ('$to') was not rejected with: $expect"
  fi
done

# --- what kubectl apply -k would send -----------------------------------------------------
if command -v kubectl > /dev/null && kubectl kustomize --help > /dev/null 2>&1; then
  for variant in deployment daemonset; do
    if kubectl kustomize "deploy/k8s/$variant" > "$work/$variant.yaml" 2> "$work/kz.err" &&
      validate "$work/$variant.yaml" > "$work/$variant.out"; then
      kinds=$(grep -E '^kind: ' "$work/$variant.yaml" | sort | uniq -c | awk '{printf "%s%s x%s", sep, $3, $1; sep=", "}')
      pass "kubectl kustomize deploy/k8s/$variant renders valid objects ($kinds)"
    else
      cat "$work/kz.err" "$work/$variant.out" 2> /dev/null
      fail "deploy/k8s/$variant does not render or validate"
    fi
  done
else
  say "SKIP: kubectl is not installed: kustomizations not rendered"
  skipped=$((skipped + 1))
fi
finish
