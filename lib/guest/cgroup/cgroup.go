// Package cgroup manages a subtree of cgroup v2 for scenarios: it creates
// (nested) cgroups with the cpuset and cpu controllers enabled on every
// ancestor, sets cpusets, moves tasks with retries, and removes what it made
// in reverse order after draining it. Every write is bounded in time, so a
// wedged kernel cannot hang the agent.
package cgroup

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ktstr-go/ktstr/lib/model/topology"
)

// writeTimeout bounds every cgroup file write.
const writeTimeout = 2 * time.Second

// Manager owns the cgroups under Root.
type Manager struct {
	// Mount is the cgroup2 mount point; Root = Mount/name.
	Mount string
	Root  string
	// Controllers are the ones enabled for children (those the kernel has).
	Controllers []string
	created     []string // relative names, in creation order
}

// New creates Root = mount/name and enables the wanted controllers that the
// kernel offers on every level from mount down to Root.
func New(mount, name string, want []string) (*Manager, error) {
	m := &Manager{Mount: mount, Root: filepath.Join(mount, name)}
	avail, err := os.ReadFile(filepath.Join(mount, "cgroup.controllers"))
	if err != nil {
		return nil, fmt.Errorf("cgroup2 at %s: %w", mount, err)
	}
	for _, c := range want {
		if slices.Contains(strings.Fields(string(avail)), c) {
			m.Controllers = append(m.Controllers, c)
		}
	}
	if err := os.Mkdir(m.Root, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
		return nil, fmt.Errorf("create %s: %w", m.Root, err)
	}
	if err := m.enable(mount); err != nil {
		return nil, err
	}
	if err := m.enable(m.Root); err != nil {
		return nil, err
	}
	return m, nil
}

// enable turns the controllers on for dir's children.
func (m *Manager) enable(dir string) error {
	if len(m.Controllers) == 0 {
		return nil
	}
	var b strings.Builder
	for _, c := range m.Controllers {
		b.WriteString("+" + c + " ")
	}
	return write(filepath.Join(dir, "cgroup.subtree_control"), strings.TrimSpace(b.String()))
}

// Dir is the directory of the cgroup called name ("a" or "a/b").
func (m *Manager) Dir(name string) string { return filepath.Join(m.Root, name) }

// Create makes cgroup name and its missing parents, enabling controllers on
// each parent.
func (m *Manager) Create(name string) (string, error) {
	if name == "" || strings.Contains(name, "..") || filepath.IsAbs(name) {
		return "", fmt.Errorf("cgroup name %q", name)
	}
	parts := strings.Split(name, "/")
	for i := range parts {
		rel := strings.Join(parts[:i+1], "/")
		dir := m.Dir(rel)
		if err := os.Mkdir(dir, 0o755); err == nil {
			m.created = append(m.created, rel)
		} else if !errors.Is(err, os.ErrExist) {
			return "", fmt.Errorf("create cgroup %s: %w", rel, err)
		}
		// An existing parent may have been made without children in mind:
		// enabling is idempotent.
		if i < len(parts)-1 {
			if err := m.enable(dir); err != nil {
				return "", err
			}
		}
	}
	return m.Dir(name), nil
}

// SetCpus writes cpuset.cpus.
func (m *Manager) SetCpus(name, cpus string) error {
	if !slices.Contains(m.Controllers, "cpuset") {
		return errors.New("the cpuset controller is not available")
	}
	return write(filepath.Join(m.Dir(name), "cpuset.cpus"), cpus)
}

// ClearCpus lifts a cgroup's cpuset restriction by giving it every CPU its
// parent has. (An empty write, which cgroup v2 documents as "inherit", is
// refused with ENOSPC by kernels that still hold tasks in the cgroup.)
func (m *Manager) ClearCpus(name string) error {
	parent := filepath.Dir(m.Dir(name))
	b, err := os.ReadFile(filepath.Join(parent, "cpuset.cpus.effective"))
	if err != nil {
		return fmt.Errorf("clear cpuset of %s: %w", name, err)
	}
	return m.SetCpus(name, strings.TrimSpace(string(b)))
}

