package veth

import (
	"bytes"
	"fmt"
	"net"
	"net/netip"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/qosplane/qosplane/e2e/vethlab"
)

// Slow-link lab ports: bulk TCP (best effort), the guaranteed probe (UDP,
// the generator's), a TCP service of the guaranteed class, and UDP
// datagrams (best effort).
const (
	slowBulkPort  = 5301
	slowProbePort = 5302
	slowVoiceTCP  = 5304
	slowUDPPort   = 5305
)

// slowPolicy is a port of capacity (e.g. "1Mbit") with a guaranteed class
// (128 kbit/s, the default 10 ms latency) holding the probe and a TCP
// service, and best effort for the rest.
func slowPolicy(capacity string) string {
	return policy(capacity, `- {name: voice, service: guaranteed, rate: 128kbit, non-conforming: shape}
- {name: bulk, service: best-effort}`, fmt.Sprintf(`- {name: probe, class: voice, match: {protocol: udp, dst-port: %d}}
- {name: voice-tcp, class: voice, match: {protocol: tcp, dst-port: %d}}
- {name: bulk-tcp, class: bulk, match: {protocol: tcp, dst-port: %d}}`, slowProbePort, slowVoiceTCP, slowBulkPort))
}

// tcpMSS connects from app to peer's port and returns the MSS each end
// sends with (TCP_MAXSEG of the connected sockets, bytes: the MSS the
// other end announced, less the TCP options in use).
func tcpMSS(t *testing.T, l *vethlab.Lab, port int) (client, server int) {
	t.Helper()
	addr := netip.AddrPortFrom(l.PeerIP, uint16(port)).String()
	var ln net.Listener
	if err := l.Peer.Do(func() (err error) { ln, err = net.Listen("tcp", addr); return err }); err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			close(accepted)
			return
		}
		accepted <- c
	}()
	var c net.Conn
	if err := l.App.Do(func() (err error) { c, err = net.DialTimeout("tcp", addr, 5*time.Second); return err }); err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	s, ok := <-accepted
	if !ok {
		t.Fatal("accept failed")
	}
	defer s.Close()
	return maxSeg(t, c), maxSeg(t, s)
}

func maxSeg(t *testing.T, c net.Conn) int {
	t.Helper()
	rc, err := c.(*net.TCPConn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var v int
	var serr error
	if err := rc.Control(func(fd uintptr) { v, serr = unix.GetsockoptInt(int(fd), unix.IPPROTO_TCP, unix.TCP_MAXSEG) }); err != nil || serr != nil {
		t.Fatal(err, serr)
	}
	return v
}

// udpExchange sends a size-byte UDP payload from app to peer with DF set or
// clear (IP_MTU_DISCOVER) and returns what peer received (nil: nothing
// within a second, three times).
func udpExchange(t *testing.T, l *vethlab.Lab, size int, df bool) []byte {
	t.Helper()
	addr := netip.AddrPortFrom(l.PeerIP, slowUDPPort)
	var srv *net.UDPConn
	if err := l.Peer.Do(func() (err error) { srv, err = net.ListenUDP("udp", net.UDPAddrFromAddrPort(addr)); return err }); err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	var cl *net.UDPConn
	if err := l.App.Do(func() (err error) { cl, err = net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(addr)); return err }); err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	pmtu := unix.IP_PMTUDISC_DONT
	if df {
		pmtu = unix.IP_PMTUDISC_DO
	}
	rc, _ := cl.SyscallConn()
	var serr error
	if err := rc.Control(func(fd uintptr) { serr = unix.SetsockoptInt(int(fd), unix.IPPROTO_IP, unix.IP_MTU_DISCOVER, pmtu) }); err != nil || serr != nil {
		t.Fatal(err, serr)
	}
	msg := make([]byte, size)
	for i := range msg {
		msg[i] = byte(i * 7)
	}
	buf := make([]byte, 65536)
	n := -1
	for try := 0; try < 3 && n < 0; try++ { // a loaded machine may lose one
		if _, err := cl.Write(msg); err != nil {
			t.Fatal(err)
		}
		_ = srv.SetReadDeadline(time.Now().Add(time.Second))
		if m, err := srv.Read(buf); err == nil {
			n = m
		} else {
			t.Logf("UDP %d bytes (DF %v), try %d: %v", size, df, try+1, err)
		}
	}
	if n < 0 {
		return nil
	}
	if !bytes.Equal(buf[:n], msg) {
		t.Errorf("UDP payload (DF %v) arrived changed: %d bytes, want %d", df, n, size)
	}
	return buf[:n]
}

// TestSlowLink: a 1 Mbit/s port with a guaranteed class (10 ms): the plan
// cuts best-effort frames to 625 bytes. Through the pacer, a best-effort
// TCP connection's MSS is clamped both ways (the client's from the
// SYN-ACK, the server's from the SYN) while the guaranteed class's TCP
// keeps its full MSS; a 1400-byte best-effort UDP datagram without DF is
// cut into fragments that reach the peer's socket whole (its IP stack
// reassembled them, the UDP checksum held); one with DF arrives whole and
// is counted. Structural only: no timing (TestBenchSlowLink measures).
func TestSlowLink(t *testing.T) {
	br := newLab(t, vethlab.Bridge)
	tp := compile(t, slowPolicy("1Mbit"))
	sl := tp.Pacer.SlowLink
	if sl == nil || sl.Frame != 625 || sl.MSS4 != 571 {
		t.Fatalf("plan's slow link %+v, want frame 625, MSS 571", sl)
	}
	p := startPacer(t, br, tp, vethlab.PacerConfig{})
	bc, bs := tcpMSS(t, br, slowBulkPort)
	vc, vs := tcpMSS(t, br, slowVoiceTCP)
	noDF := udpExchange(t, br, 1400, false)
	withDF := udpExchange(t, br, 1400, true)
	rep, err := p.Stop()
	if err != nil {
		t.Fatal(err)
	}
	st := rep.Stats.SlowLink
	report(t, "bulk_mss client=%d server=%d voice_mss client=%d server=%d udp_nodf=%dB udp_df=%dB stats=%+v",
		bc, bs, vc, vs, len(noDF), len(withDF), st)
	if bc > int(sl.MSS4) || bs > int(sl.MSS4) {
		t.Errorf("best-effort TCP sends with MSS %d (client) / %d (server), want <= %d", bc, bs, sl.MSS4)
	}
	if vc <= int(sl.MSS4) || vs <= int(sl.MSS4) {
		t.Errorf("guaranteed TCP sends with MSS %d / %d: clamped, want the full MSS", vc, vs)
	}
	if noDF == nil || withDF == nil {
		t.Errorf("UDP without DF arrived: %v, with DF: %v; want both", noDF != nil, withDF != nil)
	}
	if st.MSSClamped < 2 || st.Fragmented < 1 || st.Fragments < 3 || st.DFWhole < 1 {
		t.Errorf("pacer counted %+v, want >= 2 clamped (SYN, SYN-ACK), >= 1 datagram cut into >= 3 fragments, >= 1 DF left whole", st)
	}
	if c := rep.Counters.SlowLink; c == nil || c.DFWhole != st.DFWhole {
		t.Errorf("counters' slow link %+v, want the stats' %+v", c, st)
	}
}
