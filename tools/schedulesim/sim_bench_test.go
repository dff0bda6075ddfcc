package schedulesim

import "testing"

// BenchmarkSchedules reports the poll economics of each schedule on each
// workload as custom metrics (per simulated build): status checks, state
// transitions, dollars, and mean and max detection latency; ns/op, the
// simulator's own speed, is left out. tools/benchreport prints the same
// figures (over 100,000 builds) as `name value unit` lines.
func BenchmarkSchedules(b *testing.B) {
	m, err := DefaultModel()
	if err != nil {
		b.Fatal(err)
	}
	for _, w := range Workloads {
		for _, s := range Schedules {
			b.Run(s.Name+"/"+w.Name, func(b *testing.B) {
				var r Result
				for b.Loop() {
					r = Simulate(m, s, w, Options{Builds: 10000, Seed: 1})
				}
				b.ReportMetric(r.Checks, "checks/build")
				b.ReportMetric(r.Transitions, "transitions/build")
				b.ReportMetric(r.Dollars*1e6, "µUSD/build")
				b.ReportMetric(r.MeanLatency.Seconds(), "s-mean-latency")
				b.ReportMetric(r.MaxLatency.Seconds(), "s-max-latency")
				b.ReportMetric(0, "ns/op")
			})
		}
	}
}
