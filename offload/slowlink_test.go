package offload

import (
	"strings"
	"testing"
	"time"

	"github.com/qosplane/qosplane/model"
)

// slowPolicy is a pacer target at capacity with a guaranteed voice class
// (latency, empty: the default) and best-effort bulk.
func slowPolicy(capacity, latency, threshold string) string {
	lat, thr := "", ""
	if latency != "" {
		lat = ", latency: " + latency
	}
	if threshold != "" {
		thr = "\n    fallback: {slow-link: " + threshold + "}"
	}
	return `
name: slow
classes:
  - {name: voice, service: guaranteed, rate: 64kbit` + lat + `}
  - {name: bulk, service: best-effort}
flows:
  - {name: rtp, class: voice, match: {protocol: udp, dst-port: 5004}}
targets:
  - name: uplink
    kind: nic
    interface: eth0
    capacity: ` + capacity + thr + "\n"
}

// TestSlowLinkSizes checks the formula Frame = PortRate·Latency/2/8 bytes
// (at least MinSlowFrame), the MSS derived from it, and when the pacer
// serves whole frames instead.
func TestSlowLinkSizes(t *testing.T) {
	for _, tc := range []struct {
		capacity, latency, threshold string
		frame                        model.Size // 0: no slow-link plan
		note                         string
	}{
		{"1Mbit", "", "", 625, ""},                // 1e6·10ms/16
		{"2Mbit", "", "", 1250, ""},               // 2e6·10ms/16
		{"1Mbit", "20ms", "", 1250, ""},           // the class's own bound
		{"1Mbit", "1ms", "", MinSlowFrame, ""},    // the floor
		{"5Mbit", "", "", 0, "a full-size frame"}, // 3125 B fit in 5ms
		{"20Mbit", "", "", 0, ""},                 // above the default threshold
		{"20Mbit", "500us", "50Mbit", 625, ""},    // a threshold the policy sets
	} {
		name := tc.capacity + "/" + tc.latency + "/" + tc.threshold
		tp := compileWith(t, parse(t, slowPolicy(tc.capacity, tc.latency, tc.threshold)), profile(t, "none")).Targets[0]
		sl := tp.Pacer.SlowLink
		if tc.frame == 0 {
			if sl != nil {
				t.Errorf("%s: slow link %+v, want none", name, sl)
			}
			if tc.note != "" && !hasNote(tp, tc.note) {
				t.Errorf("%s: no note %q in %q", name, tc.note, tp.Notes)
			}
			continue
		}
		if sl == nil {
			t.Errorf("%s: no slow-link plan", name)
			continue
		}
		if sl.Frame != tc.frame || sl.MSS4 != tc.frame-54 || sl.MSS6 != tc.frame-74 || sl.Class != "voice" {
			t.Errorf("%s: %+v, want frame %v, MSS %v/%v, class voice", name, sl, tc.frame, tc.frame-54, tc.frame-74)
		}
		if ser := serialisation(sl.Frame, tp.Pacer.PortRate); sl.Frame > MinSlowFrame && ser > time.Duration(sl.Latency)/2 {
			t.Errorf("%s: a %v frame takes %v, more than half of %v", name, sl.Frame, ser, sl.Latency)
		}
	}
}

// TestSlowLinkNeedsADelayBound: without a class that bounds delay the
// pacer serves whole frames, and says so.
func TestSlowLinkNeedsADelayBound(t *testing.T) {
	src := strings.Replace(slowPolicy("1Mbit", "", ""), "service: guaranteed, rate: 64kbit", "service: qualitative", 1)
	tp := compileWith(t, parse(t, src), profile(t, "none")).Targets[0]
	if tp.Pacer.SlowLink != nil || !hasNote(tp, "no class bounds delay") {
		t.Errorf("slow link %+v, notes %q", tp.Pacer.SlowLink, tp.Notes)
	}
}

// TestSlowLinkText: plan shows the sizes.
func TestSlowLinkText(t *testing.T) {
	var b strings.Builder
	if err := compileWith(t, parse(t, slowPolicy("1Mbit", "", "")), profile(t, "none")).WriteText(&b); err != nil {
		t.Fatal(err)
	}
	want := "slow link: port rate < 10Mbit and class voice bounds delay to 10ms: best-effort frames <= 625B (5ms at the port rate), TCP MSS clamped to 571 (IPv4) / 551 (IPv6)"
	if !strings.Contains(b.String(), want) {
		t.Errorf("plan text lacks %q:\n%s", want, b.String())
	}
}
