#!/usr/bin/env bash
# System packages that CI (and a fresh Debian 12 dev box) needs, installed as root.
# Installs only: the tests start their own PostgreSQL and Kafka with postgres.sh / kafka.sh.
# Idempotent: when everything is present it does nothing (not even apt-get update).
set -euo pipefail

[[ $EUID -eq 0 ]] || { echo "ci-system-deps.sh: run as root" >&2; exit 1; }

# postgresql: server binaries in /usr/lib/postgresql/<ver>/bin for postgres.sh.
# chromium + fonts: browser tests through Playwright with executable_path=/usr/bin/chromium.
# wrk: the HTTP load of the intake benchmark (make bench).
want=(postgresql chromium fonts-liberation wrk)
# Maven + a JRE fetch and run the Kafka broker (kafka.sh); keep whatever Java is already there.
command -v mvn >/dev/null || want+=(maven)
command -v java >/dev/null || want+=(openjdk-17-jre-headless)
# javac compiles the Strimzi resource validator (deploy/k8s/validate/strimzi).
command -v javac >/dev/null || want+=(openjdk-17-jdk-headless)
# Node.js + npm run the official AsyncAPI parser over the event catalogue (tests/contract).
command -v node >/dev/null || want+=(nodejs)
command -v npm >/dev/null || want+=(npm)
# Go builds kustomize and kubeconform (pinned, from the Go module proxy) for the manifest tests.
command -v go >/dev/null || [ -x /usr/local/go/bin/go ] || want+=(golang-go)

missing=()
for p in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[[ ${#missing[@]} -eq 0 ]] && exit 0

echo "ci-system-deps.sh: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
# Installing postgresql would start the distribution's own cluster on 5432; a policy-rc.d that
# answers 101 stops package scripts from starting services (only if none is in place already).
cleanup=""
if [[ ! -e /usr/sbin/policy-rc.d ]]; then
  printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
  cleanup=/usr/sbin/policy-rc.d
fi
trap '[[ -z "$cleanup" ]] || rm -f "$cleanup"' EXIT

apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "ci-system-deps.sh: done" >&2
