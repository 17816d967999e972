package plan

import (
	"encoding/json"
	"hash/fnv"
	"math/bits"

	"github.com/ktstr-go/ktstr/lib/model/record"
)

// Feature bits of a job, after the original ktstr's budget selector: what a
// job exercises, one-hot per dimension. Names that are open-ended — the
// scheduler, its flags, the scenario, the kernel — are hashed into their
// bits, so a scheduler's own flags add coverage like the built-in ones.
const (
	featSched    = 0  // 0–3: scheduler name (EEVDF included) hashed into 4 bits
	featFlags    = 4  // 4–21: each active flag name hashed into 18 bits
	flagBits     = 18 //
	featCPUs     = 22 // 22–26: CPUs ≤8, ≤16, ≤64, ≤128, >128
	featLLCs     = 27 // 27–31: LLCs 1, 2, 3–4, 5–8, >8
	featSMT      = 32
	featExec     = 33 // runs a command in the guest
	featVerifier = 34 // loads BPF only (no scenario, no command)
	featProbes   = 35
	featDuration = 36 // 36–38: ≤2, 3–10, >10 s
	featWorkers  = 39 // more than 2 workers per cgroup
	featScenario = 40 // runs a scenario
	featScenName = 41 // 41–44: scenario name hashed into 4 bits
	featNUMA     = 45 // 45–48: nodes 1, 2, 3–4, >4
	featKernel   = 49 // 49–52: kernel label hashed into 4 bits
	// FeatureBits is how many bits Features uses.
	FeatureBits = 53
)

func hashBits(s string, n uint64) uint64 {
	h := fnv.New64a()
	h.Write([]byte(s))
	return h.Sum64() % n
}

func bucket(v int, bounds ...int) uint64 {
	for i, b := range bounds {
		if v <= b {
			return uint64(i)
		}
	}
	return uint64(len(bounds))
}

// Features is the set of feature bits a job covers.
func Features(j *record.Job) uint64 {
	var f uint64
	set := func(bit uint64) { f |= 1 << bit }
	name := "eevdf"
	if j.Scheduler != nil {
		name = j.Scheduler.Name
		for _, fl := range j.Scheduler.Flags {
			set(featFlags + hashBits(fl, flagBits))
		}
	}
	set(featSched + hashBits(name, 4))
	if t := j.Topology; t != nil {
		set(featCPUs + bucket(t.CPUs, 8, 16, 64, 128))
		set(featLLCs + bucket(t.LLCs, 1, 2, 4, 8))
		if t.ThreadsPerCore > 1 {
			set(featSMT)
		}
		set(featNUMA + bucket(t.NUMANodes, 1, 2, 4))
	}
	if j.Exec != "" {
		set(featExec)
	}
	if j.Probes != nil {
		set(featProbes)
	}
	if len(j.Scenario) > 0 {
		set(featScenario)
		set(featScenName + hashBits(scenarioName(j), 4))
		set(featDuration + bucket(int(j.DurationS+0.5), 2, 10))
		if j.Workers > 2 {
			set(featWorkers)
		}
	} else if j.Exec == "" {
		set(featVerifier)
	}
	if j.Kernel != nil {
		set(featKernel + hashBits(KernelLabel(j.Kernel), 4))
	}
	return f
}

func scenarioName(j *record.Job) string {
	var s struct {
		Name string `json:"name"`
	}
	json.Unmarshal(j.Scenario, &s)
	return s.Name
}

// EstimateS is what a job is expected to take without past timings, in
// seconds: the original's VM cost (10 s + 1 s per 10 CPUs above 16 +
// duration + 2 s), with the boot made longer the more the vCPUs outnumber
// hostCPUs (under TCG they share the host's CPUs).
func EstimateS(j *record.Job, hostCPUs int) float64 {
	cpus := 1
	if j.Topology != nil {
		cpus = j.Topology.CPUs
	}
	boot := 10 + float64(max(0, cpus-16))/10
	if hostCPUs > 0 && cpus > hostCPUs {
		boot *= min(4, float64(cpus)/float64(hostCPUs))
	}
	return boot + j.DurationS + 2
}

// Selection is the outcome of Select.
type Selection struct {
	// Chosen and Left are indices into the jobs given, in input order.
	Chosen, Left []int
	// CostS is the chosen jobs' cost; Covered the feature bits they cover
	// of Coverable, those of all jobs.
	CostS              float64
	Covered, Coverable int
}

// Select picks jobs within budgetS seconds, greedily by new coverage per
// second: the job that adds the most feature bits not yet covered per
// second of its cost, among those that still fit (ties by id, then input
// order). When no job that fits adds a bit, every bit counts as uncovered
// again and another round begins, so a budget larger than full coverage
// buys a second configuration of each feature rather than nothing. It
// stops when no job fits. cost gives each job's seconds.
func Select(jobs []*record.Job, budgetS float64, cost func(*record.Job) float64) Selection {
	feats := make([]uint64, len(jobs))
	costs := make([]float64, len(jobs))
	var all uint64
	for i, j := range jobs {
		feats[i] = Features(j)
		costs[i] = max(cost(j), 0.001)
		all |= feats[i]
	}
	picked := make([]bool, len(jobs))
	var sel Selection
	var covered, round uint64
	left := budgetS
	for {
		best := -1
		var bestScore float64
		for i := range jobs {
			if picked[i] || costs[i] > left {
				continue
			}
			gain := bits.OnesCount64(feats[i] &^ round)
			if gain == 0 {
				continue
			}
			score := float64(gain) / costs[i]
			if best < 0 || score > bestScore || (score == bestScore && jobs[i].ID < jobs[best].ID) {
				best, bestScore = i, score
			}
		}
		if best < 0 {
			if round == 0 || !anyFits(picked, costs, left) {
				break
			}
			round = 0 // everything reachable covered: a new round
			continue
		}
		picked[best] = true
		round |= feats[best]
		covered |= feats[best]
		left -= costs[best]
		sel.CostS += costs[best]
	}
	for i := range jobs {
		if picked[i] {
			sel.Chosen = append(sel.Chosen, i)
		} else {
			sel.Left = append(sel.Left, i)
		}
	}
	sel.Covered, sel.Coverable = bits.OnesCount64(covered), bits.OnesCount64(all)
	return sel
}

func anyFits(picked []bool, costs []float64, left float64) bool {
	for i, c := range costs {
		if !picked[i] && c <= left {
			return true
		}
	}
	return false
}
