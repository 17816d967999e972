package kernel

import (
	"errors"
	"os"
)

// Labels are the labels of the usable entries of the cache at root, newest
// first, each once; none when there is no cache there. It only reads:
// shell completion runs it on every Tab (ktstr-boot --kernel).
func Labels(root string) ([]string, error) {
	if _, err := os.Stat(root); errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	entries, err := (&Cache{Root: root}).List()
	if err != nil {
		return nil, err
	}
	var labels []string
	seen := map[string]bool{}
	for _, e := range entries {
		if e.Status == StatusOK && e.Label != "" && !seen[e.Label] {
			seen[e.Label] = true
			labels = append(labels, e.Label)
		}
	}
	return labels, nil
}

// CachedLabels are the Labels of the default cache (DefaultRoot).
func CachedLabels() ([]string, error) {
	root, err := DefaultRoot()
	if err != nil {
		return nil, err
	}
	return Labels(root)
}
