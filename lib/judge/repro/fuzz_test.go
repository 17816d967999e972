package repro

import (
	"regexp"
	"slices"
	"strings"
	"testing"
)

// FuzzFrames: whatever the text, every function Frames returns is named in
// a reliable frame of it (as itself or as a BPF program's symbol), at a
// non-zero offset, once; lines that are not frames change nothing; and
// CallTrace only returns frames Frames would.
func FuzzFrames(f *testing.F) {
	f.Add(dump)
	f.Add(strings.Join(panicConsole, "\n"))
	f.Add("  ? foo+0x1/0x2\n [<ffffffff81000000>] bar+0x10/0x20 [mod]\nbpf_prog_0123456789abcdef_x_enqueue+0x1/0x2\n")
	f.Add("a+0x0/0x1\nb+0x1/0x1\nb+0x2/0x3")
	f.Fuzz(func(t *testing.T, text string) {
		got := Frames(text)
		seen := map[string]bool{}
		for _, fn := range got {
			if seen[fn] {
				t.Fatalf("%q returned twice: %v", fn, got)
			}
			seen[fn] = true
			q := regexp.QuoteMeta(fn)
			re := regexp.MustCompile(`(?m)^\s*(\[<?[0-9a-fA-F]+>?\]\s*)?(\?\s+)?(bpf_prog_[0-9a-f]{16}_)?` + q + `\+0x[0-9a-fA-F]*[1-9a-fA-F][0-9a-fA-F]*/0x`)
			if !re.MatchString(text) {
				t.Fatalf("%q is not a frame of the text", fn)
			}
		}
		// Unreliable frames only when no reliable frame exists: a text
		// with one reliable frame returns only reliable ones.
		if anyReliable := pickNames(text, false); len(anyReliable) > 0 && !slices.Equal(got, anyReliable) {
			t.Fatalf("reliable frames %v exist, got %v", anyReliable, got)
		}
		noise := text + "\nnot a frame at all\n"
		if g2 := Frames(noise); !slices.Equal(g2[:min(len(got), len(g2))], got) {
			t.Fatalf("appending non-frames changed the result: %v → %v", got, g2)
		}
		stripped := strings.Split(text, "\n")
		for i, l := range stripped {
			stripped[i] = consoleStrip(l)
		}
		// CallTrace reads the first block only, and takes its unreliable
		// frames when it has no reliable one, even if a later block has:
		// its frames are frames of the text, of either kind.
		strippedText := strings.Join(stripped, "\n")
		inStripped := append(pickNames(strippedText, false), pickNames(strippedText, true)...)
		for _, fn := range CallTrace(strings.Split("Call Trace:\n"+text, "\n")) {
			if !slices.Contains(inStripped, fn) {
				t.Fatalf("CallTrace returned %q, not a frame of the text", fn)
			}
		}
		for _, p := range BPFFrames(text) {
			if !seen[p] {
				t.Fatalf("BPF frame %q not among the frames %v", p, got)
			}
		}
	})
}

func pickNames(text string, unreliable bool) []string {
	fns, _ := pick(strings.Split(text, "\n"), unreliable)
	return fns
}
