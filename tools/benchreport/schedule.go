package main

import "github.com/avatar-pipeline/avatar-pipeline/tools/schedulesim"

// scheduleBuilds is the number of simulated builds per schedule and
// workload; scheduleSeed fixes the draws, so the figures repeat exactly.
const (
	scheduleBuilds = 100000
	scheduleSeed   = 1
)

func runSchedule(r *report) error {
	m, err := schedulesim.DefaultModel()
	if err != nil {
		return err
	}
	r.add("workflow_fixed_transitions", float64(m.FixedTransitions), "transitions")
	r.add("workflow_check_transitions", float64(m.CheckTransitions), "transitions")
	r.add("workflow_progress_transitions", float64(m.ProgressTransitions), "transitions")
	for _, w := range schedulesim.Workloads {
		logf("workload %s: %s", w.Name, w.About)
		for _, s := range schedulesim.Schedules {
			res := schedulesim.Simulate(m, s, w, schedulesim.Options{Builds: scheduleBuilds, Seed: scheduleSeed})
			p := "schedule_" + s.Name + "_" + w.Name + "_"
			r.add(p+"checks", res.Checks, "checks")
			r.add(p+"transitions", res.Transitions, "transitions")
			r.add(p+"max_transitions", float64(res.MaxTransitions), "transitions")
			r.add(p+"dollars", res.Dollars, "USD/build")
			r.add(p+"mean_latency_s", res.MeanLatency.Seconds(), "s")
			r.add(p+"max_latency_s", res.MaxLatency.Seconds(), "s")
			if s.Learned {
				r.add(p+"late_builds", float64(res.Late), "builds")
			}
		}
	}
	return nil
}
