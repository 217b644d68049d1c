package cgroup

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// Child processes: the test binary re-executed with envChild naming what to
// do. A child first moves itself into the cgroup envCgroup names (an
// absolute directory), then opens its sockets.
const (
	envChild  = "QP_CGROUP_CHILD"
	envCgroup = "QP_CGROUP_DIR"
	envArg    = "QP_CGROUP_ARG"
)

func TestMain(m *testing.M) {
	switch os.Getenv(envChild) {
	case "":
		os.Exit(m.Run())
	case "send":
		os.Exit(childSend())
	case "hold":
		os.Exit(childHold())
	default:
		fmt.Fprintln(os.Stderr, "unknown child", os.Getenv(envChild))
		os.Exit(2)
	}
}

func joinCgroup(dir string) error {
	return os.WriteFile(filepath.Join(dir, "cgroup.procs"), []byte(strconv.Itoa(os.Getpid())), 0o644)
}

// sockReport is what a send child says about one of its sockets.
type sockReport struct {
	Kind      string // udp4, udp4-connected, tcp4, udp6, tcp6
	LocalPort int
	Priority  int
}

// childSend sends to the ports in envArg ("port") on 127.0.0.1 and ::1
// over unconnected UDP (three datagrams), connected UDP and TCP, and
// prints one JSON sockReport per socket.
func childSend() int {
	if err := joinCgroup(os.Getenv(envCgroup)); err != nil {
		fmt.Fprintln(os.Stderr, "join:", err)
		return 1
	}
	port, _ := strconv.Atoi(os.Getenv(envArg))
	enc := json.NewEncoder(os.Stdout)
	report := func(kind string, c syscall.Conn, local net.Addr) error {
		rc, err := c.SyscallConn()
		if err != nil {
			return err
		}
		prio, gerr := 0, error(nil)
		if err := rc.Control(func(fd uintptr) { prio, gerr = unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_PRIORITY) }); err != nil {
			return err
		}
		if gerr != nil {
			return gerr
		}
		_, ps, _ := net.SplitHostPort(local.String())
		lp, _ := strconv.Atoi(ps)
		return enc.Encode(sockReport{Kind: kind, LocalPort: lp, Priority: prio})
	}
	run := func() error {
		if err := sendUnbound(enc, port); err != nil {
			return err
		}
		for _, fam := range []struct{ n, host string }{{"4", "127.0.0.1"}, {"6", "::1"}} {
			dst := net.JoinHostPort(fam.host, strconv.Itoa(port))
			ua, err := net.ResolveUDPAddr("udp"+fam.n, dst)
			if err != nil {
				return err
			}
			u, err := net.ListenUDP("udp"+fam.n, nil)
			if err != nil {
				return err
			}
			for range 3 {
				if _, err := u.WriteToUDP([]byte("hello"), ua); err != nil {
					return err
				}
			}
			if err := report("udp"+fam.n, u, u.LocalAddr()); err != nil {
				return err
			}
			u.Close()
			uc, err := net.DialUDP("udp"+fam.n, nil, ua)
			if err != nil {
				return err
			}
			if _, err := uc.Write([]byte("hello")); err != nil {
				return err
			}
			if err := report("udp"+fam.n+"-connected", uc, uc.LocalAddr()); err != nil {
				return err
			}
			uc.Close()
			tc, err := net.DialTimeout("tcp"+fam.n, dst, 2*time.Second)
			if err != nil {
				return err
			}
			if _, err := tc.Write([]byte("hello")); err != nil {
				return err
			}
			if err := report("tcp"+fam.n, tc.(*net.TCPConn), tc.LocalAddr()); err != nil {
				return err
			}
			tc.Close()
		}
		return nil
	}
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "send:", err)
		return 1
	}
	return 0
}

// sendUnbound sends three datagrams from UDP sockets that never bind or
// connect (as C programs do with socket and sendto; Go binds), v4 and v6.
func sendUnbound(enc *json.Encoder, port int) error {
	for _, fam := range []struct {
		n   string
		af  int
		dst unix.Sockaddr
	}{
		{"4", unix.AF_INET, &unix.SockaddrInet4{Port: port, Addr: [4]byte{127, 0, 0, 1}}},
		{"6", unix.AF_INET6, &unix.SockaddrInet6{Port: port, Addr: [16]byte{15: 1}}},
	} {
		fd, err := unix.Socket(fam.af, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return err
		}
		for range 3 {
			if err := unix.Sendto(fd, []byte("hello"), 0, fam.dst); err != nil {
				unix.Close(fd)
				return err
			}
		}
		prio, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_PRIORITY)
		if err != nil {
			return err
		}
		sa, err := unix.Getsockname(fd)
		unix.Close(fd)
		if err != nil {
			return err
		}
		var lp int
		switch a := sa.(type) {
		case *unix.SockaddrInet4:
			lp = a.Port
		case *unix.SockaddrInet6:
			lp = a.Port
		}
		if err := enc.Encode(sockReport{Kind: "udp" + fam.n + "-unbound", LocalPort: lp, Priority: prio}); err != nil {
			return err
		}
	}
	return nil
}

