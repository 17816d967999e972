package livesched

import "testing"

func TestExplain(t *testing.T) {
	got := explain("sched_ext state became disabling", "x\nEXIT: runnable task stall (init[69] failed to run for 5.040s)\ny", `sched_ext: BPF scheduler "qmap" disabled (runnable task stall)`)
	want := `sched_ext state became disabling; EXIT: runnable task stall (init[69] failed to run for 5.040s); kernel: sched_ext: BPF scheduler "qmap" disabled (runnable task stall)`
	if got != want {
		t.Errorf("%s", got)
	}
}
