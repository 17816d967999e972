package plan

import (
	"fmt"
	"hash/fnv"
	"strconv"
	"strings"
)

// Shard is one of N disjoint parts of a plan (K in 1..N). A job belongs to
// the shard its id hashes to, so the split depends on nothing but the ids:
// every host and every CI runner that shards the same plan gets the same
// parts, their union is the plan, and no job is in two of them.
type Shard struct{ K, N int }

// ParseShard parses "K/N" (1 ≤ K ≤ N).
func ParseShard(s string) (Shard, error) {
	ks, ns, ok := strings.Cut(s, "/")
	k, err1 := strconv.Atoi(strings.TrimSpace(ks))
	n, err2 := strconv.Atoi(strings.TrimSpace(ns))
	if !ok || err1 != nil || err2 != nil || n < 1 || k < 1 || k > n {
		return Shard{}, inputf("--shard %q: want K/N with 1 ≤ K ≤ N, e.g. 2/4", s)
	}
	return Shard{K: k, N: n}, nil
}

// Has reports whether the job (or skip record) named id is in the shard.
// The zero Shard has every job.
func (s Shard) Has(id string) bool {
	if s.N <= 1 {
		return true
	}
	return int(shardHash(id)%uint64(s.N)) == s.K-1
}

func (s Shard) String() string { return fmt.Sprintf("%d/%d", s.K, s.N) }

// shardHash is FNV-1a: specified, so the split is the same from any build
// on any host.
func shardHash(id string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(id))
	return h.Sum64()
}