// childHold applies the rules in envArg (JSON) with a driver of its own,
// prints "ready" and waits to be killed.
func childHold() int {
	var rules []Rule
	if err := json.Unmarshal([]byte(os.Getenv(envArg)), &rules); err != nil {
		fmt.Fprintln(os.Stderr, "rules:", err)
		return 1
	}
	d, err := New(Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if err := d.Apply(rules); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Println("ready")
	select {}
}

// needRoot skips without the privileges to load programs and make cgroups.
func needRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
}

// testTree makes a test-unique cgroup under the cgroup2 mount and removes
// it (and everything made under it) on cleanup. It returns the mount and
// the tree's path relative to it.
func testTree(t testing.TB) (root, rel string) {
	t.Helper()
	needRoot(t)
	root, err := Mount()
	if err != nil {
		t.Skip(err)
	}
	rel = fmt.Sprintf("qosplane-test-%d-%s", os.Getpid(), strings.ReplaceAll(t.Name(), "/", "_"))
	dir := filepath.Join(root, rel)
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { removeTree(t, dir) })
	return root, rel
}

// removeTree removes a cgroup directory and its descendants, deepest first
// (cgroup directories go with rmdir, not unlink).
func removeTree(t testing.TB, dir string) {
	var dirs []string
	_ = filepath.WalkDir(dir, func(p string, e os.DirEntry, err error) error {
		if err == nil && e.IsDir() {
			dirs = append(dirs, p)
		}
		return nil
	})
	for i := len(dirs) - 1; i >= 0; i-- {
		var err error
		for range 50 { // a killed child may take a moment to leave
			if err = syscall.Rmdir(dirs[i]); err == nil {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		if err != nil {
			t.Errorf("cleanup: rmdir %s: %v", dirs[i], err)
		}
	}
}

func mkCgroup(t testing.TB, root string, rel ...string) string {
	t.Helper()
	dir := filepath.Join(append([]string{root}, rel...)...)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// child starts the test binary as a child of the given kind in cgroup dir.
func child(t testing.TB, kind, dir, arg string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), envChild+"="+kind, envCgroup+"="+dir, envArg+"="+arg)
	cmd.Stderr = os.Stderr
	return cmd
}

// sendFrom runs a send child in dir against port and returns its reports.
func sendFrom(t *testing.T, dir string, port int) []sockReport {
	t.Helper()
	out, err := child(t, "send", dir, strconv.Itoa(port)).Output()
	if err != nil {
		t.Fatalf("send child in %s: %v", dir, err)
	}
	var reps []sockReport
	sc := bufio.NewScanner(strings.NewReader(string(out)))
	for sc.Scan() {
		var r sockReport
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("child report %q: %v", sc.Text(), err)
		}
		reps = append(reps, r)
	}
	return reps
}

// receiver listens on port over UDP and TCP, IPv4 and IPv6 loopback, and
// records the DSCP of every packet to that port by source port, as read
// off the wire with a packet socket on lo.
type receiver struct {
	port int
	fd   int
	mu   sync.Mutex
	dscp map[int][]uint8 // source port -> DSCPs seen, in order
	stop chan struct{}
	done chan struct{}
}

func newReceiver(t *testing.T) *receiver {
	t.Helper()
	// One port free for all four listeners.
	var port int
	var closers []func()
	for try := 0; ; try++ {
		l, err := net.Listen("tcp4", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port = l.Addr().(*net.TCPAddr).Port
		closers = []func(){func() { l.Close() }}
		go acceptAll(l)
		ok := true
		for _, nw := range []struct{ n, a string }{{"tcp6", "[::1]"}, {"udp4", "127.0.0.1"}, {"udp6", "[::1]"}} {
			addr := fmt.Sprintf("%s:%d", nw.a, port)
			if strings.HasPrefix(nw.n, "tcp") {
				l6, err := net.Listen(nw.n, addr)
				if err != nil {
					ok = false
					break
				}
				go acceptAll(l6)
				closers = append(closers, func() { l6.Close() })
			} else {
				u, err := net.ListenPacket(nw.n, addr)
				if err != nil {
					ok = false
					break
				}
				go drain(u)
				closers = append(closers, func() { u.Close() })
			}
		}
		if ok {
			break
		}
		for _, c := range closers {
			c()
		}
		if try > 20 {
			t.Fatal("no free port on loopback")
		}
	}
	t.Cleanup(func() {
		for _, c := range closers {
			c()
		}
	})
	lo, err := net.InterfaceByName("lo")
	if err != nil {
		t.Fatal(err)
	}
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, int(htons(unix.ETH_P_ALL)))
	if err != nil {
		t.Fatal(err)
	}
	// Keep only packets to our port in the kernel, with a large buffer:
	// other work on this host may be busy on loopback.
	if err := unix.SetsockoptSockFprog(fd, unix.SOL_SOCKET, unix.SO_ATTACH_FILTER, portFilter(uint16(port))); err != nil {
		t.Fatal(err)
	}
	_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, 8<<20)
	if err := unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ALL), Ifindex: lo.Index}); err != nil {
		t.Fatal(err)
	}
	_ = unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &unix.Timeval{Usec: 50000})
	r := &receiver{port: port, fd: fd, dscp: map[int][]uint8{}, stop: make(chan struct{}), done: make(chan struct{})}
	go r.run()
	t.Cleanup(func() {
		close(r.stop)
		<-r.done
		unix.Close(fd)
	})
	return r
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

