package docs

import (
	"os"
	"strings"
	"testing"

	"github.com/ktstr-go/ktstr/lib/model/payload"
	"github.com/ktstr-go/ktstr/lib/model/record"
	"github.com/ktstr-go/ktstr/lib/model/scenario"
)

// TestPayloadDoc keeps scenario.md's Payloads section in step with the
// code: its field tables, every built-in payload with its default
// arguments and metrics, and every catalog scenario of category payload.
func TestPayloadDoc(t *testing.T) {
	checkTables(t, "scenario.md", map[string]any{
		"Definition": payload.Definition{}, "MetricHint": payload.MetricHint{},
		"PayloadLimits": record.PayloadLimits{}, "MetricLimit": record.MetricLimit{},
	})
	b, err := os.ReadFile("scenario.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	_, sec, _ := strings.Cut(doc, "\n## Payloads\n")
	for _, d := range payload.Builtins() {
		var row string
		for _, l := range strings.Split(sec, "\n") {
			if strings.HasPrefix(l, "| `"+d.Name+"` |") {
				row = l
			}
		}
		if row == "" {
			t.Errorf("scenario.md: built-in payload %s has no row", d.Name)
			continue
		}
		if args := "`" + strings.Join(d.Args, " ") + "`"; !strings.Contains(row, args) {
			t.Errorf("scenario.md: %s's default args are %s", d.Name, args)
		}
		for _, m := range d.Metrics {
			if n := strings.TrimPrefix(m.Name, "*"); !strings.Contains(row, n) {
				t.Errorf("scenario.md: %s's metric %s is not in its row", d.Name, m.Name)
			}
		}
		if !strings.Contains(row, d.Package) {
			t.Errorf("scenario.md: %s's package %s is not in its row", d.Name, d.Package)
		}
	}
	n := 0
	for _, s := range scenario.Catalog() {
		if s.Category != "payload" {
			continue
		}
		n++
		defs, err := s.Payloads()
		if err != nil || len(defs) == 0 {
			t.Errorf("catalog %s: payloads %v, %v", s.Name, defs, err)
			continue
		}
		if !strings.Contains(sec, "| `"+s.Name+"` | `"+defs[0].Name+"` |") {
			t.Errorf("scenario.md: catalog scenario %s (payload %s) has no row", s.Name, defs[0].Name)
		}
	}
	if n < 3 {
		t.Errorf("%d payload scenarios in the catalog, want ≥ 3", n)
	}
}
