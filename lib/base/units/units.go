// Package units reads and writes the durations and sizes ktstr's tools take
// on the command line, so that every tool accepts the same forms: 30s, 1h30m,
// 7d, 2w; 512, 1G, 1.5GiB, 256mb.
//
// Durations are Go's syntax (time.ParseDuration: ns, us or µs, ms, s, m, h,
// fractions and sums such as 1h30m or 1.5s) plus d (24 h) and w (7 d).
// Sizes are a number and an optional unit: B, K, M, G, T or P, each
// optionally followed by B or iB, in any case; every multiple is binary
// (1K = 1KB = 1KiB = 1024 bytes), as memory sizes are. A bare number, with
// no unit, counts in the default unit of the flag or field that takes it
// (seconds for every duration flag, MiB for --memory), so numbers given
// before units were accepted keep their meaning. Nothing here is negative.
//
// Duration and MiB are flag types: kong (and anything else that uses
// encoding.TextUnmarshaler) decodes them with these rules.
package units

import (
	"errors"
	"fmt"
	"math"
	"math/big"
	"strconv"
	"strings"
	"time"
)

// durationUnits are the duration units, longest names first where one is
// a prefix of another (ms before m).
var durationUnits = []struct {
	name string
	ns   int64
}{
	{"ns", 1},
	{"us", int64(time.Microsecond)},
	{"µs", int64(time.Microsecond)}, // U+00B5, as time.Duration prints it
	{"μs", int64(time.Microsecond)}, // U+03BC, Greek mu
	{"ms", int64(time.Millisecond)},
	{"s", int64(time.Second)},
	{"m", int64(time.Minute)},
	{"h", int64(time.Hour)},
	{"d", 24 * int64(time.Hour)},
	{"w", 7 * 24 * int64(time.Hour)},
}

// Day and Week are the two units this package adds to Go's.
const (
	Day  = 24 * time.Hour
	Week = 7 * Day
)

const durationHelp = "ns, us, ms, s, m, h, d, w"

// ErrNoUnit is returned for a bare number where no default unit applies.
var ErrNoUnit = errors.New("a unit is needed")

// ParseDuration reads a duration that is not negative: Go's syntax plus d
// and w, or a bare number counted in bare (e.g. time.Second). With bare 0
// a bare number other than 0 is refused (ErrNoUnit): where a number could be
// mistaken for something else, such as a year. Every text time.ParseDuration
// reads means the same here (its arithmetic, fractions included, is
// followed term by term).
func ParseDuration(s string, bare time.Duration) (time.Duration, error) {
	if s == "" {
		return 0, errors.New("empty duration")
	}
	rest := s
	if rest[0] == '+' { // Go's syntax allows a sign; only + is meaningful here
		rest = rest[1:]
	}
	if strings.HasPrefix(rest, "-") {
		return 0, fmt.Errorf("duration %q is negative", s)
	}
	if rest == "" {
		return 0, fmt.Errorf("duration %q: expected a number", s)
	}
	if isBareNumber(rest) {
		n, ok := new(big.Rat).SetString(rest)
		if !ok {
			return 0, fmt.Errorf("duration %q: not a number", s)
		}
		switch {
		case n.Sign() == 0:
			return 0, nil
		case bare <= 0:
			return 0, fmt.Errorf("duration %q: %w (%s)", s, ErrNoUnit, durationHelp)
		case !strings.ContainsAny(rest, "eE"):
			// As if written in the bare unit: the same arithmetic.
			return parseTerms(s, rest, uint64(bare))
		}
		// An exponent (1e3), which Go's syntax lacks: exact, then cut to
		// whole nanoseconds.
		r := n.Mul(n, new(big.Rat).SetInt64(int64(bare)))
		q := new(big.Int).Quo(r.Num(), r.Denom())
		if !q.IsInt64() {
			return 0, tooLong(s)
		}
		return time.Duration(q.Int64()), nil
	}
	return parseTerms(s, rest, 0)
}

