//go:build linux

package fallback

import (
	"io"
	"net"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/qosplane/qosplane/model"
)

func sockopt(t *testing.T, c any, level, opt int) int {
	t.Helper()
	raw, err := c.(syscall.Conn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var v int
	var serr error
	if err := raw.Control(func(fd uintptr) { v, serr = unix.GetsockoptInt(int(fd), level, opt) }); err != nil {
		t.Fatal(err)
	}
	if serr != nil {
		t.Fatal(serr)
	}
	return v
}

// TestPacedTCP: a 16 Mbit/s flowspec on a loopback TCP connection delivers
// 1 MB no faster than bucket + rate allows, and close to it; the socket
// carries the DSCP and SO_PRIORITY read back with getsockopt.
func TestPacedTCP(t *testing.T) {
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	got := make(chan int64, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			got <- -1
			return
		}
		defer c.Close()
		n, _ := io.Copy(io.Discard, c)
		got <- n
	}()
	raw, err := net.Dial("tcp4", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	const rate, bucket, total = 16_000_000, 16 << 10, 1 << 20 // bit/s, bytes, bytes
	prio := uint32(5)
	c, err := NewConn(raw, Flowspec{Rate: rate, Bucket: bucket, DSCP: u8(40), Priority: &prio})
	if err != nil {
		t.Fatal(err)
	}
	if tos := sockopt(t, raw, unix.IPPROTO_IP, unix.IP_TOS); tos != 40<<2 {
		t.Fatalf("IP_TOS %#x, want %#x", tos, 40<<2)
	}
	if p := sockopt(t, raw, unix.SOL_SOCKET, unix.SO_PRIORITY); p != 5 {
		t.Fatalf("SO_PRIORITY %d, want 5", p)
	}
	buf := make([]byte, 64<<10)
	start := time.Now()
	for sent := 0; sent < total; sent += len(buf) {
		if _, err := c.Write(buf); err != nil {
			t.Fatal(err)
		}
	}
	elapsed := time.Since(start)
	c.Close()
	if n := <-got; n != total {
		t.Fatalf("received %d bytes, want %d", n, total)
	}
	want := time.Duration(float64(total-bucket) / (rate / 8) * float64(time.Second))
	achieved := float64(total-bucket) * 8 / elapsed.Seconds()
	t.Logf("%d bytes in %v: %.2f Mbit/s after the bucket (flowspec %d Mbit/s)", total, elapsed, achieved/1e6, rate/1_000_000)
	if elapsed < want*99/100 {
		t.Fatalf("too fast: %v for what takes %v at the rate", elapsed, want)
	}
	if elapsed > want*150/100 {
		t.Fatalf("too slow: %v, want about %v (+50%% for a loaded machine)", elapsed, want)
	}
	if st := c.(*PacedConn).Stats(); st.SentBytes != total || st.Waited <= 0 {
		t.Fatalf("stats %+v", st)
	}
}

// TestPacedUDPModes: discard drops datagrams above the bucket; borrow
// sends them with the non-conforming DSCP, seen by the receiver (IP_RECVTOS).
func TestPacedUDPModes(t *testing.T) {
	for _, mode := range []model.Mode{model.Discard, model.Borrow, model.Shape} {
		t.Run(string(mode), func(t *testing.T) {
			rx, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
			if err != nil {
				t.Fatal(err)
			}
			defer rx.Close()
			if err := rx.SetReadBuffer(4 << 20); err != nil {
				t.Fatal(err)
			}
			rr, _ := rx.SyscallConn()
			rr.Control(func(fd uintptr) { unix.SetsockoptInt(int(fd), unix.IPPROTO_IP, unix.IP_RECVTOS, 1) })
			txc, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
			if err != nil {
				t.Fatal(err)
			}
			defer txc.Close()
			// 8 Mbit/s = 1000 B/ms; bucket 5 datagrams of 972+28 bytes.
			tx, err := NewPacketConn(txc, Flowspec{Rate: 8_000_000, Bucket: 5000, Overhead: 28, Mode: mode, DSCP: u8(34), NonConformingDSCP: 8})
			if err != nil {
				t.Fatal(err)
			}
			if tos := sockopt(t, txc, unix.IPPROTO_IP, unix.IP_TOS); tos != 34<<2 {
				t.Fatalf("IP_TOS %#x", tos)
			}
			const count = 20
			start := time.Now()
			for range count {
				if _, err := tx.WriteTo(make([]byte, 972), rx.LocalAddr()); err != nil {
					t.Fatal(err)
				}
			}
			elapsed := time.Since(start)
			st := tx.(*PacedPacketConn).Stats()
			tos := map[int]int{}
			b, oob := make([]byte, 2000), make([]byte, 128)
			rx.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
			for {
				_, oobn, _, _, err := rx.ReadMsgUDP(b, oob)
				if err != nil {
					break
				}
				msgs, _ := unix.ParseSocketControlMessage(oob[:oobn])
				for _, m := range msgs {
					if m.Header.Level == unix.IPPROTO_IP && m.Header.Type == unix.IP_TOS && len(m.Data) > 0 {
						tos[int(m.Data[0])]++
					}
				}
			}
			// At most bucket + elapsed*rate conform.
			maxConf := 5 + int(elapsed.Milliseconds()) + 1
			switch mode {
			case model.Discard:
				if st.Sent+st.Dropped != count || st.Sent < 5 || int(st.Sent) > maxConf || tos[34<<2] != int(st.Sent) {
					t.Fatalf("stats %+v, received TOS %v (elapsed %v)", st, tos, elapsed)
				}
			case model.Borrow:
				if st.Sent != count || st.Borrowed < uint64(count-maxConf) || tos[8<<2] != int(st.Borrowed) || tos[34<<2] != count-int(st.Borrowed) {
					t.Fatalf("stats %+v, received TOS %v", st, tos)
				}
			case model.Shape:
				// 15 datagrams beyond the bucket at 1000 B/ms: >= 15 ms.
				if st.Sent != count || elapsed < 15*time.Millisecond*99/100 || tos[34<<2] != count {
					t.Fatalf("stats %+v elapsed %v TOS %v", st, elapsed, tos)
				}
			}
			t.Logf("%s: %+v, TOS seen %v, elapsed %v", mode, st, tos, elapsed)
		})
	}
}

func TestPacedIPv6TClass(t *testing.T) {
	c, err := net.ListenUDP("udp6", &net.UDPAddr{IP: net.IPv6loopback})
	if err != nil {
		t.Skipf("no IPv6 loopback here: %v", err)
	}
	defer c.Close()
	if _, err := NewPacketConn(c, Flowspec{DSCP: u8(46)}); err != nil {
		t.Fatal(err)
	}
	if tc := sockopt(t, c, unix.IPPROTO_IPV6, unix.IPV6_TCLASS); tc != 46<<2 {
		t.Fatalf("IPV6_TCLASS %#x, want %#x", tc, 46<<2)
	}
}

func TestStreamRefusesDiscard(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	if _, err := NewConn(a, Flowspec{Rate: 1e6, Mode: model.Discard}); err == nil {
		t.Fatal("discard accepted on a stream")
	}
}
