package vethlab

import (
	"context"
	"fmt"
	"strconv"
)

// KernelClass is one HTB class of the kernel baseline, matched by UDP or
// TCP destination port.
type KernelClass struct {
	// Ports are the destination ports steered into the class.
	Ports []uint16
	// Rate and Ceil in bit/s (Ceil 0 = Rate); Prio 0-7, lower first.
	Rate, Ceil uint64
	Prio       int
	// Burst in bytes (0: HTB's default).
	Burst uint64
}

// KernelHTB installs HTB on PacerOut in the pacer namespace (route mode):
// a root class at port bit/s and the classes below it; traffic matching no
// class goes to a last default class of 1 Mbit/s guaranteed that may borrow
// up to port. It replaces whatever root qdisc was there.
func (l *Lab) KernelHTB(ctx context.Context, port uint64, classes []KernelClass) error {
	def := len(classes) + 10
	cmds := [][]string{
		{"qdisc", "replace", "dev", PacerOut, "root", "handle", "1:", "htb", "default", strconv.Itoa(def)},
		{"class", "add", "dev", PacerOut, "parent", "1:", "classid", "1:1", "htb", "rate", bits(port), "ceil", bits(port)},
		{"class", "add", "dev", PacerOut, "parent", "1:1", "classid", "1:" + strconv.Itoa(def), "htb", "rate", "1mbit", "ceil", bits(port), "prio", "7"},
	}
	for i, c := range classes {
		id := "1:" + strconv.Itoa(10+i)
		ceil := c.Ceil
		if ceil == 0 {
			ceil = c.Rate
		}
		cl := []string{"class", "add", "dev", PacerOut, "parent", "1:1", "classid", id, "htb", "rate", bits(c.Rate), "ceil", bits(ceil), "prio", strconv.Itoa(c.Prio)}
		if c.Burst != 0 {
			cl = append(cl, "burst", strconv.FormatUint(c.Burst, 10)+"b", "cburst", strconv.FormatUint(c.Burst, 10)+"b")
		}
		cmds = append(cmds, cl)
		for j, p := range c.Ports {
			cmds = append(cmds, []string{"filter", "add", "dev", PacerOut, "parent", "1:", "protocol", "ip", "prio", strconv.Itoa(1 + j), "u32",
				"match", "ip", "dport", strconv.Itoa(int(p)), "0xffff", "flowid", id})
		}
	}
	return l.tc(ctx, cmds)
}

// KernelTBF installs TBF on PacerOut: rate bit/s, burst bytes, and when
// peak is not 0 a peak rate with a one-frame (mtu bytes) second bucket.
// limit bounds the queue in bytes.
func (l *Lab) KernelTBF(ctx context.Context, rate, burst, peak, mtu, limit uint64) error {
	c := []string{"qdisc", "replace", "dev", PacerOut, "root", "handle", "1:", "tbf", "rate", bits(rate),
		"burst", strconv.FormatUint(burst, 10), "limit", strconv.FormatUint(limit, 10)}
	if peak != 0 {
		c = append(c, "peakrate", bits(peak), "mtu", strconv.FormatUint(mtu, 10))
	}
	return l.tc(ctx, [][]string{c})
}

// KernelClear removes the root qdisc from PacerOut.
func (l *Lab) KernelClear(ctx context.Context) error {
	_, err := run(ctx, "tc", "-n", l.Pacer.Name, "qdisc", "del", "dev", PacerOut, "root")
	return err
}

func (l *Lab) tc(ctx context.Context, cmds [][]string) error {
	for _, c := range cmds {
		if _, err := run(ctx, "tc", append([]string{"-n", l.Pacer.Name}, c...)...); err != nil {
			return fmt.Errorf("kernel baseline: %w", err)
		}
	}
	return nil
}

func bits(r uint64) string { return strconv.FormatUint(r, 10) + "bit" }
