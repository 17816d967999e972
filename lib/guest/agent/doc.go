// Package agent is the inside of the VM: the PID-1 agent that ktstr-boot
// becomes when it runs as /init. It mounts the pseudo filesystems, reads the
// job the host placed at proto.JobPath (a booted guest) or, when there is
// none, says it is ready and waits for the job on the result channel (a
// snapshot's source: every restored copy resumes there, and sets the clock,
// reseeds the random generator and moves its next pid from what the host
// sends before anything of the job runs), reports the observed topology, runs
// the scheduler and scenario (lib/guest/jobexec, which bare metal shares) and
// the command, and streams proto messages back on the result channel before
// powering off. The host never imports this package:
// the protocol both sides share lives in lib/proto.
package agent
