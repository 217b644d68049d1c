package kubelab

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
)

// Addresses of the cluster network. They are configuration only: without
// kube-proxy nothing routes them, and the lab never sends traffic to them.
var (
	serviceCIDR = "10.0.0.0/24"
	// serviceIP is the kubernetes Service's ClusterIP, the first address
	// of serviceCIDR; the serving certificate names it.
	serviceIP = net.IPv4(10, 0, 0, 1)
)

// File names in the lab directory.
const (
	caFile           = "ca.crt"
	servingCertFile  = "apiserver.crt"
	servingKeyFile   = "apiserver.key"
	saKeyFile        = "service-account.key"
	saPubFile        = "service-account.pub"
	adminKubeconfig  = "admin.kubeconfig"
	apiserverLogFile = "kube-apiserver.log"
)

// apiserverArgs are kube-apiserver's flags. The apiserver binds and
// advertises 127.0.0.1 only, runs no endpoint reconciler (it would publish
// the advertise address as the kubernetes Service's endpoints, which
// validation refuses for loopback), authenticates client certificates
// signed by the lab CA, authorizes with RBAC (system:masters bypasses it),
// and skips the ServiceAccount admission plugin (no controller-manager
// creates default service accounts). Options.APIServerArgs come last, so
// they override.
func (l *Lab) apiserverArgs() []string {
	f := func(name string) string { return filepath.Join(l.dir, name) }
	args := []string{
		"--etcd-servers=http://127.0.0.1:" + strconv.Itoa(l.etcdPort),
		"--bind-address=127.0.0.1",
		"--advertise-address=127.0.0.1",
		"--secure-port=" + strconv.Itoa(l.apiPort),
		"--cert-dir=" + f("apiserver-certs"),
		"--tls-cert-file=" + f(servingCertFile),
		"--tls-private-key-file=" + f(servingKeyFile),
		"--client-ca-file=" + f(caFile),
		"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
		"--service-account-key-file=" + f(saPubFile),
		"--service-account-signing-key-file=" + f(saKeyFile),
		"--service-cluster-ip-range=" + serviceCIDR,
		"--endpoint-reconciler-type=none",
		// Watches end 1 s into a shutdown instead of holding a SIGTERMed
		// apiserver until they time out (RestartAPIServer, Stop).
		"--shutdown-watch-termination-grace-period=1s",
		"--allow-privileged=true",
		"--disable-admission-plugins=ServiceAccount",
		"--authorization-mode=RBAC",
	}
	return append(args, l.opts.APIServerArgs...)
}

// adminClient is an HTTPS client that trusts the lab CA and presents the
// admin certificate.
func (l *Lab) adminClient() (*http.Client, error) {
	cert, err := tls.X509KeyPair(l.admin.CertPEM, l.admin.KeyPEM)
	if err != nil {
		return nil, fmt.Errorf("admin key pair: %w", err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(l.ca.Cert)
	return &http.Client{
		Timeout: pollRequestTimeout,
		Transport: &http.Transport{
			TLSClientConfig: &tls.Config{
				RootCAs:      pool,
				Certificates: []tls.Certificate{cert},
				MinVersion:   tls.VersionTLS12,
			},
			DisableKeepAlives: true,
		},
	}, nil
}

// startAPIServer starts kube-apiserver and waits until GET /readyz answers
// 200 "ok" to the admin: etcd reachable, post-start hooks (RBAC bootstrap
// roles among them) done.
func (l *Lab) startAPIServer(ctx context.Context) error {
	p, err := startProcess("kube-apiserver", l.bins.APIServer, l.apiserverArgs(), filepath.Join(l.dir, apiserverLogFile))
	if err != nil {
		return err
	}
	l.apiserver = p
	client, err := l.adminClient()
	if err != nil {
		return err
	}
	url := l.Host() + "/readyz"
	return waitUntil(ctx, p, l.opts.StartTimeout, func() error {
		resp, err := client.Get(url)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		if err != nil {
			return err
		}
		if resp.StatusCode != http.StatusOK || strings.TrimSpace(string(body)) != "ok" {
			return fmt.Errorf("GET %s: %d %s", url, resp.StatusCode, failedChecks(string(body)))
		}
		return nil
	})
}

// failedChecks returns the checks a /readyz answer lists as failed ("[-]"
// lines), or the whole answer, shortened, if it lists none.
func failedChecks(body string) string {
	var failed []string
	for _, line := range strings.Split(body, "\n") {
		if strings.HasPrefix(line, "[-]") {
			failed = append(failed, line)
		}
	}
	if len(failed) == 0 {
		if len(body) > 200 {
			body = body[:200] + "..."
		}
		return fmt.Sprintf("%q", body)
	}
	return strings.Join(failed, "; ")
}
