package fallback

import (
	"math"
	"testing"
	"time"

	"github.com/qosplane/qosplane/model"
	"github.com/qosplane/qosplane/offload"
)

func TestBucketExact(t *testing.T) {
	// 8000 bit/s = 1000 B/s: one byte of credit per millisecond.
	b, err := newBucket(8000, 1500, 0)
	if err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		name     string
		at       int64 // ns
		take     int64 // bytes, taken after the fill when conforming
		conforms bool
		tokens   int64 // bytes after the step
		wait1500 int64 // ns until 1500 bytes conform
	}{
		{"full at start", 0, 1500, true, 0, 1500 * 1e6},
		{"empty right after", 0, 1, false, 0, 1500 * 1e6},
		{"one byte after 1ms", 1e6, 0, true, 1, 1499 * 1e6},
		{"100 bytes after 100ms", 100e6, 100, true, 0, 1500 * 1e6},
		{"clock steps back: nothing", 50e6, 0, true, 0, 1500 * 1e6},
		{"full again, capped", 100e6 + 10*time.Hour.Nanoseconds(), 0, true, 1500, 0},
	}
	for _, s := range steps {
		b.fill(s.at)
		if got := b.conforms(max(s.take, 1)); got != s.conforms && s.take > 0 {
			t.Fatalf("%s: conforms(%d) = %v, want %v", s.name, s.take, got, s.conforms)
		}
		if s.conforms && s.take > 0 {
			b.take(s.take)
		}
		if b.tokens != s.tokens*unitsPerByte {
			t.Fatalf("%s: tokens = %d units, want %d bytes", s.name, b.tokens, s.tokens)
		}
		if w := b.wait(1500); w != s.wait1500 {
			t.Fatalf("%s: wait(1500) = %d ns, want %d", s.name, w, s.wait1500)
		}
	}
}

// TestBucketNoOverflow runs a 400 Gbit/s bucket (and the maximum depth and
// rate) across days of uptime and big clock jumps: credit stays within
// [-one frame, depth] and refills to exactly depth.
func TestBucketNoOverflow(t *testing.T) {
	cases := []struct {
		rate, depth uint64
	}{
		{400e9, 64 << 20},
		{400e9, maxDepth},
		{maxRate, maxDepth},
		{1, 64},
	}
	day := int64(24 * time.Hour)
	for _, c := range cases {
		start := int64(30 * day)
		b, err := newBucket(c.rate, c.depth, start)
		if err != nil {
			t.Fatal(err)
		}
		now := start
		for i := range 100000 {
			switch i % 4 {
			case 0:
				now += 1 // 1 ns
			case 1:
				now += 12345
			case 2:
				now += day * 3
			case 3:
				now += math.MaxInt64 / 1_000_000
			}
			b.fill(now)
			if b.tokens > b.depth || b.tokens < -65536*unitsPerByte {
				t.Fatalf("rate %d depth %d: tokens %d outside [.., %d] at %d", c.rate, c.depth, b.tokens, b.depth, now)
			}
			if b.conforms(65535) {
				b.take(65535)
			}
			if now > math.MaxInt64/2 {
				now = start
				b.last = now
			}
		}
		b.fill(now + 10*day)
		if b.tokens != b.depth {
			t.Fatalf("rate %d: not full after 10 days: %d != %d", c.rate, b.tokens, b.depth)
		}
	}
	// A GSO frame of 65535 one-byte segments with MinPoliced 65535 would
	// cost 4 GiB: the cost is capped and the debt bounded.
	m := meter{minPoliced: 65535}
	cost := m.cost(65535+65534*54, 65535)
	if cost != maxCost {
		t.Fatalf("cost %d, want the cap %d", cost, maxCost)
	}
	b, _ := newBucket(maxRate, 1500, 0)
	b.take(cost)
	b.take(cost)
	if b.tokens != -maxDebt {
		t.Fatalf("debt %d beyond %d", b.tokens, -maxDebt)
	}
	b.fill(1 << 62)
	if b.tokens != b.depth {
		t.Fatalf("refill after debt: %d != %d", b.tokens, b.depth)
	}
	if _, err := newBucket(maxRate+1, 1500, 0); err == nil {
		t.Fatal("rate above maxRate accepted")
	}
	if _, err := newBucket(1e9, maxDepth+1, 0); err == nil {
		t.Fatal("depth above maxDepth accepted")
	}
}

