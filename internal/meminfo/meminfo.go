// Package meminfo reads a field of a Linux meminfo file: /proc/meminfo
// ("MemAvailable:   123456 kB") or a NUMA node's
// /sys/devices/system/node/nodeN/meminfo ("Node 0 MemTotal:  123456 kB").
package meminfo

import (
	"bufio"
	"os"
	"strconv"
	"strings"
)

// MB returns field (e.g. "MemTotal") of the meminfo file at path in MiB,
// 0 if the file or the field is missing.
func MB(path, field string) int {
	f, err := os.Open(path)
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) >= 4 && fields[0] == "Node" {
			fields = fields[2:] // per-node files prefix "Node N"
		}
		if len(fields) >= 2 && fields[0] == field+":" {
			kb, _ := strconv.Atoi(fields[1])
			return kb / 1024
		}
	}
	return 0
}
