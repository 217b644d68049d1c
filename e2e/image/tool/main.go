// Command image builds the qosplane container image without a Docker engine.
//
//	cd e2e/image/tool && go run . -repo ../../.. -out ../../../bin/image
//
// It builds ./cmd/qosplane as a static binary (CGO_ENABLED=0, -trimpath,
// -ldflags "-s -w -X main.version=<git describe>") and puts it, with
// /etc/passwd, /etc/group (root, nobody, nonroot 65532), /etc/nsswitch.conf
// and the host's CA bundle, into one layer of an OCI image from scratch
// (go-containerregistry). Every file has the mtime SOURCE_DATE_EPOCH (the
// last commit's time unless set) and a fixed owner, so building twice from
// one commit gives one digest. The image runs as 65532:65532 by default.
//
// Outputs in -out: oci/ (an OCI image layout), qosplane.tar (a `docker
// save` tarball: `docker load -i`, `podman load -i`, `kind load
// image-archive`), digest and build.info. The last stdout line is the
// digest. See e2e/image/README.md.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"syscall"
)

func main() {
	repo := flag.String("repo", "../../..", "root of the qosplane module")
	out := flag.String("out", "", "output directory (default <repo>/bin/image)")
	ref := flag.String("ref", DefaultRef, "image reference to tag the image with")
	ca := flag.String("ca", DefaultCABundle, "CA bundle copied to /etc/ssl/certs/ca-certificates.crt")
	goarch := flag.String("goarch", runtime.GOARCH, "target architecture")
	flag.Parse()
	if *out == "" {
		*out = filepath.Join(*repo, "bin", "image")
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	res, err := Build(ctx, Options{Repo: *repo, Out: *out, Ref: *ref, CABundle: *ca, GOARCH: *goarch})
	if err != nil {
		fmt.Fprintf(os.Stderr, "image: %v\n", err)
		os.Exit(1)
	}
	fmt.Printf("image: %s version %s revision %s epoch %d\n",
		res.Ref, res.Source.Version, res.Source.Revision, res.Source.Epoch.Unix())
	fmt.Printf("image: %d bytes (manifest, config, gzip layer), layer %d bytes uncompressed\n",
		res.Size, res.LayerSize)
	fmt.Printf("image: OCI layout %s, docker tarball %s\n", res.Layout, res.Tarball)
	fmt.Println(res.Digest)
}
