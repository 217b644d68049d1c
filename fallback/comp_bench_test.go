package fallback

import (
	"testing"

	"github.com/qosplane/qosplane/model"
)

func BenchmarkParts(b *testing.B) {
	p, batch, _ := benchPacer(b, model.Borrow)
	for _, k := range batch {
		p.Enqueue(k, 1)
	}
	frames := make([][]byte, len(batch))
	for i := range batch {
		frames[i] = batch[i].Frame()
	}
	b.Run("parse", func(b *testing.B) {
		var pr parsed
		cpu := startCPU(b)
		for i := range b.N {
			parse(frames[i&31], &pr)
		}
		cpu.report(b)
	})
	b.Run("parse+key+lookup", func(b *testing.B) {
		var pr parsed
		cpu := startCPU(b)
		for i := range b.N {
			parse(frames[i&31], &pr)
			k := makeKey(&pr, 0)
			p.cache.lookup(&k, 1)
		}
		cpu.report(b)
	})
	b.Run("meter", func(b *testing.B) {
		m := &p.classes[1].m
		cpu := startCPU(b)
		for i := range b.N {
			m.fill(int64(i))
			if m.conforms(100) {
				m.take(100)
			}
		}
		cpu.report(b)
	})
}

func BenchmarkParts2(b *testing.B) {
	p, batch, _ := benchPacer(b, model.Borrow)
	for _, k := range batch {
		p.Enqueue(k, 1)
	}
	frames := make([][]byte, len(batch))
	for i := range batch {
		frames[i] = batch[i].Frame()
	}
	var prs [32]parsed
	for i := range frames {
		parse(frames[i], &prs[i])
	}
	b.Run("key", func(b *testing.B) {
		var s uint64
		cpu := startCPU(b)
		for i := range b.N {
			k := makeKey(&prs[i&31], 0)
			s += k[4]
		}
		cpu.report(b)
		_ = s
	})
	b.Run("key+hash", func(b *testing.B) {
		var s uint64
		cpu := startCPU(b)
		for i := range b.N {
			k := makeKey(&prs[i&31], 0)
			s += k.hash(7)
		}
		cpu.report(b)
		_ = s
	})
	b.Run("key+lookup", func(b *testing.B) {
		cpu := startCPU(b)
		for i := range b.N {
			k := makeKey(&prs[i&31], 0)
			p.cache.lookup(&k, 1)
		}
		cpu.report(b)
	})
}
