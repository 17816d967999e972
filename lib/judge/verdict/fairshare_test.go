package verdict

import (
	"fmt"
	"testing"

	"github.com/ktstr-go/ktstr/lib/model/record"
)

// cohortOf is one cgroup of CPU-bound workers allowed on CPUs 0-3, worker
// i running on vCPU cpus[i], doing units[i] work units in 10 s.
func cohortOf(units []uint64, cpus []string) *record.Run {
	var ws []record.WorkerReport
	for i, u := range units {
		w := spinner(i+1, u, 10, 5, cpus[i])
		w.AllowedCPUs = "0-3"
		ws = append(ws, w)
	}
	r := scenarioRun([]record.CgroupResult{{Name: "a", Unrestricted: true, Workers: ws}}, nil)
	r.Scenario.WallS = 10
	return r
}

func fourCPUs(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprint(i % 4)
	}
	return out
}

// A slice fault starves some workers of a cohort without starving them
// outright: the least-served worker did a third of the median and fails,
// whatever the spread of off-CPU shares says.
func TestFairShareCatchesTheLeastServed(t *testing.T) {
	r := cohortOf([]uint64{1000, 1050, 980, 1020, 990, 1010, 1000, 330}, fourCPUs(8))
	c := check(t, Judge(r, nil), "fair_share[a]")
	wantStatus(t, c, record.StatusFail, "pid 8 did 330 work units, 33% of its cohort's median", "< limit 40%")
	if c.Value != 33.0 {
		t.Errorf("value %v, want 33 (%% of the median)", c.Value)
	}
}

// Near the limit, on both sides: 39 % of the median fails, 41 % passes.
func TestFairShareNearTheLimit(t *testing.T) {
	for _, tc := range []struct {
		least uint64
		want  record.Status
	}{{390, record.StatusFail}, {410, record.StatusPass}} {
		r := cohortOf([]uint64{1000, 1000, 1000, tc.least}, fourCPUs(4))
		wantStatus(t, check(t, Judge(r, nil), "fair_share[a]"), tc.want)
	}
}

// EEVDF's failure on a loaded host: one worker left alone on a CPU does
// 1.7 times the median while the rest share; nobody is short of half the
// median, so fair share passes (the lucky worker is the spread's to judge).
func TestFairShareLuckyWorkerIsNotAShortfall(t *testing.T) {
	r := cohortOf([]uint64{3530, 1850, 2100, 1520}, fourCPUs(4))
	wantStatus(t, check(t, Judge(r, nil), "fair_share[a]"), record.StatusPass, "pid 4 did 1520 work units, 72% of its cohort's median")
}

// A worker whose vCPU the host kept waiting 60 % of the time did 30 % of
// the median: per second its vCPU ran it did 75 %, so the host explains the
// shortfall (inconclusive). A quiet worker's shortfall beside it is never
// excused by the noisy one's.
func TestFairShareSubtractsEachWorkersOwnNoise(t *testing.T) {
	r := cohortOf([]uint64{1000, 1000, 1000, 300}, fourCPUs(4))
	r.HostSamples = waits(0, 0, 0, 0.6)
	wantStatus(t, check(t, Judge(r, nil), "fair_share[a]"), record.StatusInconclusive,
		"pid 4 did 300 work units, 30% of its cohort's median", "host wait 60%", "75% ≥ limit 40%: inconclusive")

	r = cohortOf([]uint64{1000, 1000, 300, 300}, fourCPUs(4))
	r.HostSamples = waits(0, 0, 0, 0.6)
	c := check(t, Judge(r, nil), "fair_share[a]")
	wantStatus(t, c, record.StatusFail, "pid 3 did 300 work units", "host wait 0%", "30% < limit 40%")
	if c.Net == nil || *c.Net != 30 {
		t.Errorf("net %v, want 30 (the quiet worker's share)", c.Net)
	}
}

// Workers that may sleep are not expected to do equal work: their cohort
// is not judged.
func TestFairShareJudgesOnlyCPUBoundCohorts(t *testing.T) {
	r := cohortOf([]uint64{1000, 100}, fourCPUs(2))
	for i := range r.Scenario.Cgroups[0].Workers {
		r.Scenario.Cgroups[0].Workers[i].CPUBound = false
	}
	for _, c := range Judge(r, nil).Checks {
		if c.Name == "fair_share[a]" {
			t.Errorf("judged a cohort that may sleep: %s %s", c.Status, c.Detail)
		}
	}
}

