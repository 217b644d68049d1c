package kubelab

import "testing"

func TestMetricLine(t *testing.T) {
	labels, v, ok := metricLine(`apiserver_request_total{code="200",component="apiserver",dry_run="",group="qosplane.io",resource="qosnodestates",scope="resource",subresource="status",verb="PATCH",version="v1alpha1"} 42`, "apiserver_request_total")
	if !ok || v != "42" || labels["verb"] != "PATCH" || labels["resource"] != "qosnodestates" || labels["group"] != "qosplane.io" || labels["dry_run"] != "" {
		t.Fatalf("got %v %q %v", labels, v, ok)
	}
	for _, line := range []string{
		`# TYPE apiserver_request_total counter`,
		`apiserver_request_total_other{verb="PATCH"} 1`,
		`apiserver_request_duration_seconds_bucket{le="0.1"} 3`,
	} {
		if _, _, ok := metricLine(line, "apiserver_request_total"); ok {
			t.Errorf("%q taken as a sample", line)
		}
	}
}
