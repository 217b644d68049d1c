# qosplane: `make demo` runs the main job on the embedded veth lab; `make test`
# runs every test (unit, fuzz smoke, veth e2e, kernel lab, gNMI e2e). Both
# install what they need (apt, Go tools) on a fresh machine; run them as root.

GO          ?= go
GOBIN       := $(shell $(GO) env GOPATH)/bin
STATICCHECK := $(GOBIN)/staticcheck
FUZZTIME    ?= 500000x
BIN         := bin/qosplane

# Fuzz targets run for FUZZTIME each by `make fuzz` (package:target). The
# default is a count of inputs (10-60 s each here), not a duration: with a
# duration, Go 1.26's fuzz coordinator can report its own deadline as a
# failure when a worker is busy at the end (go.dev/issue/75804, fixed in Go
# 1.27); a count has no deadline. FUZZTIME=10m still fuzzes for a while.
FUZZ_TARGETS := ./model:FuzzParse ./model:FuzzParseRate ./offload:FuzzCompile ./fallback:FuzzParseMark ./drivers/nic:FuzzParseDump ./drivers/nic/wire/tc:FuzzParse ./fallback:FuzzTupleSpace

# Debian packages the demo needs, and those the tests need on top.
DEMO_PACKAGES := iproute2 ethtool
APT_PACKAGES  := $(DEMO_PACKAGES) iperf3 qemu-system-x86 busybox-static cpio kmod gcc make chromium libxml2-utils

.PHONY: all build test unit lint fuzz bench e2e e2e-veth e2e-kernel e2e-gnmi e2e-kube bench-pacer demo deps deps-demo generate-oc generate-crd clean image bench-fleet

all: build

build:
	$(GO) build -o $(BIN) ./cmd/qosplane

# test is what CI runs (.ci/run): lint, unit tests, fuzz smoke and every e2e lab.
test: deps lint unit fuzz e2e

# unit runs every package's tests except the veth lab's timing scenarios
# (fallback/datapath, e2e/vethlab, e2e/veth, e2e/verify), which e2e-veth runs one
# package at a time: beside other packages' tests on two cores their 1 s
# windows measure the machine, not the pacer.
unit:
	$(GO) test -count=1 $$($(GO) list ./... | grep -v -e '/fallback/datapath$$' -e '/e2e/vethlab$$' -e '/e2e/veth$$' -e '/e2e/verify$$')

lint: $(STATICCHECK)
	@bad=$$(gofmt -l $$(find . -name '*.go' -not -path './.cache/*')); \
	  if [ -n "$$bad" ]; then echo "gofmt needed:"; echo "$$bad"; exit 1; fi
	$(GO) vet ./...
	$(STATICCHECK) ./...
	bash drivers/gnmi/oc/generate.sh -check
	bash model/kube/codegen/generate.sh -check

$(STATICCHECK):
	$(GO) install honnef.co/go/tools/cmd/staticcheck@v0.7.0

