package record

// This file is the schema: one Go type per record kind. Field names are the
// JSON names; a field marked omitempty may be absent. Every type's Kind method
// ties it to its envelope kind.

// Error reports a problem with one input line or one unit of work. It flows
// downstream like any record, so the end of a pipeline sees what went wrong
// and where.
type Error struct {
	// Source is the tool that produced the record (ktstr-topo, ...).
	Source string `json:"source,omitempty"`
	// Line is the 1-based input line the error is about, if any.
	Line int `json:"line,omitempty"`
	// Message says what is wrong, in one line.
	Message string `json:"message"`
	// Input is an excerpt of the offending input.
	Input string `json:"input,omitempty"`
}

func (*Error) Kind() Kind { return KindError }

// Skip says that a unit of work was deliberately not done, and why. A skip is
// never a pass: downstream tools count skips separately.
type Skip struct {
	Source string `json:"source,omitempty"`
	// Subject names what was skipped (a preset, a job id).
	Subject string `json:"subject"`
	// Reason is a short machine-readable class, e.g. "host_capacity".
	Reason string `json:"reason"`
	// Detail is the human explanation.
	Detail string `json:"detail"`
	// Topology is the skipped topology, when the subject is one.
	Topology *Topology `json:"topology,omitempty"`
}

func (*Skip) Kind() Kind { return KindSkip }

// Topology describes a CPU topology: requested (from a spec or preset), read
// from a host's sysfs, or observed inside a guest. The dimensions are the
// N,L,C,T of the spec; the groups are authoritative (a host topology can be
// irregular, in which case the dimensions are the largest seen).
type Topology struct {
	// Name is the compact form NnLlCcTt, e.g. "1n2l4c2t".
	Name string `json:"name"`
	// Preset is the gauntlet preset name, if this topology is one.
	Preset string `json:"preset,omitempty"`
	// Source is "spec", "preset", "host" or "guest".
	Source         string `json:"source,omitempty"`
	NUMANodes      int    `json:"numa_nodes"`
	LLCs           int    `json:"llcs"`
	CoresPerLLC    int    `json:"cores_per_llc"`
	ThreadsPerCore int    `json:"threads_per_core"`
	CPUs           int    `json:"cpus"`
	// Nodes lists the NUMA nodes in id order.
	Nodes []TopologyNode `json:"nodes"`
	// LLCGroups lists the last-level caches in id order.
	LLCGroups []LLCGroup `json:"llc_groups"`
	// SMTGroups lists the hardware-thread sibling sets as cpu lists ("0-1").
	SMTGroups []string `json:"smt_groups"`
	// Distances is the NUMA distance matrix (SLIT), Distances[i][j].
	Distances [][]int `json:"distances"`
}

func (*Topology) Kind() Kind { return KindTopology }

// TopologyNode is one NUMA node.
type TopologyNode struct {
	ID int `json:"id"`
	// CPUs is the node's cpu list, e.g. "0-7".
	CPUs string `json:"cpus"`
	// LLCs are the ids of the LLC groups on this node.
	LLCs     []int `json:"llcs"`
	MemoryMB int   `json:"memory_mb,omitempty"`
}

// LLCGroup is one last-level cache and the CPUs sharing it.
type LLCGroup struct {
	ID   int    `json:"id"`
	Node int    `json:"node"`
	CPUs string `json:"cpus"`
}
