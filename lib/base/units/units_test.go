package units

import (
	"errors"
	"math"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/alecthomas/kong"
)

func TestParseDuration(t *testing.T) {
	cases := []struct {
		in   string
		bare time.Duration
		want time.Duration
	}{
		{"3", time.Second, 3 * time.Second},
		{"2.5", time.Second, 2500 * time.Millisecond},
		{"1e3", time.Second, 1000 * time.Second},
		{".5", time.Second, 500 * time.Millisecond},
		{"0", 0, 0},
		{"30s", time.Second, 30 * time.Second},
		{"30m", time.Second, 30 * time.Minute},
		{"1h30m", 0, 90 * time.Minute},
		{"1.5h", 0, 90 * time.Minute},
		{"300ms", 0, 300 * time.Millisecond},
		{"2us", 0, 2 * time.Microsecond},
		{"2µs", 0, 2 * time.Microsecond},
		{"2μs", 0, 2 * time.Microsecond},
		{"7d", 0, 7 * Day},
		{"1w", 0, Week},
		{"2w3d4h", 0, 2*Week + 3*Day + 4*time.Hour},
		{"0.5d", 0, 12 * time.Hour},
		{"+5s", 0, 5 * time.Second},
		{"1.s", 0, time.Second},
		{"1.0000000005s", 0, time.Second + 0}, // below a nanosecond is dropped
		{"0.5ns0.5ns", 0, 0},                  // each term cut, as time.ParseDuration does
	}
	for _, c := range cases {
		got, err := ParseDuration(c.in, c.bare)
		if err != nil || got != c.want {
			t.Errorf("ParseDuration(%q, %v) = %v, %v; want %v", c.in, c.bare, got, err, c.want)
		}
	}
}

// TestDurationErrors: each refusal is one line that names the input and
// says what is wrong.
func TestDurationErrors(t *testing.T) {
	cases := map[string]string{
		"":          "empty duration",
		"-5s":       `duration "-5s" is negative`,
		"5x":        `duration "5x": unknown unit "x" (ns, us, ms, s, m, h, d, w)`,
		"5H":        `unknown unit "H"`,
		"1h30":      `duration "1h30": a unit is missing after 30`,
		"s":         `duration "s": expected a number at "s"`,
		"+":         `duration "+": expected a number`,
		"1.5.5s":    `a unit is missing after 1.5`,
		"99999999w": `duration "99999999w" is too long (at most 15250w1d23h47m16.854775807s)`,
		"1e99999":   `unknown unit "e"`,
	}
	for in, want := range cases {
		_, err := ParseDuration(in, time.Second)
		if err == nil || !strings.Contains(err.Error(), want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("ParseDuration(%q): %v; want one line containing %q", in, err, want)
		}
	}
	_, err := ParseDuration("2026", 0)
	if !errors.Is(err, ErrNoUnit) || err.Error() != `duration "2026": a unit is needed (ns, us, ms, s, m, h, d, w)` {
		t.Errorf("bare number without a default unit: %v", err)
	}
}

// TestDurationRoundTrip: format(parse(x)) is x for the canonical forms, and
// parse(format(v)) is v.
func TestDurationRoundTrip(t *testing.T) {
	for _, x := range []string{"0s", "1ns", "2µs", "300ms", "1.5s", "45s", "1m", "1h30m", "1d12h", "1w", "2w3d4h5m6.007s", "15250w1d23h47m16.854775807s"} {
		d, err := ParseDuration(x, 0)
		if err != nil {
			t.Fatalf("%q: %v", x, err)
		}
		if got := FormatDuration(d); got != x {
			t.Errorf("FormatDuration(ParseDuration(%q)) = %q", x, got)
		}
	}
	for _, v := range []time.Duration{0, 1, 999, time.Second, 90 * time.Second, 36 * time.Hour, Week + 1, math.MaxInt64} {
		back, err := ParseDuration(FormatDuration(v), 0)
		if err != nil || back != v {
			t.Errorf("ParseDuration(FormatDuration(%d)) = %d, %v", v, back, err)
		}
	}
}

func TestParseSize(t *testing.T) {
	cases := []struct {
		in   string
		bare int64
		want int64
	}{
		{"512", MiBytes, 512 << 20},
		{"0", MiBytes, 0},
		{"0", 0, 0},
		{"1G", MiBytes, 1 << 30},
		{"1g", 0, 1 << 30},
		{"1GB", 0, 1 << 30},
		{"1gib", 0, 1 << 30},
		{"1.5GiB", 0, 3 << 29},
		{"256mb", 0, 256 << 20},
		{"4096b", 0, 4096},
		{"4096B", MiBytes, 4096},
		{"2T", 0, 2 << 40},
		{"1P", 0, 1 << 50},
		{"1K", 0, 1024},
		{".5K", 0, 512},
	}
	for _, c := range cases {
		got, err := ParseSize(c.in, c.bare)
		if err != nil || got != c.want {
			t.Errorf("ParseSize(%q, %d) = %d, %v; want %d", c.in, c.bare, got, err, c.want)
		}
	}
}

