package scenario

import (
	_ "embed"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"text/tabwriter"

	"github.com/ktstr-go/ktstr/lib/base/jsonstrict"
)

//go:embed catalog.json
var catalogJSON []byte

var (
	catalogOnce sync.Once
	catalog     []*Scenario
)

// Catalog returns the canned scenarios (ktstr's catalog, embedded), in
// order. Each call returns fresh copies: callers may modify them. The
// catalog is decoded as strictly as a scenario file: a misspelt field in
// it panics at the first call (every test that plans a scenario makes it).
func Catalog() []*Scenario {
	catalogOnce.Do(func() {
		if err := jsonstrict.Decode(catalogJSON, &catalog); err != nil {
			panic("embedded scenario catalog: " + err.Error())
		}
	})
	out := make([]*Scenario, len(catalog))
	for i, s := range catalog {
		c := *s
		out[i] = &c
	}
	return out
}

// Lookup finds a catalog scenario by name.
func Lookup(name string) (*Scenario, bool) {
	for _, s := range Catalog() {
		if s.Name == name {
			return s, true
		}
	}
	return nil, false
}

// WriteList prints the catalog as a table: name, category, flags,
// description.
func WriteList(w io.Writer, filter string) error {
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tCATEGORY\tFLAGS\tDESCRIPTION")
	for _, s := range Catalog() {
		if filter != "" && !strings.Contains(s.Name, filter) && s.Category != filter {
			continue
		}
		flags := strings.Join(s.RequiresFlags, ",")
		if len(s.ExcludesFlags) > 0 {
			flags += " !" + strings.Join(s.ExcludesFlags, ",!")
		}
		if flags == "" {
			flags = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", s.Name, s.Category, strings.TrimSpace(flags), s.Description)
	}
	return tw.Flush()
}

// Categories lists the catalog's categories, sorted.
func Categories() []string {
	var out []string
	for _, s := range Catalog() {
		if !slices.Contains(out, s.Category) {
			out = append(out, s.Category)
		}
	}
	slices.Sort(out)
	return out
}