// portFilter is a classic BPF filter for a SOCK_DGRAM packet socket (the
// packet starts at the IP header) that keeps IPv4 and IPv6 (no extension
// headers) TCP or UDP packets to port.
func portFilter(port uint16) *unix.SockFprog {
	ins := []unix.SockFilter{
		{Code: unix.BPF_LD | unix.BPF_B | unix.BPF_ABS, K: 0},
		{Code: unix.BPF_ALU | unix.BPF_AND | unix.BPF_K, K: 0xf0},
		{Code: unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K, K: 0x40, Jt: 0, Jf: 3},
		{Code: unix.BPF_LDX | unix.BPF_B | unix.BPF_MSH, K: 0},
		{Code: unix.BPF_LD | unix.BPF_H | unix.BPF_IND, K: 2},
		{Code: unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K, K: uint32(port), Jt: 3, Jf: 4},
		{Code: unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K, K: 0x60, Jt: 0, Jf: 3},
		{Code: unix.BPF_LD | unix.BPF_H | unix.BPF_ABS, K: 42},
		{Code: unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K, K: uint32(port), Jt: 0, Jf: 1},
		{Code: unix.BPF_RET | unix.BPF_K, K: 0xffff},
		{Code: unix.BPF_RET | unix.BPF_K, K: 0},
	}
	return &unix.SockFprog{Len: uint16(len(ins)), Filter: &ins[0]}
}

func acceptAll(l net.Listener) {
	for {
		c, err := l.Accept()
		if err != nil {
			return
		}
		go func() {
			buf := make([]byte, 512)
			for {
				if _, err := c.Read(buf); err != nil {
					c.Close()
					return
				}
			}
		}()
	}
}

func drain(u net.PacketConn) {
	buf := make([]byte, 2048)
	for {
		if _, _, err := u.ReadFrom(buf); err != nil {
			return
		}
	}
}

func (r *receiver) run() {
	defer close(r.done)
	buf := make([]byte, 65536)
	for {
		select {
		case <-r.stop:
			return
		default:
		}
		n, from, err := unix.Recvfrom(r.fd, buf, 0)
		if err != nil {
			continue
		}
		if ll, ok := from.(*unix.SockaddrLinklayer); ok && ll.Pkttype == unix.PACKET_OUTGOING {
			continue // loopback shows each packet twice: keep the received copy
		}
		r.record(buf[:n])
	}
}

// record parses an IPv4 or IPv6 packet (no extension headers) to the
// receiver's port.
func (r *receiver) record(p []byte) {
	if len(p) < 1 {
		return
	}
	var tos uint8
	var l4 []byte
	switch p[0] >> 4 {
	case 4:
		if len(p) < 20 {
			return
		}
		ihl := int(p[0]&0xf) * 4
		if p[9] != unix.IPPROTO_TCP && p[9] != unix.IPPROTO_UDP || len(p) < ihl+4 {
			return
		}
		tos, l4 = p[1], p[ihl:]
	case 6:
		if len(p) < 44 || p[6] != unix.IPPROTO_TCP && p[6] != unix.IPPROTO_UDP {
			return
		}
		tos, l4 = p[0]<<4|p[1]>>4, p[40:]
	default:
		return
	}
	src, dst := int(binary.BigEndian.Uint16(l4)), int(binary.BigEndian.Uint16(l4[2:]))
	if dst != r.port {
		return
	}
	r.mu.Lock()
	r.dscp[src] = append(r.dscp[src], tos>>2)
	r.mu.Unlock()
}

// seen returns the DSCPs seen from a source port, waiting for them (the
// host may be busy).
// sendFrom runs the sending child in cgroup dir against r, after
// forgetting what r saw before: the child's sockets may get source ports
// an earlier child used, whose packets must not count as this one's.
func (r *receiver) sendFrom(t *testing.T, dir string) []sockReport {
	t.Helper()
	r.mu.Lock()
	clear(r.dscp)
	r.mu.Unlock()
	return sendFrom(t, dir, r.port)
}

func (r *receiver) seen(src int) []uint8 {
	for range 300 {
		r.mu.Lock()
		got := append([]uint8(nil), r.dscp[src]...)
		r.mu.Unlock()
		if len(got) > 0 {
			return got
		}
		time.Sleep(10 * time.Millisecond)
	}
	return nil
}
