package nic

import "github.com/qosplane/qosplane/drivers/nic/wire/tc"

// ourCookie returns the fingerprint from the first of f's cookies that
// belongs to owner tag.
func ourCookie(f *tc.DumpedFilter, tag [6]byte) (fp string, ok bool) {
	for _, c := range f.Cookies {
		if t, fp, ok := parseCookie(c); ok && t == tag {
			return fp, true
		}
	}
	return "", false
}

// qdiscs dumps the qdiscs of ifindex.
func (c *conn) qdiscs(ifindex int) ([]tc.Qdisc, error) {
	var out []tc.Qdisc
	err := c.dump(tc.RTMGetQdisc, tc.Msg(ifindex, 0, 0, 0), func(msg []byte) error {
		q, err := tc.ParseQdisc(msg)
		if err != nil {
			return err
		}
		if q.Ifindex == ifindex {
			out = append(out, q)
		}
		return nil
	})
	return out, err
}

// filters dumps the filters of ifindex under parent (a clsact hook).
func (c *conn) filters(ifindex int, parent uint32) ([]tc.DumpedFilter, error) {
	var out []tc.DumpedFilter
	err := c.dump(tc.RTMGetFilter, tc.Msg(ifindex, 0, parent, 0), func(msg []byte) error {
		idx, f, err := tc.ParseFilter(msg)
		if err != nil {
			return err
		}
		if idx == ifindex && f.Handle != 0 {
			out = append(out, f)
		}
		return nil
	})
	return out, err
}
