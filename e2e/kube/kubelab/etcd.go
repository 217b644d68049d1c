package kubelab

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strconv"
)

// etcdArgs are etcd's flags: one member named kubelab on 127.0.0.1, plain
// HTTP (loopback only), data under the lab directory, and no fsync (a test
// cluster that loses data on a machine crash loses nothing of value).
func (l *Lab) etcdArgs() []string {
	client := "http://127.0.0.1:" + strconv.Itoa(l.etcdPort)
	peer := "http://127.0.0.1:" + strconv.Itoa(l.etcdPeerPort)
	return []string{
		"--name=kubelab",
		"--data-dir=" + filepath.Join(l.dir, "etcd"),
		"--listen-client-urls=" + client,
		"--advertise-client-urls=" + client,
		"--listen-peer-urls=" + peer,
		"--initial-advertise-peer-urls=" + peer,
		"--initial-cluster=kubelab=" + peer,
		"--initial-cluster-state=new",
		"--unsafe-no-fsync=true",
		"--log-level=warn",
	}
}

// startEtcd starts etcd and waits until its /health endpoint says healthy.
func (l *Lab) startEtcd(ctx context.Context) error {
	p, err := startProcess("etcd", l.bins.Etcd, l.etcdArgs(), filepath.Join(l.dir, "etcd.log"))
	if err != nil {
		return err
	}
	l.etcd = p
	url := "http://127.0.0.1:" + strconv.Itoa(l.etcdPort) + "/health"
	client := &http.Client{Timeout: pollRequestTimeout}
	return waitUntil(ctx, p, l.opts.StartTimeout, func() error {
		resp, err := client.Get(url)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(io.LimitReader(resp.Body, 4096))
		if err != nil {
			return err
		}
		var h struct {
			Health string `json:"health"`
		}
		if err := json.Unmarshal(body, &h); err != nil {
			return fmt.Errorf("GET %s: %d %q: %w", url, resp.StatusCode, body, err)
		}
		if resp.StatusCode != http.StatusOK || h.Health != "true" {
			return fmt.Errorf("GET %s: %d %q", url, resp.StatusCode, body)
		}
		return nil
	})
}
