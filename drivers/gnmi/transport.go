package gnmi

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/qosplane/qosplane/model"
)

// dial opens a gRPC client connection to a switch. TLS is the default
// (system roots, or TLS.CAFile; a client certificate when CertFile and
// KeyFile are set; TLS 1.2 or later). Plaintext is used only when
// TLS.Insecure is set. Username and password travel as per-RPC metadata
// ("username", "password"), never over plaintext unless Insecure.
func dial(address string, tc model.TLS, cr model.Credentials) (*grpc.ClientConn, error) {
	if address == "" {
		return nil, errors.New("no gNMI address")
	}
	var opts []grpc.DialOption
	if tc.Insecure {
		opts = append(opts, grpc.WithTransportCredentials(insecure.NewCredentials()))
	} else {
		cfg, err := tlsConfig(tc)
		if err != nil {
			return nil, err
		}
		opts = append(opts, grpc.WithTransportCredentials(credentials.NewTLS(cfg)))
	}
	user, pass, err := loadCredentials(cr)
	if err != nil {
		return nil, err
	}
	if user != "" || pass != "" {
		opts = append(opts, grpc.WithPerRPCCredentials(&userPass{user: user, pass: pass, secure: !tc.Insecure}))
	}
	conn, err := grpc.NewClient(address, opts...)
	if err != nil {
		return nil, fmt.Errorf("gNMI %s: %w", address, err)
	}
	return conn, nil
}

func tlsConfig(tc model.TLS) (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: tc.ServerName}
	if tc.CAFile != "" {
		pem, err := os.ReadFile(tc.CAFile)
		if err != nil {
			return nil, fmt.Errorf("tls ca-file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("tls ca-file %s: no PEM certificates", tc.CAFile)
		}
		cfg.RootCAs = pool
	}
	switch {
	case tc.CertFile != "" && tc.KeyFile != "":
		cert, err := tls.LoadX509KeyPair(tc.CertFile, tc.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("tls client certificate: %w", err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	case tc.CertFile != "" || tc.KeyFile != "":
		return nil, errors.New("tls: cert-file and key-file go together")
	}
	return cfg, nil
}

// loadCredentials reads the username (inline or from UsernameEnv) and the
// password (PasswordEnv or PasswordFile). An inline password is refused.
func loadCredentials(cr model.Credentials) (user, pass string, err error) {
	if cr.Password != "" {
		return "", "", errors.New("credentials: inline passwords are refused; use password-env or password-file")
	}
	user = cr.Username
	if cr.UsernameEnv != "" {
		v, ok := os.LookupEnv(cr.UsernameEnv)
		if !ok {
			return "", "", fmt.Errorf("credentials: environment variable %s (username-env) is not set", cr.UsernameEnv)
		}
		user = v
	}
	switch {
	case cr.PasswordEnv != "":
		v, ok := os.LookupEnv(cr.PasswordEnv)
		if !ok {
			return "", "", fmt.Errorf("credentials: environment variable %s (password-env) is not set", cr.PasswordEnv)
		}
		pass = v
	case cr.PasswordFile != "":
		b, err := os.ReadFile(cr.PasswordFile)
		if err != nil {
			return "", "", fmt.Errorf("credentials: password-file: %w", err)
		}
		pass = strings.TrimRight(string(b), "\r\n")
	}
	if pass != "" && user == "" {
		return "", "", errors.New("credentials: a password without a username")
	}
	return user, pass, nil
}

// userPass sends username and password as gRPC metadata on every RPC.
type userPass struct {
	user, pass string
	secure     bool
}

func (u *userPass) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{"username": u.user, "password": u.pass}, nil
}

func (u *userPass) RequireTransportSecurity() bool { return u.secure }

// String keeps the password out of logs and error messages.
func (u *userPass) String() string { return "username=" + u.user + " password=<redacted>" }
