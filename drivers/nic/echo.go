package nic

import (
	"fmt"

	"golang.org/x/sys/unix"

	"github.com/qosplane/qosplane/drivers/nic/wire/tc"
)

// writeEcho sends one request with NLM_F_ACK and NLM_F_ECHO; the kernel
// sends the resulting object back (to this socket only) before the ack,
// and f gets its payload. It counts as a write.
func (c *conn) writeEcho(typ uint16, flags int, body []byte, f func(msg []byte) error) error {
	c.writes.Add(1)
	return c.roundtrip(typ, uint16(flags)|unix.NLM_F_ACK|unix.NLM_F_ECHO, body, f)
}

// addHWFilter installs a skip_sw filter and confirms from the kernel's
// reply (the echoed RTM_NEWTFILTER: TCA_FLOWER_FLAGS with
// TCA_CLS_FLAGS_IN_HW, TCA_FLOWER_IN_HW_COUNT) that a device took it. A
// filter the reply shows not in hardware is deleted again and the error
// wraps ErrOffloadRefused; so does a kernel refusal of the request.
func (c *conn) addHWFilter(ifindex int, f *tc.Filter, msg []byte) error {
	what := fmt.Sprintf("flower %s %s pref %d handle %#x", f.Dev, f.Hook, f.Pref, f.Handle)
	var echoed *tc.DumpedFilter
	err := c.writeEcho(tc.RTMNewFilter, unix.NLM_F_CREATE|unix.NLM_F_EXCL, msg, func(m []byte) error {
		_, df, err := tc.ParseFilter(m)
		if err != nil {
			return fmt.Errorf("echoed filter: %w", err)
		}
		if df.Handle == f.Handle && df.Pref == f.Pref {
			echoed = &df
		}
		return nil
	})
	if err != nil {
		err = fmt.Errorf("%s: %w", what, err)
		if refusal(err) {
			err = fmt.Errorf("%w: %w", ErrOffloadRefused, err)
		}
		return err
	}
	if echoed != nil && c.tamperEcho != nil {
		c.tamperEcho(echoed)
	}
	switch {
	case echoed == nil:
		err = fmt.Errorf("%s: the kernel echoed no filter, so in_hw cannot be confirmed", what)
	case echoed.Flags&tc.FlagInHW == 0 && echoed.InHW == 0:
		err = fmt.Errorf("%w: %s: the kernel's reply shows it not in hardware (flags %#x, in_hw_count %d)",
			ErrOffloadRefused, what, echoed.Flags, echoed.InHW)
	default:
		return nil
	}
	ref := filterRef{Dev: f.Dev, Hook: f.Hook, Pref: f.Pref, Handle: f.Handle}
	if derr := c.delFilter(ifindex, ref); derr != nil {
		return fmt.Errorf("%w; deleting it again: %w", err, derr)
	}
	return err
}
