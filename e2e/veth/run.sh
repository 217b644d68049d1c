#!/usr/bin/env bash
# e2e-veth: runs the software pacer's veth lab scenarios (rate limits with
# UDP and, per 1 s window at 1 and 5 Gbit/s, TCP; strict priority,
# isolation, shape/borrow/discard with marking, ECN CE marking before drop,
# bursts, TCP fairness, attach mode and live swap) with the kernel's HTB/TBF measured in
# the same run as the peer; and qosplane verify (e2e/verify: every example
# green, broken variants red, JUnit schema, HTML report in headless
# Chromium, 10 classes x 200 flows, SIGINT; about 2.5 minutes, artefacts in
# bin/verify). Needs root (network namespaces, AF_PACKET) and
# iperf3; without root it says so and exits 0 (the Go tests skip).
#
# Usage: e2e/veth/run.sh [extra go test flags, e.g. -run TestModes]
# Result lines ("RESULT ...") are repeated at the end. The pacer's shaping
# thread runs SCHED_FIFO (QOSPLANE_LAB_NORT=1: a normal thread); the lab's
# generator and receiver are normal threads (QOSPLANE_LAB_RT=all: realtime
# too, see realtime in helpers_test.go). Timing scenarios
# retry up to 3 times and log every attempt. Takes about 4.5-7 minutes.
set -uo pipefail
cd "$(dirname "$0")/../.."

. e2e/veth/lab.sh
lab_begin qpe2e

if [ "$(id -u)" != 0 ]; then
	echo "e2e-veth: skipped: needs root (network namespaces, AF_PACKET sockets)"
	exit 0
fi
command -v iperf3 >/dev/null || echo "e2e-veth: iperf3 not found: the TCP scenarios will fail"

start=$(date +%s)
go test -p 1 -count=1 -v -timeout 20m ./fallback/datapath/ ./e2e/vethlab/ ./e2e/veth/ ./e2e/verify/ "$@" >"$log" 2>&1
rc=$?
grep -E '^(--- (PASS|FAIL|SKIP)|FAIL|ok|panic)|_test.go:[0-9]+: ' "$log" | grep -v 'RESULT' || true
echo
echo "== results ($(($(date +%s) - start)) s)"
grep -o 'RESULT .*' "$log" || true
if [ $rc -ne 0 ]; then
	echo "e2e-veth: FAILED (go test exit $rc)"
fi
exit $rc
