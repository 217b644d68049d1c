package main

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// want is what the test expects of one layer entry.
type want struct {
	mode     fs.FileMode // permission and sticky bits
	uid, gid int
	dir      bool
}

var wantEntries = map[string]want{
	"etc/":                              {mode: 0o755, dir: true},
	"etc/group":                         {mode: 0o644},
	"etc/nsswitch.conf":                 {mode: 0o644},
	"etc/passwd":                        {mode: 0o644},
	"etc/ssl/":                          {mode: 0o755, dir: true},
	"etc/ssl/certs/":                    {mode: 0o755, dir: true},
	"etc/ssl/certs/ca-certificates.crt": {mode: 0o644},
	"home/":                             {mode: 0o755, dir: true},
	"home/nonroot/":                     {mode: 0o700, uid: NonRootID, gid: NonRootID, dir: true},
	"root/":                             {mode: 0o700, dir: true},
	"tmp/":                              {mode: 0o777 | fs.ModeSticky, dir: true},
	"usr/":                              {mode: 0o755, dir: true},
	"usr/bin/":                          {mode: 0o755, dir: true},
	strings.TrimPrefix(BinaryPath, "/"): {mode: 0o755},
}

// TestImage builds the image twice from this commit, checks that both
// builds have one digest and byte-identical outputs, reads the image back
// from the OCI layout and the docker tarball, checks its config and every
// layer entry's mode, owner and mtime, unpacks the layer and runs
// `qosplane version` from it (under chroot, as root and as 65532, when the
// test runs as root).
func TestImage(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Fatalf("go not in PATH: %v", err)
	}
	repo, err := filepath.Abs("../../..")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()

	// `make image` builds into bin/image and then runs this test with
	// QOSPLANE_IMAGE_OUT=bin/image: that build is the first of the two.
	var res [2]*Result
	for i := range res {
		if dir := os.Getenv("QOSPLANE_IMAGE_OUT"); i == 0 && dir != "" {
			res[0] = prebuilt(t, repo, dir)
			t.Logf("build 1: %s in %s (QOSPLANE_IMAGE_OUT)", res[0].Digest, dir)
			continue
		}
		start := time.Now()
		res[i], err = Build(ctx, Options{Repo: repo, Out: t.TempDir()})
		if err != nil {
			t.Fatalf("build %d: %v", i+1, err)
		}
		t.Logf("build %d: %s in %v", i+1, res[i].Digest, time.Since(start).Round(time.Millisecond))
	}
	r := res[0]
	if r.Digest != res[1].Digest {
		if r.Source.Tree != res[1].Source.Tree {
			t.Fatalf("digests %s and %s differ, but so does the work tree (fingerprint %s, then %s): "+
				"it was edited between the two builds; run the test again", r.Digest, res[1].Digest, r.Source.Tree, res[1].Source.Tree)
		}
		t.Fatalf("not reproducible: digests %s and %s from one work tree (fingerprint %s)", r.Digest, res[1].Digest, r.Source.Tree)
	}
	// build.info is not compared: its tree fingerprint covers every edit
	// to the work tree, also those that do not change the image.
	for _, f := range []string{"qosplane.tar", "digest", "oci/index.json"} {
		a := readFile(t, filepath.Join(filepath.Dir(r.Tarball), f))
		b := readFile(t, filepath.Join(filepath.Dir(res[1].Tarball), f))
		if !bytes.Equal(a, b) {
			t.Errorf("%s differs between two builds", f)
		}
	}
	if got := strings.TrimSpace(string(readFile(t, filepath.Join(filepath.Dir(r.Tarball), "digest")))); got != r.Digest.String() {
		t.Errorf("digest file %q, want %s", got, r.Digest)
	}
	t.Logf("image %s: %d bytes, layer %d bytes uncompressed", r.Digest, res[1].Size, res[1].LayerSize)

	// Read back both outputs.
	tag, err := name.NewTag(DefaultRef)
	if err != nil {
		t.Fatal(err)
	}
	fromTar, err := tarball.ImageFromPath(r.Tarball, &tag)
	if err != nil {
		t.Fatalf("docker tarball %s has no %s: %v", r.Tarball, tag, err)
	}
	idx, err := layout.ImageIndexFromPath(r.Layout)
	if err != nil {
		t.Fatalf("OCI layout: %v", err)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		t.Fatalf("OCI layout index: %v", err)
	}
	if len(im.Manifests) != 1 {
		t.Fatalf("OCI layout has %d manifests, want 1", len(im.Manifests))
	}
	m := im.Manifests[0]
	if m.Digest != r.Digest {
		t.Errorf("OCI layout manifest %s, want %s", m.Digest, r.Digest)
	}
	if got := m.Annotations["io.containerd.image.name"]; got != DefaultRef {
		t.Errorf("OCI layout io.containerd.image.name %q, want %q", got, DefaultRef)
	}
	if got := m.Annotations["org.opencontainers.image.ref.name"]; got != "dev" {
		t.Errorf("OCI layout org.opencontainers.image.ref.name %q, want dev", got)
	}
	img, err := idx.Image(r.Digest)
	if err != nil {
		t.Fatalf("OCI layout image: %v", err)
	}

	// A docker-save tarball has no manifest (docker load makes a schema 2
	// one), so compare the config and layer digests with the OCI image's.
	if a, b := configAndLayers(t, fromTar), configAndLayers(t, img); !reflect.DeepEqual(a, b) {
		t.Errorf("docker tarball config and layers %v, OCI layout's %v", a, b)
	}

	// Config.
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	c := cf.Config
	if !reflect.DeepEqual(c.Entrypoint, []string{"/usr/bin/qosplane"}) {
		t.Errorf("entrypoint %q", c.Entrypoint)
	}
	if c.User != "65532:65532" {
		t.Errorf("user %q, want 65532:65532", c.User)
	}
	if cf.OS != "linux" || cf.Architecture == "" {
		t.Errorf("platform %s/%s", cf.OS, cf.Architecture)
	}
	if !cf.Created.Time.Equal(r.Source.Epoch) {
		t.Errorf("created %v, want SOURCE_DATE_EPOCH %v", cf.Created.Time, r.Source.Epoch)
	}
	labels := map[string]string{
		"org.opencontainers.image.source":  SourceURL,
		"org.opencontainers.image.version": r.Source.Version,
	}
	if r.Source.Revision != "" {
		labels["org.opencontainers.image.revision"] = r.Source.Revision
	} else {
		t.Logf("not a git work tree: no revision label")
	}
	for k, v := range labels {
		if got, ok := c.Labels[k]; !ok || got != v {
			t.Errorf("label %s = %q, want %q", k, got, v)
		}
	}
	if r.Source.Version == "" || r.Source.Version == "dev" && r.Source.Revision != "" {
		t.Errorf("version %q for revision %q", r.Source.Version, r.Source.Revision)
	}

	// Layer: entries, then unpack.
	layers, err := img.Layers()
	if err != nil || len(layers) != 1 {
		t.Fatalf("layers: %d, %v; want 1", len(layers), err)
	}
	rootfs := filepath.Join(t.TempDir(), "rootfs")
	unpack(t, layers[0], rootfs, r.Source.Epoch)

	if got, want := readFile(t, filepath.Join(rootfs, "etc/ssl/certs/ca-certificates.crt")), readFile(t, DefaultCABundle); !bytes.Equal(got, want) {
		t.Errorf("CA bundle differs from %s", DefaultCABundle)
	}
	if !strings.Contains(string(readFile(t, filepath.Join(rootfs, "etc/passwd"))), "nonroot:x:65532:65532:") {
		t.Errorf("/etc/passwd has no nonroot 65532")
	}
	if !strings.Contains(string(readFile(t, filepath.Join(rootfs, "etc/group"))), "nonroot:x:65532:") {
		t.Errorf("/etc/group has no nonroot 65532")
	}

	// Run qosplane version from the unpacked filesystem.
	wantOut := "qosplane " + r.Source.Version + "\n"
	chroot, _ := exec.LookPath("chroot")
	if os.Geteuid() == 0 && chroot != "" {
		for _, user := range []string{"0:0", "65532:65532"} {
			out, err := exec.CommandContext(ctx, chroot, "--userspec="+user, rootfs, BinaryPath, "version").CombinedOutput()
			if err != nil {
				t.Fatalf("chroot --userspec=%s %s %s version: %v\n%s", user, rootfs, BinaryPath, err, out)
			}
			if string(out) != wantOut {
				t.Errorf("chroot as %s: qosplane version printed %q, want %q", user, out, wantOut)
			}
			t.Logf("chroot --userspec=%s rootfs %s version: %s", user, BinaryPath, strings.TrimSpace(string(out)))
		}
	} else {
		t.Logf("not root or no chroot(8): running the unpacked binary directly")
		out, err := exec.CommandContext(ctx, filepath.Join(rootfs, BinaryPath), "version").CombinedOutput()
		if err != nil {
			t.Fatalf("%s version: %v\n%s", BinaryPath, err, out)
		}
		if string(out) != wantOut {
			t.Errorf("qosplane version printed %q, want %q", out, wantOut)
		}
	}
}

