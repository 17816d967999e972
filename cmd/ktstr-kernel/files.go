package main

import (
	"cmp"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// fileKind is one kind of file ktstr-boot leaves in the cache root and
// never removes itself (beyond the 14-day console log pruning).
type fileKind struct {
	name    string // for the report
	dir     string // below the cache root
	pattern string // file names
}

var fileKinds = []fileKind{
	{"console logs", "logs", "*.console.log"},
	{"initramfs archives", "initramfs", "*"},
	{"terminal run records", "runs", "*.ndjson"},
}

// cleanResult is what cleanFiles removed.
type cleanResult struct {
	removed []string
	bytes   int64
}

// cleanFiles removes, per kind under root, the files beyond the keep
// newest (keep < 0: no count limit) or older than olderThan (0: no age
// limit), or all of them. Names starting with "." are files being written
// (initramfs archives are renamed into place) and are left alone.
func cleanFiles(root string, keep int, olderThan time.Duration, all bool, now time.Time) (cleanResult, error) {
	var res cleanResult
	for _, k := range fileKinds {
		paths, err := filepath.Glob(filepath.Join(root, k.dir, k.pattern))
		if err != nil {
			return res, err
		}
		type file struct {
			path string
			info fs.FileInfo
		}
		var files []file
		for _, p := range paths {
			st, err := os.Lstat(p)
			if err != nil || !st.Mode().IsRegular() || strings.HasPrefix(filepath.Base(p), ".") {
				continue
			}
			files = append(files, file{p, st})
		}
		slices.SortFunc(files, func(a, b file) int {
			return cmp.Or(b.info.ModTime().Compare(a.info.ModTime()), cmp.Compare(a.path, b.path))
		})
		for i, f := range files {
			remove := all || (keep >= 0 && i >= keep) || (olderThan > 0 && now.Sub(f.info.ModTime()) > olderThan)
			if !remove {
				continue
			}
			if err := os.Remove(f.path); err != nil && !os.IsNotExist(err) {
				return res, fmt.Errorf("clean %s: %w", k.name, err)
			}
			res.removed = append(res.removed, f.path)
			res.bytes += f.info.Size()
		}
	}
	return res, nil
}
