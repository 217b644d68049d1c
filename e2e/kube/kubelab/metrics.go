package kubelab

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
)

// writeVerbs are the apiserver_request_total verbs that change objects.
var writeVerbs = map[string]bool{"POST": true, "PUT": true, "PATCH": true, "APPLY": true, "DELETE": true, "DELETECOLLECTION": true}

// WriteRequests returns how many write requests (create, update, patch,
// apply, delete; every subresource and response code) kube-apiserver has
// served on resource of group since it started, from its own counter
// apiserver_request_total on GET /metrics. It is the server's count, not
// a client's: a write any client made is in it. The counter restarts at
// 0 with the apiserver (RestartAPIServer).
func (l *Lab) WriteRequests(ctx context.Context, group, resource string) (int64, error) {
	hc, err := l.adminClient()
	if err != nil {
		return 0, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, l.Host()+"/metrics", nil)
	if err != nil {
		return 0, err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return 0, fmt.Errorf("kubelab: GET /metrics: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("kubelab: GET /metrics: %s", resp.Status)
	}
	var n int64
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		labels, value, ok := metricLine(line, "apiserver_request_total")
		if !ok || labels["group"] != group || labels["resource"] != resource || !writeVerbs[labels["verb"]] {
			continue
		}
		v, err := strconv.ParseFloat(value, 64)
		if err != nil {
			return 0, fmt.Errorf("kubelab: /metrics line %q: %w", line, err)
		}
		n += int64(v)
	}
	if err := sc.Err(); err != nil {
		return 0, fmt.Errorf("kubelab: reading /metrics: %w", err)
	}
	return n, nil
}

// metricLine splits one line of the Prometheus text format,
// `name{k="v",...} value`, when it is a sample of metric name. Label
// values in these counters hold no escaped quotes or commas.
func metricLine(line, name string) (map[string]string, string, bool) {
	rest, ok := strings.CutPrefix(line, name+"{")
	if !ok {
		return nil, "", false
	}
	body, value, ok := strings.Cut(rest, "} ")
	if !ok {
		return nil, "", false
	}
	labels := map[string]string{}
	for kv := range strings.SplitSeq(body, ",") {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			continue
		}
		labels[k] = strings.Trim(v, `"`)
	}
	return labels, strings.TrimSpace(value), true
}