// TestShapeBurstThenRate: a shaped class sends one bucket at once, then one
// packet every size/rate exactly.
func TestShapeBurstThenRate(t *testing.T) {
	const size = 1518
	cp := classPlan("g", 5, 8_000_000, model.Shape) // 1e6 B/s
	cp.Bucket = 10 * size
	p := newPacer(t, plan(0, []offload.ClassPlan{cp}), Config{MaxDelay: time.Second})
	t0 := int64(1e12)
	for range 40 {
		p.Enqueue(pkt(t, p, udp4(1, 2, size)), t0)
	}
	n, next := drain(p, t0, nil)
	if n != 10 {
		t.Fatalf("burst: %d packets left at t0, want 10", n)
	}
	for k := 1; k <= 30; k++ {
		want := t0 + int64(k)*size*1000 // 1518 bytes at 1e6 B/s = 1.518 ms
		if next != want {
			t.Fatalf("packet %d: next = t0+%d ns, want t0+%d", 10+k, next-t0, want-t0)
		}
		if n, _ := drain(p, next-1, nil); n != 0 {
			t.Fatalf("packet %d left 1ns early", 10+k)
		}
		n, next = drain(p, want, nil)
		if n != 1 {
			t.Fatalf("packet %d: %d left at its time, want 1", 10+k, n)
		}
	}
	if next != 0 {
		t.Fatalf("next = %d with nothing queued, want 0", next)
	}
	c := p.Counters().Classes["g"]
	if c.Packets != 40 || c.Bytes != 40*size || c.Drops != 0 {
		t.Fatalf("counters %+v", c)
	}
}

// TestLateReleaseKeepsRate: a caller that reads arrivals and dequeues in
// batches, waking up to 2 ms after the release time the pacer asked for
// (as the datapath does when it defers arrivals), still gets the class's
// rate: credit kept in the bucket meanwhile leaves in the next batch.
func TestLateReleaseKeepsRate(t *testing.T) {
	const rate = 500_000_000 // bit/s
	cp := classPlan("c", 0, rate, model.Shape)
	cp.Bucket = rate / 8 / 100 // 10 ms
	const (
		start    = int64(time.Second)
		span     = int64(4 * time.Second)
		arrEvery = int64(16000) // 1500 B at 750 Mbit/s
		late     = int64(150 * time.Microsecond)
	)
	for _, sleep := range []int64{int64(250 * time.Microsecond), int64(time.Millisecond), int64(2 * time.Millisecond)} {
		p := newPacer(t, plan(10_000_000_000, []offload.ClassPlan{cp}, portRule("c", "c", 1)), Config{MaxDelay: 20 * time.Millisecond})
		now, arrive := start, start
		var sentBytes int64
		out := make([]*Packet, 64)
		dequeue := func() int64 {
			for {
				n, next := p.Dequeue(now, out)
				for _, k := range out[:n] {
					sentBytes += int64(k.WireLen())
					p.Put(k)
				}
				if n < len(out) {
					return next
				}
			}
		}
		for now < start+span {
			for i := 0; arrive <= now; i++ {
				p.Enqueue(pkt(t, p, udp4(9, 1, 1500)), now)
				arrive += arrEvery
				if i%8 == 7 {
					dequeue()
				}
			}
			next := dequeue()
			now += max(next-now, sleep) + late
		}
		// Over the span: the rate, plus the bucket the class started with.
		want := float64(rate)/8*float64(span)/1e9 + float64(cp.Bucket)
		if got := float64(sentBytes); math.Abs(got/want-1) > 0.002 {
			t.Errorf("woken every %v (+%v late): sent %.0f B in %v, want %.0f B ±0.2%%",
				time.Duration(sleep), time.Duration(late), got, time.Duration(span), want)
		}
	}
}
