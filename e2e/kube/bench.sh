#!/usr/bin/env bash
# bench.sh: make bench-fleet. Measures the fleet mode against a real
# kube-apiserver and etcd (tools/build.sh, cached outside the clone) and
# prints a table of the four numbers issue #13 asks for, each with its goal:
#
#   edit -> every QoSNodeState     TestFleetBench: FLEET_AGENTS simulated node
#                                  agents (the agent's code, a fake NIC driver)
#   steady state                   TestFleetBench: FLEET_QUIET with nothing
#                                  changing, writes counted by the apiserver
#   controller failover            TestController: SIGKILL of the leader process
#                                  until the standby holds the lease
#   100 switches from one edit     BenchmarkControllerFleet100 (lemming, loopback)
#
# The go test log is kept in bin/bench-fleet.log. Exits with go test's status.
set -uo pipefail
cd "$(dirname "$0")/../.."
command -v go >/dev/null 2>&1 || PATH=/usr/local/go/bin:$PATH

KUBEBUILDER_ASSETS=$(bash e2e/kube/tools/build.sh | tail -n1) || exit 1
export KUBEBUILDER_ASSETS QOSPLANE_KUBE_REQUIRED=1
export QOSPLANE_FLEET_AGENTS="${FLEET_AGENTS:-500}" QOSPLANE_FLEET_QUIET="${FLEET_QUIET:-5m}"
mkdir -p bin
log=bin/bench-fleet.log
go test -count=1 -timeout 40m -run '^(TestFleetBench|TestController)$' -bench 'ControllerFleet' -benchtime 1x -v ./cmd/qosplane/ 2>&1 | tee "$log"
rc=${PIPESTATUS[0]}

# field LINE-PATTERN SED-EXPRESSION: the first log line matching the pattern,
# cut down by the expression; "(not measured)" when no line matched.
field() {
	local v
	v=$(grep -E "$1" "$log" | head -n1 | sed -E "$2")
	echo "${v:-(not measured)}"
}
edit=$(field 'BENCH fleet .*edit->QoSNodeState' 's/.*generation: (.*) \(goal.*/\1/')
quiet=$(field 'BENCH fleet .*steady state' 's/.*steady state over ([^:]*): ([0-9]+) QoSNodeState write requests served by the apiserver \(([^)]*)\), ([0-9]+) made by the agents, ([0-9]+) NIC applies.*/\2 writes served (\3) over \1, \5 NIC applies/')
failover=$(field 'RESULT controller_failover_seconds=' 's/.*controller_failover_seconds=([0-9.]+) \(lease ([^,]*),.*/\1 s (lease \2)/')
switches=$(field '^BenchmarkControllerFleet100.*s/edit' 's/.* ([0-9.]+) s\/edit.*/\1 s/')
setup=$(field 'setup \(apiserver, [0-9]+ switches' 's/.*took ([0-9hm]*[0-9]+)(\.[0-9]+)?s$/\1s/')

printf '\n== bench-fleet: %s agents, steady state %s, %s CPUs, load %s\n' \
	"$QOSPLANE_FLEET_AGENTS" "$QOSPLANE_FLEET_QUIET" "$(nproc)" "$(cut -d' ' -f1-3 /proc/loadavg)"
printf '| %-44s | %-58s | %-10s |\n' measurement measured goal
printf '|%s|%s|%s|\n' "$(printf -- '-%.0s' {1..46})" "$(printf -- '-%.0s' {1..60})" "$(printf -- '-%.0s' {1..12})"
printf '| %-44s | %-58s | %-10s |\n' \
	"policy edit -> every QoSNodeState" "$edit" "p99 <= 5s" \
	"steady state, apiserver writes" "$quiet" "0" \
	"leader SIGKILL -> standby holds the lease" "$failover" "seconds" \
	"one edit -> 100 lemming switches applied" "$switches (setup $setup)" "wall time"
exit "$rc"
