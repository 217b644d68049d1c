package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Fixed facts of the image.
const (
	// DefaultRef is the reference the image is tagged with in the tarball
	// and the OCI layout.
	DefaultRef = "ghcr.io/qosplane/qosplane:dev"
	// SourceURL is the org.opencontainers.image.source label.
	SourceURL = "https://github.com/qosplane/qosplane"
	// BinaryPath is where qosplane lives in the image; it is the entrypoint.
	BinaryPath = "/usr/bin/qosplane"
	// NonRootID is the uid and gid of the "nonroot" user the image runs as
	// by default (the distroless convention).
	NonRootID = 65532
	// DefaultCABundle is the host file copied to /etc/ssl/certs.
	DefaultCABundle = "/etc/ssl/certs/ca-certificates.crt"
)

// Source describes the commit an image is built from.
type Source struct {
	// Version is stamped into the binary (-X main.version) and the
	// org.opencontainers.image.version label: `git describe --tags --always
	// --dirty`, or "dev" outside a git work tree.
	Version string
	// Revision is the full commit hash ("" outside a git work tree).
	Revision string
	// Epoch is SOURCE_DATE_EPOCH: the time of every file and of the config,
	// from the environment or else the last commit's committer time.
	Epoch time.Time
	// Tree fingerprints the work tree: a hash of HEAD, `git diff HEAD` and
	// the untracked files ("" outside git). Two builds with one Tree build
	// from the same source; it tells a changed tree from a build that is not
	// reproducible.
	Tree string
}

// SourceOf reads the Source of the repository at repo. SOURCE_DATE_EPOCH and
// QOSPLANE_VERSION in the environment override the git-derived values.
func SourceOf(repo string) (Source, error) {
	var s Source
	git := func(args ...string) string {
		out, err := exec.Command("git", append([]string{"--no-optional-locks", "-C", repo}, args...)...).Output()
		if err != nil {
			return ""
		}
		return strings.TrimSpace(string(out))
	}
	s.Version = os.Getenv("QOSPLANE_VERSION")
	if s.Version == "" {
		s.Version = git("describe", "--tags", "--always", "--dirty")
	}
	if s.Version == "" {
		s.Version = "dev"
	}
	s.Revision = git("rev-parse", "HEAD")
	epoch := os.Getenv("SOURCE_DATE_EPOCH")
	if epoch == "" {
		epoch = git("log", "-1", "--format=%ct")
	}
	if epoch == "" {
		epoch = "0"
	}
	sec, err := strconv.ParseInt(epoch, 10, 64)
	if err != nil {
		return s, fmt.Errorf("SOURCE_DATE_EPOCH %q: %w", epoch, err)
	}
	s.Epoch = time.Unix(sec, 0).UTC()
	if s.Revision != "" {
		if s.Tree, err = treeHash(repo, s.Revision); err != nil {
			return s, err
		}
	}
	return s, nil
}

// treeHash hashes the revision, the diff of the work tree against it and
// the untracked, not ignored files with their contents.
func treeHash(repo, rev string) (string, error) {
	h := sha256.New()
	fmt.Fprintf(h, "%s\n", rev)
	diff := exec.Command("git", "--no-optional-locks", "-C", repo, "diff", "--binary", "HEAD")
	diff.Stdout = h
	if err := diff.Run(); err != nil {
		return "", fmt.Errorf("git diff HEAD in %s: %w", repo, err)
	}
	out, err := exec.Command("git", "--no-optional-locks", "-C", repo, "ls-files", "-z", "--others", "--exclude-standard").Output()
	if err != nil {
		return "", fmt.Errorf("git ls-files --others in %s: %w", repo, err)
	}
	for _, f := range strings.Split(strings.TrimRight(string(out), "\x00"), "\x00") {
		if f == "" {
			continue
		}
		b, err := os.ReadFile(filepath.Join(repo, f))
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return "", fmt.Errorf("untracked file: %w", err)
		}
		fmt.Fprintf(h, "%s %d\n", f, len(b))
		h.Write(b)
	}
	return hex.EncodeToString(h.Sum(nil))[:16], nil
}

