package nic

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/qosplane/qosplane/model"
	"github.com/qosplane/qosplane/offload"
)

// Benchmarks run in the kernel lab:
//
//	QOSPLANE_LAB_ARGS=-test.benchtime=3x bash e2e/kernellab/run.sh -bench ./drivers/nic
//
// BenchmarkApply installs N software egress rules (skbedit priority, pedit
// DSCP, csum: one flower filter each) with the driver; BenchmarkTcBatch has
// iproute2's `tc -batch` install the same filters, the peer measured in the
// same run. BenchmarkReapply is the idempotent re-apply of 2000 rules:
// Current + Diff, no ops, and it reports the netlink writes (0).

const benchDev = "qtn0"

func benchNeed(b *testing.B) {
	if _, err := net.InterfaceByName(benchDev); err != nil || os.Geteuid() != 0 || tcPath() == "" {
		b.Skipf("needs the kernel lab's %s, root and tc", benchDev)
	}
}

func benchPlan(owner string, n int) *offload.TargetPlan {
	p := &offload.TargetPlan{Kind: model.NIC, Owner: owner, Device: offload.Device{Interface: benchDev}}
	for i := range n {
		p.Rules = append(p.Rules, offload.Rule{ID: fmt.Sprintf("f%d/egress/%s", i, benchDev), Class: "c", Direction: offload.OnEgress,
			Device: benchDev, Precedence: 100,
			Match:   model.Match{Dst: mustPrefix("10.0.0.0/8"), Protocol: model.UDP, DstPort: model.PortRange{Lo: uint16(1000 + i), Hi: uint16(1000 + i)}},
			Actions: []offload.Action{{Kind: offload.SetPriority, Priority: 1}, {Kind: offload.SetDSCP, DSCP: 46}},
			Where:   offload.Where{Placement: offload.Software}})
	}
	return p
}

func BenchmarkApply(b *testing.B) {
	benchNeed(b)
	for _, n := range []int{1, 100, 2000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			owner := "qosplane-bench"
			dir := b.TempDir()
			want := benchPlan(owner, n)
			ctx := context.Background()
			for b.Loop() {
				b.StopTimer()
				d, err := Open(offload.Device{Interface: benchDev}, owner, "none", nil, WithStateDir(dir))
				if err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
				cur, err := d.Current(ctx)
				if err != nil {
					b.Fatal(err)
				}
				if err := d.Apply(ctx, want, offload.Diff(cur, want)); err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				if err := d.Remove(ctx); err != nil {
					b.Fatal(err)
				}
				d.Close()
				b.StartTimer()
			}
			b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "rules/s")
		})
	}
}

func BenchmarkTcBatch(b *testing.B) {
	benchNeed(b)
	for _, n := range []int{1, 100, 2000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			var sb strings.Builder
			sb.WriteString("qdisc add dev " + benchDev + " clsact\n")
			for i := range n {
				fmt.Fprintf(&sb, "filter add dev %s egress pref 100 handle 0x%x protocol ip flower skip_hw "+
					"ip_proto udp dst_ip 10.0.0.0/8 dst_port %d "+
					"action skbedit priority 1 pipe action pedit ex munge ip dsfield set 0xb8 retain 0xfc pipe action csum iph pipe\n",
					benchDev, handleMagic|uint32(i+1), 1000+i)
			}
			file := filepath.Join(b.TempDir(), "batch")
			if err := os.WriteFile(file, []byte(sb.String()), 0o644); err != nil {
				b.Fatal(err)
			}
			for b.Loop() {
				if out, err := exec.Command(tcPath(), "-batch", file).CombinedOutput(); err != nil {
					b.Fatalf("tc -batch: %v\n%s", err, out)
				}
				b.StopTimer()
				if out, err := exec.Command(tcPath(), "qdisc", "del", "dev", benchDev, "clsact").CombinedOutput(); err != nil {
					b.Fatalf("cleanup: %v\n%s", err, out)
				}
				b.StartTimer()
			}
			b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "rules/s")
		})
	}
}

func BenchmarkReapply(b *testing.B) {
	benchNeed(b)
	const n = 2000
	owner := "qosplane-bench-re"
	ctx := context.Background()
	d, err := Open(offload.Device{Interface: benchDev}, owner, "none", nil, WithStateDir(b.TempDir()))
	if err != nil {
		b.Fatal(err)
	}
	defer d.Close()
	want := benchPlan(owner, n)
	if err := d.Apply(ctx, want, offload.Diff(nil, want)); err != nil {
		b.Fatal(err)
	}
	defer d.Remove(ctx)
	w0 := d.Writes()
	b.ResetTimer()
	for b.Loop() {
		cur, err := d.Current(ctx)
		if err != nil {
			b.Fatal(err)
		}
		ops := offload.Diff(cur, want)
		if len(ops) != 0 {
			b.Fatalf("re-apply: %d ops", len(ops))
		}
		if err := d.Apply(ctx, want, ops); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(d.Writes()-w0)/float64(b.N), "writes/op")
}