// unpack extracts layer into dir, checking every entry against
// wantEntries: type, mode, owner, mtime (the epoch) and no access or change
// time. As root it also sets the owners on disk.
func unpack(t *testing.T, layer v1.Layer, dir string, epoch time.Time) {
	t.Helper()
	rc, err := layer.Uncompressed()
	if err != nil {
		t.Fatalf("layer: %v", err)
	}
	defer rc.Close()
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	// The chroot's / must be searchable by 65532; t.TempDir is 0700.
	if err := os.Chmod(filepath.Dir(dir), 0o755); err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("layer tar: %v", err)
		}
		w, ok := wantEntries[h.Name]
		if !ok {
			t.Errorf("unexpected layer entry %q", h.Name)
			continue
		}
		seen[h.Name] = true
		fi := h.FileInfo()
		mode := fi.Mode() & (fs.ModePerm | fs.ModeSticky)
		if w.dir != (h.Typeflag == tar.TypeDir) || !w.dir && h.Typeflag != tar.TypeReg {
			t.Errorf("%s: type %q", h.Name, h.Typeflag)
		}
		if mode != w.mode {
			t.Errorf("%s: mode %v, want %v", h.Name, mode, w.mode)
		}
		if h.Uid != w.uid || h.Gid != w.gid {
			t.Errorf("%s: owner %d:%d, want %d:%d", h.Name, h.Uid, h.Gid, w.uid, w.gid)
		}
		if !h.ModTime.Equal(epoch) || !h.AccessTime.IsZero() || !h.ChangeTime.IsZero() {
			t.Errorf("%s: mtime %v atime %v ctime %v, want mtime %v only", h.Name, h.ModTime, h.AccessTime, h.ChangeTime, epoch)
		}
		p := filepath.Join(dir, filepath.FromSlash(h.Name))
		if !strings.HasPrefix(p, dir+string(filepath.Separator)) {
			t.Fatalf("layer entry %q escapes the root", h.Name)
		}
		if w.dir {
			err = os.Mkdir(p, 0o700)
		} else {
			var f *os.File
			if f, err = os.OpenFile(p, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600); err == nil {
				_, err = io.Copy(f, tr)
				if cerr := f.Close(); err == nil {
					err = cerr
				}
			}
		}
		if err == nil {
			err = os.Chmod(p, mode)
		}
		if err == nil && os.Geteuid() == 0 {
			err = os.Lchown(p, h.Uid, h.Gid)
		}
		if err != nil {
			t.Fatalf("unpack %s: %v", h.Name, err)
		}
		if st, err := os.Stat(p); err != nil {
			t.Fatal(err)
		} else if got := st.Mode() & (fs.ModePerm | fs.ModeSticky); got != mode {
			t.Errorf("unpacked %s: mode %v, want %v", h.Name, got, mode)
		} else if sys, ok := st.Sys().(*syscall.Stat_t); ok && os.Geteuid() == 0 && (int(sys.Uid) != w.uid || int(sys.Gid) != w.gid) {
			t.Errorf("unpacked %s: owner %d:%d, want %d:%d", h.Name, sys.Uid, sys.Gid, w.uid, w.gid)
		}
	}
	for n := range wantEntries {
		if !seen[n] {
			t.Errorf("layer has no %s", n)
		}
	}
}