// BuildBinary builds ./cmd/qosplane of the module at repo into out as a
// static, reproducible binary for linux/goarch: CGO_ENABLED=0, -trimpath,
// -buildvcs=false and -ldflags "-s -w -X main.version=<version>".
func BuildBinary(ctx context.Context, repo, out, version, goarch string) error {
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-buildvcs=false",
		"-ldflags", "-s -w -X main.version="+version, "-o", out, "./cmd/qosplane")
	cmd.Dir = repo
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+goarch, "GOWORK=off")
	cmd.Stdout = os.Stderr
	cmd.Stderr = os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("go build ./cmd/qosplane in %s: %w", repo, err)
	}
	return nil
}

// Entry is one file or directory of the image's layer.
type Entry struct {
	Path string    // absolute path in the image
	Mode int64     // permission bits (and 01000 for sticky)
	UID  int       // owner
	GID  int       // group
	Dir  bool      // a directory; Data is then nil
	Data []byte    // file content
	Name [2]string // user and group name recorded in the tar header
}

// Files of the image's /etc, distroless style: root, nobody and nonroot.
const (
	passwd = "root:x:0:0:root:/root:/sbin/nologin\n" +
		"nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\n" +
		"nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n"
	group = "root:x:0:\n" +
		"nobody:x:65534:\n" +
		"nonroot:x:65532:\n"
	nsswitch = "passwd: files\n" +
		"group: files\n" +
		"shadow: files\n" +
		"hosts: files dns\n" +
		"networks: files\n" +
		"protocols: files\n" +
		"services: files\n"
)

// Entries lists the layer's contents, sorted by path, for the binary and CA
// bundle given.
func Entries(binary, caBundle []byte) []Entry {
	root := [2]string{"root", "root"}
	nonroot := [2]string{"nonroot", "nonroot"}
	dir := func(p string, mode int64) Entry {
		return Entry{Path: p, Mode: mode, Dir: true, Name: root}
	}
	file := func(p string, mode int64, data []byte) Entry {
		return Entry{Path: p, Mode: mode, Data: data, Name: root}
	}
	es := []Entry{
		dir("/etc", 0o755),
		file("/etc/group", 0o644, []byte(group)),
		file("/etc/nsswitch.conf", 0o644, []byte(nsswitch)),
		file("/etc/passwd", 0o644, []byte(passwd)),
		dir("/etc/ssl", 0o755),
		dir("/etc/ssl/certs", 0o755),
		file("/etc/ssl/certs/ca-certificates.crt", 0o644, caBundle),
		dir("/home", 0o755),
		{Path: "/home/nonroot", Mode: 0o700, UID: NonRootID, GID: NonRootID, Dir: true, Name: nonroot},
		dir("/root", 0o700),
		dir("/tmp", 0o1777),
		dir("/usr", 0o755),
		dir("/usr/bin", 0o755),
		file(BinaryPath, 0o755, binary),
	}
	sort.Slice(es, func(i, j int) bool { return es[i].Path < es[j].Path })
	return es
}

