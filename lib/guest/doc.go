// Package guest is the inside of the VM: the PID-1 agent that ktstr-boot
// becomes when it runs as /init. It mounts the pseudo filesystems, reads the
// job the host placed at proto.JobPath, reports the observed topology, runs
// the scheduler, scenario or command, and streams proto messages back on the
// result channel before powering off. The host never imports this package:
// the protocol both sides share lives in lib/proto.
package guest
