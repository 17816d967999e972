package main

import "github.com/ktstr-go/ktstr/internal/cli"

func (t *tool) report() (int, error) {
	return 0, cli.Usagef("report: not written yet")
}
