# Sourced by run.sh and bench.sh: lab_begin NAME sets QOSPLANE_LAB_PREFIX to
# NAME plus this shell's pid, makes the go test log file $log, and on exit
# deletes this run's namespaces (the tests delete theirs; this catches a
# killed run) and the log.
lab_begin() {
	export QOSPLANE_LAB_PREFIX="$1$$"
	log="$(mktemp -t "qosplane-$1.XXXXXX")"
	trap lab_end EXIT
	trap 'exit 130' INT TERM
}

lab_end() {
	for ns in $(ip netns list 2>/dev/null | awk '{print $1}' | grep "^${QOSPLANE_LAB_PREFIX}-" || true); do
		ip netns del "$ns" 2>/dev/null || true
	done
	rm -f "$log"
}
