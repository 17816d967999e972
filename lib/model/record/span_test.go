package record

import "testing"

// TestSpanOverlaps: two spans are one event when they share a moment or
// lie at most margin apart, whichever comes first.
func TestSpanOverlaps(t *testing.T) {
	strand := Span{FromS: 2, ToS: 4}
	for _, tc := range []struct {
		o      Span
		margin float64
		want   bool
	}{
		{Span{3, 3.5}, 0, true},    // within
		{Span{1, 5}, 0, true},      // around
		{Span{4, 6}, 0, true},      // touching at the end
		{Span{0.5, 1.0}, 1, true},  // a margin before
		{Span{0.5, 0.9}, 1, false}, // more than a margin before
		{Span{5.0, 6}, 1, true},    // a margin after
		{Span{5.25, 6}, 1, false},  // more than a margin after
		{Span{4.5, 4.5}, 0.25, false},
	} {
		if got := strand.Overlaps(tc.o, tc.margin); got != tc.want {
			t.Errorf("%v and %v, margin %v: %v, want %v", strand, tc.o, tc.margin, got, tc.want)
		}
		if got := tc.o.Overlaps(strand, tc.margin); got != tc.want {
			t.Errorf("%v and %v, margin %v (reversed): %v, want %v", tc.o, strand, tc.margin, got, tc.want)
		}
	}
}
