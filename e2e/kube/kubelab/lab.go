package kubelab

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/qosplane/qosplane/e2e/labpki"
)

// Options configure Start. The zero value is a working lab.
type Options struct {
	// Binaries to run; zero means FindBinaries.
	Binaries Binaries
	// Dir is where the lab makes its temporary directory; "" is
	// os.TempDir().
	Dir string
	// KeepDir keeps the lab directory (logs, certificates, etcd data) after
	// Stop, for debugging.
	KeepDir bool
	// StartTimeout bounds the wait for each of etcd and kube-apiserver to
	// become ready, at Start and at RestartAPIServer; 0 means 90 s.
	StartTimeout time.Duration
	// APIServerArgs are extra kube-apiserver flags (feature gates, ...),
	// appended after the lab's so they override them.
	APIServerArgs []string
	// Logf, if set, receives progress lines (start and restart times, stop
	// errors); tests pass t.Logf.
	Logf func(format string, args ...any)
}

// stopGrace is how long Stop and RestartAPIServer wait after SIGTERM
// before SIGKILL.
const stopGrace = 15 * time.Second

// Lab is a running etcd and kube-apiserver. Its methods are safe for
// concurrent use; after Stop only Dir and the paths stay meaningful.
type Lab struct {
	opts Options
	bins Binaries
	dir  string

	ca    *labpki.Authority
	admin labpki.KeyPair

	etcdPort, etcdPeerPort, apiPort int

	mu        sync.Mutex // serialises RestartAPIServer, UserKubeconfig and Stop
	etcd      *process
	apiserver *process
	stopped   bool
}

// Start makes the lab's PKI and files in a new temporary directory, starts
// etcd and kube-apiserver and returns once the apiserver's /readyz answers
// ok. ctx bounds only the start: the children run until Stop or until the
// test process dies. On error nothing is left running and the directory is
// removed (unless KeepDir).
func Start(ctx context.Context, opts Options) (*Lab, error) {
	if opts.StartTimeout == 0 {
		opts.StartTimeout = 90 * time.Second
	}
	bins := opts.Binaries
	if bins == (Binaries{}) {
		var err error
		if bins, err = FindBinaries(); err != nil {
			return nil, err
		}
	}
	dir, err := os.MkdirTemp(opts.Dir, "kubelab-")
	if err != nil {
		return nil, fmt.Errorf("kubelab: make lab directory: %w", err)
	}
	l := &Lab{opts: opts, bins: bins, dir: dir}
	if err := l.start(ctx); err != nil {
		l.Stop()
		return nil, fmt.Errorf("kubelab: %w", err)
	}
	return l, nil
}

// start does Start's work once the directory exists.
func (l *Lab) start(ctx context.Context) error {
	t0 := time.Now()
	if err := l.writePKI(); err != nil {
		return err
	}
	ports, err := freePorts(3)
	if err != nil {
		return err
	}
	l.etcdPort, l.etcdPeerPort, l.apiPort = ports[0], ports[1], ports[2]
	admin := kubeconfigYAML(l.Host(), l.ca.CertPEM, "kubelab-admin", l.admin)
	if err := writeFile(l.Kubeconfig(), []byte(admin)); err != nil {
		return err
	}

	t := time.Now()
	if err := l.startEtcd(ctx); err != nil {
		return err
	}
	l.logf("kubelab: etcd ready on 127.0.0.1:%d in %v", l.etcdPort, since(t))

	t = time.Now()
	if err := l.startAPIServer(ctx); err != nil {
		return err
	}
	l.logf("kubelab: kube-apiserver ready on %s in %v (lab started in %v, dir %s)",
		l.Host(), since(t), since(t0), l.dir)
	return nil
}

// writePKI makes the CA, the serving certificate, the service-account keys
// and the admin's client certificate, and writes the files the apiserver
// reads into the lab directory.
func (l *Lab) writePKI() error {
	ca, err := labpki.New("kubelab-ca")
	if err != nil {
		return err
	}
	l.ca = ca
	serving, err := servingCert(ca, serviceIP)
	if err != nil {
		return err
	}
	saPriv, saPub, err := newServiceAccountKeys()
	if err != nil {
		return err
	}
	admin, err := ca.Client("kubelab-admin", []string{"system:masters"})
	if err != nil {
		return err
	}
	l.admin = admin
	for name, data := range map[string][]byte{
		caFile:          ca.CertPEM,
		servingCertFile: serving.CertPEM,
		servingKeyFile:  serving.KeyPEM,
		saKeyFile:       saPriv,
		saPubFile:       saPub,
	} {
		if err := writeFile(filepath.Join(l.dir, name), data); err != nil {
			return err
		}
	}
	return nil
}

