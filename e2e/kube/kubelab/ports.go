package kubelab

import (
	"fmt"
	"net"
)

// freePorts returns n distinct TCP ports of 127.0.0.1 that were free a
// moment ago: it binds n listeners at once (so the kernel hands out n
// different ports) and closes them. Another process may take a port before
// the child binds it; Start then fails with the child's "address already in
// use" in its error, which is rare enough on a test machine not to retry.
func freePorts(n int) ([]int, error) {
	ls := make([]net.Listener, 0, n)
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	ports := make([]int, 0, n)
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("find a free port: %w", err)
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}