// Workers that yield give their CPU away on purpose: a cohort of Mixed
// or YieldHeavy workers is not judged (CI: a healthy EEVDF gave one of 32
// Mixed workers 663 % of its cohort's median); the same shares of
// CpuSpin workers fail.
func TestFairShareLeavesOutYielders(t *testing.T) {
	for _, tc := range []struct {
		work   string
		judged bool
	}{{"Mixed", false}, {"YieldHeavy", false}, {"CpuSpin", true}} {
		r := cohortOf([]uint64{663, 100, 100, 100}, fourCPUs(4))
		for i := range r.Scenario.Cgroups[0].Workers {
			r.Scenario.Cgroups[0].Workers[i].WorkType = tc.work
		}
		var got *record.Check
		for _, c := range Judge(r, nil).Checks {
			if c.Name == "fair_share[a]" {
				got = &c
			}
		}
		if judged := got != nil; judged != tc.judged || judged && got.Status != record.StatusFail {
			t.Errorf("%s: judged %v (%v), want judged %v and failed", tc.work, judged, got, tc.judged)
		}
	}
}

// Workers allowed on different CPUs owe their shares to the placement:
// their cohort is not judged.
func TestFairShareJudgesOnlyWorkersAllowedTheSameCPUs(t *testing.T) {
	r := cohortOf([]uint64{1000, 1000, 1000, 100}, fourCPUs(4))
	r.Scenario.Cgroups[0].Workers[3].AllowedCPUs = "3"
	for _, c := range Judge(r, nil).Checks {
		if c.Name == "fair_share[a]" {
			t.Errorf("judged workers allowed on different CPUs: %s %s", c.Status, c.Detail)
		}
	}
}

// A few workers favoured: with 8 on 2 CPUs, three doing 3.7 times the
// other five's work spread only 34 points (under the spread's 35), and the
// median is the five's; the most-served worker's 371 % of it fails.
func TestFairShareCatchesAFavouredFew(t *testing.T) {
	r := cohortOf([]uint64{460, 460, 460, 124, 124, 124, 124, 124}, fourCPUs(8))
	v := Judge(r, nil)
	wantStatus(t, check(t, v, "fair_share[a]"), record.StatusFail, "most-served worker: pid 1 did 460 work units, 371% of its cohort's median", "> limit 300%")
	// The favoured few each at 290 % of the median pass, at 310 % fail.
	for _, tc := range []struct {
		most uint64
		want record.Status
	}{{290, record.StatusPass}, {310, record.StatusFail}} {
		r := cohortOf([]uint64{tc.most, 100, 100, 100}, fourCPUs(4))
		wantStatus(t, check(t, Judge(r, nil), "fair_share[a]"), tc.want)
	}
}

// Exactly at the floor passes; in a cohort of two the slower worker is
// held against the other (the upper median), not against itself.
func TestFairShareAtTheFloorAndInPairs(t *testing.T) {
	wantStatus(t, check(t, Judge(cohortOf([]uint64{1000, 1000, 1000, 400}, fourCPUs(4)), nil), "fair_share[a]"), record.StatusPass)
	wantStatus(t, check(t, Judge(cohortOf([]uint64{1000, 350}, fourCPUs(2)), nil), "fair_share[a]"), record.StatusFail, "pid 2 did 350 work units, 35% of its cohort's median")
}

// A worker the scheduler kept off the CPU for 8 s after its release runs
// 2 s of its 10 s life: its rate is per second of its life, so the late
// start is not taken for host noise.
func TestFairShareCountsAWorkersWholeLife(t *testing.T) {
	r := cohortOf([]uint64{1000, 1000, 1000, 200}, fourCPUs(4))
	for i := range r.Scenario.Cgroups[0].Workers {
		w := &r.Scenario.Cgroups[0].Workers[i]
		w.StartT, w.StopT = 1, 11
	}
	r.Scenario.Cgroups[0].Workers[3].WallS = 2
	wantStatus(t, check(t, Judge(r, nil), "fair_share[a]"), record.StatusFail, "pid 4 did 200 work units, 20% of its cohort's median", "20% < limit 40%")
}

// Noise may excuse a share, never make one: four workers doing equal work,
// three on vCPUs the host kept waiting 70 % of the time. Per second its
// vCPU ran, the quiet worker did 30 % of the others; by work it did 100 %,
// and it passes.
func TestFairShareNoiseNeverConvicts(t *testing.T) {
	r := cohortOf([]uint64{1000, 1000, 1000, 1000}, fourCPUs(4))
	r.HostSamples = waits(0, 0.7, 0.7, 0.7)
	c := check(t, Judge(r, nil), "fair_share[a]")
	wantStatus(t, c, record.StatusPass, "judged on the work units", "100% ≥ limit 40%")
	if c.Net == nil || *c.Net != 100 {
		t.Errorf("net %v, want 100", c.Net)
	}
}
