package veth

import (
	"context"
	"testing"
	"time"

	"github.com/qosplane/qosplane/e2e/vethlab"
)

// TestBurst: a class of 20 Mbit/s with a 256 KiB bucket on a 1 Gbit/s port
// gets a burst of bucket size at start, then 30 Mbit/s. The burst passes at
// port speed (the bucket's bytes arrive within 10 ms, about 2 ms at 1
// Gbit/s plus the lab's path), then the class settles to its rate (windows
// ±1%). Burst conformance, from receiver timestamps: over every interval T,
// bytes <= bucket + rate·T + 2 MTU (one MTU of the contract plus one of
// receive-timestamp jitter, which kernel TBF shows too). With a 40 Mbit/s peak as well, bytes
// <= peak·T + 2 MTU over every interval (one MTU of the contract plus one of
// receive-timestamp jitter). Kernel TBF (burst, and peakrate) alongside.
func TestBurst(t *testing.T) {
	br := newLab(t, vethlab.Bridge)
	rt := newLab(t, vethlab.Route)
	const (
		rate   = 20e6
		bucket = 256 << 10
		peak   = 40e6
		mtu    = 1518
		d      = 4500 * time.Millisecond
	)
	flows := []vethlab.Flow{{Name: "bursty", DstPort: 5401, Rate: 30e6, Size: 1500, Burst: bucket}}
	rec := map[uint16]uint8{0: vethlab.RecordArrivals}
	for _, withPeak := range []bool{false, true} {
		name := "rate"
		peakLine := ""
		if withPeak {
			name = "peak"
			peakLine = "\n  peak: 40Mbit"
		}
		t.Run(name, func(t *testing.T) {
			pol := policy("1Gbit", `- name: bursty
  service: best-effort
  rate: 20Mbit
  bucket: 256KiB`+peakLine+`
  non-conforming: shape`, `- {name: bursty-udp, class: bursty, match: {protocol: udp, dst-port: 5401}}`)
			for _, impl := range []string{"pacer", "kernel-tbf"} {
				body := func(c *checker) {
					var r *result
					if impl == "pacer" {
						r = pacerRun(t, br, compile(t, pol), flows, d, rec)
					} else {
						var pk uint64
						if withPeak {
							pk = peak
						}
						r = kernelRun(t, rt, func(ctx context.Context) error {
							return rt.KernelTBF(ctx, rate, bucket, pk, mtu, bucket+rate/8/50)
						}, flows, d, rec)
					}
					arr := r.flow(0).Arrivals
					if len(arr) == 0 {
						t.Fatalf("%s: nothing arrived", impl)
					}
					// Time for the first bucket's worth of bytes to arrive.
					var cum int64
					var burstTime time.Duration
					for _, a := range arr {
						cum += int64(a.Len)
						if cum >= bucket {
							burstTime = time.Duration(a.T - arr[0].T)
							break
						}
					}
					over := vethlab.MaxBurst(arr, rate)
					overPeak := vethlab.MaxBurst(arr, peak)
					ws := r.flow(0).WindowRates(1, 4)
					report(t, "impl=%s first_bucket_in=%v settled=%s max_bytes_over_rate=%.0fB (bucket+MTU=%d) max_bytes_over_peak=%.0fB",
						impl, burstTime, mbit(vethlab.Mean(ws)), over, bucket+mtu, overPeak)
					if impl != "pacer" {
						return
					}
					if !withPeak && burstTime > 10*time.Millisecond {
						c.Errorf("the bucket's bytes took %v to arrive; want <= 10ms at a 1 Gbit/s port", burstTime)
					}
					if withPeak {
						want := time.Duration(float64(bucket) * 8 / peak * 1e9)
						if burstTime < want*9/10 {
							c.Errorf("the bucket's bytes arrived in %v; the 40 Mbit/s peak allows no less than %v", burstTime, want)
						}
						if overPeak > 2*mtu {
							c.Errorf("%.0f bytes over peak·T in some interval; want <= 2 MTU", overPeak)
						}
					}
					if over > bucket+2*mtu {
						c.Errorf("%.0f bytes over rate·T in some interval; want <= bucket + 2 MTU = %d", over, bucket+2*mtu)
					}
					if dev := vethlab.MaxDev(ws, rate); dev > 0.01 {
						c.Errorf("windows after the burst %v; want 20 Mbit/s ±1%%", ws)
					}
				}
				if impl == "pacer" {
					retry(t, body)
				} else {
					body(&checker{})
				}
			}
		})
	}
}