// EffectiveCPUs reads cpuset.cpus.effective. Without the cpuset controller
// it is the CPUs this process may run on, which its workers inherit: every
// online CPU in the guest, the --cpus subset on bare metal.
func (m *Manager) EffectiveCPUs(name string) ([]int, error) {
	b, err := os.ReadFile(filepath.Join(m.Dir(name), "cpuset.cpus.effective"))
	if err != nil {
		var set unix.CPUSet
		if unix.SchedGetaffinity(0, &set) == nil && set.Count() > 0 {
			var cpus []int
			for c := 0; len(cpus) < set.Count(); c++ {
				if set.IsSet(c) {
					cpus = append(cpus, c)
				}
			}
			return cpus, nil
		}
		b, err = os.ReadFile("/sys/devices/system/cpu/online")
		if err != nil {
			return nil, err
		}
	}
	return topology.ParseList(string(b))
}

// Procs lists the processes in cgroup name.
func (m *Manager) Procs(name string) ([]int, error) {
	return readPids(filepath.Join(m.Dir(name), "cgroup.procs"))
}

func readPids(path string) ([]int, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var pids []int
	for _, f := range strings.Fields(string(b)) {
		if p, err := strconv.Atoi(f); err == nil {
			pids = append(pids, p)
		}
	}
	return pids, nil
}

// Move moves one process into cgroup name ("" = the mount root). A process
// that already exited is not an error; EBUSY is retried 3 times 100 ms apart.
func (m *Manager) Move(pid int, name string) error {
	dir := m.Mount
	if name != "" {
		dir = m.Dir(name)
	}
	var err error
	for try := 0; try < 4; try++ {
		err = write(filepath.Join(dir, "cgroup.procs"), strconv.Itoa(pid))
		switch {
		case err == nil, errors.Is(err, unix.ESRCH):
			return nil
		case errors.Is(err, unix.EBUSY):
			time.Sleep(100 * time.Millisecond)
		default:
			return fmt.Errorf("move %d to %s: %w", pid, dir, err)
		}
	}
	return fmt.Errorf("move %d to %s: %w", pid, dir, err)
}

// MoveAll moves every process of cgroup from into cgroup to.
func (m *Manager) MoveAll(from, to string) error {
	pids, err := m.Procs(from)
	if err != nil {
		return err
	}
	var errs []error
	for _, p := range pids {
		errs = append(errs, m.Move(p, to))
	}
	return errors.Join(errs...)
}

// Remove drains cgroup name (and its children) to the mount root and
// removes it, children first.
func (m *Manager) Remove(name string) error {
	var errs []error
	var victims []string
	for _, c := range m.created {
		if c == name || strings.HasPrefix(c, name+"/") {
			victims = append(victims, c)
		}
	}
	if len(victims) == 0 {
		victims = []string{name}
	}
	for i := len(victims) - 1; i >= 0; i-- {
		errs = append(errs, m.removeOne(victims[i]))
	}
	m.created = slices.DeleteFunc(m.created, func(c string) bool { return slices.Contains(victims, c) })
	return errors.Join(errs...)
}

func (m *Manager) removeOne(name string) error {
	dir := m.Dir(name)
	if pids, err := readPids(filepath.Join(dir, "cgroup.procs")); err == nil {
		for _, p := range pids {
			m.Move(p, "")
		}
	}
	var err error
	for try := 0; try < 10; try++ {
		if err = unix.Rmdir(dir); err == nil || errors.Is(err, unix.ENOENT) {
			return nil
		}
		time.Sleep(50 * time.Millisecond) // exiting tasks linger briefly
	}
	return fmt.Errorf("remove cgroup %s: %w", name, err)
}

// Cleanup removes every cgroup this manager created, newest first, then
// Root itself.
func (m *Manager) Cleanup() error {
	var errs []error
	for i := len(m.created) - 1; i >= 0; i-- {
		errs = append(errs, m.removeOne(m.created[i]))
	}
	m.created = nil
	if err := unix.Rmdir(m.Root); err != nil && !errors.Is(err, unix.ENOENT) {
		errs = append(errs, fmt.Errorf("remove %s: %w", m.Root, err))
	}
	return errors.Join(errs...)
}

// write writes value to a cgroup file, giving up after writeTimeout.
func write(path, value string) error {
	done := make(chan error, 1)
	go func() {
		f, err := os.OpenFile(path, os.O_WRONLY, 0)
		if err != nil {
			done <- err
			return
		}
		_, err = f.WriteString(value)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		done <- err
	}()
	select {
	case err := <-done:
		if err != nil {
			return fmt.Errorf("write %q to %s: %w", strings.TrimSpace(value), path, err)
		}
		return nil
	case <-time.After(writeTimeout):
		return fmt.Errorf("write %q to %s: no answer within %s", strings.TrimSpace(value), path, writeTimeout)
	}
}
