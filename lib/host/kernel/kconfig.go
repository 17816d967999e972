package kernel

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

//go:embed fragments/*.config
var fragments embed.FS

// Profiles are the kernel configurations ktstr-kernel builds.
var Profiles = []string{"minimal", "defconfig"}

// DefaultProfile is the fastest build that boots with every harness feature.
const DefaultProfile = "minimal"

// Fragment returns the configuration fragment of a profile: the options
// common to every profile followed by the profile's own.
func Fragment(profile string) (string, error) {
	if !slices.Contains(Profiles, profile) {
		return "", fmt.Errorf("unknown profile %q (profiles: %s)", profile, strings.Join(Profiles, ", "))
	}
	common, err := fragments.ReadFile("fragments/common.config")
	if err != nil {
		return "", err
	}
	own, err := fragments.ReadFile("fragments/" + profile + ".config")
	if err != nil {
		return "", err
	}
	return string(common) + "\n" + string(own), nil
}

// FragmentHash identifies a profile's fragment; cache keys include it, so
// changing the fragment makes old entries stale instead of silently reused.
func FragmentHash(profile string) (string, error) {
	f, err := Fragment(profile)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256([]byte(f))
	return hex.EncodeToString(sum[:4]), nil
}

// Config is a parsed kernel .config: option name (with CONFIG_ prefix) →
// value; "n" for "# CONFIG_X is not set".
type Config map[string]string

// ParseConfig parses .config text. Lines that are neither assignments nor
// "is not set" comments are ignored; a later assignment wins, as in kconfig.
func ParseConfig(r io.Reader) (Config, error) {
	c := Config{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		if name, value, ok := parseConfigLine(sc.Text()); ok {
			c[name] = value
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("parse kernel config: %w", err)
	}
	return c, nil
}

func parseConfigLine(line string) (name, value string, ok bool) {
	line = strings.TrimSpace(line)
	if rest, found := strings.CutPrefix(line, "# CONFIG_"); found {
		if opt, isNotSet := strings.CutSuffix(rest, " is not set"); isNotSet && validOption(opt) {
			return "CONFIG_" + opt, "n", true
		}
		return "", "", false
	}
	if !strings.HasPrefix(line, "CONFIG_") {
		return "", "", false
	}
	name, value, found := strings.Cut(line, "=")
	if !found || !validOption(strings.TrimPrefix(name, "CONFIG_")) {
		return "", "", false
	}
	return name, strings.Trim(value, `"`), true
}

func validOption(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if !(r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '_') {
			return false
		}
	}
	return true
}

// Enabled reports whether option (with or without CONFIG_) is y or m.
func (c Config) Enabled(option string) bool {
	v := c[withPrefix(option)]
	return v == "y" || v == "m"
}

func withPrefix(option string) string {
	if strings.HasPrefix(option, "CONFIG_") {
		return option
	}
	return "CONFIG_" + option
}

// PatchesCodeAtRuntime reports whether a kernel with this config rewrites its
// own text while running (static keys, static calls), which multi-threaded
// TCG cannot emulate safely.
func (c Config) PatchesCodeAtRuntime() bool {
	return c.Enabled("JUMP_LABEL") || c.Enabled("PREEMPT_DYNAMIC")
}

// Mismatch is a fragment option the final .config does not satisfy.
type Mismatch struct {
	Option string
	Want   string
	Got    string // "" when the option is absent
}

func (m Mismatch) String() string {
	got := m.Got
	if got == "" {
		got = "unset"
	}
	return fmt.Sprintf("%s=%s (got %s)", m.Option, m.Want, got)
}

// Check returns the options of fragment that c does not satisfy. An option
// the fragment turns off is satisfied when it is "n" or absent.
func (c Config) Check(fragment string) []Mismatch {
	want, _ := ParseConfig(strings.NewReader(fragment))
	names := make([]string, 0, len(want))
	for n := range want {
		names = append(names, n)
	}
	slices.Sort(names)
	var out []Mismatch
	for _, n := range names {
		got, present := c[n]
		if want[n] == "n" {
			if present && got != "n" {
				out = append(out, Mismatch{n, "n", got})
			}
			continue
		}
		if got != want[n] {
			out = append(out, Mismatch{n, want[n], got})
		}
	}
	return out
}

// missingToolHint names the host tool whose absence usually explains a
// mismatch, or "".
func missingToolHint(ms []Mismatch) string {
	for _, m := range ms {
		switch m.Option {
		case "CONFIG_DEBUG_INFO_BTF", "CONFIG_SCHED_CLASS_EXT":
			return "BTF needs pahole ≥ 1.16: install dwarves (scripts/install-deps.sh)"
		}
	}
	return ""
}

// Extra is a config fragment of the user's, merged after the profile's
// (ktstr-kernel build --fragment FILE): the same source built with two
// fragments makes two cache entries, with two labels.
type Extra struct {
	// Name is the file's base name without its .config suffix; it ends
	// the kernel's label.
	Name string
	Text string
}

// LoadExtra reads an extra fragment. It must set at least one option and
// its name must have a letter or digit (the label needs one).
func LoadExtra(path string) (*Extra, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config fragment: %w", err)
	}
	name := strings.TrimSuffix(filepath.Base(path), ".config")
	if sanitize(name) == "" {
		return nil, fmt.Errorf("config fragment %s: its name needs a letter or digit (it ends the kernel's label)", path)
	}
	cfg, err := ParseConfig(bytes.NewReader(b))
	if err != nil {
		return nil, err
	}
	if len(cfg) == 0 {
		return nil, fmt.Errorf("config fragment %s sets no CONFIG_ option", path)
	}
	return &Extra{Name: name, Text: string(b)}, nil
}

// Hash identifies an extra fragment's text in cache keys; "" for none.
func (x *Extra) Hash() string {
	if x == nil {
		return ""
	}
	sum := sha256.Sum256([]byte(x.Text))
	return hex.EncodeToString(sum[:4])
}
