package gnmi_test

import (
	"bytes"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	gnmidrv "github.com/qosplane/qosplane/drivers/gnmi"
	"github.com/qosplane/qosplane/model"
)

// TestCredentials: username and password (from a file) travel as gRPC
// metadata over TLS; a wrong password is refused; the password never
// appears in the driver's logs or errors.
func TestCredentials(t *testing.T) {
	const secret = "s3cret-Passw0rd"
	tg := startLightWith(t, normal, lightOpts{user: "qosplane", pass: secret})
	pwFile := filepath.Join(t.TempDir(), "pw")
	mustf(t, os.WriteFile(pwFile, []byte(secret+"\n"), 0o600), "write")
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	ctx := ctxT(t)

	tp := labPlan("leaf1", tg.addr, testPKI(t).caFile)
	tp.Device.Credentials = model.Credentials{Username: "qosplane", PasswordFile: pwFile}
	d, err := gnmidrv.Open(ctx, tp, log)
	mustf(t, err, "open with the right password")
	_, err = d.Sync(ctx, tp)
	mustf(t, err, "sync")
	d.Close()

	t.Setenv("QP_TEST_PW", "wrong")
	tp.Device.Credentials = model.Credentials{Username: "qosplane", PasswordEnv: "QP_TEST_PW"}
	_, err = gnmidrv.Open(ctx, tp, log)
	if err == nil || !strings.Contains(err.Error(), "Unauthenticated") {
		t.Fatalf("wrong password: err = %v", err)
	}
	tp.Device.Credentials = model.Credentials{Username: "qosplane", Password: secret}
	if _, err = gnmidrv.Open(ctx, tp, log); err == nil || !strings.Contains(err.Error(), "inline") {
		t.Fatalf("inline password: err = %v", err)
	}
	if strings.Contains(logs.String(), secret) || strings.Contains(err.Error(), secret) {
		t.Fatal("the password leaked into logs or errors")
	}
}

// TestMutualTLS: a target that requires a client certificate refuses a
// driver without one and accepts one with cert-file/key-file.
func TestMutualTLS(t *testing.T) {
	p := testPKI(t)
	tg := startLightWith(t, normal, lightOpts{clientCert: true})
	ctx := ctxT(t)
	tp := labPlan("leaf1", tg.addr, p.caFile)
	if _, err := gnmidrv.Open(ctx, tp, testLog(t)); err == nil {
		t.Fatal("connected without a client certificate")
	}
	tp.Device.TLS.CertFile, tp.Device.TLS.KeyFile = p.clientCert, p.clientKey
	d, err := gnmidrv.Open(ctx, tp, testLog(t))
	mustf(t, err, "open with a client certificate")
	d.Close()
}

// TestPlaintextOnlyWhenInsecure: against a plaintext target the driver
// fails by default (TLS) and connects only with tls.insecure.
func TestPlaintextOnlyWhenInsecure(t *testing.T) {
	tg := startLightWith(t, normal, lightOpts{plaintext: true})
	ctx := ctxT(t)
	tp := labPlan("leaf1", tg.addr, testPKI(t).caFile)
	if _, err := gnmidrv.Open(ctx, tp, testLog(t)); err == nil {
		t.Fatal("TLS driver talked to a plaintext target")
	}
	tp.Device.TLS = model.TLS{Insecure: true}
	d, err := gnmidrv.Open(ctx, tp, testLog(t))
	mustf(t, err, "open insecure")
	_, err = d.Sync(ctx, tp)
	mustf(t, err, "sync insecure")
	d.Close()
}