// prebuilt returns the Result of a build that wrote into dir.
func prebuilt(t *testing.T, repo, dir string) *Result {
	t.Helper()
	info := map[string]string{}
	for _, l := range strings.Split(string(readFile(t, filepath.Join(dir, "build.info"))), "\n") {
		if k, v, ok := strings.Cut(l, "="); ok {
			info[k] = v
		}
	}
	src := Source{Version: info["version"], Revision: info["revision"], Tree: info["tree"]}
	epoch, err := strconv.ParseInt(info["source_date_epoch"], 10, 64)
	if err != nil {
		t.Fatalf("%s/build.info: source_date_epoch: %v", dir, err)
	}
	src.Epoch = time.Unix(epoch, 0).UTC()
	d, err := v1.NewHash(strings.TrimSpace(string(readFile(t, filepath.Join(dir, "digest")))))
	if err != nil {
		t.Fatalf("%s/digest: %v", dir, err)
	}
	return &Result{Digest: d, Source: src, Layout: filepath.Join(dir, "oci"), Tarball: filepath.Join(dir, "qosplane.tar")}
}

// configAndLayers returns the digests of img's config and layers.
func configAndLayers(t *testing.T, img v1.Image) []v1.Hash {
	t.Helper()
	c, err := img.ConfigName()
	if err != nil {
		t.Fatalf("config digest: %v", err)
	}
	hs := []v1.Hash{c}
	layers, err := img.Layers()
	if err != nil {
		t.Fatalf("layers: %v", err)
	}
	for _, l := range layers {
		d, err := l.Digest()
		if err != nil {
			t.Fatalf("layer digest: %v", err)
		}
		hs = append(hs, d)
	}
	return hs
}

// readFile returns the content of path or fails the test.
func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