func TestSizeErrors(t *testing.T) {
	cases := map[string]string{
		"":        `size "": expected a number`,
		"G":       `size "G": expected a number`,
		"-1G":     `size "-1G" is negative`,
		"1Q":      `size "1Q": unknown unit "Q" (B, K, M, G, T, P; KB or KiB alike, binary multiples)`,
		"1iB":     `unknown unit "iB"`,
		"1BB":     `unknown unit "BB"`,
		"1 G":     `unknown unit " G"`,
		"0.3K":    `size "0.3K" is not a whole number of bytes`,
		"8192P":   `size "8192P" is too large (at most 9223372036854775807B)`,
		"1.5.5M":  `unknown unit ".5M"`,
		"1e3":     `unknown unit "e3"`,
		"0x10":    `unknown unit "x10"`,
		"1G1M":    `unknown unit "G1M"`,
		"1GiBs":   `unknown unit "GiBs"`,
		"１G":      `expected a number`,
		"1.5 GiB": `unknown unit " GiB"`,
	}
	for in, want := range cases {
		_, err := ParseSize(in, MiBytes)
		if err == nil || !strings.Contains(err.Error(), want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("ParseSize(%q): %v; want one line containing %q", in, err, want)
		}
	}
	if _, err := ParseSize("512", 0); !errors.Is(err, ErrNoUnit) {
		t.Errorf("bare size without a default unit: %v", err)
	}
}

func TestSizeRoundTrip(t *testing.T) {
	for _, x := range []string{"0B", "1B", "1000B", "1KiB", "1536KiB", "512MiB", "1GiB", "1536MiB", "2TiB", "7PiB"} {
		n, err := ParseSize(x, 0)
		if err != nil {
			t.Fatalf("%q: %v", x, err)
		}
		if got := FormatSize(n); got != x {
			t.Errorf("FormatSize(ParseSize(%q)) = %q", x, got)
		}
	}
	for _, v := range []int64{0, 1, 1023, 1024, 1025, 3 << 29, math.MaxInt64} {
		back, err := ParseSize(FormatSize(v), 0)
		if err != nil || back != v {
			t.Errorf("ParseSize(FormatSize(%d)) = %d, %v", v, back, err)
		}
	}
}

// flags is a command line of the flag types, parsed by kong as the tools
// do.
type flags struct {
	Memory  MiB      `name:"memory"`
	Timeout Duration `name:"timeout"`
	Length  Duration `name:"length" default:"3"`
}

func parseFlags(t *testing.T, args ...string) (flags, error) {
	t.Helper()
	var f flags
	p, err := kong.New(&f, kong.Exit(func(int) { t.Fatal("kong exited") }))
	if err != nil {
		t.Fatal(err)
	}
	_, err = p.Parse(args)
	return f, err
}

// TestFlagTypes: kong decodes the flag types with these rules; a bare
// number keeps the flag's old unit; a default is a bare number too.
func TestFlagTypes(t *testing.T) {
	f, err := parseFlags(t, "--memory", "1G", "--timeout", "30s")
	if err != nil || f.Memory != 1024 || f.Timeout.Std() != 30*time.Second || f.Length.Seconds() != 3 {
		t.Fatalf("%+v, %v", f, err)
	}
	f, err = parseFlags(t, "--memory=768", "--timeout=90", "--length=2.5")
	if err != nil || f.Memory != 768 || f.Timeout.Seconds() != 90 || f.Length.Seconds() != 2.5 {
		t.Fatalf("bare numbers: %+v, %v", f, err)
	}
	if f.Memory.String() != "768MiB" || f.Timeout.String() != "1m30s" {
		t.Errorf("String: %s %s", f.Memory, f.Timeout)
	}
	for args, want := range map[string]string{
		"--memory 1500K": `--memory: size "1500K" is not a whole number of MiB`,
		"--memory 1X":    `--memory: size "1X": unknown unit "X"`,
		"--timeout 5y":   `--timeout: duration "5y": unknown unit "y"`,
		"--timeout=-5":   `--timeout: duration "-5" is negative`,
	} {
		_, err := parseFlags(t, strings.Fields(args)...)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want %q", args, err, want)
		}
	}
}

