package shellwords

import (
	"errors"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

var splitCases = []struct {
	in   string
	want []string
}{
	{"", nil},
	{"  \t\n ", nil},
	{"-t 20", []string{"-t", "20"}},
	{"  -e   100  ", []string{"-e", "100"}},
	{`-x "a b"`, []string{"-x", "a b"}},
	{`-x 'a b'`, []string{"-x", "a b"}},
	{`--name='it'\''s'`, []string{"--name=it's"}},
	{`a\ b c`, []string{"a b", "c"}},
	{`"a\"b" "\$x" "\a" "a\\b"`, []string{`a"b`, "$x", `\a`, `a\b`}},
	{`'a\b' '$HOME' "$HOME" *`, []string{`a\b`, "$HOME", "$HOME", "*"}},
	{`a'' "" ''`, []string{"a", "", ""}},
	{"a\\\nb", []string{"ab"}},
	{"\"a\\\nb\"", []string{"ab"}},
	{`a"b"'c'd`, []string{"abcd"}},
	{"ünï cödé", []string{"ünï", "cödé"}},
}

func TestSplit(t *testing.T) {
	for _, c := range splitCases {
		got, err := Split(c.in)
		if err != nil || !slices.Equal(got, c.want) {
			t.Errorf("Split(%q) = %q, %v; want %q", c.in, got, err, c.want)
		}
	}
}

// TestSplitIsTheShells: each case splits as sh itself splits it (printf
// of "$@" after set --), when there is a sh.
func TestSplitIsTheShells(t *testing.T) {
	if _, err := exec.LookPath("sh"); err != nil {
		t.Skip("no sh")
	}
	for _, c := range splitCases {
		if strings.ContainsAny(c.in, "$*") {
			continue // the shell would expand these
		}
		out, err := exec.Command("sh", "-c", "set -- "+c.in+"\nfor a; do printf '%s\\0' \"$a\"; done").Output()
		if err != nil {
			t.Fatalf("sh: %q: %v", c.in, err)
		}
		var want []string
		if len(out) > 0 {
			want = strings.Split(strings.TrimSuffix(string(out), "\x00"), "\x00")
		}
		if got, _ := Split(c.in); !slices.Equal(got, want) {
			t.Errorf("Split(%q) = %q; sh says %q", c.in, got, want)
		}
	}
}

// TestSplitErrors: an unterminated quote or a trailing backslash is one
// line that says which and where.
func TestSplitErrors(t *testing.T) {
	for in, want := range map[string]string{
		`-x 'a b`:  `unterminated single quote at byte 4 of "-x 'a b"`,
		`-x "a b`:  `unterminated double quote at byte 4 of "-x \"a b"`,
		`-x "a\"`:  `unterminated double quote at byte 4`,
		`-x \`:     `unterminated backslash at the end of "-x \\"`,
		`'a'"b"'c`: `unterminated single quote at byte 7`,
	} {
		_, err := Split(in)
		if err == nil || err.Error() != want && !strings.Contains(err.Error(), want) || !errors.Is(err, ErrUnterminated) {
			t.Errorf("Split(%q): %v; want %q", in, err, want)
		}
	}
}

func TestQuote(t *testing.T) {
	for in, want := range map[string]string{
		"":        "''",
		"-t":      "-t",
		"a=b,c:d": "a=b,c:d",
		"a b":     "'a b'",
		"it's":    `'it'\''s'`,
		"$HOME":   "'$HOME'",
		"*":       "'*'",
	} {
		if got := Quote(in); got != want {
			t.Errorf("Quote(%q) = %s, want %s", in, got, want)
		}
	}
	if got := Join([]string{"-x", "a b", ""}); got != `-x 'a b' ''` {
		t.Errorf("Join: %s", got)
	}
}

// FuzzSplit: Join of any words splits back to those words; what Split
// accepts joins and splits back to the same words; a line with no quote,
// backslash or blank but space, tab and newline splits as strings.Fields;
// and a failure is always an unterminated quote or backslash, in one line.
func FuzzSplit(f *testing.F) {
	for _, c := range splitCases {
		f.Add(c.in)
	}
	f.Add(`-x 'a b`)
	f.Add("a\x00b c\x00\x00'd\"")
	f.Fuzz(func(t *testing.T, in string) {
		words := strings.Split(in, "\x00")
		if back, err := Split(Join(words)); err != nil || !slices.Equal(back, words) {
			t.Fatalf("Join(%q) = %s splits to %q, %v", words, Join(words), back, err)
		}
		got, err := Split(in)
		if err != nil {
			if !errors.Is(err, ErrUnterminated) || strings.Contains(err.Error(), "\n") {
				t.Fatalf("Split(%q): %q", in, err)
			}
			return
		}
		if again, err := Split(Join(got)); err != nil || !slices.Equal(again, got) {
			t.Fatalf("Split(%q) = %q; joined %s splits to %q, %v", in, got, Join(got), again, err)
		}
		if !strings.ContainsAny(in, "'\"\\\v\f\r\u0085\u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000") {
			if want := strings.Fields(in); !slices.Equal(got, want) && (len(got) != 0 || len(want) != 0) {
				t.Fatalf("Split(%q) = %q, strings.Fields %q", in, got, want)
			}
		}
	})
}
