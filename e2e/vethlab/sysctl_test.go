package vethlab

import (
	"context"
	"strings"
	"testing"
)

// TestSysctlInNetns: Netns.Sysctl writes the namespace's own setting, not
// the host's (the lab relies on it for ip_forward and IPv6).
func TestSysctlInNetns(t *testing.T) {
	l := ForTest(t, Route)
	out, err := l.Pacer.Run(context.Background(), "cat", "/proc/sys/net/ipv4/ip_forward", "/proc/sys/net/ipv6/conf/all/disable_ipv6")
	if err != nil {
		t.Fatal(err)
	}
	if f := strings.Fields(out); len(f) != 2 || f[0] != "1" || f[1] != "1" {
		t.Errorf("pacer namespace: ip_forward, disable_ipv6 = %q, want 1 1", out)
	}
	out, err = l.App.Run(context.Background(), "cat", "/proc/sys/net/ipv4/ip_forward")
	if err != nil {
		t.Fatal(err)
	}
	if strings.TrimSpace(out) != "0" {
		t.Errorf("app namespace: ip_forward = %q, want 0 (set only in pacer)", out)
	}
}