// FuzzParseDuration: whatever ParseDuration accepts is not negative and
// formats to a text that parses back to it; a bare number is its value in
// seconds; and every text time.ParseDuration accepts without a minus sign
// means here what it means there.
func FuzzParseDuration(f *testing.F) {
	for _, s := range []string{"3", "2.5", "1e3", "30s", "1h30m", "7d", "2w3d", "1.5µs", "0.5ns0.5ns", "-1s", "+1s", "1.s", ".5h", "9223372036854775807ns", "106751d23h47m16.854775807s", "1h1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := ParseDuration(s, time.Second)
		if goD, goErr := time.ParseDuration(s); goErr == nil && !strings.Contains(s, "-") {
			if err != nil || d != goD {
				t.Fatalf("%q: time.ParseDuration says %v, ParseDuration %v, %v", s, goD, d, err)
			}
		}
		if err != nil {
			if strings.Contains(err.Error(), "\n") {
				t.Fatalf("%q: a multi-line error: %q", s, err)
			}
			return
		}
		if d < 0 {
			t.Fatalf("%q: negative %v", s, d)
		}
		if back, err := ParseDuration(FormatDuration(d), 0); err != nil || back != d {
			t.Fatalf("%q = %d: FormatDuration %q parses to %d, %v", s, d, FormatDuration(d), back, err)
		}
		if bare := strings.TrimPrefix(s, "+"); isBareNumber(bare) {
			if !strings.ContainsAny(bare, "eE") {
				if withUnit, err := ParseDuration(s+"s", 0); err != nil || withUnit != d {
					t.Fatalf("bare %q = %v, but %qs = %v, %v", s, d, s, withUnit, err)
				}
			} else if x, perr := strconv.ParseFloat(bare, 64); perr != nil || math.Abs(x*1e9-float64(d)) > math.Max(1, x*1e9*1e-12) {
				t.Fatalf("bare %q: %v, not %g seconds", s, d, x)
			}
		}
	})
}

// FuzzParseSize: whatever ParseSize accepts is not negative, formats to a
// text that parses back to it, means the same in upper and lower case, and
// a bare whole number is that many MiB.
func FuzzParseSize(f *testing.F) {
	for _, s := range []string{"512", "1G", "1.5GiB", "256mb", "4096b", "0.3K", "-1", "8191P", "1e3", "1Kib"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := ParseSize(s, MiBytes)
		if err != nil {
			if strings.Contains(err.Error(), "\n") {
				t.Fatalf("%q: a multi-line error: %q", s, err)
			}
			return
		}
		if n < 0 {
			t.Fatalf("%q: negative %d", s, n)
		}
		if back, err := ParseSize(FormatSize(n), 0); err != nil || back != n {
			t.Fatalf("%q = %d: FormatSize %q parses to %d, %v", s, n, FormatSize(n), back, err)
		}
		up, errU := ParseSize(strings.ToUpper(s), MiBytes)
		lo, errL := ParseSize(strings.ToLower(s), MiBytes)
		if errU != nil || errL != nil || up != n || lo != n {
			t.Fatalf("%q = %d, but upper case %d (%v) and lower case %d (%v)", s, n, up, errU, lo, errL)
		}
		if v, perr := strconv.ParseInt(s, 10, 64); perr == nil && s[0] != '+' && n != v*MiBytes {
			t.Fatalf("bare %q = %d bytes, not %d MiB", s, n, v)
		}
	})
}

// FuzzUnitScale: the same number in a larger unit is never less, and more
// when the number is not 0 (unless it overflows).
func FuzzUnitScale(f *testing.F) {
	f.Add(uint32(1), uint16(0))
	f.Add(uint32(1000), uint16(5))
	f.Add(uint32(0), uint16(999))
	f.Fuzz(func(t *testing.T, whole uint32, frac uint16) {
		num := strconv.FormatUint(uint64(whole), 10) + "." + strconv.FormatUint(uint64(frac), 10)
		var prev int64 = -1
		for _, u := range []string{"ns", "us", "ms", "s", "m", "h", "d", "w"} {
			d, err := ParseDuration(num+u, 0)
			if err != nil {
				if !strings.Contains(err.Error(), "too long") {
					t.Fatalf("%s%s: %v", num, u, err)
				}
				break
			}
			if int64(d) < prev || (whole > 0 && int64(d) == prev) {
				t.Fatalf("%s%s = %d, not more than the smaller unit's %d", num, u, d, prev)
			}
			prev = int64(d)
		}
		prev = -1
		for _, u := range []string{"B", "K", "M", "G", "T", "P"} {
			n, err := ParseSize(num+u, 0)
			if err != nil {
				if !strings.Contains(err.Error(), "too large") && !strings.Contains(err.Error(), "whole number") {
					t.Fatalf("%s%s: %v", num, u, err)
				}
				if strings.Contains(err.Error(), "too large") {
					break
				}
				continue
			}
			if n < prev || (whole > 0 && n == prev) {
				t.Fatalf("%s%s = %d, not more than the smaller unit's %d", num, u, n, prev)
			}
			prev = n
		}
	})
}
