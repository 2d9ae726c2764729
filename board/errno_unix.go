//go:build unix

package board

import "syscall"

var errAddrInUse error = syscall.EADDRINUSE

// alive reports whether a process of that id exists on this machine.
func alive(pid int) bool {
	if pid <= 0 {
		return false
	}
	err := syscall.Kill(pid, 0)
	return err == nil || err == syscall.EPERM
}
