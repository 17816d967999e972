// Gendoc writes a tool's doc.go from its help.txt, so that the package
// documentation and --help are one text. Each cmd/ktstr-*/main.go runs it
// with go:generate; internal/cli's tests fail when a doc.go is stale.
package main

import (
	"fmt"
	"os"

	"github.com/ktstr-go/ktstr/internal/cli"
)

func main() {
	help, err := os.ReadFile(cli.HelpFile)
	if err == nil {
		var src []byte
		if src, err = cli.GoDoc(string(help)); err == nil {
			err = os.WriteFile("doc.go", src, 0o644)
		}
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "gendoc: %v\n", err)
		os.Exit(1)
	}
}
