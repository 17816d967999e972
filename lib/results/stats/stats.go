// Package stats is the statistics ktstr-stats needs: a summary of a sample
// (mean, median, p95, standard deviation, coefficient of variation, 2σ
// outliers) and the Mann–Whitney U test that tells a real change between two
// sets of runs from noise.
package stats

import (
	"math"
	"sort"
)

// Summary describes one sample.
type Summary struct {
	N                    int
	Mean, Median, P95    float64
	Min, Max, Stddev, CV float64
	// Outliers are the indexes of values more than 2σ from the mean.
	Outliers []int
}

// Summarize describes xs. The standard deviation is the sample one (n−1);
// CV is Stddev/|Mean|, 0 when the mean is 0.
func Summarize(xs []float64) Summary {
	s := Summary{N: len(xs)}
	if len(xs) == 0 {
		return s
	}
	s.Mean = Mean(xs)
	s.Median = Quantile(xs, 0.5)
	s.P95 = Quantile(xs, 0.95)
	s.Min, s.Max = xs[0], xs[0]
	for _, x := range xs {
		s.Min, s.Max = math.Min(s.Min, x), math.Max(s.Max, x)
	}
	s.Stddev = Stddev(xs)
	if s.Mean != 0 {
		s.CV = s.Stddev / math.Abs(s.Mean)
	}
	if s.Stddev > 0 {
		for i, x := range xs {
			if math.Abs(x-s.Mean) > 2*s.Stddev {
				s.Outliers = append(s.Outliers, i)
			}
		}
	}
	return s
}

// Mean is the arithmetic mean (0 for no values).
func Mean(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	var sum float64
	for _, x := range xs {
		sum += x
	}
	return sum / float64(len(xs))
}

// Stddev is the sample standard deviation (0 for fewer than two values).
func Stddev(xs []float64) float64 {
	if len(xs) < 2 {
		return 0
	}
	m := Mean(xs)
	var ss float64
	for _, x := range xs {
		ss += (x - m) * (x - m)
	}
	return math.Sqrt(ss / float64(len(xs)-1))
}

// Quantile is the q-quantile with linear interpolation between closest
// ranks (q in [0, 1]).
func Quantile(xs []float64, q float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	pos := q * float64(len(s)-1)
	lo := int(math.Floor(pos))
	hi := int(math.Ceil(pos))
	return s[lo] + (s[hi]-s[lo])*(pos-float64(lo))
}

// MannWhitneyGreater is the one-sided p-value of the Mann–Whitney U test
// that values in b tend to be greater than values in a: the probability,
// when a and b come from one distribution, of a rank sum of b at least as
// large as the one observed. Ties get mid-ranks. For up to exactLimit
// ways of splitting the pooled sample the p-value is exact (every split is
// enumerated, which is also right with ties); beyond, it is the normal
// approximation with tie correction and continuity correction.
//
// With 3 runs per side the smallest possible p is 1/20 = 0.05: a complete
// separation, which is why ktstr-stats asks for at least 3.
func MannWhitneyGreater(a, b []float64) float64 {
	n, m := len(a), len(b)
	if n == 0 || m == 0 {
		return 1
	}
	pooled := append(append([]float64(nil), a...), b...)
	ranks := midRanks(pooled)
	observed := 0.0
	for i := n; i < n+m; i++ {
		observed += ranks[i]
	}
	if binom(n+m, m) <= exactLimit {
		return exactUpper(ranks, m, observed)
	}
	// Normal approximation of the rank sum of b.
	N := float64(n + m)
	mu := float64(m) * (N + 1) / 2
	tie := tieTerm(pooled)
	v := float64(n) * float64(m) / 12 * ((N + 1) - tie/(N*(N-1)))
	if v <= 0 {
		return 1
	}
	z := (observed - mu - 0.5) / math.Sqrt(v)
	return 0.5 * math.Erfc(z/math.Sqrt2)
}

// exactLimit bounds the splits enumerated for an exact p-value.
const exactLimit = 200000

func binom(n, k int) float64 {
	r := 1.0
	for i := 1; i <= k; i++ {
		r = r * float64(n-k+i) / float64(i)
	}
	return r
}

func midRanks(xs []float64) []float64 {
	idx := make([]int, len(xs))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(i, j int) bool { return xs[idx[i]] < xs[idx[j]] })
	ranks := make([]float64, len(xs))
	for i := 0; i < len(idx); {
		j := i
		for j+1 < len(idx) && xs[idx[j+1]] == xs[idx[i]] {
			j++
		}
		r := float64(i+j)/2 + 1
		for k := i; k <= j; k++ {
			ranks[idx[k]] = r
		}
		i = j + 1
	}
	return ranks
}

func tieTerm(xs []float64) float64 {
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	var t float64
	for i := 0; i < len(s); {
		j := i
		for j+1 < len(s) && s[j+1] == s[i] {
			j++
		}
		c := float64(j - i + 1)
		t += c*c*c - c
		i = j + 1
	}
	return t
}

// exactUpper is the share of the m-element subsets of ranks whose sum is
// at least observed.
func exactUpper(ranks []float64, m int, observed float64) float64 {
	total, hits := 0, 0
	const eps = 1e-9
	var rec func(start, left int, sum float64)
	rec = func(start, left int, sum float64) {
		if left == 0 {
			total++
			if sum >= observed-eps {
				hits++
			}
			return
		}
		for i := start; i <= len(ranks)-left; i++ {
			rec(i+1, left-1, sum+ranks[i])
		}
	}
	rec(0, m, 0)
	return float64(hits) / float64(total)
}