// parseTerms adds up the terms NUMBER UNIT of rest (s is the whole text,
// for errors) as time.ParseDuration does: whole part times the unit, plus
// the fraction's share of the unit in float64, each term and the sum at
// most 1<<63-1 ns. unit, when not 0, is the unit of a bare number.
func parseTerms(s, rest string, unit uint64) (time.Duration, error) {
	const limit = 1<<63 - 1
	var total uint64
	for rest != "" {
		num, after := leadingNumber(rest)
		if num == "" {
			return 0, fmt.Errorf("duration %q: expected a number at %q", s, rest)
		}
		whole, frac, _ := strings.Cut(num, ".")
		mult := unit
		if mult == 0 {
			name := after
			if i := strings.IndexFunc(after, func(r rune) bool { return r == '.' || (r >= '0' && r <= '9') }); i >= 0 {
				name = after[:i]
			}
			if name == "" {
				return 0, fmt.Errorf("duration %q: a unit is missing after %s (%s)", s, num, durationHelp)
			}
			for _, u := range durationUnits {
				if u.name == name {
					mult = uint64(u.ns)
				}
			}
			if mult == 0 {
				return 0, fmt.Errorf("duration %q: unknown unit %q (%s)", s, name, durationHelp)
			}
			after = after[len(name):]
		}
		v, err := strconv.ParseUint("0"+whole, 10, 64)
		if err != nil || v > limit/mult {
			return 0, tooLong(s)
		}
		v *= mult
		if f, scale := leadingFraction(frac); f > 0 {
			v += uint64(float64(f) * (float64(mult) / scale))
			if v > limit {
				return 0, tooLong(s)
			}
		}
		total += v
		if total > limit {
			return 0, tooLong(s)
		}
		rest = after
	}
	return time.Duration(total), nil
}

// leadingFraction is time's: the digits of a fraction as an integer and
// the power of ten that divides it, digits beyond what a uint64 holds
// dropped.
func leadingFraction(digits string) (x uint64, scale float64) {
	scale = 1
	for i := 0; i < len(digits); i++ {
		if x > (1<<63-1)/10 {
			break
		}
		y := x*10 + uint64(digits[i]-'0')
		if y > 1<<63 {
			break
		}
		x = y
		scale *= 10
	}
	return x, scale
}

func tooLong(s string) error {
	return fmt.Errorf("duration %q is too long (at most %s)", s, FormatDuration(math.MaxInt64))
}

// FormatDuration writes d in the form ParseDuration reads back exactly:
// weeks, days, hours and minutes, then the seconds as time.Duration
// prints them (1w2d3h4m5.5s, 1h30m, 300ms, 0s). Negative durations, which
// ParseDuration refuses, are written as time.Duration writes them.
func FormatDuration(d time.Duration) string {
	if d <= 0 {
		return d.String()
	}
	var b strings.Builder
	for _, u := range []struct {
		name string
		d    time.Duration
	}{{"w", Week}, {"d", Day}, {"h", time.Hour}, {"m", time.Minute}} {
		if n := d / u.d; n > 0 {
			fmt.Fprintf(&b, "%d%s", n, u.name)
			d -= n * u.d
		}
	}
	if d > 0 {
		b.WriteString(d.String())
	}
	return b.String()
}

// sizeUnits are the size multiples by their letter.
var sizeUnits = map[string]int64{"": 1, "B": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40, "P": 1 << 50}

const sizeHelp = "B, K, M, G, T, P; KB or KiB alike, binary multiples"

// MiBytes is the bare unit of sizes in MiB.
const MiBytes = 1 << 20

