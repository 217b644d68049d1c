#!/usr/bin/env bash
# bench-pacer: measures the software pacer against its goals and prints the
# numbers side by side with a peer measured in the same run. It asserts
# nothing: a missed goal is printed like a met one, with the number.
#
#   decision cost per packet     go benchmarks of package fallback (peer:
#                                golang.org/x/time/rate, if the core has them)
#   rate accuracy (L2)           pacer vs kernel TBF and HTB, 10/100/500 Mbit/s
#                                and 1 Gbit/s (UDP), 1/2/5/10 Gbit/s (TCP), each
#                                1 s window
#   burst conformance            bytes over rate·T and peak·T, receiver stamps
#   unshaped forwarding          TCP and 1500 B UDP through the bump vs the
#                                kernel route
#   CPU at 100 Mbit/s shaping    pacer process CPU clock, lab receiver woken per
#                                frame (blocking) or polling every 1 ms; the
#                                pacer reading arrivals in batches (default)
#                                and waking per arrival
#   high-class delay, isolation  probe p99 with low classes saturating;
#                                per-class queueing delay and loss
#   new-flow flood               guaranteed class under 100,000 new flows/s
#                                and 10,001 rules
#   slow links (1, 2 Mbit/s)     guaranteed probe p99 and bulk iperf3 TCP
#                                goodput: pacer serving whole frames vs
#                                cutting best-effort segments vs kernel HTB
#
# Needs root for the lab part (skipped with a note otherwise).
set -uo pipefail
cd "$(dirname "$0")/../.."
. e2e/veth/lab.sh
lab_begin qpbench

echo "== machine: $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg), kernel $(uname -r)"
echo
echo "== decision cost per packet (goal: report ns/packet; peer x/time/rate)"
core="$(go test -run '^$' -bench . -benchmem ./fallback/ 2>&1)"
echo "$core" | grep -E '^(Benchmark|ok|FAIL|---)' || true
echo "$core" | grep -q '^Benchmark' || echo "(package fallback has no benchmarks)"
echo

if [ "$(id -u)" != 0 ]; then
	echo "== lab measurements skipped: need root"
	exit 0
fi

QOSPLANE_BENCH=1 go test -p 1 -count=1 -v -timeout 30m \
	-run 'TestRateLimit|TestECN|TestBurst|TestStrictPriority|TestIsolation|TestFlood|TestBench' ./e2e/veth/ >"$log" 2>&1
rc=$?
section() { # title, RESULT pattern
	echo "== $1"
	grep -o 'RESULT .*' "$log" | sed 's/^RESULT //' | grep -E "$2" || echo "(no result)"
	echo
}
section "rate accuracy, UDP 1500 B (goal: average ±1 %; each 1 s window ±1 % up to 100 Mbit/s, ±3 % above)" '^TestRateLimit/'
section "rate accuracy, UDP 1500 B at 1 Gbit/s (goal: each 1 s window ±3 %; lab-limited: see rx_socket_drops and offered)" '^TestBenchWindows'
section "rate accuracy, TCP at 1-10 Gbit/s (goal: each 1 s window ±3 % of rate·1448/1514 goodput; peer kernel HTB)" '^TestRateLimitTCP|^TestBenchHighRate'
section "ECN: CE marks before drop (goal: ECT CE-marked, first CE before first loss; non-ECT dropped, never marked)" '^TestECN'
section "burst conformance (goal: bytes <= bucket + rate·T + MTU and <= peak·T + MTU, every T)" '^TestBurst'
section "unshaped forwarding (goal: >= 20 Gbit/s TCP, >= 150 kpps 1500 B UDP; peer kernel route)" '^TestBenchForward'
section "CPU at 100 Mbit/s shaping (goal: <= 5 % of a core; receiver=blocking adds the lab receiver's wake-ups to the pacer; impl=pacer-wake-per-arrival is the pacer without coalescing)" '^TestBenchCPU'
section "highest class's delay with lower classes saturating (goal: p99 <= 1 ms)" '^TestStrictPriority'
section "new-flow flood, 100,000 flows/s through 10,001 rules (goal: guaranteed class every 1 s window ±1 %, delay p99 <= 1 ms; make test runs 50,000/s)" '^TestFlood'
section "per-class queueing delay and isolation (goal: <= 20 ms, overload loses only its own)" '^TestIsolation'
section "slow links: probe delay and bulk goodput (goal: pacer-slowlink probe p99 <= one cut frame's serialisation + 2 ms, goodput >= 90 % of pacer-whole; peer kernel HTB, whose leaf under its rate leaves at once: a veth has no wire to wait for)" '^TestBenchSlowLink'
grep -E '^(--- FAIL|FAIL|panic)|_test.go:[0-9]+: .*want' "$log" | grep -v RESULT && echo "(assertion failures above are the scenario tests' own; numbers are printed regardless)"
# QOSPLANE_BENCH_LOG=path keeps the full go test log; QOSPLANE_BENCH_BATCHES=16,256
# adds pass-through runs with other datapath batch sizes to TestBenchForward.
if [ -n "${QOSPLANE_BENCH_LOG:-}" ]; then cp "$log" "$QOSPLANE_BENCH_LOG"; fi
exit $rc