fuzz:
	@set -e; for t in $(FUZZ_TARGETS); do \
	  pkg=$${t%%:*}; fn=$${t##*:}; \
	  echo "fuzz $$pkg $$fn for $(FUZZTIME)"; \
	  $(GO) test -run='^$$' -fuzz="^$$fn\$$" -fuzztime=$(FUZZTIME) -fuzzminimizetime=5s $$pkg; \
	done

bench:
	$(GO) test -run='^$$' -bench=. -benchmem ./model/... ./offload/...
	$(GO) test -run='^$$' -bench='NewFlow|Decision' -benchmem ./fallback/
	@if [ "$$(id -u)" = 0 ]; then $(GO) test -run='^$$' -bench=Connect -benchtime=100000x ./drivers/cgroup/; \
	  else echo "bench: drivers/cgroup BenchmarkConnect needs root (cgroups, BPF)"; fi

e2e: e2e-veth e2e-kernel e2e-gnmi e2e-kube demo image

e2e-veth:
	@if [ -x e2e/veth/run.sh ] || [ -f e2e/veth/run.sh ]; then bash e2e/veth/run.sh; \
	  else echo "e2e-veth: the veth lab is not in this tree yet"; fi

e2e-kernel:
	@if [ -f e2e/kernellab/run.sh ]; then bash e2e/kernellab/run.sh ./e2e/kernellab/labcheck ./drivers/nic ./drivers/nic/devlink ./e2e/kernel ./cmd/qosplane ./cmd/qosplane/internal/agent; \
	  else echo "e2e-kernel: the kernel lab is not in this tree yet"; fi

e2e-gnmi:
	@if [ -d e2e/gnmi ]; then $(GO) test -count=1 ./e2e/gnmi/... ./drivers/gnmi/...; \
	  else echo "e2e-gnmi: the gNMI e2e is not in this tree yet"; fi

# e2e-kube builds kube-apiserver and etcd from the Go module proxy (cached in
# /var/cache/qosplane-kube, outside the clone; cold 9-15 min) and runs the
# Kubernetes lab's tests against them.
e2e-kube:
	bash e2e/kube/run.sh

# image builds the container image ghcr.io/qosplane/qosplane:dev without a
# Docker engine (e2e/image/tool, go-containerregistry, its own module): an
# OCI layout in bin/image/oci, a `docker load` tarball bin/image/qosplane.tar
# and bin/image/digest; then its test builds it again (same digest), unpacks
# it and runs `chroot <rootfs> /usr/bin/qosplane version`. See e2e/image/README.md.
image:
	cd e2e/image/tool && $(GO) run . -repo $(CURDIR) -out $(CURDIR)/bin/image
	cd e2e/image/tool && QOSPLANE_IMAGE_OUT=$(CURDIR)/bin/image $(GO) test -count=1 .
	@echo "image: ghcr.io/qosplane/qosplane:dev $$(cat bin/image/digest)"

# bench-fleet measures the fleet mode against a real kube-apiserver (built as
# for e2e-kube) and prints a table (e2e/kube/bench.sh): 500 simulated node
# agents, time from a QoSPolicy edit to every QoSNodeState reporting the new
# generation (p50/p99/max) and the apiserver writes in a 5-minute steady state
# (FLEET_QUIET); the controller's failover after a leader SIGKILL; and one
# policy edit applied to 100 lemming switches through the controller.
# FLEET_AGENTS changes the count.
FLEET_AGENTS ?= 500
FLEET_QUIET  ?= 5m
bench-fleet:
	FLEET_AGENTS=$(FLEET_AGENTS) FLEET_QUIET=$(FLEET_QUIET) bash e2e/kube/bench.sh

bench-pacer:
	@if [ -f e2e/veth/bench.sh ]; then bash e2e/veth/bench.sh; \
	  else echo "bench-pacer: the pacer bench is not in this tree yet"; fi

# generate-oc regenerates the ygot structs byte for byte (make lint checks
# that the committed ones are current).
generate-oc:
	bash drivers/gnmi/oc/generate.sh

# generate-crd regenerates model/kube/v1alpha1's deepcopy methods and the
# CRDs in cmd/qosplane/deploy/crds with controller-gen (pinned in
# model/kube/codegen/go.mod); make lint checks that the committed ones are
# current.
generate-crd:
	bash model/kube/codegen/generate.sh

# demo runs the main job on the embedded default: the veth lab (three network
# namespaces) with `qosplane agent examples/lab.yaml` and its software pacer
# between them, traffic of three classes through it, and per class the
# configured and achieved rate and the DSCP/PCP seen at the receiver. Root.
demo: deps-demo build
	$(GO) run ./e2e/demo -qosplane $(BIN) -policy examples/lab.yaml

# deps installs the Debian packages the labs need when any is missing.
deps: PKGS = $(APT_PACKAGES)
deps-demo: PKGS = $(DEMO_PACKAGES)
deps deps-demo:
	@missing=""; for p in $(PKGS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" != 0 ]; then echo "deps: missing Debian packages:$$missing (run as root to install them)"; exit 1; fi; \
	  echo "deps: installing$$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	fi
	$(GO) mod download

clean:
	rm -rf bin
