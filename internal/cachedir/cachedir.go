// Package cachedir locates ktstr's cache root, shared by every tool so that
// readers and writers agree on it: $KTSTR_CACHE_DIR, else
// $XDG_CACHE_HOME/ktstr, else ~/.cache/ktstr.
package cachedir

import (
	"errors"
	"os"
	"path/filepath"
)

// Root returns the cache root (not created).
func Root() (string, error) {
	if d := os.Getenv("KTSTR_CACHE_DIR"); d != "" {
		return d, nil
	}
	if d := os.Getenv("XDG_CACHE_HOME"); d != "" {
		return filepath.Join(d, "ktstr"), nil
	}
	home := os.Getenv("HOME")
	if home == "" {
		return "", errors.New("cannot place the ktstr cache: HOME is unset; set KTSTR_CACHE_DIR or XDG_CACHE_HOME")
	}
	return filepath.Join(home, ".cache", "ktstr"), nil
}

// Sub returns Root()/name.
func Sub(name string) (string, error) {
	root, err := Root()
	if err != nil {
		return "", err
	}
	return filepath.Join(root, name), nil
}
