package agent

import (
	"fmt"
	"net"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// serveMetrics serves Prometheus metrics over HTTP at /metrics. It uses its
// own registry: the agent keeps no global state.
func (a *Agent) serveMetrics(addr string) (func(), error) {
	reg := prometheus.NewRegistry()
	if err := reg.Register(&collector{a: a}); err != nil {
		return nil, err
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("metrics: %w", err)
	}
	a.mu.Lock()
	a.metricsAddr = l.Addr().String()
	a.mu.Unlock()
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	return serve(l, mux, a), nil
}

var (
	classLabels = []string{"target", "class", "placement"}
	descBytes   = prometheus.NewDesc("qosplane_class_bytes_total", "Bytes the class sent.", classLabels, nil)
	descPackets = prometheus.NewDesc("qosplane_class_packets_total", "Packets the class sent.", classLabels, nil)
	descDrops   = prometheus.NewDesc("qosplane_class_drops_total", "Packets of the class dropped.", classLabels, nil)
	descQDrops  = prometheus.NewDesc("qosplane_class_queue_drops_total", "Conforming packets of the class dropped because its queue was full (part of the drops; 0 where the device does not tell them apart).", classLabels, nil)
	descConf    = prometheus.NewDesc("qosplane_class_conforming_bytes_total", "Conforming bytes of the class.", classLabels, nil)
	descNonConf = prometheus.NewDesc("qosplane_class_nonconforming_bytes_total", "Non-conforming bytes of the class.", classLabels, nil)
	descCfgRate = prometheus.NewDesc("qosplane_class_configured_rate_bits", "The class's committed rate in bit/s.", classLabels, nil)
	descRate    = prometheus.NewDesc("qosplane_class_achieved_rate_bits", "The class's measured rate in bit/s over the last counter interval.", classLabels, nil)
	descUp      = prometheus.NewDesc("qosplane_target_reconciled", "1 when the target's last reconcile succeeded.", []string{"target", "kind"}, nil)
	descFails   = prometheus.NewDesc("qosplane_target_consecutive_failures", "Reconcile failures in a row.", []string{"target", "kind"}, nil)
	descValid   = prometheus.NewDesc("qosplane_policy_valid", "1 when the last policy read was valid.", []string{"policy"}, nil)
)

// collector turns a status snapshot into metrics at scrape time.
type collector struct{ a *Agent }

func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descBytes, descPackets, descDrops, descQDrops, descConf, descNonConf, descCfgRate, descRate, descUp, descFails, descValid} {
		ch <- d
	}
}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	s := c.a.Status()
	valid := 1.0
	if s.PolicyError != "" {
		valid = 0
	}
	ch <- prometheus.MustNewConstMetric(descValid, prometheus.GaugeValue, valid, s.Policy)
	for _, t := range s.Targets {
		up := 0.0
		if t.LastError == "" && !t.LastSuccess.IsZero() {
			up = 1
		}
		ch <- prometheus.MustNewConstMetric(descUp, prometheus.GaugeValue, up, t.Name, string(t.Kind))
		ch <- prometheus.MustNewConstMetric(descFails, prometheus.GaugeValue, float64(t.ConsecutiveFailures), t.Name, string(t.Kind))
		for _, cl := range t.Classes {
			l := []string{t.Name, cl.Name, string(cl.Placement)}
			cc := cl.Counters
			ch <- prometheus.MustNewConstMetric(descBytes, prometheus.CounterValue, float64(cc.Bytes), l...)
			ch <- prometheus.MustNewConstMetric(descPackets, prometheus.CounterValue, float64(cc.Packets), l...)
			ch <- prometheus.MustNewConstMetric(descDrops, prometheus.CounterValue, float64(cc.Drops), l...)
			ch <- prometheus.MustNewConstMetric(descQDrops, prometheus.CounterValue, float64(cc.QueueDrops), l...)
			ch <- prometheus.MustNewConstMetric(descConf, prometheus.CounterValue, float64(cc.ConformingBytes), l...)
			ch <- prometheus.MustNewConstMetric(descNonConf, prometheus.CounterValue, float64(cc.NonConformingBytes), l...)
			ch <- prometheus.MustNewConstMetric(descCfgRate, prometheus.GaugeValue, float64(cl.Configured), l...)
			ch <- prometheus.MustNewConstMetric(descRate, prometheus.GaugeValue, float64(cl.Achieved), l...)
		}
	}
}

// MetricsAddr returns the address the metrics endpoint listens on, once Run
// has opened it ("" before, or when metrics are off).
func (a *Agent) MetricsAddr() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.metricsAddr
}
