#!/usr/bin/env bash
# Shared helpers for the scripts in this folder (sourced, not run). Tools come from the same checksum-verified cache
# the Python harness uses (python -m mtls_conformance.executor.tools), else from PATH.

mtlsc_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

# The project folder (kind-config.yaml, .venv).
project_dir() { printf '%s\n' "$mtlsc_root"; }

say() { printf 'mtls-conformance: %s\n' "$*" >&2; }
die() { printf 'mtls-conformance: error: %s\n' "$*" >&2; exit 2; }

# The Python that has this project installed: $MTLS_CONFORMANCE_PYTHON when set (only it), else the project's
# .venv, else python3. Set MTLS_CONFORMANCE_PYTHON=false to use the tools on PATH and the Istio Helm repository.
project_python() {
  local candidate candidates
  if [ -n "${MTLS_CONFORMANCE_PYTHON:-}" ]; then
    candidates=("$MTLS_CONFORMANCE_PYTHON")
  else
    candidates=("$mtlsc_root/.venv/bin/python" python3)
  fi
  for candidate in "${candidates[@]}"; do
    if "$candidate" -c 'import mtls_conformance.executor.tools' >/dev/null 2>&1; then
      printf '%s\n' "$candidate"
      return 0
    fi
  done
  return 1
}

# tool NAME: path of kind, kubectl or helm (pinned and verified when the project is installed, else PATH).
tool() {
  local py found=""
  if py=$(project_python); then
    found=$("$py" -m mtls_conformance.executor.tools which "$1") || die "could not provide $1 (see the message above)"
  elif command -v "$1" >/dev/null 2>&1; then
    found=$(command -v "$1")
  else
    die "$1 not found: install the project (python3 -m venv .venv && .venv/bin/pip install -e .) or put $1 on PATH"
  fi
  [ -n "$found" ] || die "could not find $1"
  printf '%s\n' "$found"
}

cache_root() {
  printf '%s\n' "${MTLS_CONFORMANCE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/mtls-conformance}"
}

# The kubeconfig file of a kind cluster made by these scripts or the harness (never merged into ~/.kube/config).
kind_kubeconfig() {
  printf '%s/kubeconfig/%s.yaml\n' "$(cache_root)" "$1"
}

require_docker() {
  command -v docker >/dev/null 2>&1 || die "Docker is not installed; install Docker (the only prerequisite)"
  docker version --format '{{.Server.Version}}' >/dev/null 2>&1 \
    || die "the Docker daemon is unreachable${DOCKER_HOST:+ at $DOCKER_HOST}; start Docker"
}

# kube_args NAME KUBECONFIG CONTEXT: the --kubeconfig/--context flags for a kind cluster name or an existing cluster.
kube_args() {
  if [ -n "$2" ]; then
    printf -- '--kubeconfig\n%s\n' "$2"
    [ -z "$3" ] || printf -- '--context\n%s\n' "$3"
  else
    local file
    file=$(kind_kubeconfig "$1")
    [ -f "$file" ] || die "no kubeconfig for kind cluster '$1' ($file); run scripts/cluster-up --name $1 first"
    printf -- '--kubeconfig\n%s\n' "$file"
  fi
}