// since rounds the time since t for log lines.
func since(t time.Time) time.Duration { return time.Since(t).Round(time.Millisecond) }

func (l *Lab) logf(format string, args ...any) {
	if l.opts.Logf != nil {
		l.opts.Logf(format, args...)
	}
}

// Host is the apiserver's URL, https://127.0.0.1:<port>.
func (l *Lab) Host() string { return "https://127.0.0.1:" + strconv.Itoa(l.apiPort) }

// Dir is the lab directory: certificates, kubeconfigs, etcd data and the
// logs etcd.log and kube-apiserver.log.
func (l *Lab) Dir() string { return l.dir }

// CAFile is the path of the lab CA's certificate (PEM).
func (l *Lab) CAFile() string { return filepath.Join(l.dir, caFile) }

// APIServerLog is the path of kube-apiserver's log; each (re)start appends
// to it after a "===" line.
func (l *Lab) APIServerLog() string { return filepath.Join(l.dir, apiserverLogFile) }

// Kubeconfig is the path of the admin kubeconfig: user kubelab-admin in
// group system:masters, which RBAC never denies.
func (l *Lab) Kubeconfig() string { return filepath.Join(l.dir, adminKubeconfig) }

// UserKubeconfig writes a kubeconfig for user name in groups (a client
// certificate with CN name and one O per group, signed by the lab CA) and
// returns its path. The user has no permissions beyond RBAC's defaults for
// system:authenticated until the test binds roles to the name or a group.
// Writing one name again replaces its file with a new certificate.
func (l *Lab) UserKubeconfig(name string, groups ...string) (string, error) {
	if !userName.MatchString(name) {
		return "", fmt.Errorf("kubelab: user name %q: want letters, digits and :._@-", name)
	}
	for _, g := range groups {
		if g == "" {
			return "", fmt.Errorf("kubelab: user %q: empty group name", name)
		}
	}
	kp, err := l.ca.Client(name, groups)
	if err != nil {
		return "", fmt.Errorf("kubelab: user %q: %w", name, err)
	}
	path := filepath.Join(l.dir, "user-"+strings.ReplaceAll(name, ":", "_")+".kubeconfig")
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := writeFile(path, []byte(kubeconfigYAML(l.Host(), l.ca.CertPEM, name, kp))); err != nil {
		return "", fmt.Errorf("kubelab: %w", err)
	}
	return path, nil
}

// RestartAPIServer stops kube-apiserver (SIGTERM, then SIGKILL after 15 s)
// and starts it again with the same flags, port, certificates and etcd,
// returning once /readyz answers ok. Clients see connection errors in
// between; objects in etcd survive.
func (l *Lab) RestartAPIServer(ctx context.Context) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.stopped {
		return errors.New("kubelab: restart apiserver: lab stopped")
	}
	t := time.Now()
	if l.apiserver != nil {
		if err := l.apiserver.stop(stopGrace); err != nil {
			l.logf("kubelab: %v", err)
		}
	}
	stopped := since(t)
	t = time.Now()
	if err := l.startAPIServer(ctx); err != nil {
		return fmt.Errorf("kubelab: restart apiserver: %w", err)
	}
	l.logf("kubelab: kube-apiserver restarted: stopped in %v, ready again in %v", stopped, since(t))
	return nil
}

// Stop stops kube-apiserver, then etcd, and removes the lab directory
// unless Options.KeepDir. It is safe to call more than once and from
// t.Cleanup; problems are reported through Options.Logf.
func (l *Lab) Stop() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.stopped {
		return
	}
	l.stopped = true
	for _, p := range []*process{l.apiserver, l.etcd} {
		if p == nil {
			continue
		}
		if err := p.stop(stopGrace); err != nil {
			l.logf("kubelab: stop: %v", err)
		}
	}
	if l.opts.KeepDir {
		l.logf("kubelab: lab directory kept: %s", l.dir)
		return
	}
	if err := os.RemoveAll(l.dir); err != nil {
		l.logf("kubelab: stop: remove %s: %v", l.dir, err)
	}
}
