package devlink

import (
	"bytes"
	"testing"

	"github.com/qosplane/qosplane/drivers/nic/wire/wiretest"
)

func u64p(v uint64) *uint64 { return &v }
func strp(s string) *string { return &s }

const nsim1 = `
0e 00 01 00 6e 65 74 64 65 76 73 69 6d 00 00 00   # BUS_NAME "netdevsim"
0f 00 02 00 6e 65 74 64 65 76 73 69 6d 31 00 00   # DEV_NAME "netdevsim1"
`

// The bodies are what iproute2 6.1's devlink sends for the same commands
// (genlmsghdr, handle, object, then tx_share, tx_max, parent), with u64
// rates in bytes/s, little-endian on this host.
func TestEncode(t *testing.T) {
	wiretest.LittleEndian(t)
	d := Device{"netdevsim", "netdevsim1"}
	cases := []struct {
		name string
		got  func() ([]byte, error)
		want string
	}{
		{"leaf tx_share 20mbit tx_max 300mbit", func() ([]byte, error) {
			return encodeSet(Leaf(d, 129), Change{TxShare: u64p(20_000_000), TxMax: u64p(300_000_000)})
		}, `4b 01 00 00` + nsim1 + `
08 00 03 00 81 00 00 00                           # PORT_INDEX 129
0c 00 a6 00 a0 25 26 00 00 00 00 00               # RATE_TX_SHARE 2500000 B/s
0c 00 a7 00 60 34 3c 02 00 00 00 00               # RATE_TX_MAX 37500000 B/s
`},
		{"leaf parent g1", func() ([]byte, error) {
			return encodeSet(Leaf(d, 128), Change{Parent: strp("g1")})
		}, `4b 01 00 00` + nsim1 + `
08 00 03 00 80 00 00 00                           # PORT_INDEX 128
07 00 a9 00 67 31 00 00                           # RATE_PARENT_NODE_NAME "g1"
`},
		{"leaf noparent", func() ([]byte, error) {
			return encodeSet(Leaf(d, 128), Change{Parent: strp("")})
		}, `4b 01 00 00` + nsim1 + `
08 00 03 00 80 00 00 00                           # PORT_INDEX 128
05 00 a9 00 00 00 00 00                           # RATE_PARENT_NODE_NAME ""
`},
		{"new node tx_max 1gbit", func() ([]byte, error) {
			return encodeNew(Node(d, "g1"), Change{TxMax: u64p(1_000_000_000)})
		}, `4c 01 00 00` + nsim1 + `
07 00 a8 00 67 31 00 00                           # RATE_NODE_NAME "g1"
0c 00 a7 00 40 59 73 07 00 00 00 00               # RATE_TX_MAX 125000000 B/s
`},
		{"del node", func() ([]byte, error) { return encodeDel(Node(d, "g1")) }, `4d 01 00 00` + nsim1 + `
07 00 a8 00 67 31 00 00                           # RATE_NODE_NAME "g1"
`},
	}
	for _, c := range cases {
		got, err := c.got()
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if want := wiretest.Hex(t, c.want); !bytes.Equal(got, want) {
			t.Errorf("%s:\n got %x\nwant %x", c.name, got, want)
		}
	}
	if got, want := encodeDump(), []byte{cmdRateGet, 1, 0, 0}; !bytes.Equal(got, want) {
		t.Errorf("dump: %x, want %x", got, want)
	}
}

// What is refused before anything is sent.
func TestEncodeRefuses(t *testing.T) {
	d := Device{"netdevsim", "netdevsim1"}
	for name, f := range map[string]func() error{
		"rate not whole bytes/s": func() error { _, err := encodeSet(Leaf(d, 128), Change{TxMax: u64p(1001)}); return err },
		"numeric node name":      func() error { _, err := encodeNew(Node(d, "12"), Change{}); return err },
		"numeric parent":         func() error { _, err := encodeSet(Leaf(d, 128), Change{Parent: strp("7")}); return err },
		"new leaf":               func() error { _, err := encodeNew(Leaf(d, 128), Change{}); return err },
		"del leaf":               func() error { _, err := encodeDel(Leaf(d, 128)); return err },
	} {
		if f() == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// A reply as devlink_nl_rate_fill writes it: handle, type, port index or
// node name, tx_share and tx_max in bytes/s, the parent when there is one.
func TestDecode(t *testing.T) {
	wiretest.LittleEndian(t)
	leaf := wiretest.Hex(t, `4c 01 00 00`+nsim1+`
06 00 a5 00 00 00 00 00                           # RATE_TYPE leaf
08 00 03 00 81 00 00 00                           # PORT_INDEX 129
0c 00 a6 00 a0 25 26 00 00 00 00 00               # RATE_TX_SHARE
0c 00 a7 00 60 34 3c 02 00 00 00 00               # RATE_TX_MAX
07 00 a9 00 67 31 00 00                           # RATE_PARENT_NODE_NAME "g1"
`)
	r, err := decodeRate(leaf)
	if err != nil {
		t.Fatal(err)
	}
	want := Rate{Object: Leaf(Device{"netdevsim", "netdevsim1"}, 129), TxShare: 20_000_000, TxMax: 300_000_000, Parent: "g1"}
	if r != want {
		t.Errorf("leaf = %#v, want %#v", r, want)
	}
	node := wiretest.Hex(t, `4c 01 00 00`+nsim1+`
06 00 a5 00 01 00 00 00                           # RATE_TYPE node
07 00 a8 00 67 31 00 00                           # RATE_NODE_NAME "g1"
0c 00 a6 00 00 00 00 00 00 00 00 00
0c 00 a7 00 40 59 73 07 00 00 00 00
`)
	if r, err = decodeRate(node); err != nil {
		t.Fatal(err)
	}
	if want := (Rate{Object: Node(Device{"netdevsim", "netdevsim1"}, "g1"), TxMax: 1_000_000_000}); r != want {
		t.Errorf("node = %#v, want %#v", r, want)
	}
	if _, err := decodeRate(wiretest.Hex(t, `4c 01 00 00`+nsim1)); err == nil {
		t.Error("a reply without a rate type decoded")
	}
}

// A VF representor port as devlink_nl_port_fill writes it (the attributes
// read here, among others).
func TestDecodePort(t *testing.T) {
	wiretest.LittleEndian(t)
	msg := wiretest.Hex(t, `03 01 00 00`+nsim1+`
08 00 03 00 81 00 00 00                           # PORT_INDEX 129
06 00 4d 00 04 00 00 00                           # PORT_FLAVOUR pci_vf
06 00 7f 00 00 00 00 00                           # PORT_PCI_PF_NUMBER 0
06 00 80 00 01 00 00 00                           # PORT_PCI_VF_NUMBER 1
0d 00 07 00 65 6e 69 31 6e 70 31 76 31 00 00 00   # PORT_NETDEV_NAME "eni1np1v1"
`)
	p, err := decodePort(msg)
	if err != nil {
		t.Fatal(err)
	}
	want := Port{Device: Device{"netdevsim", "netdevsim1"}, Index: 129, Flavour: FlavourPCIVF, VF: 1, Netdev: "eni1np1v1"}
	if p != want {
		t.Errorf("port = %#v, want %#v", p, want)
	}
	if got := encodePortDump(); !bytes.Equal(got, []byte{5, 1, 0, 0}) {
		t.Errorf("port dump = %x", got)
	}
}
