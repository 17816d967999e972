package plan

import (
	"context"
	"strings"

	"github.com/ktstr-go/ktstr/lib/host/kernel"
	"github.com/ktstr-go/ktstr/lib/model/record"
)

// ResolveKernels resolves ktstr-boot's --kernel specs (each anything
// ktstr-kernel resolves, a cache entry's key or label included) through
// the kernel cache, all before anything boots: one that cannot be resolved
// stops the whole matrix, as in ktstr. The same kernel named twice counts
// once; two kernels with one label are an input error.
func ResolveKernels(ctx context.Context, specs []string) ([]*record.Kernel, error) {
	var out []*record.Kernel
	for _, spec := range specs {
		spec = strings.TrimSpace(spec)
		if spec == "" {
			continue
		}
		k, err := CachedKernel(spec)(ctx)
		if err != nil {
			return nil, err
		}
		if out, err = addKernel(out, k); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// addKernel appends k to ks unless it is there (same image); a different
// kernel with k's label is a usage error (cli.ErrUsage).
func addKernel(ks []*record.Kernel, k *record.Kernel) ([]*record.Kernel, error) {
	if err := checkKernelLabel(k); err != nil {
		return nil, err
	}
	label := KernelLabel(k)
	for _, have := range ks {
		if have.Image == k.Image {
			return ks, nil
		}
		if KernelLabel(have) == label {
			return nil, inputf("kernels %s and %s have the same label %s: a matrix needs each kernel named apart "+
				"(build one with --fragment, or give it a \"label\" of its own in a kernel record on stdin)", have.Image, k.Image, label)
		}
	}
	if k.Label == "" {
		c := *k
		c.Label = label
		k = &c
	}
	return append(ks, k), nil
}

// AddKernel adds a kernel to those every job without one runs on (a kernel
// record read from stdin, as ktstr-kernel writes it). Call it before
// Expand: the jobs expanded before it do not run on k.
func (p *Planner) AddKernel(k *record.Kernel) error {
	if k.Image == "" {
		return inputf("kernel record without an image")
	}
	p.kernelsMu.Lock()
	defer p.kernelsMu.Unlock()
	ks, err := addKernel(p.kernels, k)
	if err != nil {
		return err
	}
	p.kernels = ks
	return nil
}

// resolveSpecs resolves Flags.KernelSpecs into the matrix, once. The
// cache lookups build nothing, so no context is needed.
func (p *Planner) resolveSpecs() error {
	p.specsOnce.Do(func() {
		ks, err := ResolveKernels(context.Background(), p.f.KernelSpecs)
		if err != nil {
			p.specsErr = err
			return
		}
		for _, k := range ks {
			if err := p.AddKernel(k); err != nil {
				p.specsErr = err
				return
			}
		}
	})
	return p.specsErr
}

// Kernels are the kernels of the matrix (--kernel and AddKernel's); none
// means each job's own kernel, else the default. A failure to resolve
// --kernel leaves them empty: the jobs then fail in Complete with it.
func (p *Planner) Kernels() []*record.Kernel {
	if p.resolveSpecs() != nil {
		return nil
	}
	p.kernelsMu.Lock()
	defer p.kernelsMu.Unlock()
	return p.kernels
}

// perKernel returns j once per kernel of the matrix, each id ending in "@"
// and the kernel's label when there are several; j as is when it has its
// own kernel or the matrix has none.
func (p *Planner) perKernel(j *record.Job) []*record.Job {
	kernels := p.Kernels()
	if len(kernels) == 0 || j.Kernel != nil {
		return []*record.Job{j}
	}
	if len(kernels) == 1 {
		j.Kernel = kernels[0]
		return []*record.Job{j}
	}
	out := make([]*record.Job, 0, len(kernels))
	for _, k := range kernels {
		c := cloneJob(j)
		c.Kernel = k
		if c.ID == "" {
			c.ID = topoID(c.Topology)
		}
		c.ID += "@" + KernelLabel(k)
		out = append(out, c)
	}
	return out
}

// KernelLabel names a kernel in job ids: its label (kernel_[a-z0-9_]+,
// lib/host/kernel.Label), made from the record when it carries none.
func KernelLabel(k *record.Kernel) string {
	if k.Label != "" {
		return k.Label
	}
	return kernel.Label(k)
}

// checkKernelLabel is the error of a job whose kernel carries a label that
// is not of the form kernel_[a-z0-9_]+ (a hand-written record).
func checkKernelLabel(k *record.Kernel) error {
	if k.Label != "" && !kernel.LabelRE.MatchString(k.Label) {
		return inputf("kernel label %q: want kernel_[a-z0-9_]+", k.Label)
	}
	return nil
}