// LayerTar writes the entries as an uncompressed tar whose every header has
// the epoch as its modification time and no access or change time, so equal
// inputs give equal bytes.
func LayerTar(es []Entry, epoch time.Time) ([]byte, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range es {
		h := &tar.Header{
			Name:    strings.TrimPrefix(e.Path, "/"),
			Mode:    e.Mode,
			Uid:     e.UID,
			Gid:     e.GID,
			Uname:   e.Name[0],
			Gname:   e.Name[1],
			ModTime: epoch,
			Format:  tar.FormatPAX,
		}
		if e.Dir {
			h.Typeflag = tar.TypeDir
			h.Name += "/"
		} else {
			h.Typeflag = tar.TypeReg
			h.Size = int64(len(e.Data))
		}
		if err := tw.WriteHeader(h); err != nil {
			return nil, fmt.Errorf("tar header %s: %w", e.Path, err)
		}
		if !e.Dir {
			if _, err := tw.Write(e.Data); err != nil {
				return nil, fmt.Errorf("tar %s: %w", e.Path, err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		return nil, fmt.Errorf("tar: %w", err)
	}
	return buf.Bytes(), nil
}

// Labels returns the image's OCI labels for src (no revision outside git).
func Labels(src Source) map[string]string {
	l := map[string]string{
		"org.opencontainers.image.created":     src.Epoch.Format(time.RFC3339),
		"org.opencontainers.image.description": "qosplane: QoS policy agent and controller",
		"org.opencontainers.image.source":      SourceURL,
		"org.opencontainers.image.title":       "qosplane",
		"org.opencontainers.image.version":     src.Version,
	}
	if src.Revision != "" {
		l["org.opencontainers.image.revision"] = src.Revision
	}
	return l
}

// Image assembles the OCI image: one gzip layer from layerTar and a config
// with the entrypoint, user 65532:65532, the labels and every time set to
// src.Epoch.
func Image(layerTar []byte, src Source, goarch string) (v1.Image, error) {
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(layerTar)), nil
	}, tarball.WithMediaType(types.OCILayer), tarball.WithCompressionLevel(gzip.BestCompression))
	if err != nil {
		return nil, fmt.Errorf("layer: %w", err)
	}
	created := v1.Time{Time: src.Epoch}
	base := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	base = mutate.ConfigMediaType(base, types.OCIConfigJSON)
	img, err := mutate.Append(base, mutate.Addendum{
		Layer: layer,
		History: v1.History{
			Created:   created,
			CreatedBy: "e2e/image/tool (go-containerregistry)",
			Comment:   "qosplane " + src.Version + ", CA bundle, /etc/passwd, /etc/group, /etc/nsswitch.conf",
		},
		MediaType: types.OCILayer,
	})
	if err != nil {
		return nil, fmt.Errorf("append layer: %w", err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, fmt.Errorf("config file: %w", err)
	}
	cf = cf.DeepCopy()
	cf.Architecture = goarch
	cf.OS = "linux"
	cf.Created = created
	cf.Author = ""
	cf.Config = v1.Config{
		Entrypoint: []string{BinaryPath},
		User:       fmt.Sprintf("%d:%d", NonRootID, NonRootID),
		WorkingDir: "/",
		Env: []string{
			"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
			"SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt",
		},
		Labels: Labels(src),
	}
	img, err = mutate.ConfigFile(img, cf)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	return img, nil
}

// Options say what Build builds and where it writes.
type Options struct {
	Repo     string // root of the qosplane module
	Out      string // output directory (bin/image)
	Ref      string // image reference (DefaultRef)
	CABundle string // host CA bundle (DefaultCABundle)
	GOARCH   string // target architecture (runtime.GOARCH)
}

// Result is what Build wrote.
type Result struct {
	Ref       name.Tag
	Digest    v1.Hash // manifest digest
	Source    Source
	Layout    string // OCI layout directory
	Tarball   string // docker-save tarball
	Size      int64  // bytes of manifest, config and compressed layer
	LayerSize int64  // bytes of the uncompressed layer
	Image     v1.Image
}

// Build builds qosplane and its image, and writes into o.Out the OCI layout
// oci/, the docker-save tarball qosplane.tar, the manifest digest in digest
// and the build's inputs in build.info. Outputs are written under temporary names and renamed, so a
// killed build never leaves half an image at the final paths.
func Build(ctx context.Context, o Options) (*Result, error) {
	if o.Ref == "" {
		o.Ref = DefaultRef
	}
	if o.CABundle == "" {
		o.CABundle = DefaultCABundle
	}
	if o.GOARCH == "" {
		o.GOARCH = runtime.GOARCH
	}
	var err error
	if o.Repo, err = filepath.Abs(o.Repo); err != nil {
		return nil, fmt.Errorf("repository path: %w", err)
	}
	if o.Out, err = filepath.Abs(o.Out); err != nil {
		return nil, fmt.Errorf("output path: %w", err)
	}
	ref, err := name.NewTag(o.Ref, name.StrictValidation)
	if err != nil {
		return nil, fmt.Errorf("image reference %q: %w", o.Ref, err)
	}
	src, err := SourceOf(o.Repo)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(o.Out, 0o755); err != nil {
		return nil, fmt.Errorf("output directory: %w", err)
	}
	tmp, err := os.MkdirTemp(o.Out, ".build-")
	if err != nil {
		return nil, fmt.Errorf("temporary directory: %w", err)
	}
	defer os.RemoveAll(tmp)

	bin := filepath.Join(tmp, "qosplane")
	if err := BuildBinary(ctx, o.Repo, bin, src.Version, o.GOARCH); err != nil {
		return nil, err
	}
	binary, err := os.ReadFile(bin)
	if err != nil {
		return nil, fmt.Errorf("read binary: %w", err)
	}
	ca, err := os.ReadFile(o.CABundle)
	if err != nil {
		return nil, fmt.Errorf("CA bundle (install ca-certificates): %w", err)
	}
	lt, err := LayerTar(Entries(binary, ca), src.Epoch)
	if err != nil {
		return nil, err
	}
	img, err := Image(lt, src, o.GOARCH)
	if err != nil {
		return nil, err
	}
	digest, err := img.Digest()
	if err != nil {
		return nil, fmt.Errorf("image digest: %w", err)
	}
	size, err := imageSize(img)
	if err != nil {
		return nil, err
	}

	// OCI layout, tagged with the reference (containerd's name annotation)
	// and its tag (the OCI ref.name annotation).
	tmpLayout := filepath.Join(tmp, "oci")
	p, err := layout.Write(tmpLayout, empty.Index)
	if err != nil {
		return nil, fmt.Errorf("OCI layout: %w", err)
	}
	if err := p.AppendImage(img, layout.WithAnnotations(map[string]string{
		"io.containerd.image.name":          ref.Name(),
		"org.opencontainers.image.ref.name": ref.TagStr(),
	}), layout.WithPlatform(v1.Platform{OS: "linux", Architecture: o.GOARCH})); err != nil {
		return nil, fmt.Errorf("OCI layout: append image: %w", err)
	}
	tmpTar := filepath.Join(tmp, "qosplane.tar")
	if err := tarball.WriteToFile(tmpTar, ref, img); err != nil {
		return nil, fmt.Errorf("docker tarball: %w", err)
	}
	tmpDigest := filepath.Join(tmp, "digest")
	if err := os.WriteFile(tmpDigest, []byte(digest.String()+"\n"), 0o644); err != nil {
		return nil, fmt.Errorf("digest file: %w", err)
	}
	tmpInfo := filepath.Join(tmp, "build.info")
	info := fmt.Sprintf("ref=%s\ndigest=%s\nversion=%s\nrevision=%s\nsource_date_epoch=%d\ntree=%s\ngoarch=%s\n",
		ref, digest, src.Version, src.Revision, src.Epoch.Unix(), src.Tree, o.GOARCH)
	if err := os.WriteFile(tmpInfo, []byte(info), 0o644); err != nil {
		return nil, fmt.Errorf("build.info: %w", err)
	}

	res := &Result{
		Ref: ref, Digest: digest, Source: src, Size: size, LayerSize: int64(len(lt)),
		Layout: filepath.Join(o.Out, "oci"), Tarball: filepath.Join(o.Out, "qosplane.tar"),
		Image: img,
	}
	if err := os.RemoveAll(res.Layout); err != nil {
		return nil, fmt.Errorf("remove old layout: %w", err)
	}
	for _, mv := range [][2]string{
		{tmpLayout, res.Layout},
		{tmpTar, res.Tarball},
		{tmpDigest, filepath.Join(o.Out, "digest")},
		{tmpInfo, filepath.Join(o.Out, "build.info")},
	} {
		if err := os.Rename(mv[0], mv[1]); err != nil {
			return nil, fmt.Errorf("install %s: %w", filepath.Base(mv[1]), err)
		}
	}
	return res, nil
}

// imageSize is the registry size of img: manifest, config and compressed
// layers.
func imageSize(img v1.Image) (int64, error) {
	m, err := img.RawManifest()
	if err != nil {
		return 0, fmt.Errorf("manifest: %w", err)
	}
	c, err := img.RawConfigFile()
	if err != nil {
		return 0, fmt.Errorf("config: %w", err)
	}
	n := int64(len(m) + len(c))
	layers, err := img.Layers()
	if err != nil {
		return 0, fmt.Errorf("layers: %w", err)
	}
	for _, l := range layers {
		s, err := l.Size()
		if err != nil {
			return 0, fmt.Errorf("layer size: %w", err)
		}
		n += s
	}
	if n == 0 {
		return 0, errors.New("empty image")
	}
	return n, nil
}