// ParseSize reads a size in bytes that is not negative: a number (1, 1.5,
// .5) and an optional unit, B, K, M, G, T or P with an optional B or iB
// after it, in any case, binary multiples. A bare number counts in bare
// bytes; with bare 0 it is refused (ErrNoUnit). The size must come to a
// whole number of bytes (0.3K does not).
func ParseSize(s string, bare int64) (int64, error) {
	num, unit := leadingNumber(s)
	if num == "" {
		if strings.HasPrefix(s, "-") {
			return 0, fmt.Errorf("size %q is negative", s)
		}
		return 0, fmt.Errorf("size %q: expected a number", s)
	}
	u := strings.ToUpper(unit)
	switch {
	case u == "":
		if bare <= 0 {
			if isZero(num) {
				return 0, nil
			}
			return 0, fmt.Errorf("size %q: %w (%s)", s, ErrNoUnit, sizeHelp)
		}
	case len(u) == 3 && strings.HasSuffix(u, "IB") && u[0] != 'B':
		u = u[:1]
	case len(u) == 2 && u[1] == 'B' && u[0] != 'B':
		u = u[:1]
	}
	mult, ok := sizeUnits[u]
	if !ok {
		return 0, fmt.Errorf("size %q: unknown unit %q (%s)", s, unit, sizeHelp)
	}
	if u == "" {
		mult = bare
	}
	n, ok := new(big.Rat).SetString(num)
	if !ok {
		return 0, fmt.Errorf("size %q: bad number %q", s, num)
	}
	n.Mul(n, new(big.Rat).SetInt64(mult))
	if !n.IsInt() {
		return 0, fmt.Errorf("size %q is not a whole number of bytes", s)
	}
	if !n.Num().IsInt64() {
		return 0, fmt.Errorf("size %q is too large (at most %s)", s, FormatSize(math.MaxInt64))
	}
	return n.Num().Int64(), nil
}

// FormatSize writes n bytes in the largest binary unit that holds it
// exactly (1GiB, 1536MiB, 100B), which ParseSize reads back.
func FormatSize(n int64) string {
	if n == 0 {
		return "0B"
	}
	for _, u := range []string{"P", "T", "G", "M", "K"} {
		if m := sizeUnits[u]; n%m == 0 {
			return fmt.Sprintf("%d%siB", n/m, u)
		}
	}
	return fmt.Sprintf("%dB", n)
}

// leadingNumber splits s into a leading decimal number (digits with at most
// one point: 1, 1.5, .5, 5.) and the rest; num is "" when s does not start
// with one.
func leadingNumber(s string) (num, rest string) {
	i, digits, point := 0, 0, false
	for ; i < len(s); i++ {
		switch c := s[i]; {
		case c >= '0' && c <= '9':
			digits++
		case c == '.' && !point:
			point = true
		default:
			goto done
		}
	}
done:
	if digits == 0 {
		return "", s
	}
	return s[:i], s[i:]
}

// isBareNumber reports whether s is a decimal number and nothing else,
// optionally with an exponent (1e3), as the bare numbers flags took before
// they took units.
func isBareNumber(s string) bool {
	num, rest := leadingNumber(s)
	if num == "" {
		return false
	}
	if rest == "" {
		return true
	}
	if rest[0] != 'e' && rest[0] != 'E' {
		return false
	}
	rest = rest[1:]
	if rest != "" && (rest[0] == '+' || rest[0] == '-') {
		rest = rest[1:]
	}
	if rest == "" || len(rest) > 4 { // 1e9999 is not a duration anyone means
		return false
	}
	for _, c := range rest {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

func isZero(num string) bool { return strings.Trim(num, "0.") == "" }

// Duration is a flag value: a duration in ParseDuration's forms, a bare
// number being seconds (the unit every ktstr duration flag took bare).
type Duration time.Duration

// UnmarshalText implements encoding.TextUnmarshaler (kong uses it).
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := ParseDuration(string(b), time.Second)
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}

// String is FormatDuration's.
func (d Duration) String() string { return FormatDuration(time.Duration(d)) }

// Std is d as a time.Duration.
func (d Duration) Std() time.Duration { return time.Duration(d) }

// Seconds is d in seconds.
func (d Duration) Seconds() float64 { return time.Duration(d).Seconds() }

// MiB is a flag value counted in MiB: a size in ParseSize's forms, a bare
// number being MiB (as --memory always took it), that must come to a whole
// number of MiB.
type MiB int

// UnmarshalText implements encoding.TextUnmarshaler (kong uses it).
func (m *MiB) UnmarshalText(b []byte) error {
	n, err := ParseSize(string(b), MiBytes)
	if err != nil {
		return err
	}
	if n%MiBytes != 0 {
		return fmt.Errorf("size %q is not a whole number of MiB", b)
	}
	if n/MiBytes > math.MaxInt32 {
		return fmt.Errorf("size %q is too large", b)
	}
	*m = MiB(n / MiBytes)
	return nil
}

// String is FormatSize's.
func (m MiB) String() string { return FormatSize(int64(m) * MiBytes) }
