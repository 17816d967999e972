package stats

import (
	"math"
	"math/rand"
	"testing"
)

func TestSummarize(t *testing.T) {
	xs := []float64{1, 2, 3, 4, 100, 2, 3, 1, 2, 3, 2, 2}
	s := Summarize(xs)
	if s.N != 12 || s.Min != 1 || s.Max != 100 || s.Median != 2 || len(s.Outliers) != 1 || s.Outliers[0] != 4 {
		t.Errorf("%+v", s)
	}
	if math.Abs(s.Mean-125.0/12) > 1e-9 || math.Abs(s.CV-s.Stddev/s.Mean) > 1e-12 {
		t.Errorf("mean %v cv %v", s.Mean, s.CV)
	}
	if z := Summarize(nil); z.N != 0 || z.Outliers != nil {
		t.Errorf("%+v", z)
	}
	if q := Quantile([]float64{0, 10}, 0.95); q != 9.5 {
		t.Errorf("p95 %v", q)
	}
}

func TestMannWhitneyExact(t *testing.T) {
	cases := []struct {
		a, b []float64
		p    float64
	}{
		// Complete separation with 3 per side: 1 of C(6,3)=20 splits.
		{[]float64{1, 2, 3}, []float64{4, 5, 6}, 0.05},
		{[]float64{4, 5, 6}, []float64{1, 2, 3}, 1},
		// Identical samples: every split ties or beats the observed sum.
		{[]float64{1, 1, 1}, []float64{1, 1, 1}, 1},
		// 4 vs 4 separated: 1/70.
		{[]float64{1, 2, 3, 4}, []float64{5, 6, 7, 8}, 1.0 / 70},
		// One swap: rank sum of b is 25 of max 26: 2 splits of 70 reach it.
		{[]float64{1, 2, 3, 5}, []float64{4, 6, 7, 8}, 2.0 / 70},
	}
	for _, c := range cases {
		if p := MannWhitneyGreater(c.a, c.b); math.Abs(p-c.p) > 1e-12 {
			t.Errorf("%v vs %v: p=%v, want %v", c.a, c.b, p, c.p)
		}
	}
}

// TestMannWhitneyNull: with both sides drawn from one distribution, a test
// at 5% rejects about 5% of the time (exact and approximate paths).
func TestMannWhitneyNull(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	for _, n := range []int{5, 15} {
		rejects := 0
		const trials = 2000
		for i := 0; i < trials; i++ {
			a, b := make([]float64, n), make([]float64, n)
			for j := range a {
				a[j], b[j] = rng.NormFloat64(), rng.NormFloat64()
			}
			if MannWhitneyGreater(a, b) <= 0.05 {
				rejects++
			}
		}
		if rate := float64(rejects) / trials; rate > 0.075 || rate < 0.025 {
			t.Errorf("n=%d: false positive rate %.3f", n, rate)
		}
		// And it finds a shift of one σ most of the time.
		hits := 0
		for i := 0; i < 200; i++ {
			a, b := make([]float64, n), make([]float64, n)
			for j := range a {
				a[j], b[j] = rng.NormFloat64(), rng.NormFloat64()+1.5
			}
			if MannWhitneyGreater(a, b) <= 0.05 {
				hits++
			}
		}
		if hits < 120 {
			t.Errorf("n=%d: a 1.5σ shift found %d/200 times", n, hits)
		}
	}
}
