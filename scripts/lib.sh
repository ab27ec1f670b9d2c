#!/usr/bin/env bash
# Shared helpers for the scripts in this folder (sourced, not run). Tools come from the same checksum-verified cache
# the Python harness uses (python -m mtls_conformance.executor.tools), else from PATH.

mtlsc_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

# mapfile and empty arrays under `set -u` need bash 4.4 or later (macOS ships 3.2 as /bin/bash).
if [ "${BASH_VERSINFO[0]}" -lt 4 ] || { [ "${BASH_VERSINFO[0]}" -eq 4 ] && [ "${BASH_VERSINFO[1]}" -lt 4 ]; }; then
  printf 'mtls-conformance: error: these scripts need bash 4.4 or later (this is %s); on macOS: brew install bash\n' "$BASH_VERSION" >&2
  exit 2
fi

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

# kind_has_cluster KIND NAME: does kind list a cluster of that name? (The list is read whole first: `kind get clusters |
# grep -q` under pipefail can fail when grep exits early and kind gets SIGPIPE.)
kind_has_cluster() {
  local clusters
  clusters=$("$1" get clusters 2>/dev/null) || return 1
  grep -qx -- "$2" <<<"$clusters"
}

# kube_args NAME KUBECONFIG CONTEXT: the --kubeconfig/--context flags for an existing cluster (either or both given;
# a context alone means the default kubeconfig), else for the kind cluster NAME.
kube_args() {
  if [ -n "$2" ] || [ -n "$3" ]; then
    [ -z "$2" ] || printf -- '--kubeconfig\n%s\n' "$2"
    [ -z "$3" ] || printf -- '--context\n%s\n' "$3"
  else
    local file
    file=$(kind_kubeconfig "$1")
    [ -f "$file" ] || die "no kubeconfig for kind cluster '$1' ($file); run scripts/cluster-up --name $1 first"
    printf -- '--kubeconfig\n%s\n' "$file"
  fi
}
